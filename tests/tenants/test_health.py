"""Liveness and readiness probes."""
from __future__ import annotations

import pytest
from django.test import Client

from aitrader import health


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
