"""The `newsbrief` command: serve the API, summarise a file, list prompts, run a fake LLM."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from pydantic import ValidationError

from service.errors import NewsbriefError
from service.llm import llm_from_settings
from service.pipeline import summarize_article
from service.prompts import PromptRegistry
from service.schemas import SummaryRequest
from service.settings import Settings, get_settings


def _registry(settings: Settings) -> PromptRegistry:
    return PromptRegistry.from_dir(
        settings.prompts_dir, settings.prompt_name, settings.prompt_version
    )


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from service.api import create_app

    uvicorn.run(
        create_app(settings),
        host=args.host or settings.host,
        port=args.port if args.port is not None else settings.port,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=int(settings.shutdown_grace_s),
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


def cmd_fake_llm(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from service.devtools.fake_llm import create_fake_llm

    uvicorn.run(create_fake_llm(latency_s=args.latency), host=args.host, port=args.port)
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
        print(f"newsbrief: invalid settings: {exc}", file=sys.stderr)
        return 2
    code: int = args.func(args, settings)
    return code
