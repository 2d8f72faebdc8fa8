"""The `newsbrief` command: serve the API, summarise a file, list prompts, run a fake LLM."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from pathlib import Path

from pydantic import ValidationError

from service.errors import NewsbriefError
from service.llm import llm_from_settings
from service.pipeline import summarize_article
from service.prompts import PromptRegistry
from service.schemas import SummaryRequest
from service.settings import PACKAGE_DIR, Settings, explain, get_settings

DEFAULT_EVALS_DIR = PACKAGE_DIR.parent / "evals"


def _registry(settings: Settings) -> PromptRegistry:
    return PromptRegistry.from_dir(
        settings.prompts_dir, settings.prompt_name, settings.prompt_version
    )


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from service import logs
    from service.api import create_app, server

    log_config = logs.configure(settings.log_level, settings.log_format)
    # uvicorn drains in-flight requests on SIGTERM, then re-raises the signal with the handler
    # it found at start. A no-op one here makes a drained shutdown exit 0, not -15.
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    server.run(
        settings,
        create_app(settings),
        host=args.host or settings.host,
        port=args.port if args.port is not None else settings.port,
        log_config=log_config,
        log_level=settings.log_level.lower(),
    )
    return 0


def read_request(raw: str, prompt_version: str | None, title: str | None) -> SummaryRequest:
    """A request from a file: a JSON request body as the API takes it, or plain article text."""
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if isinstance(data, dict) and "article" in data:
        request = SummaryRequest.model_validate(data)
    else:
        request = SummaryRequest.model_validate({"article": {"text": raw, "title": title}})
    if prompt_version:
        request = request.model_copy(update={"prompt_version": prompt_version})
    return request


def cmd_summarize(args: argparse.Namespace, settings: Settings) -> int:
    raw = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
    try:
        request = read_request(raw, args.prompt_version, args.title)
    except ValidationError as exc:
        print(f"newsbrief: invalid input: {exc}", file=sys.stderr)
        return 2

    async def run() -> str:
        async with llm_from_settings(settings) as llm:
            response = await summarize_article(
                request, prompts=_registry(settings), llm=llm, settings=settings
            )
        return response.model_dump_json(indent=2)

    try:
        print(asyncio.run(run()))
    except NewsbriefError as exc:
        print(f"newsbrief: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_prompts(args: argparse.Namespace, settings: Settings) -> int:
    registry = _registry(settings)
    for p in registry:
        mark = "*" if p.ref == registry.default_ref else " "
        print(f"{mark} {p.ref:<16} {p.sha256}  {p.spec.description.splitlines()[0][:60]}")
    return 0


def cmd_healthcheck(args: argparse.Namespace, settings: Settings) -> int:
    """Exit 0 when the local server answers /healthz: the container's HEALTHCHECK."""
    import urllib.request

    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    try:
        with urllib.request.urlopen(f"http://{host}:{settings.port}/healthz", timeout=2) as r:
            return 0 if r.status == 200 else 1
    except OSError as exc:
        print(f"newsbrief: unhealthy: {exc}", file=sys.stderr)
        return 1


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    """Score prompt versions on the eval cases; exit 1 when the gate fails."""
    from datetime import UTC, datetime

    from service.evals import gate, report
    from service.evals.dataset import load_cases
    from service.evals.planted import PlantResult, run_planted
    from service.evals.runner import run_eval

    root = Path(args.evals_dir)
    registry = _registry(settings)
    refs = [registry.get(r).ref for r in args.prompt] or [p.ref for p in registry]
    if args.live and not settings.llm_configured:
        print(
            "newsbrief: --live needs an LLM (NEWSBRIEF_LLM_BASE_URL or _API_KEY)", file=sys.stderr
        )
        return 2
    if args.record and not args.live:
        print("newsbrief: --record only works with --live", file=sys.stderr)
        return 2
    if not args.live:  # offline: nothing from the environment may reach an upstream
        settings = settings.model_copy(
            update={"llm_api_key": None, "llm_base_url": None, "request_deadline_s": 60.0}
        )
    cases = load_cases(root, args.case or None)
    rows = asyncio.run(
        run_eval(
            cases,
            refs,
            registry,
            settings,
            root,
            live=args.live,
            record=args.record,
            force=args.force,
            on_saved=lambda p: print(f"recorded {p}", file=sys.stderr),
        )
    )
    full_run = not args.case
    planted: list[PlantResult] = []  # replayed planted errors: offline, and only on a full run
    if full_run and not args.live and (root / "planted").is_dir():
        planted = asyncio.run(run_planted(root, registry, settings))
    by_name = {row.name: row.metrics for row in rows}
    thresholds = gate.load_thresholds(root / "thresholds.yaml")
    baseline_path = root / "baseline.json"
    if args.update_baseline:
        if not full_run or registry.default_ref not in by_name or args.live:
            print("newsbrief: --update-baseline needs a full offline run", file=sys.stderr)
            return 2
        payload = {"prompt": registry.default_ref, "metrics": by_name[registry.default_ref]}
        baseline_path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        print(f"baseline written: {baseline_path}", file=sys.stderr)
    checks = gate.evaluate(
        by_name,
        registry.default_ref,
        thresholds,
        gate.load_baseline(baseline_path),
        full_run=full_run,
    )
    meta = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "mode": "live" if args.live else "replay",
        "cases": len(cases),
        "default_prompt": registry.default_ref,
    }
    print(report.table(rows))
    print()
    for check in checks:
        print(check)
    if planted:
        print()
        print(report.planted_table(planted))
    for path in report.write_reports(Path(args.out), rows, cases, checks, meta, planted):
        print(f"wrote {path}", file=sys.stderr)
    passed = all(c.passed for c in checks) and all(p.ok for p in planted)
    print("gate: " + ("passed" if passed else "FAILED"))
    return 0 if passed else 1


def cmd_fake_llm(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from service.devtools.fake_llm import create_fake_llm

    # A long keep-alive: clients reusing a connection the server just closed would see errors
    # that belong to the test rig, not to the client under test.
    uvicorn.run(
        create_fake_llm(latency_s=args.latency),
        host=args.host,
        port=args.port,
        timeout_keep_alive=75,
        log_level="warning",
    )
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="newsbrief", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the HTTP API")
    serve.add_argument("--host", default=None, help="default: NEWSBRIEF_HOST or 127.0.0.1")
    serve.add_argument("--port", type=int, default=None, help="default: NEWSBRIEF_PORT or 8000")
    serve.set_defaults(func=cmd_serve)

    summarize = sub.add_parser("summarize", help="summarise FILE (text or request JSON), or -")
    summarize.add_argument("file")
    summarize.add_argument("--prompt-version", default=None)
    summarize.add_argument("--title", default=None)
    summarize.set_defaults(func=cmd_summarize)

    prompts = sub.add_parser("prompts", help="prompt versions")
    prompts_sub = prompts.add_subparsers(dest="action", required=True)
    prompts_sub.add_parser("list", help="list versions; * marks the default").set_defaults(
        func=cmd_prompts
    )

    evals = sub.add_parser("eval", help="score prompt versions on the eval cases (offline)")
    evals.add_argument("--prompt", action="append", default=[], help="e.g. summarize@v2; repeat")
    evals.add_argument("--case", action="append", default=[], help="a case id; repeat")
    evals.add_argument("--live", action="store_true", help="call the configured LLM endpoint")
    evals.add_argument("--record", action="store_true", help="with --live: write cassettes")
    evals.add_argument("--force", action="store_true", help="let --record replace hand-written")
    evals.add_argument("--update-baseline", action="store_true", help="save the default's metrics")
    evals.add_argument("--evals-dir", default=str(DEFAULT_EVALS_DIR))
    evals.add_argument("--out", default=".", help="where report.{json,md,html} go")
    evals.set_defaults(func=cmd_eval)

    sub.add_parser("healthcheck", help="exit 0 if the local server is healthy").set_defaults(
        func=cmd_healthcheck
    )

    fake = sub.add_parser("fake-llm", help="run the local fake OpenAI-compatible server (testing)")
    fake.add_argument("--host", default="127.0.0.1")
    fake.add_argument("--port", type=int, default=9100)
    fake.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    fake.set_defaults(func=cmd_fake_llm)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = get_settings()
    except ValidationError as exc:
        print(f"newsbrief: invalid settings: {explain(exc)}", file=sys.stderr)
        return 2
    try:
        code: int = args.func(args, settings)
    except NewsbriefError as exc:  # bad prompt files, eval cases or cassettes: say which, exit 2
        print(f"newsbrief: {exc}", file=sys.stderr)
        return 2
    return code
