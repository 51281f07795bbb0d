"""OpenTelemetry tracing: one trace per order across HTTP and Kafka.

The W3C `traceparent` of the span that wrote an outbox row travels with the event as the
CloudEvents `traceparent` extension (`ce_traceparent` header); consumers continue that trace.
Spans are built and exported over OTLP only when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (or a
test installed a span processor): `tracing_enabled()` says so, and the hot paths (consumers,
the HTTP middleware) start no span otherwise. The trace context is carried either way, so an
order's events and log lines share one trace id. With an endpoint, root spans are sampled at
`OTEL_TRACES_SAMPLER_RATIO` (default 1.0) and children follow their parent's decision.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi.telemetry import TelemetryConfig
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagators.textmap import DefaultGetter, DefaultSetter, Setter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_propagator = TraceContextTextMapPropagator()
_SETTER: Setter[dict[str, str]] = DefaultSetter()  # type: ignore[assignment]
_provider: TracerProvider | None = None
_enabled = False  # something receives spans: an OTLP exporter or a test's processor

SAMPLER_RATIO_ENV = "OTEL_TRACES_SAMPLER_RATIO"


def sampler_ratio_from_env() -> float:
    """`OTEL_TRACES_SAMPLER_RATIO`, 0.0 to 1.0, default 1.0 (every trace)."""
    ratio = float(os.environ.get(SAMPLER_RATIO_ENV) or 1.0)
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"{SAMPLER_RATIO_ENV} must be between 0 and 1, not {ratio}")
    return ratio


def configure_tracing(
    service: str, otlp_endpoint: str | None, *, sampler_ratio: float | None = None
) -> TracerProvider:
    """Install one SDK tracer provider per process; export when `otlp_endpoint` is set.

    The sampler is parent-based: a trace started here is kept with probability
    `sampler_ratio` (default: `OTEL_TRACES_SAMPLER_RATIO`, else 1.0); a span with a parent
    (an HTTP request with `traceparent`, a consumed event) follows the parent's decision, so
    a trace is kept or dropped whole.
    """
    global _provider, _enabled
    if _provider is None:
        ratio = sampler_ratio_from_env() if sampler_ratio is None else sampler_ratio
        _provider = TracerProvider(
            resource=Resource.create({"service.name": service}),
            sampler=ParentBased(TraceIdRatioBased(ratio)),
        )
        trace.set_tracer_provider(_provider)
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        _provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{otlp_endpoint}/v1/traces"))
        )
        _enabled = True
    return _provider


def tracing_enabled() -> bool:
    """Whether spans go anywhere (an OTLP endpoint, or a processor from add_span_processor).
    When not, hot paths should carry the trace context without building spans."""
    return _enabled


def fastapi_telemetry() -> TelemetryConfig:
    """FastAPI's own (native) telemetry: off unless spans go somewhere. It turns itself on
    whenever a tracer provider is installed, which configure_tracing always does, and then
    built a span and its attributes for every request (half the gateway's CPU on /healthz)
    that nothing exported. With tracing on, chassis.app.instrument_http adds the spans."""
    return TelemetryConfig(tracing=_enabled, metrics=False, logs=False)


def add_span_processor(processor: SpanProcessor) -> None:
    """For tests and tools that want to see finished spans (turns tracing on)."""
    global _enabled
    if _provider is None:
        raise RuntimeError("configure_tracing() first")
    _provider.add_span_processor(processor)
    _enabled = True


def tracer(name: str = "chassis") -> trace.Tracer:
    return trace.get_tracer(name)


def current_traceparent() -> str | None:
    carrier: dict[str, str] = {}
    _propagator.inject(carrier, setter=_SETTER)
    return carrier.get("traceparent")


@contextmanager
def consumer_span(name: str, traceparent: str | None, **attributes: str) -> Iterator[Span]:
    """A CONSUMER span that continues the producer's trace (build it only when
    `tracing_enabled()`; `trace_context()` is the span-less alternative)."""
    parent = _propagator.extract({"traceparent": traceparent or ""}, getter=DefaultGetter())
    token = otel_context.attach(parent)
    try:
        with tracer().start_as_current_span(name, kind=SpanKind.CONSUMER) as span:
            for key, value in attributes.items():
                span.set_attribute(key, value)
            yield span
    finally:
        otel_context.detach(token)


@contextmanager
def trace_context(traceparent: str | None) -> Iterator[None]:
    """Continue the producer's trace without a span: its context is made current as it is, so
    events staged inside carry the same trace id, as do log lines (chassis.logging)."""
    if not traceparent:
        yield
        return
    parent = _propagator.extract({"traceparent": traceparent}, getter=DefaultGetter())
    token = otel_context.attach(parent)
    try:
        yield
    finally:
        otel_context.detach(token)
