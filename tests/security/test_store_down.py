"""A rate-limit store that does not answer: control fails closed (503), reads fail open."""
from __future__ import annotations

import pytest
from django.test import Client

from tests.base import PASSWORD
from tests.factories import make
from trading.models import Bot


@pytest.mark.parametrize("action", ["pause", "resume", "close_all"])
def test_control_actions_are_refused_with_503(world, dead_cache, action):
    bot = make(Bot, world.tenant_a)
    response = world.client_with_key(world.control_key_a).post(f"/api/v1/bots/{bot.pk}/{action}/")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "rate_limit_unavailable"
    assert int(response["Retry-After"]) >= 1
    bot.refresh_from_db()
    assert bot.status == Bot.Status.RUNNING, "nothing happened"


def test_bot_writes_exports_and_key_creation_are_refused(world, dead_cache):
    key = world.client_with_key(world.control_key_a)
    assert key.post("/api/v1/bots/", {"name": "x"}, format="json").status_code == 503
    assert key.get("/api/v1/export/trades.csv").status_code == 503
    session = world.client_for(world.alice)
    body = {"name": "x", "scopes": ["read"]}
    assert session.post("/api/v1/api-keys/", body, format="json").status_code == 503


def test_page_control_actions_are_refused(world, dead_cache):
    bot = make(Bot, world.tenant_a)
    response = world.client_for(world.alice).post(f"/bots/{bot.pk}/pause/")
    assert response.status_code == 503
    bot.refresh_from_db()
    assert bot.status == Bot.Status.RUNNING


def test_sign_in_is_refused_rather_than_unlimited(world, dead_cache):
    response = Client().post("/accounts/login/", {"email": "alice@example.com",
                                                  "password": PASSWORD})
    assert response.status_code == 503


def test_reads_fail_open(world, dead_cache, caplog):
    response = world.client_with_key(world.read_key_a).get("/api/v1/bots/")
    assert response.status_code == 200
    assert "allowing read requests unchecked" in caplog.text


def test_a_bad_key_still_gets_401(world, dead_cache):
    client = world.client_with_key("atk_nope_bad")
    assert client.get("/api/v1/bots/").status_code == 401
