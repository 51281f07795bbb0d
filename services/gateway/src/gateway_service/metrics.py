"""The gateway's Prometheus metrics on a port of their own.

The gateway is the one process clients reach, so its `/metrics` (upstream names, error rates)
is not served on the storefront port: a scraper on the private network reads it from
`GATEWAY_METRICS_HOST:GATEWAY_METRICS_PORT` (127.0.0.1:9100 by default; 0 turns it off).
"""

from __future__ import annotations

from wsgiref.simple_server import WSGIServer

from prometheus_client import start_http_server

from chassis.logging import get_logger

log = get_logger(__name__)


def serve_metrics(host: str, port: int) -> WSGIServer | None:
    """Start the metrics listener in a thread, or None when it is off or its port is taken (a
    second gateway on one machine): the storefront matters more than its metrics."""
    if port == 0:
        return None
    try:
        server, _ = start_http_server(port, addr=host)
    except OSError as exc:
        log.warning("metrics listener not started", port=port, error=str(exc))
        return None
    return server
