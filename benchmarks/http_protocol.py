"""Side by side: uvicorn's own httptools protocol against newsbrief's LimitedHttpTools (header
cap, head timer, connection cap, half-close), same app and options otherwise, driven by wrk in
alternating rounds. Prints requests/s and server CPU per request for each, and the ratios.

    .venv/bin/python benchmarks/http_protocol.py [--rounds 3] [--seconds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.run import cpu_seconds  # noqa: E402
from tests.support import clean_env, free_port, stop  # noqa: E402

LAUNCH = """
import sys, uvicorn
from service.api import create_app, server
from service.settings import Settings
settings = Settings(cache_size=0)
options = server.uvicorn_options(settings)
if sys.argv[1] == "uvicorn":
    options["http"] = "httptools"
uvicorn.run(create_app(settings), port=int(sys.argv[2]), log_level="warning", **options)
"""
CASES = {  # name: (path, connections, wrk script or None)
    "GET /healthz, 50 connections": ("/healthz", 50, None),
    "POST /v1/summaries (extractive), 10 connections": ("/v1/summaries", 10, "post.lua"),
}


def launch(protocol: str) -> tuple[subprocess.Popen[bytes], str]:
    import httpx

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", LAUNCH, protocol, str(port)],
        env=clean_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if httpx.get(f"{url}/healthz", timeout=0.5).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.1)
    raise TimeoutError(protocol)


def wrk(url: str, connections: int, script: str | None, seconds: int) -> float:
    body = ROOT / "build" / "bench-body.json"
    body.parent.mkdir(parents=True, exist_ok=True)
    article = (ROOT / "tests/fixtures/articles/ferry-levy.txt").read_text(encoding="utf-8")
    body.write_text(json.dumps({"article": {"text": article}}))
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", url]
    if script:
        command[1:1] = ["-s", str(ROOT / "benchmarks" / script)]
    out = subprocess.run(
        command,
        capture_output=True,
        text=True,
        check=True,
        env=os.environ | {"BODY_FILE": str(body)},
    ).stdout
    if script:
        result = json.loads(out.strip().splitlines()[-1])
        return float(result["completed"] - result["errors"])
    line = next(x for x in out.splitlines() if "requests in" in x)
    return float(line.split()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    args = parser.parse_args()
    servers = {name: launch(name) for name in ("uvicorn", "newsbrief")}
    results: dict[str, dict[str, list[tuple[float, float]]]] = {c: {} for c in CASES}
    try:
        for case, (path, connections, script) in CASES.items():
            for _ in range(args.rounds):
                for name, (proc, url) in servers.items():  # alternate, so drift hits both
                    wrk(url + path, connections, script, 1)  # warm-up
                    before = cpu_seconds(proc.pid)
                    done = wrk(url + path, connections, script, args.seconds)
                    cpu = cpu_seconds(proc.pid) - before
                    results[case].setdefault(name, []).append(
                        (done / args.seconds, cpu * 1000 / max(1.0, done))
                    )
    finally:
        for proc, _ in servers.values():
            stop(proc)
    report: dict[str, Any] = {}
    for case, by_name in results.items():
        rps = {n: statistics.median(r for r, _ in rows) for n, rows in by_name.items()}
        cpu = {n: statistics.median(c for _, c in rows) for n, rows in by_name.items()}
        report[case] = {
            "uvicorn_rps": round(rps["uvicorn"]),
            "newsbrief_rps": round(rps["newsbrief"]),
            "throughput_ratio": round(rps["newsbrief"] / rps["uvicorn"], 3),
            "uvicorn_cpu_ms_per_request": round(cpu["uvicorn"], 3),
            "newsbrief_cpu_ms_per_request": round(cpu["newsbrief"], 3),
            "cpu_ratio": round(cpu["newsbrief"] / cpu["uvicorn"], 3),
        }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
