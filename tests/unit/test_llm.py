"""The LLM call at the HTTP level: the request we send, retries, Retry-After, error mapping."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import openai
import orjson
import pytest
import respx
from pydantic import BaseModel, Field

from service import errors
from service.llm import (
    MAX_SERVER_WAIT_S,
    OPENAI_ERRORS,
    CallStats,
    LLMClient,
    map_openai_error,
    read_completion,
    retry_after_seconds,
)
from service.logs import RequestIdFilter, request_id
from service.providers import ChatRequest
from service.schemas import LLM_OUTPUT_SCHEMA, strict_json_schema
from service.settings import Settings
from tests.conftest import CHAT_URL
from tests.support import pass_counter

MESSAGES = [{"role": "system", "content": "be careful"}, {"role": "user", "content": "article"}]


class SleepRecorder:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
async def llm(settings: Settings, sleeps: SleepRecorder) -> Any:
    async with httpx.AsyncClient() as http:
        yield LLMClient(http, settings, sleep=sleeps)


async def call(llm: LLMClient, deadline_s: float = 10) -> tuple[Any, CallStats]:
    stats = CallStats()
    reply = await llm.complete(
        ChatRequest(MESSAGES, 0.0, 500, time.monotonic() + deadline_s), stats
    )
    return reply, stats


@pytest.mark.parametrize("body_later", [False, True], ids=["whole", "body-later"])
async def test_answers_that_come_back_together_are_handed_back_in_turns(
    llm: LLMClient,
    llm_mock: respx.MockRouter,
    completion: Callable[..., dict[str, Any]],
    body_later: bool,
) -> None:
    """A burst of answers is handed back one a pass of the loop (service/turns.py), so the loop
    looks at its sockets between them: whether each came in one piece or its body came after
    its head (chunked, through a proxy), which is when the answers are all in at once."""
    arrived = asyncio.Event()
    payload = orjson.dumps(completion('{"a": 1}'))

    async def body() -> AsyncIterator[bytes]:
        await arrived.wait()
        yield payload

    async def answer(request: httpx.Request) -> httpx.Response:
        if body_later:
            return httpx.Response(200, content=body(), headers={"content-type": "application/json"})
        await arrived.wait()
        return httpx.Response(200, content=payload, headers={"content-type": "application/json"})

    llm_mock.post("/chat/completions").mock(side_effect=answer)
    with pass_counter() as passes:

        async def one() -> int:
            await call(llm)
            return passes[0]

        calls = [asyncio.create_task(one()) for _ in range(4)]
        # Let all four reach the mock and wait there (in respx they move in lockstep, so even
        # one pass would do); then every answer lands in the same pass.
        await asyncio.sleep(0.01)
        arrived.set()
        finished = await asyncio.gather(*calls)
    assert len(set(finished)) == 4, f"answers handed back in the same pass: {finished}"


async def test_sends_a_strict_structured_request(
    llm: LLMClient, llm_mock: respx.MockRouter, completion: Callable[..., dict[str, Any]]
) -> None:
    route = llm_mock.post("/chat/completions").respond(200, json=completion('{"a": 1}'))
    reply, stats = await call(llm)
    assert reply.content == '{"a": 1}' and reply.finish_reason == "stop"
    assert (stats.calls, stats.retries, stats.prompt_tokens, stats.completion_tokens) == (
        1,
        0,
        120,
        80,
    )
    sent = route.calls.last.request
    body = json.loads(sent.content)
    assert str(sent.url) == CHAT_URL
    assert sent.headers["authorization"] == "Bearer test-key-not-real"
    assert body["model"] == "test-model"
    assert body["messages"] == MESSAGES
    assert body["temperature"] == 0.0 and body["max_completion_tokens"] == 500
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "brief", "strict": True, "schema": LLM_OUTPUT_SCHEMA},
    }
    assert "tools" not in body and "tool_choice" not in body and "functions" not in body


async def test_the_body_goes_out_as_built_without_the_sdks_per_call_transform(
    llm: LLMClient,
    llm_mock: respx.MockRouter,
    completion: Callable[..., dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The hot path: neither the SDK's type-driven walk of the params nor its per-call request
    building runs; its headers still go, each once."""
    from openai.resources.chat.completions import completions

    async def transform(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the SDK's per-call transform ran")

    def build(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the SDK built the request")

    monkeypatch.setattr(completions, "async_maybe_transform", transform)
    monkeypatch.setattr(openai.AsyncOpenAI, "_build_request", build)
    route = llm_mock.post("/chat/completions").respond(200, json=completion('{"a": 1}'))
    reply, _ = await call(llm)
    sent = route.calls.last.request
    assert reply.content == '{"a": 1}'
    assert sent.headers["content-type"] == "application/json"
    assert sent.headers["accept"] == "application/json"
    assert sent.headers["user-agent"].startswith("AsyncOpenAI/Python")
    assert sent.headers["x-stainless-lang"] == "python"
    assert float(sent.headers["x-stainless-read-timeout"]) > 0
    assert json.loads(sent.content)["messages"] == MESSAGES


async def test_a_first_attempt_that_answers_never_enters_the_retry_loop(
    llm: LLMClient,
    llm_mock: respx.MockRouter,
    completion: Callable[..., dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The hot path skips tenacity; a fault still goes through it (the retry tests below)."""
    from service import llm as llm_module

    def retrying(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the retry loop was built for a call that answered at once")

    monkeypatch.setattr(llm_module, "AsyncRetrying", retrying)
    llm_mock.post("/chat/completions").respond(200, json=completion('{"a": 1}'))
    reply, stats = await call(llm)
    assert reply.content == '{"a": 1}' and (stats.calls, stats.retries) == (1, 0)


def test_output_schema_is_strict_everywhere() -> None:
    def objects(node: Any) -> Any:
        if isinstance(node, dict):
            if node.get("type") == "object":
                yield node
            for value in node.values():
                yield from objects(value)
        elif isinstance(node, list):
            for value in node:
                yield from objects(value)

    found = list(objects(LLM_OUTPUT_SCHEMA))
    assert len(found) >= 3
    for node in found:
        assert node["additionalProperties"] is False
        assert sorted(node["required"]) == sorted(node["properties"])


def test_strict_schema_keeps_properties_named_title_and_default() -> None:
    class Headline(BaseModel):
        title: str = Field(title="Title", description="the headline")
        default: int = 3

    schema = strict_json_schema(Headline)
    assert schema["properties"] == {
        "title": {"type": "string", "description": "the headline"},
        "default": {"type": "integer"},
    }
    assert schema["required"] == ["title", "default"] and "title" not in schema


async def test_json_object_mode_describes_the_schema_in_the_one_system_message(
    settings: Settings, llm_mock: respx.MockRouter, completion: Callable[..., dict[str, Any]]
) -> None:
    settings = settings.model_copy(update={"llm_response_format": "json_object"})
    route = llm_mock.post("/chat/completions").respond(200, json=completion("{}"))
    async with httpx.AsyncClient() as http:
        await call(LLMClient(http, settings))
    body = json.loads(route.calls.last.request.content)
    assert body["response_format"] == {"type": "json_object"}
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert body["messages"][0]["content"].startswith("be careful")
    assert json.dumps(LLM_OUTPUT_SCHEMA) in body["messages"][0]["content"]


TRANSIENT = [
    pytest.param(httpx.Response(408), id="408"),
    pytest.param(httpx.Response(409), id="409"),
    pytest.param(httpx.Response(429, json={"error": {"message": "slow down"}}), id="429"),
    pytest.param(httpx.Response(500), id="500"),
    pytest.param(httpx.Response(502), id="502"),
    pytest.param(httpx.Response(503), id="503"),
    pytest.param(httpx.ConnectError("refused"), id="connect-error"),
    pytest.param(httpx.ReadTimeout("no bytes"), id="read-timeout"),
    pytest.param(httpx.RemoteProtocolError("reset mid-body"), id="reset"),
]


@pytest.mark.parametrize("fault", TRANSIENT)
async def test_transient_fault_is_retried_then_succeeds(
    llm: LLMClient,
    llm_mock: respx.MockRouter,
    completion: Callable[..., dict[str, Any]],
    sleeps: SleepRecorder,
    fault: httpx.Response | Exception,
) -> None:
    route = llm_mock.post("/chat/completions")
    route.side_effect = [fault, httpx.Response(200, json=completion("{}"))]
    reply, stats = await call(llm)
    assert reply.content == "{}"
    assert (route.call_count, stats.calls, stats.retries, len(sleeps.waits)) == (2, 2, 1, 1)


@pytest.mark.parametrize(
    ("headers", "at_least"),
    [
        pytest.param({"retry-after": "2"}, 2.0, id="seconds"),
        pytest.param({"retry-after-ms": "1500"}, 1.5, id="milliseconds"),
        pytest.param({"retry-after": "Wed, 21 Oct 2099 07:28:00 GMT"}, None, id="http-date-far"),
    ],
)
async def test_retry_after_is_honoured(
    llm: LLMClient,
    llm_mock: respx.MockRouter,
    completion: Callable[..., dict[str, Any]],
    sleeps: SleepRecorder,
    headers: dict[str, str],
    at_least: float | None,
) -> None:
    route = llm_mock.post("/chat/completions")
    route.side_effect = [
        httpx.Response(429, headers=headers, json={"error": {"message": "rate limited"}}),
        httpx.Response(200, json=completion("{}")),
    ]
    if at_least is None:  # a wait past the deadline: give up at once with a clean 503
        with pytest.raises(errors.UpstreamUnavailableError) as info:
            await call(llm)
        assert route.call_count == 1 and sleeps.waits == []
        assert info.value.retry_after == MAX_SERVER_WAIT_S  # far future, bounded
        return
    await call(llm)
    assert len(sleeps.waits) == 1 and sleeps.waits[0] >= at_least


async def test_retry_after_longer_than_the_deadline_gives_up_without_sleeping(
    llm: LLMClient, llm_mock: respx.MockRouter, sleeps: SleepRecorder
) -> None:
    llm_mock.post("/chat/completions").respond(503, headers={"retry-after": "30"})
    with pytest.raises(errors.UpstreamUnavailableError) as info:
        await call(llm, deadline_s=1)
    assert sleeps.waits == [] and info.value.retry_after == 30 and info.value.attempts == 1


async def test_attempts_are_bounded(
    llm: LLMClient, llm_mock: respx.MockRouter, sleeps: SleepRecorder
) -> None:
    route = llm_mock.post("/chat/completions").respond(500)
    with pytest.raises(errors.UpstreamUnavailableError) as info:
        await call(llm)
    assert route.call_count == 3 and info.value.attempts == 3 and len(sleeps.waits) == 2
    assert isinstance(info.value.__cause__, openai.InternalServerError)


async def test_backoff_doubles_with_jitter_up_to_the_cap(
    settings: Settings, llm_mock: respx.MockRouter, sleeps: SleepRecorder
) -> None:
    settings = settings.model_copy(
        update={"llm_backoff_initial_s": 1.0, "llm_backoff_max_s": 2.0, "llm_max_attempts": 4}
    )
    llm_mock.post("/chat/completions").respond(500)
    async with httpx.AsyncClient() as http:
        llm = LLMClient(http, settings, sleep=sleeps)
        with pytest.raises(errors.UpstreamUnavailableError):
            await call(llm, deadline_s=60)
    low_high = [(0.5, 1.0), (1.0, 2.0), (1.0, 2.0)]
    assert len(sleeps.waits) == 3
    assert all(lo <= w <= hi for w, (lo, hi) in zip(sleeps.waits, low_high, strict=True))


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        pytest.param(400, {"error": {"message": "bad"}}, errors.UpstreamRejectedError, id="400"),
        pytest.param(401, {"error": {"message": "key"}}, errors.UpstreamRejectedError, id="401"),
        pytest.param(403, {"error": {"message": "no"}}, errors.UpstreamRejectedError, id="403"),
        pytest.param(404, {"error": {"message": "model"}}, errors.UpstreamRejectedError, id="404"),
        pytest.param(422, {"error": {"message": "x"}}, errors.UpstreamRejectedError, id="422"),
        pytest.param(
            429,
            {
                "error": {
                    "message": "quota",
                    "type": "insufficient_quota",
                    "code": "insufficient_quota",
                }
            },
            errors.UpstreamQuotaError,
            id="429-insufficient-quota",
        ),
    ],
)
async def test_non_retryable_errors_are_mapped_and_not_retried(
    llm: LLMClient,
    llm_mock: respx.MockRouter,
    status: int,
    body: dict[str, Any],
    error: type[Exception],
) -> None:
    route = llm_mock.post("/chat/completions").respond(status, json=body)
    with pytest.raises(error) as info:
        await call(llm)
    assert type(info.value) is error and route.call_count == 1
    assert str(status) in info.value.reason


@pytest.mark.slow  # dir(openai) imports every lazy submodule of the SDK: seconds
def test_every_openai_error_class_is_mapped() -> None:
    exported = {
        obj
        for name in dir(openai)
        if isinstance(obj := getattr(openai, name), type)
        and issubclass(obj, openai.OpenAIError)
        and not name.startswith("_")
    }
    unmapped = sorted(cls.__name__ for cls in exported if cls not in OPENAI_ERRORS)
    assert not unmapped, f"map these in service.llm.OPENAI_ERRORS: {unmapped}"


def test_mapping_keeps_the_cause_readable() -> None:
    request = httpx.Request("POST", CHAT_URL)
    mapped = map_openai_error(openai.APIConnectionError(request=request))
    assert isinstance(mapped, errors.UpstreamUnavailableError)
    mapped = map_openai_error(
        openai.AuthenticationError(
            "bad key", response=httpx.Response(401, request=request), body={}
        )
    )
    assert isinstance(mapped, errors.UpstreamRejectedError) and mapped.status == 401


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        pytest.param({"retry-after": "3"}, 3.0, id="seconds"),
        pytest.param({"retry-after-ms": "250"}, 0.25, id="ms"),
        pytest.param({"retry-after-ms": "250", "retry-after": "9"}, 0.25, id="ms-wins"),
        pytest.param({"retry-after": "soon"}, None, id="word"),
        pytest.param({"retry-after": ""}, None, id="empty"),
        pytest.param({"retry-after": "Thu, 01 Jan 1970 00:00:00 GMT"}, 0.0, id="date-past"),
        pytest.param({"retry-after-ms": "inf"}, MAX_SERVER_WAIT_S, id="ms-inf"),
        pytest.param({"retry-after-ms": "1e300"}, MAX_SERVER_WAIT_S, id="ms-huge"),
        pytest.param({"retry-after": "1e300"}, MAX_SERVER_WAIT_S, id="s-huge"),
        pytest.param({"retry-after-ms": "-5"}, 0.0, id="ms-negative"),
        pytest.param({"retry-after-ms": "NaN"}, None, id="ms-nan"),
        pytest.param({"retry-after-ms": "NaN", "retry-after": "2"}, 2.0, id="nan-falls-back"),
        pytest.param({"retry-after": "-inf"}, 0.0, id="s-minus-inf"),
    ],
)
def test_retry_after_is_read_whatever_is_sent(
    headers: dict[str, str], seconds: float | None
) -> None:
    assert retry_after_seconds(httpx.Headers(headers)) == seconds


@pytest.mark.parametrize(
    ("status", "should_retry", "calls"),
    [
        pytest.param(500, "false", 1, id="5xx-told-not-to"),
        pytest.param(429, "false", 1, id="429-told-not-to"),
        pytest.param(400, "true", 3, id="400-told-to"),
        pytest.param(500, "maybe", 3, id="junk-ignored"),
    ],
)
async def test_x_should_retry_is_honoured(
    llm: LLMClient, llm_mock: respx.MockRouter, status: int, should_retry: str, calls: int
) -> None:
    route = llm_mock.post("/chat/completions").respond(
        status, headers={"x-should-retry": should_retry}, json={"error": {"message": "x"}}
    )
    with pytest.raises(errors.UpstreamError):
        await call(llm)
    assert route.call_count == calls


@pytest.mark.parametrize(
    ("answer", "opens"),
    [
        pytest.param(httpx.Response(200, text="<html>proxy</html>"), True, id="not-json"),
        pytest.param(httpx.Response(200, json={"error": {"code": 503}}), True, id="error-in-200"),
        pytest.param(httpx.Response(503), True, id="503"),
        pytest.param(httpx.Response(401, json={"error": {"message": "k"}}), False, id="401"),
    ],
)
async def test_the_breaker_counts_what_says_the_upstream_is_down(
    settings: Settings, llm_mock: respx.MockRouter, answer: httpx.Response, opens: bool
) -> None:
    settings = settings.model_copy(update={"breaker_failures": 2, "llm_max_attempts": 1})
    llm_mock.post("/chat/completions").mock(return_value=answer)
    async with httpx.AsyncClient() as http:
        llm = LLMClient(http, settings)
        for _ in range(2):
            with pytest.raises(errors.UpstreamError):
                await call(llm)
    assert (llm.breaker.state == "open") is opens


async def test_each_failed_attempt_is_logged_once_with_the_request_id_and_no_key(
    llm: LLMClient, llm_mock: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    message = "Incorrect API key provided: sk-proj-abcd****WXYZ (org org-fict0nal)"
    llm_mock.post("/chat/completions").respond(401, json={"error": {"message": message}})
    caplog.handler.addFilter(RequestIdFilter())
    token = request_id.set("req-canary")
    try:
        with pytest.raises(errors.UpstreamRejectedError) as info:
            await call(llm)
    finally:
        request_id.reset(token)
    [record] = [r for r in caplog.records if r.levelname == "WARNING"]
    assert record.getMessage() == "LLM attempt failed"
    assert getattr(record, "request_id", None) == "req-canary"
    reason = getattr(record, "reason", "")
    assert "HTTP 401" in reason and "Incorrect API key provided" in reason
    assert "WXYZ" not in reason and "fict0nal" not in reason
    public = str(info.value)
    assert "NEWSBRIEF_LLM_API_KEY" in public and "Incorrect" not in public


async def test_an_answer_over_the_size_cap_is_not_read_nor_retried(
    settings: Settings, llm_mock: respx.MockRouter, completion: Callable[..., dict[str, Any]]
) -> None:
    settings = settings.model_copy(update={"llm_max_response_bytes": 2048})
    route = llm_mock.post("/chat/completions").respond(200, json=completion("x" * 4000))
    async with httpx.AsyncClient() as http:
        llm = LLMClient(http, settings)
        with pytest.raises(errors.BadUpstreamResponseError) as info:
            await call(llm)
    assert route.call_count == 1 and "2048-byte" in str(info.value)


@pytest.mark.parametrize(
    ("body", "content"),
    [
        (b'{"choices": [{"message": {"content": "{}"}, "finish_reason": "stop"}]}', "{}"),
        pytest.param(
            b'{"choices": [{"message": {"content": "x\\ud800"}, "finish_reason": "stop"}]}',
            "x\ud800",
            id="lone-surrogate-escape",  # orjson refuses it; JSON allows it, and so do we
        ),
        pytest.param(
            b'{"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}],'
            b' "usage": {"prompt_tokens": NaN}}',
            "ok",
            id="nan-literal",
        ),
    ],
)
def test_a_completion_body_reads_the_same_whichever_parser_takes_it(
    body: bytes, content: str
) -> None:
    assert read_completion(body, {}, 100, CallStats()).content == content
