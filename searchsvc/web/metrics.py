"""Prometheus metrics at ``GET /metrics``, in Prometheus' text format, with the official client
library (``prometheus_client``).

Under gunicorn each worker counts its own requests in files of the folder
``PROMETHEUS_MULTIPROC_DIR`` (the library's multiprocess mode: ``searchsvc serve`` makes the
folder, empty, before the workers start), and whichever worker answers a scrape adds up every
worker's files. Elsewhere (a test, an app served by a thread) the counts are the process's own.
The index's gauges (documents, generation, age, damage) are read from the live index's
metadata at each scrape, as ``/healthz`` reads them.

``/metrics`` is never held back by the in-flight limiter. It asks for the admin key when one
is set (Prometheus sends it with ``authorization: {credentials_file: …}``), and is open when
none is, as a server listening on the loopback address by default may be.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import datetime

from flask import Blueprint, Flask, Response, current_app, g, request

from searchsvc.errors import IndexDamagedError, Kind, SearchsvcError
from searchsvc.web import get_engine
from searchsvc.web.admin import refuse_unless_admin
from searchsvc.web.security import WARM_UP_ENVIRON

bp = Blueprint("metrics", __name__)

# Request durations' buckets, in seconds: a cached page takes a fraction of a millisecond, a
# search a few milliseconds, a refused one up to SEARCH_TIME_LIMIT (2 s), a queued one up to
# QUEUE_WAIT_S (5 s) more.
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# The endpoint label of a request no route matched (a 404).
NO_ENDPOINT = "none"


class _Metrics:
    """The process's metrics, made once: in multiprocess mode their values live in the
    folder's files (no registry holds them), otherwise in :attr:`registry`."""

    def __init__(self) -> None:
        from prometheus_client import (
            CollectorRegistry,
            Counter,
            Histogram,
            disable_created_metrics,
            values,
        )

        # No ``_created`` series beside each counter: the multiprocess mode has none, and
        # Prometheus does without them.
        disable_created_metrics()
        self.multiprocess = bool(getattr(values.ValueClass, "_multiprocess", False))
        self.registry = None if self.multiprocess else CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.requests = Counter(
            "searchsvc_http_requests",
            "HTTP requests answered, by endpoint (the app's name for it) and status.",
            ["endpoint", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            "searchsvc_http_request_duration_seconds",
            "Time from a request reaching the app to its answer being ready, by endpoint.",
            ["endpoint"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.shed = Counter(
            "searchsvc_requests_shed",
            "Requests answered 503 overloaded without being run (load shedding).",
            ["endpoint"],
            registry=registry,
        )
        self.too_expensive = Counter(
            "searchsvc_queries_too_expensive",
            "Searches refused as too expensive (query_too_expensive).",
            registry=registry,
        )
        # Children by label values: labels() takes a lock and builds a key each time.
        self._requests: dict[tuple[str, int], object] = {}
        self._durations: dict[str, object] = {}

    def observe(self, endpoint: str, status: int, seconds: float) -> None:
        """Count one answered request."""
        counter = self._requests.get((endpoint, status))
        if counter is None:
            counter = self._requests[endpoint, status] = self.requests.labels(endpoint, status)
        counter.inc()
        histogram = self._durations.get(endpoint)
        if histogram is None:
            histogram = self._durations[endpoint] = self.duration.labels(endpoint)
        histogram.observe(seconds)

    def source(self):
        """What a scrape collects the counters from."""
        if not self.multiprocess:
            return self.registry
        from prometheus_client import multiprocess

        return multiprocess.MultiProcessCollector(None, os.environ["PROMETHEUS_MULTIPROC_DIR"])


_metrics: _Metrics | None = None
_metrics_lock = threading.Lock()


def process_metrics() -> _Metrics:
    """The process's metrics (made on first use: in a gunicorn worker, after the fork)."""
    global _metrics
    if _metrics is None:
        with _metrics_lock:
            if _metrics is None:
                _metrics = _Metrics()
    return _metrics


class IndexCollector:
    """The live index's gauges, read from its metadata when scraped (never waiting for a
    search): whether one is usable, whether it is damaged, its documents, generation number
    and age."""

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        stats, damaged = None, 0
        try:
            stats = get_engine().stats()
        except IndexDamagedError:
            damaged = 1
        except SearchsvcError:
            pass  # no usable index: available 0
        yield GaugeMetricFamily(
            "searchsvc_index_available",
            "1 when a usable index is live (as /healthz answers 200).",
            value=int(stats is not None),
        )
        yield GaugeMetricFamily(
            "searchsvc_index_damaged",
            "1 when a file of the live index no longer matches its recorded SHA-256.",
            value=damaged,
        )
        if stats is None:
            return
        yield GaugeMetricFamily(
            "searchsvc_index_documents", "Documents in the live index.", value=stats["documents"]
        )
        generation = stats.get("generation") or ""
        if generation[1:].isdigit():
            yield GaugeMetricFamily(
                "searchsvc_index_generation",
                "Number of the live index's generation (g000007 is 7); it grows at each update.",
                value=int(generation[1:]),
            )
        updated = _timestamp(stats.get("updated"))
        if updated is not None:
            yield GaugeMetricFamily(
                "searchsvc_index_age_seconds",
                "Seconds since the live index was last written.",
                value=max(time.time() - updated, 0.0),
            )


def _timestamp(iso: str | None) -> float | None:
    try:
        return datetime.fromisoformat(iso).timestamp() if iso else None
    except ValueError:
        return None


class _Scrape:
    """The collectors of one scrape, as the one object ``generate_latest`` reads."""

    def __init__(self, *collectors):
        self.collectors = collectors

    def collect(self):
        for collector in self.collectors:
            yield from collector.collect()


@bp.get("/metrics")
def metrics():
    """Every metric in Prometheus' text format; the admin key when one is set."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    refused = refuse_unless_admin(required=False)
    if refused is not None:
        return refused
    body = generate_latest(_Scrape(process_metrics().source(), IndexCollector()))
    response = current_app.response_class(body, content_type=CONTENT_TYPE_LATEST)
    response.headers["Cache-Control"] = "no-store"
    return response


def _started() -> None:
    g.searchsvc_started = time.perf_counter()


def _answered(response: Response) -> Response:
    """Count the request (not those a worker makes to itself as it warms up)."""
    if WARM_UP_ENVIRON in request.environ:
        return response
    started = g.get("searchsvc_started")
    seconds = time.perf_counter() - started if started is not None else 0.0
    endpoint = request.endpoint or NO_ENDPOINT
    recorded = process_metrics()
    recorded.observe(endpoint, response.status_code, seconds)
    if g.get("searchsvc_shed"):
        recorded.shed.labels(endpoint).inc()
    if g.get("searchsvc_refused") == Kind.TOO_EXPENSIVE:
        recorded.too_expensive.inc()
    return response


def init_app(app: Flask) -> None:
    """Count every request and serve ``/metrics``. Call it before any other
    ``before_request`` hook, so that a request refused by one (shed, too large) is timed."""
    process_metrics()
    app.before_request(_started)
    app.after_request(_answered)
    app.register_blueprint(bp)
