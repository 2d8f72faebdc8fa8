"""`newsbrief serve --workers N`: N processes answer on one port, and SIGTERM drains them all."""

from __future__ import annotations

import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.conftest import ARTICLES
from tests.support import clean_env, fake_llm, free_port, start

pytestmark = pytest.mark.reliability
ARTICLE = (ARTICLES / "ferry-levy.txt").read_text(encoding="utf-8")


def _parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _answering_pids(url: str, tries: int = 400) -> set[int]:
    """The pids that answer /readyz, each call on a new connection so any worker may take it."""

    def one(_: int) -> int:
        pid: int = httpx.get(f"{url}/readyz", timeout=10).json()["pid"]
        return pid

    seen: set[int] = set()
    with ThreadPoolExecutor(8) as pool:
        for _ in range(tries // 40):
            seen |= set(pool.map(one, range(40)))
            if len(seen) >= 2:
                break
    return seen


@pytest.mark.parametrize(("how", "workers"), [("flag", "2"), ("setting", "2")])
def test_two_workers_answer_on_one_port_and_sigterm_drains_both(how: str, workers: str) -> None:
    with fake_llm(latency_s=1.5) as fake:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = clean_env(NEWSBRIEF_LLM_BASE_URL=f"{fake}/v1", NEWSBRIEF_SHUTDOWN_GRACE_S="10")
        args = ["serve", "--port", str(port)]
        if how == "flag":
            args += ["--workers", workers]
        else:
            env["NEWSBRIEF_WORKERS"] = workers
        proc = start(args, env, f"{url}/healthz")
        pids = _answering_pids(url)
        assert len(pids) == 2, pids
        assert {_parent_of(pid) for pid in pids} == {proc.pid}
        # Workers build the HTTP protocol from their own settings: the header limit holds there too.
        big = httpx.get(f"{url}/healthz", headers={"x-big": "a" * 20_000}, timeout=10)
        assert big.status_code == 431
        if how == "setting":  # the drain below is the same code whichever way N was given
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=20) == 0
            return

        # Requests in flight on both workers when the signal comes: every one still gets its 200.
        results: list[int] = []

        def post(i: int) -> None:
            body = {"article": {"text": f"{ARTICLE}\nCopy {i}."}}
            results.append(httpx.post(f"{url}/v1/summaries", json=body, timeout=20).status_code)

        threads = [threading.Thread(target=post, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 10
        while httpx.get(f"{fake}/_fake/stats").json()["in_flight"] < 8:
            assert time.monotonic() < deadline, "the requests never reached the fake LLM"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        for t in threads:
            t.join(timeout=20)
        code = proc.wait(timeout=20)
    assert results == [200] * 8
    assert code == 0
    assert not any(Path(f"/proc/{pid}").exists() for pid in pids)
