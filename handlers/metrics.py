"""Prometheus metrics of one app, on a registry of its own (not the process-global one).

Requests are counted in plain dictionaries and turned into metric families only when
Prometheus scrapes: a label lookup on every request would cost more than the check itself.
"""

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from suppression.background import cancel_and_wait


_SUMMED = ("requests", "checked", "answered_early")  # the counters a worker sends its first process
LAG_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    def __init__(self):
        self.lag_buckets = [0] * len(LAG_BUCKETS)
        self.lag_sum, self.lag_count = 0.0, 0
        self.requests: Counter[tuple[str, int]] = Counter()  # (route, status)
        self.checked: Counter[str] = Counter()  # kind: single or bulk
        self.changes: Counter[tuple[str, str]] = Counter()  # (action, source)
        self.leaving: Counter[str] = Counter()  # why people said they unsubscribed (the page's optional question)
        self._list_size: Callable[[], int] = lambda: 0
        self._writable: Callable[[], bool] = lambda: True
        self._intake: Callable[[], tuple[int, int, int]] = lambda: (0, 0, 0)
        self._answered_early: Callable[[], Counter[str]] = Counter
        # The workers' counters (handlers/workers.py), as each last sent them, and those of workers
        # that ended since: a counter must never go back.
        self.others: dict[int, dict] = {}
        self._retired: dict[str, Counter] = {name: Counter() for name in _SUMMED}
        self._retired_answered: Counter[int] = Counter()
        self.review = None  # the review desk's state, read just before each scrape
        self.webhooks = []  # each receiver's (label, backlog, oldest age, disabled, attempts), ditto
        self.registry = CollectorRegistry()
        self.registry.register(self)

    def observe_loop_lag(self, seconds: float) -> None:
        """How late the loop woke the lag probe: time some callback held it."""
        self.lag_sum += seconds
        for position, bound in enumerate(LAG_BUCKETS):
            if seconds <= bound:
                self.lag_buckets[position] += 1
        self.lag_count += 1

    def watch_list_size(self, size: Callable[[], int]) -> None:
        self._list_size = size

    def watch_writable(self, writable: Callable[[], bool]) -> None:
        self._writable = writable

    def watch_answered_early(self, answered_early: Callable[[], Counter[str]]) -> None:
        """Checks answered from memory before the database or the index caught up, by why."""
        self._answered_early = answered_early

    def watch_intake(self, intake: Callable[[], tuple[int, int, int]]) -> None:
        """(stored and not yet read, being read now, unproven requests sent to review past a budget)."""
        self._intake = intake

    def take_counts(self, number: int, counts: dict) -> None:
        """A worker's counters, as it sent them (its own since it started)."""
        self.others[number] = counts

    def retire(self, number: int) -> None:
        """A worker ended: what it counted stays counted."""
        counts = self.others.pop(number, None)
        if counts is not None:
            for name in _SUMMED:
                self._retired[name] += counts[name]
            self._retired_answered[number] += sum(counts["requests"].values())

    def _summed(self, name: str, own: Counter) -> Counter:
        if not self.others and not self._retired[name]:
            return own
        total = own + self._retired[name]
        for counts in self.others.values():
            total += counts[name]
        return total

    def collect(self):
        """Called by prometheus_client at scrape time."""
        requests = CounterMetricFamily("suppression_http_requests", "HTTP requests answered", labels=["route", "status"])
        for (route, status), count in sorted(self._summed("requests", self.requests).items()):
            requests.add_metric([route, str(status)], count)
        checked = CounterMetricFamily("suppression_checked_addresses", "Addresses checked against the list", labels=["kind"])
        for kind, count in sorted(self._summed("checked", self.checked).items()):
            checked.add_metric([kind], count)
        changes = CounterMetricFamily(
            "suppression_changes",
            "Changes to the list logged since this process started, whoever made them (API, pages, mail, CLI, import,"
            " another instance)", labels=["action", "source"]
        )
        for (action, source), count in sorted(self.changes.items()):
            changes.add_metric([action, source], count)
        size = GaugeMetricFamily("suppression_list_size", "Suppressions held in the index")
        size.add_metric([], self._list_size())
        writable = GaugeMetricFamily("suppression_database_writable", "1 while the database takes writes, 0 while it refuses them")
        writable.add_metric([], 1 if self._writable() else 0)
        leaving = CounterMetricFamily("suppression_leaving_reasons", "Answers to \"why are you leaving?\" on the page",
                                      labels=["reason"])
        for reason, count in sorted(self.leaving.items()):
            leaving.add_metric([reason], count)
        unread, reading, deferred = self._intake()
        waiting = GaugeMetricFamily("suppression_intake_unread", "Received messages stored and not yet read")
        waiting.add_metric([], unread)
        being_read = GaugeMetricFamily("suppression_intake_reading", "Received messages being read now")
        being_read.add_metric([], reading)
        over_budget = CounterMetricFamily(
            "suppression_unproven_requests_deferred",
            "Requests on the sender's word alone kept for review because a network or all had used their hourly budget")
        over_budget.add_metric([], deferred)
        lag = HistogramMetricFamily(
            "suppression_event_loop_lag_seconds", "How late the event loop woke a probe that asks every 0.1 s",
            buckets=[*((str(bound), count) for bound, count in zip(LAG_BUCKETS, self.lag_buckets)),
                     ("+Inf", self.lag_count)],
            sum_value=self.lag_sum)
        early = CounterMetricFamily(
            "suppression_checks_answered_early",
            "Checks answered from memory without waiting longer for the database: behind_writes (the index"
            " had not taken in an acknowledged write within 1 s), behind_other_instances (nor a change another"
            " instance announced within 50 ms), without_details (suppressed, reason unknown)",
            labels=["why"])
        answered_early = self._summed("answered_early", self._answered_early())
        for why in ("behind_writes", "behind_other_instances", "without_details"):
            early.add_metric([why], answered_early[why])
        families = [requests, checked, changes, size, writable, leaving, waiting, being_read, over_budget, lag, early]
        if self.review is not None:
            for name, text, value in (
                ("suppression_review_open", "Received messages a person must decide", self.review.open),
                ("suppression_review_overdue", "Of those, past [review] due_hours", self.review.overdue),
                ("suppression_review_oldest_age_seconds", "Age of the oldest message to decide (0: none)",
                 self.review.oldest_age_seconds),
            ):
                gauge = GaugeMetricFamily(name, text)
                gauge.add_metric([], value)
                families.append(gauge)
        families.extend(self._webhook_families())
        if self.others or self._retired_answered:
            families.append(self._worker_family())
        return families

    def _worker_family(self):
        answered = CounterMetricFamily(
            "suppression_worker_requests",
            "HTTP requests each process of this instance answered ([http] workers: the others answer checks;"
            " the first, everything else too, including what they passed on to it)", labels=["worker"])
        counts = Counter({0: sum(self.requests.values())}) + self._retired_answered
        for number, other in self.others.items():
            counts[number] += sum(other["requests"].values())
        for number in sorted(counts):
            answered.add_metric([str(number)], counts[number])
        return answered

    def _webhook_families(self):
        if not self.webhooks:
            return []
        backlog = GaugeMetricFamily("suppression_webhook_backlog", "Events a receiver has yet to take",
                                    labels=["receiver"])
        age = GaugeMetricFamily("suppression_webhook_oldest_age_seconds",
                                "Age of the oldest event a receiver has yet to take (0: none)", labels=["receiver"])
        disabled = GaugeMetricFamily("suppression_webhook_disabled", "1 once a receiver answered 410 Gone",
                                     labels=["receiver"])
        attempts = CounterMetricFamily("suppression_webhook_attempts", "Delivery attempts by this process",
                                       labels=["receiver", "outcome"])
        for label, events, oldest, off, counted in self.webhooks:
            backlog.add_metric([label], events)
            age.add_metric([label], oldest)
            disabled.add_metric([label], 1 if off else 0)
            for outcome in ("ok", "failed"):
                attempts.add_metric([label, outcome], counted[outcome])
        return [backlog, age, disabled, attempts]

    def render(self) -> web.Response:
        response = web.Response(body=generate_latest(self.registry))
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response


@asynccontextmanager
async def probing_loop_lag(metrics: Metrics) -> AsyncIterator[None]:
    """A probe that sleeps 0.1 s at a time and records how late it woke: the time some callback
    held the loop, which every answer waits behind (suppression_event_loop_lag_seconds)."""
    probe = asyncio.create_task(_probe_loop_lag(metrics), name="loop-lag-probe")
    try:
        yield
    finally:
        await cancel_and_wait(probe)


async def _probe_loop_lag(metrics: Metrics, interval: float = 0.1) -> None:
    loop = asyncio.get_running_loop()
    while True:
        asked = loop.time()
        await asyncio.sleep(interval)
        metrics.observe_loop_lag(max(0.0, loop.time() - asked - interval))
