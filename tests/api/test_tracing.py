"""OpenTelemetry spans for a request, its LLM calls and grounding, via the in-memory exporter."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
import respx
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from service import tracing
from service.api import create_app
from service.settings import Settings
from tests.conftest import GOOD_EVIDENCE, brief_json, claim, completion_json


@pytest.fixture
def exported() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.install(provider)
    yield exporter
    tracing.install(None)


def by_name(spans: tuple[ReadableSpan, ...], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


def ancestors(span: ReadableSpan, spans: tuple[ReadableSpan, ...]) -> list[str]:
    by_id = {s.context.span_id: s for s in spans}
    names = []
    while span.parent is not None and span.parent.span_id in by_id:
        span = by_id[span.parent.span_id]
        names.append(span.name)
    return names


def test_a_request_its_llm_calls_and_grounding_are_spans(
    exported: InMemorySpanExporter, settings: Settings, llm_mock: respx.MockRouter, article: str
) -> None:
    llm_mock.post("/chat/completions").side_effect = [
        httpx.Response(503, json={"error": {"message": "busy"}}),
        httpx.Response(200, json=completion_json(brief_json([claim(GOOD_EVIDENCE)]))),
    ]
    with TestClient(create_app(settings)) as client:
        assert client.post("/v1/summaries", json={"article": {"text": article}}).status_code == 200
    spans = exported.get_finished_spans()

    [server] = by_name(spans, "POST /v1/summaries")
    assert server.kind == SpanKind.SERVER and server.attributes is not None
    assert server.attributes["http.route"] == "/v1/summaries"
    assert server.attributes["http.response.status_code"] == 200

    failed, answered = by_name(spans, "chat test-model")
    for call in (failed, answered):
        assert call.kind == SpanKind.CLIENT
        assert ancestors(call, spans) == ["fastapi.endpoint", "POST /v1/summaries"]
        assert call.attributes is not None
        assert call.attributes["gen_ai.operation.name"] == "chat"
        assert call.attributes["gen_ai.request.model"] == "test-model"
        assert call.attributes["gen_ai.provider.name"] == "openai"
        assert call.attributes["newsbrief.prompt"] == "summarize@v1"
    assert failed.status.status_code == StatusCode.ERROR
    assert failed.attributes is not None and answered.attributes is not None
    assert failed.attributes["error.type"] == "UpstreamUnavailableError"
    assert answered.attributes["gen_ai.usage.input_tokens"] == 120
    assert answered.attributes["gen_ai.usage.output_tokens"] == 80
    assert answered.attributes["gen_ai.response.finish_reasons"] == ("stop",)

    [ground] = by_name(spans, "newsbrief.ground")
    assert ancestors(ground, spans) == ["fastapi.endpoint", "POST /v1/summaries"]
    assert ground.attributes is not None
    assert ground.attributes["newsbrief.claims.proposed"] == 1
    assert ground.attributes["newsbrief.claims.returned"] == 1
    assert ground.attributes["newsbrief.attribution.verified"] == 1


def test_without_a_tracer_every_span_is_the_same_do_nothing_object() -> None:
    first = tracing.span("a", {"k": 1})
    assert first is tracing.span("b") and not tracing.enabled()
    with first as span:
        span.set_attribute("k", 2)


@pytest.mark.slow  # a fresh interpreter imports the whole service: a second
def test_serving_without_tracing_loads_no_tracing_sdk() -> None:
    """FastAPI itself imports the OpenTelemetry API, and redis-py the SDK's metrics part when the
    SDK is installed (as here); the SDK's tracing part, which would do our work, stays out."""
    code = (
        "import sys\n"
        "from fastapi.testclient import TestClient\n"
        "from service.api import create_app\n"
        "from service.settings import Settings\n"
        "with TestClient(create_app(Settings())) as c:\n"
        "    c.post('/v1/summaries', json={'article': {'text': 'A short note. It ends.'}})\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry.sdk.trace')))\n"
    )
    env = {"PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.strip() == "[]", out.stderr


@pytest.mark.parametrize(
    ("environ", "on"),
    [
        ({}, False),
        ({"OTEL_SERVICE_NAME": "newsbrief"}, False),  # naming the service asks for no traces
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_TRACES_EXPORTER": "none"}, False),
        ({"OTEL_TRACES_EXPORTER": "console", "OTEL_SDK_DISABLED": "true"}, False),
    ],
)
def test_the_standard_variables_turn_tracing_on(environ: dict[str, str], on: bool) -> None:
    assert (tracing.from_environment(environ) is not None) is on


def test_an_unknown_exporter_is_named() -> None:
    with pytest.raises(RuntimeError, match="OTEL_TRACES_EXPORTER: 'zipkin'"):
        tracing.from_environment({"OTEL_TRACES_EXPORTER": "zipkin"})
