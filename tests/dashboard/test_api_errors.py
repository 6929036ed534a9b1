"""Every /api/ error is one JSON shape, {"error": {"code", "message", "fields"?}}: never an HTML
page, never a traceback."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tenants.models import Tenant
from tenants.plans import Plan
from tests.factories import make
from trading import selectors
from trading.models import Bot


def assert_error_shape(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    text = response.content.decode()
    assert "<html" not in text.lower() and "Traceback" not in text
    body = response.json()
    assert list(body) == ["error"]
    error = body["error"]
    assert set(error) <= {"code", "message", "fields"}
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"].strip()
    if "fields" in error:
        assert all(isinstance(messages, list) and messages for messages in
                   error["fields"].values())
    return error


@pytest.fixture
def bot(world):
    return make(Bot, world.tenant_a)


def test_a_validation_error_is_a_400_naming_each_field(world):
    response = world.client_with_key(world.control_key_a).post(
        "/api/v1/bots/", {"symbol": "BTC/USDT"}, format="json")
    error = assert_error_shape(response, 400)
    assert {"name", "account", "strategy"} <= set(error["fields"])
    assert error["message"].split(":")[0] in error["fields"]


def test_a_service_validation_error_names_its_field(world):
    response = world.client_with_key(world.read_key_a).post(
        "/api/v1/backtests/", {"strategy": "nope"}, format="json")
    error = assert_error_shape(response, 400)
    assert error["fields"] == {"strategy": [error["message"]]}


def test_malformed_json_is_a_400(world):
    response = world.client_with_key(world.read_key_a).post(
        "/api/v1/backtests/", '{"strategy": "sma_cross",', content_type="application/json")
    error = assert_error_shape(response, 400)
    assert error["code"] == "parse_error"


def test_a_body_that_is_not_json_is_a_415(world):
    response = world.client_with_key(world.read_key_a).post(
        "/api/v1/backtests/", "strategy=sma_cross",
        content_type="application/x-www-form-urlencoded")
    assert_error_shape(response, 415)


def test_no_credential_is_a_401(db):
    error = assert_error_shape(APIClient().get("/api/v1/bots/"), 401)
    assert error["code"] == "not_authenticated"


def test_a_wrong_key_is_a_401_with_a_challenge(db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer ait_nope")
    response = client.get("/api/v1/bots/")
    assert_error_shape(response, 401)
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_missing_scope_is_a_403_saying_which(world, bot):
    response = world.client_with_key(world.read_key_a).post(f"/api/v1/bots/{bot.pk}/pause/")
    error = assert_error_shape(response, 403)
    assert "'control'" in error["message"]


def test_a_missing_object_is_a_404(world):
    error = assert_error_shape(world.client_with_key(world.read_key_a).get("/api/v1/bots/999999/"),
                               404)
    assert error["code"] == "not_found"


@pytest.mark.parametrize("path", ["/api/v1/bots/abc/", "/api/v1/orders/1.5/",
                                  "/api/v1/bots/-1/pause/", "/api/v1/trades/%20/"])
def test_a_non_numeric_id_is_a_404(world, path):
    client = world.client_with_key(world.control_key_a)
    assert_error_shape(client.get(path) if "pause" not in path else client.post(path), 404)


def test_an_unknown_api_path_is_a_json_404(world):
    assert_error_shape(world.client_with_key(world.read_key_a).get("/api/v1/nothing-here/"),
                       404)
    assert_error_shape(APIClient().get("/api/v2/bots/"), 404)


def test_a_plan_refusal_is_a_402_naming_the_plan(world):
    Tenant.objects.filter(pk=world.tenant_a.pk).update(plan=Plan.FREE)
    error = assert_error_shape(
        world.client_with_key(world.read_key_a).get("/api/v1/export/trades.csv"), 402)
    assert error["code"] == "plan_limit"
    assert "Pro" in error["message"]


def test_a_conflict_is_a_409(world, bot):
    other = make(Bot, world.tenant_a)
    response = world.client_with_key(world.control_key_a).patch(
        f"/api/v1/bots/{other.pk}/", {"name": bot.name}, format="json")
    assert assert_error_shape(response, 409)["code"] == "conflict"


def test_a_get_on_a_post_only_action_is_a_405(world, bot):
    response = world.client_with_key(world.read_key_a).get(f"/api/v1/bots/{bot.pk}/pause/")
    assert assert_error_shape(response, 405)["code"] == "method_not_allowed"


@pytest.mark.parametrize(("method", "path"), [
    ("put", "/api/v1/bots/{bot}/"), ("delete", "/api/v1/orders/"),
    ("post", "/api/v1/orders/"), ("delete", "/api/v1/trades/"),
])
def test_a_method_a_resource_does_not_have_is_a_405_not_a_403(world, bot, method, path):
    client = world.client_with_key(world.control_key_a)
    response = getattr(client, method)(path.format(bot=bot.pk), {}, format="json")
    assert assert_error_shape(response, 405)["code"] == "method_not_allowed"
    assert Bot.objects.filter(pk=bot.pk).exists()


def test_an_unsupported_method_without_a_credential_is_still_a_401(db, bot):
    assert_error_shape(APIClient().delete(f"/api/v1/bots/{bot.pk}/"), 401)


def test_an_unexpected_failure_is_a_json_500_without_a_traceback(world, monkeypatch):
    def explode(**kwargs):
        raise RuntimeError("secret internals: password=hunter2")

    monkeypatch.setattr(selectors, "bot_list", explode)
    client = world.client_with_key(world.read_key_a)
    client.raise_request_exception = False
    response = client.get("/api/v1/bots/")
    assert_error_shape(response, 500)
    assert "hunter2" not in response.content.decode()
    assert "RuntimeError" not in response.content.decode()
