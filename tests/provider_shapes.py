"""What real providers send back, as raw status + headers + body, and what newsbrief must answer.

Each shape is modelled on the provider's public API docs, SDK tests or issue reports; the texts,
ids and numbers in them are invented. `answers` are served in order, the last one repeated for any
further call. `expect` is "200" or the problem type a client gets; `calls` (when set) is how many
upstream calls that takes. tests/api/test_provider_shapes.py runs every shape through the real app.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tests.conftest import GOOD_EVIDENCE, brief_json, claim, completion_json

BRIEF = brief_json([claim(GOOD_EVIDENCE)])
# Planted in upstream error texts: none of it may reach a client.
SECRET_BITS = ("sk-proj-", "WXYZ", "org-fict0nal", "4f1c-upstream-trace")


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: bytes | dict[str, Any] | list[Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Shape:
    provider: str
    name: str
    answers: tuple[Answer, ...]
    expect: str  # "200" or a problem type slug
    calls: int | None = None
    settings: dict[str, Any] = field(default_factory=dict)


def ok(**changes: Any) -> dict[str, Any]:
    """A normal OpenAI-style completion carrying a valid brief, with top-level keys changed."""
    return completion_json(BRIEF) | changes


def choice(message: Any, finish_reason: Any = "stop", **extra: Any) -> dict[str, Any]:
    return {"index": 0, "message": message, "finish_reason": finish_reason, **extra}


def error(status: int, message: str, code: Any = None, **extra: Any) -> Answer:
    body = {"error": {"message": message, "type": extra.pop("type", None), "code": code}}
    return Answer(status, body, extra.pop("headers", {}))


USAGE = {"prompt_tokens": 812, "completion_tokens": 230, "total_tokens": 1042}
OK = Answer(200, ok())
INVALID_KEY = (
    "Incorrect API key provided: sk-proj-****************WXYZ. You can find your API key at "
    "https://platform.example/account/api-keys."
)
RATE_LIMITED = (
    "Rate limit reached for test-model in organization org-fict0nal on tokens per min (TPM): "
    "Limit 30000, Used 29950, Requested 1200. Please try again in 2.3s."
)

SHAPES: list[Shape] = [
    # --- OpenAI -------------------------------------------------------------------------------
    Shape(
        "OpenAI",
        "200 with usage details (cached and reasoning tokens)",
        (
            Answer(
                200,
                ok(
                    usage=USAGE
                    | {
                        "prompt_tokens_details": {"cached_tokens": 512, "audio_tokens": 0},
                        "completion_tokens_details": {
                            "reasoning_tokens": 0,
                            "accepted_prediction_tokens": 0,
                            "rejected_prediction_tokens": 0,
                        },
                    },
                    service_tier="default",
                ),
            ),
        ),
        "200",
        calls=1,
    ),
    Shape(
        "OpenAI",
        "429 rate limit (org id in the text), retry-after-ms 20, then 200",
        (error(429, RATE_LIMITED, "rate_limit_exceeded", headers={"retry-after-ms": "20"}), OK),
        "200",
        calls=2,
    ),
    Shape(
        "OpenAI",
        "429 insufficient_quota",
        (error(429, "You exceeded your current quota.", "insufficient_quota"),),
        "llm-quota-exhausted",
        calls=1,
    ),
    Shape(
        "OpenAI",
        "401 invalid key (last 4 key characters in the text)",
        (error(401, INVALID_KEY, "invalid_api_key", type="invalid_request_error"),),
        "llm-rejected-request",
        calls=1,
    ),
    Shape(
        "OpenAI",
        "400 unsupported_value: temperature on a reasoning model",
        (
            error(
                400,
                "Unsupported value: 'temperature' does not support 0.0 with this model.",
                "unsupported_value",
                type="invalid_request_error",
            ),
        ),
        "llm-rejected-request",
        calls=1,
    ),
    Shape(
        "OpenAI",
        "500 with x-should-retry: false",
        (error(500, "The server had an error.", headers={"x-should-retry": "false"}),),
        "llm-unavailable",
        calls=1,
    ),
    Shape(
        "OpenAI",
        "409 with x-should-retry: true, then 200",
        (error(409, "Conflict, try again.", headers={"x-should-retry": "true"}), OK),
        "200",
        calls=2,
    ),
    Shape(
        "OpenAI",
        "reasoning model spends the whole cap thinking (length, empty content)",
        (
            Answer(
                200,
                completion_json("", finish_reason="length")
                | {
                    "usage": {
                        "prompt_tokens": 900,
                        "completion_tokens": 10000,
                        "total_tokens": 10900,
                        "completion_tokens_details": {"reasoning_tokens": 10000},
                    }
                },
            ),
        ),
        "llm-output-budget",
        calls=1,
    ),
    Shape(
        "OpenAI",
        "refusal",
        (Answer(200, completion_json(None, refusal="I can't help with that request.")),),
        "llm-refusal",
        calls=1,
    ),
    Shape(
        "OpenAI",
        "503 with Retry-After: soon, then 200",
        (error(503, "Overloaded", headers={"retry-after": "soon"}), OK),
        "200",
        calls=2,
    ),
    Shape(
        "OpenAI",
        "429 with retry-after-ms: inf, every time",
        (error(429, "slow down", headers={"retry-after-ms": "inf"}),),
        "llm-unavailable",
        calls=1,
    ),
    Shape(
        "OpenAI",
        "429 with retry-after-ms: 1e300, every time",
        (error(429, "slow down", headers={"retry-after-ms": "1e300"}),),
        "llm-unavailable",
        calls=1,
    ),
    Shape(
        "OpenAI",
        "429 with Retry-After: 1e300, every time",
        (error(429, "slow down", headers={"retry-after": "1e300"}),),
        "llm-unavailable",
        calls=1,
    ),
    Shape(
        "OpenAI",
        "429 with retry-after-ms: -5, then 200",
        (error(429, "slow down", headers={"retry-after-ms": "-5"}), OK),
        "200",
        calls=2,
    ),
    Shape(
        "OpenAI",
        "429 with retry-after-ms: NaN, then 200",
        (error(429, "slow down", headers={"retry-after-ms": "NaN"}), OK),
        "200",
        calls=2,
    ),
    # --- Azure OpenAI -------------------------------------------------------------------------
    Shape(
        "Azure",
        "400 content_filter on the prompt (innererror ResponsibleAIPolicyViolation)",
        (
            Answer(
                400,
                {
                    "error": {
                        "message": "The response was filtered due to the prompt triggering "
                        "the content management policy.",
                        "type": None,
                        "param": "prompt",
                        "code": "content_filter",
                        "status": 400,
                        "innererror": {
                            "code": "ResponsibleAIPolicyViolation",
                            "content_filter_result": {
                                "violence": {"filtered": True, "severity": "medium"}
                            },
                        },
                    }
                },
            ),
        ),
        "llm-content-filter",
        calls=1,
    ),
    Shape(
        "Azure",
        "200 with finish_reason content_filter on the answer",
        (
            Answer(
                200,
                ok(
                    choices=[
                        choice(
                            {"role": "assistant", "content": None},
                            "content_filter",
                            content_filter_results={
                                "violence": {"filtered": True, "severity": "high"}
                            },
                        )
                    ],
                    prompt_filter_results=[{"prompt_index": 0, "content_filter_results": {}}],
                ),
            ),
        ),
        "llm-content-filter",
        calls=1,
    ),
    Shape(
        "Azure",
        "200 with filter results beside a normal answer",
        (
            Answer(
                200,
                ok(
                    prompt_filter_results=[
                        {
                            "prompt_index": 0,
                            "content_filter_results": {
                                "hate": {"filtered": False, "severity": "safe"}
                            },
                        }
                    ]
                ),
            ),
        ),
        "200",
    ),
    # --- Ollama -------------------------------------------------------------------------------
    Shape(
        "Ollama",
        "200 with fp_ollama and a reasoning field",
        (
            Answer(
                200,
                ok(
                    model="qwen3:8b",
                    system_fingerprint="fp_ollama",
                    choices=[
                        choice(
                            {
                                "role": "assistant",
                                "content": BRIEF,
                                "reasoning": "The mayor's quote is the evidence.",
                            }
                        )
                    ],
                ),
            ),
        ),
        "200",
        settings={"llm_provider": "ollama"},
    ),
    Shape(
        "Ollama",
        "404 model not pulled",
        (error(404, 'model "qwen9:70b" not found, try pulling it first', type="api_error"),),
        "llm-rejected-request",
        calls=1,
        settings={"llm_provider": "ollama"},
    ),
    # --- vLLM ---------------------------------------------------------------------------------
    Shape(
        "vLLM",
        "200 with reasoning_content and null token details",
        (
            Answer(
                200,
                ok(
                    choices=[
                        choice(
                            {
                                "role": "assistant",
                                "content": BRIEF,
                                "reasoning_content": "Find the quoted sentence first.",
                                "tool_calls": [],
                            },
                            stop_reason=None,
                            logprobs=None,
                        )
                    ],
                    usage=USAGE | {"prompt_tokens_details": None},
                    prompt_logprobs=None,
                ),
            ),
        ),
        "200",
        settings={"llm_provider": "vllm"},
    ),
    Shape(
        "vLLM",
        "400 context too long (flat error object)",
        (
            Answer(
                400,
                {
                    "object": "error",
                    "message": "This model's maximum context length is 8192 tokens.",
                    "type": "BadRequestError",
                    "param": None,
                    "code": 400,
                },
            ),
        ),
        "llm-rejected-request",
        calls=1,
        settings={"llm_provider": "vllm"},
    ),
    # --- llama.cpp ----------------------------------------------------------------------------
    Shape(
        "llama.cpp",
        "200 with timings",
        (
            Answer(
                200,
                ok(
                    model="gpt-3.5-turbo",
                    timings={"prompt_n": 812, "predicted_n": 230, "predicted_per_second": 41.2},
                ),
            ),
        ),
        "200",
        settings={"llm_provider": "llamacpp"},
    ),
    Shape(
        "llama.cpp",
        "content wrapped in a json code fence",
        (
            Answer(
                200,
                ok(choices=[choice({"role": "assistant", "content": f"```json\n{BRIEF}\n```"})]),
            ),
        ),
        "200",
        calls=1,
        settings={"llm_provider": "llamacpp"},
    ),
    Shape(
        "llama.cpp",
        "503 loading model, then 200",
        (error(503, "Loading model", 503, type="unavailable_error"), OK),
        "200",
        calls=2,
        settings={"llm_provider": "llamacpp"},
    ),
    # --- OpenRouter ---------------------------------------------------------------------------
    Shape(
        "OpenRouter",
        "error object inside a 200 (code 502), then 200",
        (
            Answer(
                200,
                {
                    "error": {
                        "code": 502,
                        "message": "Provider returned error (trace 4f1c-upstream-trace)",
                        "metadata": {"provider_name": "ExampleCloud", "raw": "upstream said no"},
                    }
                },
            ),
            OK,
        ),
        "200",
        calls=2,
        settings={"llm_provider": "openrouter"},
    ),
    Shape(
        "OpenRouter",
        "error object inside a 200 (code 502), every time",
        (Answer(200, {"error": {"code": 502, "message": "Provider returned error"}}),),
        "llm-unavailable",
        calls=3,
        settings={"llm_provider": "openrouter"},
    ),
    Shape(
        "OpenRouter",
        "error object inside a 200 (code 401)",
        (Answer(200, {"error": {"code": 401, "message": "User not found."}}),),
        "llm-rejected-request",
        calls=1,
        settings={"llm_provider": "openrouter"},
    ),
    Shape(
        "compatible proxy",
        "error object inside a 200 with a word code (invalid_api_key)",
        (Answer(200, {"error": {"code": "invalid_api_key", "message": INVALID_KEY}}),),
        "llm-rejected-request",
        calls=1,
    ),
    Shape(
        "compatible proxy",
        "error object inside a 200 with only a type (server_error), then 200",
        (Answer(200, {"error": {"type": "server_error", "message": "try again"}}), OK),
        "200",
        calls=2,
    ),
    Shape(
        "OpenRouter",
        "error inside choices[0] with finish_reason error, then 200",
        (
            Answer(
                200,
                ok(
                    choices=[
                        choice(
                            {"role": "assistant", "content": ""},
                            "error",
                            error={"code": 429, "message": "Upstream rate limited"},
                        )
                    ]
                ),
            ),
            OK,
        ),
        "200",
        calls=2,
        settings={"llm_provider": "openrouter"},
    ),
    Shape(
        "OpenRouter",
        "402 out of credits",
        (error(402, "Insufficient credits. Add more using the dashboard.", 402),),
        "llm-quota-exhausted",
        calls=1,
        settings={"llm_provider": "openrouter"},
    ),
    Shape(
        "OpenRouter",
        "200 with provider and native_finish_reason",
        (
            Answer(
                200,
                ok(
                    provider="ExampleCloud",
                    choices=[
                        choice(
                            {"role": "assistant", "content": BRIEF, "refusal": None},
                            native_finish_reason="STOP",
                        )
                    ],
                ),
            ),
        ),
        "200",
        settings={"llm_provider": "openrouter"},
    ),
    # --- Gemini (OpenAI-compatible endpoint) --------------------------------------------------
    Shape(
        "Gemini-compatible",
        "200 plain answer",
        (Answer(200, ok(model="gemini-2.5-flash", system_fingerprint=None)),),
        "200",
        settings={"llm_provider": "generic"},
    ),
    Shape(
        "Gemini-compatible",
        "message null with finish_reason content_filter",
        (Answer(200, ok(choices=[choice(None, "content_filter")])),),
        "llm-content-filter",
        calls=1,
        settings={"llm_provider": "generic"},
    ),
    Shape(
        "Gemini-compatible",
        "message null with finish_reason stop, every time",
        (Answer(200, ok(choices=[choice(None)])),),
        "llm-bad-response",
        calls=3,
        settings={"llm_provider": "generic"},
    ),
    Shape(
        "Gemini-compatible",
        "400 error body as a list",
        (
            Answer(
                400,
                [{"error": {"code": 400, "message": "Invalid JSON payload", "status": "INVALID"}}],
            ),
        ),
        "llm-rejected-request",
        calls=1,
        settings={"llm_provider": "generic"},
    ),
    # --- Mistral ------------------------------------------------------------------------------
    Shape(
        "Mistral",
        "content as a list of thinking and text blocks",
        (
            Answer(
                200,
                ok(
                    model="magistral-medium-latest",
                    choices=[
                        choice(
                            {
                                "role": "assistant",
                                "content": [
                                    {
                                        "type": "thinking",
                                        "thinking": [{"type": "text", "text": "Quote first."}],
                                    },
                                    {"type": "text", "text": BRIEF[:40]},
                                    {"type": "text", "text": BRIEF[40:]},
                                ],
                            }
                        )
                    ],
                ),
            ),
        ),
        "200",
        calls=1,
        settings={"llm_provider": "generic"},
    ),
    Shape(
        "Mistral",
        "422 with a structured message",
        (
            Answer(
                422,
                {
                    "object": "error",
                    "message": {"detail": [{"loc": ["body", "temperature"], "msg": "too high"}]},
                    "type": "invalid_request_message_error",
                    "code": None,
                },
            ),
        ),
        "llm-rejected-request",
        calls=1,
        settings={"llm_provider": "generic"},
    ),
    # --- Qwen and other compatible endpoints: usage in odd shapes -------------------------------
    Shape(
        "compatible (Qwen)",
        "usage with null counts",
        (
            Answer(
                200,
                ok(usage={"prompt_tokens": None, "completion_tokens": None, "total_tokens": None}),
            ),
        ),
        "200",
    ),
    Shape("compatible (Qwen)", "usage {}", (Answer(200, ok(usage={})),), "200"),
    Shape("compatible (Qwen)", "usage null", (Answer(200, ok(usage=None)),), "200"),
    Shape(
        "compatible",
        "usage counts as strings",
        (Answer(200, ok(usage={"prompt_tokens": "812", "completion_tokens": "n/a"})),),
        "200",
    ),
    Shape("compatible", "usage as a string", (Answer(200, ok(usage="n/a")),), "200"),
    # --- Broken proxies and wrong base URLs -----------------------------------------------------
    Shape(
        "broken proxy",
        "200 HTML page (captive portal, wrong base URL)",
        (
            Answer(
                200,
                b"<!doctype html><html><body><h1>Sign in to the guest network</h1></body></html>",
                {"content-type": "text/html"},
            ),
        ),
        "llm-bad-response",
        calls=3,
    ),
    Shape(
        "broken proxy",
        "200 truncated JSON",
        (Answer(200, json.dumps(ok()).encode()[:150]),),
        "llm-bad-response",
        calls=3,
    ),
    Shape(
        "broken proxy",
        "200 truncated JSON once, then 200",
        (Answer(200, json.dumps(ok()).encode()[:150]), OK),
        "200",
        calls=2,
    ),
    Shape(
        "broken proxy",
        "an SSE stream although none was asked for",
        (
            Answer(
                200,
                f"data: {json.dumps(ok())}\n\ndata: [DONE]\n\n".encode(),
                {"content-type": "text/event-stream"},
            ),
        ),
        "llm-bad-response",
        calls=3,
    ),
    Shape("broken proxy", "choices [{}]", (Answer(200, ok(choices=[{}])),), "llm-bad-response"),
    Shape(
        "broken proxy", "choices not a list", (Answer(200, ok(choices="none")),), "llm-bad-response"
    ),
    Shape("broken proxy", "body is a JSON list", (Answer(200, []),), "llm-bad-response"),
    Shape(
        "broken proxy",
        "choices as an object",
        (Answer(200, ok(choices={"0": {"message": {"content": BRIEF}}})),),
        "llm-bad-response",
    ),
    Shape(
        "broken proxy",
        "JSON nested deeper than any parser goes",
        (Answer(200, b"[" * 200_000),),
        "llm-bad-response",
    ),
    Shape("broken proxy", "body is JSON null", (Answer(200, b"null"),), "llm-bad-response"),
    Shape("broken proxy", "empty 200 body", (Answer(200, b""),), "llm-bad-response"),
    Shape(
        "broken proxy",
        "content is a number",
        (Answer(200, ok(choices=[choice({"role": "assistant", "content": 42})])),),
        "llm-bad-response",
    ),
    Shape(
        "broken proxy",
        "gzip header on a body that is not gzip",
        (Answer(200, json.dumps(ok()).encode(), {"content-encoding": "gzip"}),),
        "llm-unavailable",
        calls=3,
    ),
    Shape(
        "broken proxy",
        "502 HTML from the proxy, every time",
        (Answer(502, b"<html><body>502 Bad Gateway</body></html>", {"content-type": "text/html"}),),
        "llm-unavailable",
        calls=3,
    ),
    Shape(
        "broken proxy",
        "a 2 MB answer (over the 1 MB cap)",
        (Answer(200, ok(padding="x" * 2_000_000)),),
        "llm-bad-response",
        calls=1,
    ),
    Shape(
        "broken proxy",
        "a 1 MB error body from a 400 (message not passed on)",
        (error(400, "sk-proj-WXYZ " * 80_000),),
        "llm-rejected-request",
        calls=1,
    ),
]
