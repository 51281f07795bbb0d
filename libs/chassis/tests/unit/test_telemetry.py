"""Without an OTLP endpoint no span is built per event, but the trace context still travels."""

from __future__ import annotations

from opentelemetry import trace

from chassis import telemetry

PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_trace_context_carries_the_trace_without_a_span() -> None:
    with telemetry.trace_context(PARENT):
        span = trace.get_current_span()
        assert not span.is_recording()  # nothing was started
        assert telemetry.current_traceparent() == PARENT  # the parent's trace, span and flags
    assert telemetry.current_traceparent() is None  # detached again
    with telemetry.trace_context(None):
        assert telemetry.current_traceparent() is None


def test_sampler_ratio_comes_from_the_environment(monkeypatch: object) -> None:
    import pytest

    mp: pytest.MonkeyPatch = monkeypatch  # type: ignore[assignment]
    mp.delenv(telemetry.SAMPLER_RATIO_ENV, raising=False)
    assert telemetry.sampler_ratio_from_env() == 1.0
    mp.setenv(telemetry.SAMPLER_RATIO_ENV, "0.25")
    assert telemetry.sampler_ratio_from_env() == 0.25
    mp.setenv(telemetry.SAMPLER_RATIO_ENV, "2")
    with pytest.raises(ValueError):
        telemetry.sampler_ratio_from_env()
