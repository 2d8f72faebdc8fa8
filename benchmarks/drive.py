"""One benchmark client: N requests, C at a time, against one target; prints a JSON result.

    python benchmarks/drive.py bare URL N C          # bare AsyncOpenAI + strict schema ("b")
    python benchmarks/drive.py instructor URL N C    # instructor, same schema and prompt ("c")

URL is the fake LLM's /v1 base URL (newsbrief itself, "a", is driven over HTTP by wrk). Each kind
runs in a process of its own, so its CPU time (time.process_time) is its own.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from service.prompts import PromptRegistry, schema_text  # noqa: E402
from service.schemas import LLM_OUTPUT_SCHEMA, ArticleIn, LLMOutput, Options  # noqa: E402

ARTICLE = (ROOT / "tests" / "fixtures" / "articles" / "ferry-levy.txt").read_text(encoding="utf-8")
MODEL = "fake-model"


PROMPT = PromptRegistry.from_dir(ROOT / "prompts", "summarize", "v1").get()
SCHEMA_TEXT = schema_text(LLM_OUTPUT_SCHEMA)  # once, as the service's LLMClient does


def messages(text: str) -> list[dict[str, str]]:
    """The very prompt the service sends, rendered per call as the service renders it."""
    return PROMPT.render(ArticleIn(text=text), Options(), SCHEMA_TEXT)


def make_call(kind: str, url: str, http: httpx.AsyncClient) -> Callable[[str], Awaitable[Any]]:
    import openai

    client = openai.AsyncOpenAI(
        api_key="bench-not-a-key", base_url=url, max_retries=0, http_client=http
    )
    response_format = {
        "type": "json_schema",
        "json_schema": {"name": "brief", "strict": True, "schema": LLM_OUTPUT_SCHEMA},
    }
    if kind == "bare":

        async def bare(text: str) -> Any:
            completion = await client.chat.completions.create(
                model=MODEL,
                messages=messages(text),  # type: ignore[arg-type]
                response_format=response_format,  # type: ignore[arg-type]
                temperature=0,
            )
            return LLMOutput.model_validate_json(completion.choices[0].message.content or "")

        return bare

    import instructor

    patched = instructor.from_openai(client, mode=instructor.Mode.JSON_SCHEMA)

    async def with_instructor(text: str) -> Any:
        return await patched.chat.completions.create(
            model=MODEL,
            messages=messages(text),  # type: ignore[arg-type]
            response_model=LLMOutput,
            max_retries=1,
            temperature=0,
        )

    return with_instructor


async def drive(kind: str, url: str, total: int, concurrency: int) -> dict[str, Any]:
    limits = httpx.Limits(
        max_connections=concurrency + 16, max_keepalive_connections=concurrency + 16
    )
    async with httpx.AsyncClient(limits=limits, timeout=300) as http:
        call = make_call(kind, url, http)
        for _ in range(3):  # warm up connections and imports, untimed
            await call(ARTICLE)
        latencies: list[float] = []
        errors: list[str] = []
        remaining = iter(range(total))

        async def worker() -> None:
            for _ in remaining:
                started = time.perf_counter()
                try:
                    await call(ARTICLE)
                except Exception as exc:  # a benchmark counts failures; it does not stop on them
                    errors.append(f"{type(exc).__name__}: {exc}"[:200])
                    continue
                latencies.append(time.perf_counter() - started)

        cpu0, wall0 = time.process_time(), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return {
        "kind": kind,
        "requests": total,
        "concurrency": concurrency,
        "latencies": latencies,
        "errors": len(errors),
        "error_samples": errors[:3],
        "wall_s": wall,
        "client_cpu_s": cpu,
    }


if __name__ == "__main__":
    kind, url, total, concurrency = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    print(json.dumps(asyncio.run(drive(kind, url, total, concurrency))))
