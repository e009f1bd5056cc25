"""Prometheus metrics of one app, on a registry of its own (not the process-global one)."""

from collections.abc import Callable

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "suppression_http_requests", "HTTP requests answered",
            ["route", "status"], registry=self.registry,
        )
        self.checked = Counter(
            "suppression_checked_addresses", "Addresses checked against the list",
            ["kind"], registry=self.registry,
        )
        self.changes = Counter(
            "suppression_changes", "Suppressions added or lifted through this process",
            ["action", "source"], registry=self.registry,
        )
        self.list_size = Gauge(
            "suppression_list_size", "Suppressions held in the index", registry=self.registry
        )

    def watch_list_size(self, size: Callable[[], int]) -> None:
        self.list_size.set_function(size)

    def render(self) -> web.Response:
        response = web.Response(body=generate_latest(self.registry))
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response
