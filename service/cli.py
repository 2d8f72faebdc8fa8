"""The `newsbrief` command: serve the API, summarise a file, list prompts, migrate the store,
export reviewer feedback as eval drafts, run the evals and a fake LLM."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from service.errors import DevToolsMissingError, NewsbriefError
from service.llm import llm_from_settings
from service.pipeline import summarize_article
from service.prompts import PromptRegistry
from service.schemas import SummaryRequest
from service.settings import PACKAGE_DIR, Settings, explain, get_settings

if TYPE_CHECKING:
    from fastapi import FastAPI

# The eval data (cases, cassettes) sits at the top of the source checkout, beside the code.
DEFAULT_EVALS_DIR = PACKAGE_DIR.parent / "evals"


def _err(line: str) -> None:
    print(line, file=sys.stderr)


def _registry(settings: Settings) -> PromptRegistry:
    return PromptRegistry.from_dir(
        settings.prompts_dir, settings.prompt_name, settings.prompt_version
    )


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from service import logs
    from service.api import create_app, server

    log_config = logs.configure(settings.log_level, settings.log_format)
    workers = args.workers if args.workers is not None else settings.workers
    if workers < 1:
        print("newsbrief: --workers must be 1 or more", file=sys.stderr)
        return 2
    # Built here even with workers, so a broken prompt file stops start-up with exit 2 and its name.
    app = create_app(settings)
    # uvicorn drains in-flight requests on SIGTERM, then re-raises the signal with the handler
    # it found at start. A no-op one here makes a drained shutdown exit 0, not -15.
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    server.run(
        settings,
        app,
        workers=workers,
        host=args.host or settings.host,
        port=args.port if args.port is not None else settings.port,
        log_config=log_config,
        log_level=settings.log_level.lower(),
    )
    return 0


def worker_app() -> FastAPI:
    """One worker's app under `serve --workers N`: it reads the settings and sets up logs itself."""
    from service import logs
    from service.api import create_app

    settings = get_settings()
    logs.configure(settings.log_level, settings.log_format)
    return create_app(settings)


class InputError(ValueError):
    """The summarize input cannot be read as an article or a request; the message says why."""


def read_request(raw: str, prompt_version: str | None, title: str | None) -> SummaryRequest:
    """A request from a file: a JSON request body as the API takes it, or plain article text."""
    # Text that opens like JSON was meant as a request body: a JSON mistake there is an error to
    # report, never an "article" made of broken JSON.
    if raw.lstrip().startswith(("{", "[")):
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise InputError(f"not valid JSON: {exc}") from None
        if not isinstance(data, dict) or "article" not in data:
            raise InputError('a JSON request needs an "article" object, as the API takes it')
        request = SummaryRequest.model_validate(data)
    else:
        request = SummaryRequest.model_validate({"article": {"text": raw, "title": title}})
    if prompt_version:
        request = request.model_copy(update={"prompt_version": prompt_version})
    return request


def _one_line(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
    )


def cmd_summarize(args: argparse.Namespace, settings: Settings) -> int:
    source = "standard input" if args.file == "-" else args.file
    try:
        raw = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
        request = read_request(raw, args.prompt_version, args.title)
    except OSError as exc:
        _err(f"newsbrief: {source}: cannot read it: {exc.strerror or exc}")
        return 2
    except UnicodeDecodeError:
        _err(f"newsbrief: {source} is not UTF-8 text")
        return 2
    except InputError as exc:
        _err(f"newsbrief: {source}: {exc}")
        return 2
    except ValidationError as exc:
        _err(f"newsbrief: {source}: invalid input: {_one_line(exc)}")
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
        _err(f"newsbrief: {type(exc).__name__}: {exc}")
        return 1
    return 0


def cmd_prompts(args: argparse.Namespace, settings: Settings) -> int:
    registry = _registry(settings)
    for p in registry:
        mark = "*" if p.ref == registry.default_ref else " "
        print(f"{mark} {p.ref:<16} {p.sha256}  {p.spec.description.splitlines()[0][:60]}")
    return 0


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    """Migrate the store's database to the newest schema (start-up does the same by itself)."""
    from service.errors import StoreUnavailableError
    from service.store import open_store

    async def run() -> None:
        async with open_store(settings):
            pass

    try:
        asyncio.run(run())
    except StoreUnavailableError as exc:
        _err(f"newsbrief: {exc}: {exc.reason}")
        return 1
    where = "PostgreSQL" if settings.database_url else f"SQLite in {settings.data_dir}"
    print(f"newsbrief: the store ({where}) is at the newest schema")
    return 0


def cmd_healthcheck(args: argparse.Namespace, settings: Settings) -> int:
    """Exit 0 when the local server answers /healthz: the container's HEALTHCHECK."""
    import urllib.request

    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    url = f"http://{host}:{settings.port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            status = r.status
    except OSError as exc:  # HTTPError (a non-2xx answer) is one too
        _err(f"newsbrief: unhealthy: {url}: {getattr(exc, 'reason', None) or exc}")
        return 1
    if status != 200:
        _err(f"newsbrief: unhealthy: {url} answered {status}")
        return 1
    return 0


def _dev_tool(module: str) -> Any:
    """A module of the development tools, which live beside the service in the source repository.

    They are not in the wheel or the image, so an installed service says where to get them instead
    of failing with a traceback.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] in ("newsbrief_dev", "jinja2"):
            raise DevToolsMissingError(exc.name) from None
        raise


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    """Score prompt versions on the eval cases; exit 1 when the gate fails."""
    suite = _dev_tool("newsbrief_dev.evals.suite")
    report = _dev_tool("newsbrief_dev.evals.report")
    options = suite.EvalOptions(
        evals_dir=Path(args.evals_dir),
        out=Path(args.out),
        prompts=args.prompt,
        cases=args.case,
        live=args.live,
        record=args.record,
        force=args.force,
        update_baseline=args.update_baseline,
    )
    result = suite.run(
        options, _registry(settings), settings, on_saved=lambda p: _err(f"recorded {p}")
    )
    if result.baseline_written:
        _err(f"baseline written: {result.baseline_written}")
    print(report.table(result.rows))
    print()
    for check in result.checks:
        print(check)
    if result.planted:
        print()
        print(report.planted_table(result.planted))
    for path in result.reports:
        _err(f"wrote {path}")
    if result.gate_skipped:
        print(f"gate: skipped ({options.evals_dir} has no thresholds.yaml): scores only")
    else:
        print("gate: " + ("passed" if result.passed else "FAILED"))
    return 0 if result.passed else 1


def parse_since(value: str) -> datetime:
    """--since: a date (midnight UTC) or an ISO 8601 time; one without a zone is UTC."""
    at = datetime.fromisoformat(value)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def cmd_feedback_export(args: argparse.Namespace, settings: Settings) -> int:
    """Write an eval case draft (and cassette) for every brief a reviewer gave feedback on."""
    from sqlalchemy.exc import SQLAlchemyError

    from service.errors import StoreUnavailableError
    from service.feedback_export import export_drafts
    from service.store import ReviewedSummary, open_store

    try:
        since = parse_since(args.since) if args.since else None
    except ValueError:
        _err(f"newsbrief: --since {args.since!r}: not a date (YYYY-MM-DD or ISO 8601 time)")
        return 2

    async def reviewed() -> list[ReviewedSummary]:
        async with open_store(settings) as store:
            return await store.feedback_for_export(since)

    try:
        briefs = asyncio.run(reviewed())
    except StoreUnavailableError as exc:
        _err(f"newsbrief: {exc}: {exc.reason}")
        return 1
    except (SQLAlchemyError, OSError) as exc:  # reachable and migrated, then failed mid-read
        _err(f"newsbrief: cannot read the store: {type(exc).__name__}: {exc}")
        return 1
    result = export_drafts(briefs, Path(args.out), force=args.force)
    for line in result.skipped:
        _err(f"skipped {line}")
    for path in result.written:
        print(f"wrote {path}")
    cases = sum(p.suffix == ".yaml" for p in result.written)
    plural = "s" if result.reviewed != 1 else ""
    print(f"{result.reviewed} reviewed brief{plural}: {cases} draft case(s) in {args.out}")
    return 0


def cmd_fake_llm(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    fake_llm = _dev_tool("newsbrief_dev.fake_llm")
    # Said before binding, so a script waiting on it knows where to look (uvicorn logs warnings
    # only here, and a bind failure is one of them).
    print(f"fake LLM on http://{args.host}:{args.port}/v1 (faults: POST /_fake/faults)", flush=True)
    # A long keep-alive: clients reusing a connection the server just closed would see errors
    # that belong to the test rig, not to the client under test.
    uvicorn.run(
        fake_llm.create_fake_llm(latency_s=args.latency),
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
    serve.add_argument(
        "--workers",
        type=int,
        default=None,
        help="processes on the port; default: NEWSBRIEF_WORKERS or 1",
    )
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
    evals.add_argument(
        "--out", default="build/eval", help="where report.{json,md,html} go (build/eval)"
    )
    evals.set_defaults(func=cmd_eval)

    feedback = sub.add_parser("feedback", help="reviewer feedback kept in the store")
    feedback_sub = feedback.add_subparsers(dest="action", required=True)
    export = feedback_sub.add_parser(
        "export", help="write eval case drafts from reviewed briefs, for newsbrief eval --evals-dir"
    )
    export.add_argument("--out", required=True, help="the folder: cases/ and cassettes/ go here")
    export.add_argument("--since", default=None, help="feedback given on or after DATE (UTC)")
    export.add_argument("--force", action="store_true", help="replace existing case drafts")
    export.set_defaults(func=cmd_feedback_export)

    db = sub.add_parser("db", help="the store's database")
    db_sub = db.add_subparsers(dest="action", required=True)
    db_sub.add_parser("upgrade", help="apply the schema migrations not yet applied").set_defaults(
        func=cmd_db_upgrade
    )

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
