"""A local OpenAI-compatible chat completions server for tests, demos and benchmarks.

It answers with schema-valid JSON drawn from the article in the prompt (by the extractive engine),
after a settable latency, and can be scripted to fail: POST /_fake/faults with a list of faults to
serve, in order, before answering normally again. GET /_fake/stats counts requests and in-flight
calls. Loopback only; never a stand-in for a real model's judgement.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from service.extractive import brief
from service.schemas import ArticleIn, Options

_FENCE = re.compile(r"<<<(ARTICLE-[0-9a-f]+)\n(.*?)\n\1>>>", re.DOTALL)

FAULT_KINDS = (
    "status",  # {"kind": "status", "status": 503, "headers": {...}, "code": "insufficient_quota"}
    "hang",  # never answers (until the client gives up)
    "invalid_json",
    "fabricated_evidence",
    "length",
    "refusal",
    "empty_choices",
)


@dataclass
class FakeState:
    latency_s: float = 0.0
    faults: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    bodies: list[dict[str, Any]] = field(default_factory=list)


def article_from(messages: list[dict[str, Any]]) -> str:
    """The article text fenced in the prompt's messages."""
    for message in messages:
        if m := _FENCE.search(str(message.get("content", ""))):
            return m.group(2).split("---\n", 1)[-1]
    return ""


def completion(
    content: str | None, finish: str = "stop", refusal: str | None = None
) -> dict[str, Any]:
    return {
        "id": "chatcmpl-" + uuid.uuid4().hex[:12],
        "object": "chat.completion",
        "created": int(time.time()),
        "model": "fake-llm",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": refusal},
                "finish_reason": finish,
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150},
    }


def answer(messages: list[dict[str, Any]], fabricate: bool = False) -> str:
    text = article_from(messages)
    out = brief(ArticleIn(text=text or "(no article)"), Options())
    data = out.model_dump(mode="json")
    for claim in data["claims"]:
        claim["target"] = claim["target"] or "the subject of the quote"
    if fabricate:
        data["claims"].insert(
            0,
            {
                "holder": "A Spokesperson",
                "holder_role": None,
                "stance": "support",
                "target": "the plan",
                "claim": "The spokesperson backs the plan.",
                "evidence": "“We back this plan without any reservation,” the spokesperson said.",
                "attribution": "direct_quote",
            },
        )
    return json.dumps(data, ensure_ascii=False)


def create_fake_llm(latency_s: float = 0.0) -> FastAPI:
    app = FastAPI(title="newsbrief fake LLM")
    state = FakeState(latency_s=latency_s)
    app.state.fake = state

    @app.post("/_fake/faults")
    async def push_faults(request: Request) -> dict[str, int]:
        state.faults.extend(await request.json())
        return {"queued": len(state.faults)}

    @app.get("/_fake/stats")
    async def stats() -> dict[str, Any]:
        return {k: getattr(state, k) for k in ("requests", "in_flight", "max_in_flight")}

    @app.post("/v1/chat/completions")
    @app.post("/chat/completions")
    async def chat(request: Request) -> Response:
        body = await request.json()
        state.requests += 1
        state.bodies.append(body)
        state.in_flight += 1
        state.max_in_flight = max(state.max_in_flight, state.in_flight)
        try:
            await asyncio.sleep(state.latency_s)
            fault = state.faults.pop(0) if state.faults else {"kind": "ok"}
            return await _serve(fault, body.get("messages", []))
        finally:
            state.in_flight -= 1

    return app


async def _serve(fault: dict[str, Any], messages: list[dict[str, Any]]) -> Response:
    kind = fault.get("kind", "ok")
    if kind == "status":
        status = int(fault["status"])
        error = {"message": f"fake {status}", "type": fault.get("code"), "code": fault.get("code")}
        return JSONResponse({"error": error}, status_code=status, headers=fault.get("headers"))
    if kind == "hang":
        await asyncio.sleep(3600)
    if kind == "invalid_json":
        return JSONResponse(completion('{"summary": {"headline": "cut'))
    if kind == "length":
        return JSONResponse(completion('{"summary": {"headline": "cut', finish="length"))
    if kind == "refusal":
        return JSONResponse(completion(None, refusal="I can't help with that."))
    if kind == "empty_choices":
        return JSONResponse({**completion(None), "choices": []})
    return JSONResponse(completion(answer(messages, fabricate=kind == "fabricated_evidence")))
