"""Prometheus metrics of one server (its own registry, so several apps never collide)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

__all__ = ["CONTENT_TYPE", "Metrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _BackendCollector:
    """Reads restarts and readiness from the backends at scrape time."""

    def __init__(self, source: Callable[[], Iterable[tuple[str, str, Any]]]) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        restarts = CounterMetricFamily(
            "ks_serve_sandbox_restarts", "Worker restarts per model backend", labels=["tenant", "model"]
        )
        ready = GaugeMetricFamily(
            "ks_serve_model_ready", "1 while a model backend's workers are up", labels=["tenant", "model"]
        )
        for tenant, model, backend in self._source():
            restarts.add_metric([tenant, model], backend.restarts())
            ready.add_metric([tenant, model], 1.0 if backend.ready() else 0.0)
        yield restarts
        yield ready


class Metrics:
    """Counters, histograms and gauges labelled by tenant and model (only configured names)."""

    def __init__(self, backends: Callable[[], Iterable[tuple[str, str, Any]]]) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "ks_serve_requests",
            "Requests by tenant, model and status",
            ["tenant", "model", "status"],
            registry=r,
        )
        self.refusals = Counter(
            "ks_serve_refusals",
            "Refused requests or items by finding code",
            ["tenant", "model", "code"],
            registry=r,
        )
        self.errors = Counter(
            "ks_serve_errors",
            "Requests that failed on the server side (5xx)",
            ["tenant", "model"],
            registry=r,
        )
        self.crashes = Counter(
            "ks_serve_crashes",
            "Model worker crashes or timeouts caused by a request",
            ["tenant", "model"],
            registry=r,
        )
        self.latency = Histogram(
            "ks_serve_request_seconds",
            "Request latency (seconds)",
            ["tenant", "model"],
            buckets=_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge("ks_serve_in_flight", "Requests being served", ["tenant", "model"], registry=r)
        self.items = Counter("ks_serve_items", "Batch items predicted", ["tenant", "model"], registry=r)
        r.register(_BackendCollector(backends))  # type: ignore[arg-type]

    def render(self) -> bytes:
        """The Prometheus text exposition."""
        return generate_latest(self.registry)
