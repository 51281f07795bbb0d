"""OpenTelemetry tracing: one trace per order across HTTP and Kafka.

The W3C `traceparent` of the span that wrote an outbox row travels with the event as the
CloudEvents `traceparent` extension (`ce_traceparent` header); consumers continue that trace.
Spans are exported over OTLP only when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagators.textmap import DefaultGetter, DefaultSetter, Setter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_propagator = TraceContextTextMapPropagator()
_SETTER: Setter[dict[str, str]] = DefaultSetter()  # type: ignore[assignment]
_provider: TracerProvider | None = None


def configure_tracing(service: str, otlp_endpoint: str | None) -> TracerProvider:
    """Install one SDK tracer provider per process (spans get real ids even without export)."""
    global _provider
    if _provider is None:
        _provider = TracerProvider(resource=Resource.create({"service.name": service}))
        trace.set_tracer_provider(_provider)
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        _provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{otlp_endpoint}/v1/traces"))
        )
    return _provider


def add_span_processor(processor: SpanProcessor) -> None:
    """For tests and tools that want to see finished spans."""
    if _provider is None:
        raise RuntimeError("configure_tracing() first")
    _provider.add_span_processor(processor)


def tracer(name: str = "chassis") -> trace.Tracer:
    return trace.get_tracer(name)


def current_traceparent() -> str | None:
    carrier: dict[str, str] = {}
    _propagator.inject(carrier, setter=_SETTER)
    return carrier.get("traceparent")


def trace_id_of(traceparent: str | None) -> str | None:
    """The 32-hex trace id inside a W3C traceparent."""
    parts = (traceparent or "").split("-")
    return parts[1] if len(parts) == 4 else None


@contextmanager
def consumer_span(name: str, traceparent: str | None, **attributes: str) -> Iterator[Span]:
    """A CONSUMER span that continues the producer's trace."""
    parent = _propagator.extract({"traceparent": traceparent or ""}, getter=DefaultGetter())
    token = otel_context.attach(parent)
    try:
        with tracer().start_as_current_span(name, kind=SpanKind.CONSUMER) as span:
            for key, value in attributes.items():
                span.set_attribute(key, value)
            yield span
    finally:
        otel_context.detach(token)
