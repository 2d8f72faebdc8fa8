"""CPU per upstream call: newsbrief's LLM call against the SDK's typed `create` on the same body.

    python benchmarks/llm_call.py [ROUNDS]

Both send the same Chat Completions body through one AsyncOpenAI client over an in-process httpx
transport that answers at once, so what is measured is the client side alone: building and
encoding the request, the SDK's plumbing, reading the answer. (sdk) is what newsbrief did before
issue 12 and what the bare client in benchmarks/run.py still does: `chat.completions.create(**body)`
with its type-driven transform and stdlib JSON; (newsbrief) is `LLMClient.complete`, retries,
breaker and all. The rounds alternate so that load from other processes hits both alike.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from service.llm import CallStats, LLMClient, build_openai_client  # noqa: E402
from service.prompts import PromptRegistry  # noqa: E402
from service.providers import ChatRequest  # noqa: E402
from service.schemas import ArticleIn, Options  # noqa: E402
from service.settings import Settings  # noqa: E402

ARTICLE = (ROOT / "tests" / "fixtures" / "articles" / "ferry-levy.txt").read_text(encoding="utf-8")
ANSWER = json.dumps(
    {
        "id": "c1",
        "object": "chat.completion",
        "created": 0,
        "model": "fake-model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": '{"summary": "ok"}'},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 900, "completion_tokens": 300, "total_tokens": 1200},
    }
).encode()
CALLS = 200


def answer(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=ANSWER, headers={"content-type": "application/json"})


async def measure(rounds: int) -> dict[str, list[float]]:
    """CPU ms per call for each kind, one value per round."""
    settings = Settings(llm_base_url="http://fake.invalid/v1", llm_model="fake-model")
    prompt = PromptRegistry.from_dir(ROOT / "prompts", "summarize", "v1").get()
    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        llm = LLMClient(http, settings)
        messages = prompt.render(ArticleIn(text=ARTICLE), Options(), llm.schema_text)
        question = ChatRequest(messages, 0.0, 2000, time.monotonic() + 3600)
        body = llm.profile.body(question, llm.schema)
        client = build_openai_client(settings, http)

        async def ours() -> None:
            await llm.complete(question, CallStats())

        async def sdk() -> None:
            completion = await client.chat.completions.create(**body)
            assert completion.choices[0].message.content

        async def cpu_per_call(call: Callable[[], Awaitable[None]]) -> float:
            started = time.process_time()
            for _ in range(CALLS):
                await call()
            return (time.process_time() - started) * 1000 / CALLS

        for call in (ours, sdk):  # warm-up: imports, connection, caches
            await cpu_per_call(call)
        runs: dict[str, list[float]] = {"newsbrief": [], "sdk": []}
        for _ in range(rounds):
            runs["newsbrief"].append(await cpu_per_call(ours))
            runs["sdk"].append(await cpu_per_call(sdk))
    return runs


def main(rounds: int) -> None:
    runs = asyncio.run(measure(rounds))
    ratios = [a / b for a, b in zip(runs["newsbrief"], runs["sdk"], strict=True)]
    for kind, values in runs.items():
        print(
            f"{kind:>9}: CPU ms per call, median {statistics.median(values):.3f} "
            f"(runs {', '.join(f'{v:.3f}' for v in values)})"
        )
    print(
        f"newsbrief/sdk: median {statistics.median(ratios):.3f} "
        f"(runs {', '.join(f'{r:.3f}' for r in ratios)})"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
