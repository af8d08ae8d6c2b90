"""Fairness between clients (issue 23, defect 4): one client's expensive queries cannot make
another's cheap ones wait behind them.

A worker's limiter serves waiting requests by how much of the worker's time their clients
had lately (per address; ``X-Forwarded-For`` only from a trusted proxy); a heavy search
(estimated over ``HEAVY_QUERY_SECONDS``) gives its slot back and waits apart, one at a time,
and takes the searcher only when no other search waits for it. Measured against a real
gunicorn by ``bench/expensive_clients.py``.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time

import pytest

from searchsvc.engine import search as search_module
from searchsvc.testing import cli_command
from searchsvc.web import get_engine, security
from searchsvc.web.security import InFlightLimiter, TrustedProxies, client_address


def wait_until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def queued(limiter: InFlightLimiter) -> int:
    return len(limiter._waiters)


def waiter(limiter: InFlightLimiter, client: str, order: list, outcome: list | None = None):
    """A thread that takes a turn as ``client``, notes it, and gives it back at once."""

    def run() -> None:
        got = limiter.acquire(gone=lambda: False, client=client)
        if outcome is not None:
            outcome.append((client, got))
        if got:
            order.append(client)
            limiter.release()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_another_clients_request_gets_the_next_turn():
    limiter = InFlightLimiter(limit=1, queue=10, wait=10)
    assert limiter.acquire(client="greedy")  # a running request of the greedy client
    order: list[str] = []
    threads = []
    for n in range(4):
        threads.append(waiter(limiter, "greedy", order))
        wait_until(lambda n=n: queued(limiter) == n + 1)
    threads.append(waiter(limiter, "modest", order))
    wait_until(lambda: queued(limiter) == 5)
    limiter.release()
    for t in threads:
        t.join(timeout=10)
    assert order == ["modest"] + ["greedy"] * 4


def test_a_client_filling_the_queue_loses_its_latest_place_not_the_others():
    limiter = InFlightLimiter(limit=1, queue=3, wait=10)
    assert limiter.acquire(client="greedy")
    order: list[str] = []
    outcome: list = []
    threads = []
    for n in range(3):
        threads.append(waiter(limiter, "greedy", order, outcome))
        wait_until(lambda n=n: queued(limiter) == n + 1)
    threads.append(waiter(limiter, "modest", order, outcome))
    wait_until(lambda: outcome == [("greedy", False)])  # shed at once: the queue's latest
    assert queued(limiter) == 3
    limiter.release()
    for t in threads:
        t.join(timeout=10)
    assert order == ["modest", "greedy", "greedy"]
    # One client alone still finds the queue full, as before.
    solo = InFlightLimiter(limit=1, queue=1, wait=0.05)
    assert solo.acquire(client="a")
    threads = [waiter(solo, "a", [], None)]
    wait_until(lambda: queued(solo) == 1)
    assert solo.acquire(client="a") is False
    solo.release()
    threads[0].join(timeout=10)


def test_the_client_is_the_peer_unless_the_peer_is_a_trusted_proxy():
    environ = {"REMOTE_ADDR": "203.0.113.7", "HTTP_X_FORWARDED_FOR": "10.9.9.9"}
    assert client_address(environ, TrustedProxies([])) == "203.0.113.7"  # anyone may send it
    proxied = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "6.6.6.6, 198.51.100.4"}
    trusted = TrustedProxies(["127.0.0.1"])
    # What the proxy appended, not what its client wrote before it.
    assert client_address(proxied, trusted) == "198.51.100.4"
    assert client_address({"REMOTE_ADDR": "127.0.0.1"}, trusted) == "127.0.0.1"


def test_trusted_proxies_come_from_the_config_or_the_environment(make_app, seed_index, monkeypatch):
    monkeypatch.setenv("SEARCHSVC_TRUSTED_PROXIES", "127.0.0.1, ::1")
    app = make_app(INDEX_DIR=str(seed_index))
    proxies = security._trusted_proxies(app)
    assert "127.0.0.1" in proxies and "::1" in proxies and "127.0.0.2" not in proxies
    app = make_app(INDEX_DIR=str(seed_index), TRUSTED_PROXIES=["10.0.0.1"])
    assert "10.0.0.1" in security._trusted_proxies(app)
    app = make_app(INDEX_DIR=str(seed_index), TRUSTED_PROXIES="172.28.0.0/16")
    proxies = security._trusted_proxies(app)
    assert "172.28.5.9" in proxies and "172.29.0.1" not in proxies and "nonsense" not in proxies


def test_a_trusted_proxy_that_is_no_address_is_one_clear_error():
    with pytest.raises(ValueError, match=r"'proxy\.local' is not an IP address"):
        security.TrustedProxies(["proxy.local"])


def test_a_heavy_search_waits_apart_without_holding_back_a_cheap_one(
    make_app, seed_index, monkeypatch
):
    # One slot, and searches with 100 hits a page count as heavy (their snippets).
    monkeypatch.setattr(search_module, "HEAVY_QUERY_SECONDS", 0.05)
    app = make_app(INDEX_DIR=str(seed_index), MAX_IN_FLIGHT=1, MAX_QUEUED=2, QUEUE_WAIT_S=10)
    heavy = app.extensions["searchsvc.heavy_limiter"]
    assert heavy.acquire()  # the heavy lane is busy
    results: list = []

    def heavy_search() -> None:
        with app.test_client().get("/api/search?q=twitter&per_page=100") as r:
            results.append(r.status_code)

    thread = threading.Thread(target=heavy_search, daemon=True)
    thread.start()
    wait_until(lambda: queued(heavy) == 1)  # it waits for the heavy lane...
    started = time.monotonic()
    with app.test_client().get("/api/search?q=twitter") as r:  # ...not in the cheap one's way
        assert r.status_code == 200
    assert time.monotonic() - started < 5
    assert results == []
    heavy.release()
    thread.join(timeout=20)
    assert results == [200]
    with app.app_context():
        assert get_engine().search("twitter", per_page=100).total >= 1


def test_a_heavy_search_takes_the_searcher_only_when_no_other_waits(engine):
    live = engine._live
    order: list[str] = []

    def use(name: str, urgent: bool) -> threading.Thread:
        def run() -> None:
            with live.searcher(urgent):
                order.append(name)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread

    with live.searcher():
        patient = use("heavy", urgent=False)
        time.sleep(0.1)
        urgent = use("cheap", urgent=True)
        wait_until(lambda: live._use._urgent_waiting == 1)
    patient.join(timeout=10)
    urgent.join(timeout=10)
    assert order == ["cheap", "heavy"]


def test_serve_refuses_a_trusted_proxy_that_is_no_address_in_one_line(tmp_path):
    env = {**os.environ, "SEARCHSVC_TRUSTED_PROXIES": "127.0.0.1, proxy.local"}
    run = subprocess.run(
        [*cli_command("serve", "--index", str(tmp_path)), "--port", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert run.returncode == 1
    assert run.stderr.strip().splitlines() == [
        "Error: SEARCHSVC_TRUSTED_PROXIES: 'proxy.local' is not an IP address or network"
    ]
