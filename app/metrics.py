"""Prometheus metrics (prometheus-client), one registry per app so tests stay independent."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "rag_http_requests_total", "HTTP requests", ["route", "method", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "rag_http_request_seconds",
            "HTTP request latency",
            ["route", "method", "status"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "rag_generation_queue_depth", "Generation requests queued or running", registry=self.registry
        )
        self.batch_size = Histogram(
            "rag_generation_batch_size",
            "Requests decoded together per batch step",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128),
            registry=self.registry,
        )
        self.generated_tokens = Counter("rag_generated_tokens_total", "Tokens generated", registry=self.registry)
        self.tokens_per_second = Gauge(
            "rag_generation_tokens_per_second", "Generated tokens/s of the last batch", registry=self.registry
        )
        self.documents_ingested = Counter("rag_documents_ingested_total", "Documents stored", registry=self.registry)
        self.chunks_ingested = Counter("rag_chunks_ingested_total", "Chunks stored", registry=self.registry)
        self.auth_failures = Counter("rag_auth_failures_total", "Requests with a wrong API key", registry=self.registry)
        self.auth_blocked = Counter(
            "rag_auth_blocked_total",
            "Requests refused (429) because their address sent too many wrong API keys",
            registry=self.registry,
        )
        self.ingests_stopped = Counter(
            "rag_ingests_stopped_total",
            "Uploads stopped before anything was stored, by reason (timeout, cancelled)",
            ["reason"],
            registry=self.registry,
        )

    def observe_batch(self, batch_size: int, new_tokens: int, seconds: float) -> None:
        self.batch_size.observe(batch_size)
        self.generated_tokens.inc(new_tokens)
        if seconds > 0:
            self.tokens_per_second.set(new_tokens / seconds)


class MetricsMiddleware:
    """Counts requests and latency by route template (not raw path, to keep label sets small)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    def _route_of(self, scope: Scope) -> str:
        # The router records the matched route in the scope it was given (this same dict).
        matched = getattr(scope.get("route"), "path", None)
        if isinstance(matched, str):
            return matched
        app = scope.get("app")
        router = getattr(app, "router", None)
        for route in getattr(router, "routes", []):
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return str(getattr(route, "path", "other"))
        return "unmatched"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            labels = (self._route_of(scope), scope.get("method", ""), str(status))
            self.metrics.requests.labels(*labels).inc()
            self.metrics.latency.labels(*labels).observe(time.perf_counter() - start)
