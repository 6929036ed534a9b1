"""Liveness and readiness probes."""
from __future__ import annotations

import socket
import threading

import pytest
from django.test import Client

from aitrader import health
from tests.live import WAIT_SECONDS


def test_it_answers_healthz_without_credentials(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_it_answers_healthz_even_when_dependencies_fail(client, monkeypatch):
    monkeypatch.setitem(health.CHECKS, "database", lambda: False)
    assert client.get("/healthz").status_code == 200


def test_it_reports_ready_when_database_and_cache_answer(db, client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok",
                               "checks": {"database": "ok", "cache": "ok", "broker": "ok"}}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.parametrize("failing", ["database", "cache", "broker"])
def test_it_returns_503_naming_the_failing_check(db, client, monkeypatch, failing):
    monkeypatch.setitem(health.CHECKS, failing, lambda: False)
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"][failing] == "failing"
    assert all(state == "ok" for name, state in body["checks"].items() if name != failing)


def test_it_returns_503_when_a_check_raises(db, client, monkeypatch):
    def unreachable() -> bool:
        raise ConnectionError("connection refused")

    monkeypatch.setitem(health.CHECKS, "database", unreachable)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "failing"
    assert b"connection refused" not in response.content


def test_it_needs_no_session_or_key_for_readyz(db):
    response = Client(HTTP_HOST="127.0.0.1").get("/readyz")
    assert response.status_code == 200


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_it_refuses_writes_to_the_probes(db, client, path):
    assert client.post(path).status_code == 405


@pytest.fixture
def mute_redis():
    """A server that accepts connections and reads what it is sent, and never answers."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    server.close()


def test_a_redis_that_never_answers_makes_readyz_fail_instead_of_hang(db, client, settings,
                                                                       mute_redis):
    timeout = settings.REDIS_SOCKET_TIMEOUT_SECONDS
    settings.REDIS_URL = mute_redis
    settings.CACHES = {"default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": mute_redis,
        "OPTIONS": {"socket_connect_timeout": timeout, "socket_timeout": timeout}}}
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "ok", "cache": "failing",
                                         "broker": "failing"}


def test_a_check_with_no_answer_by_the_deadline_is_failing(db, client, monkeypatch):
    release = threading.Event()
    monkeypatch.setitem(health.CHECKS, "cache", lambda: release.wait(WAIT_SECONDS))
    try:
        response = client.get("/readyz")
    finally:
        release.set()
    assert response.status_code == 503
    assert response.json()["checks"]["cache"] == "failing"
