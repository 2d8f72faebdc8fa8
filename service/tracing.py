"""Optional OpenTelemetry tracing: a span per LLM call and for grounding, under the request's.

Off unless turned on: `install(provider)` is called at the edge when the `otel` extra is installed
and the standard OTEL_* variables ask for traces (`service.api.app`, which also hands the provider
to FastAPI's own request spans). Until then `span()` hands back one shared do-nothing object and
this module imports nothing from opentelemetry. LLM call spans follow the OpenTelemetry GenAI
semantic conventions (gen_ai.*).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # the extra may be absent at run time
    from opentelemetry.trace import Tracer, TracerProvider

# Values OpenTelemetry accepts as attributes.
Attribute = str | bool | int | float | list[str]


class Span(Protocol):
    """The part of an OpenTelemetry span that newsbrief uses."""

    def set_attribute(self, key: str, value: Attribute) -> None: ...


class _NoSpan:
    """What span() yields while tracing is off: every call does nothing."""

    def set_attribute(self, key: str, value: Attribute) -> None:
        pass

    def __enter__(self) -> _NoSpan:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


_NO_SPAN = _NoSpan()
_INSTALL = "pip install 'newsbrief[otel]'"
_provider: TracerProvider | None = None
_tracer: Tracer | None = None


def install(provider: TracerProvider | None) -> None:
    """Send spans to this provider from now on; None turns tracing off again."""
    global _provider, _tracer
    _provider = provider
    _tracer = provider.get_tracer("newsbrief") if provider is not None else None


def provider() -> TracerProvider | None:
    """The installed provider, for FastAPI's request spans; None while tracing is off."""
    return _provider


def enabled() -> bool:
    return _tracer is not None


def span(
    name: str, attributes: Mapping[str, Attribute] | None = None, *, client: bool = False
) -> AbstractContextManager[Span]:
    """A child span of the current one while tracing is on; else the shared do-nothing span."""
    if _tracer is None:
        return _NO_SPAN
    return _started(_tracer, name, attributes or {}, client)


@contextmanager
def _started(
    tracer: Tracer, name: str, attributes: Mapping[str, Attribute], client: bool
) -> Iterator[Span]:
    from opentelemetry.trace import SpanKind

    kind = SpanKind.CLIENT if client else SpanKind.INTERNAL  # CLIENT: a call to another service
    with tracer.start_as_current_span(name, kind=kind, attributes=attributes) as current:
        yield current


def from_environment(environ: Mapping[str, str]) -> TracerProvider | None:
    """A provider exporting as the OTEL_* variables say, or None when they ask for no traces.

    Traces are on when OTEL_TRACES_EXPORTER or an OTLP endpoint variable is set (and
    OTEL_SDK_DISABLED is not "true"); the exporter then reads its own OTEL_EXPORTER_OTLP_*
    settings, and the resource OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES.
    """
    wanted = {"OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT"}
    wanted.add("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    if not wanted & {k for k, v in environ.items() if v.strip()}:
        return None
    exporters = {
        e.strip() for e in environ.get("OTEL_TRACES_EXPORTER", "otlp").split(",") if e.strip()
    }
    if exporters <= {"none"}:
        return None
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as exc:
        raise RuntimeError(f"OTEL_* variables ask for traces: {_INSTALL}") from exc
    made = TracerProvider(
        resource=Resource.create({"service.name": environ.get("OTEL_SERVICE_NAME", "newsbrief")})
    )
    for name in exporters - {"none"}:
        made.add_span_processor(BatchSpanProcessor(_exporter(name)))
    return made


def _exporter(name: str) -> Any:
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if name == "otlp":  # in the otel extra, not in the dev lock: looked up by name
        try:
            module = importlib.import_module(
                "opentelemetry.exporter.otlp.proto.http.trace_exporter"
            )
        except ImportError as exc:
            raise RuntimeError(f"the OTLP exporter is missing: {_INSTALL}") from exc
        return module.OTLPSpanExporter()
    raise RuntimeError(f"OTEL_TRACES_EXPORTER: {name!r} is not supported; use otlp or console")
