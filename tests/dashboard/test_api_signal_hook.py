"""/api/v1/bots/{id}/signal-hook/: enable or rotate (201, the secret once), status (never the
secret), disable; the control scope throughout; documented in the schema."""
from __future__ import annotations

import pytest

from tests.dashboard.conftest import paper_bot
from trading.models import Bot, SignalHook
from trading.services.signals import signal_receive


@pytest.fixture
def bot(world) -> Bot:
    return paper_bot(world.tenant_a, name="tv")


@pytest.fixture
def control(world):
    return world.client_with_key(world.control_key_a)


def url(bot: Bot) -> str:
    return f"/api/v1/bots/{bot.pk}/signal-hook/"


def test_it_creates_the_hook_and_answers_the_secret_once(bot, control):
    response = control.post(url(bot))
    assert response.status_code == 201
    body = response.json()
    hook = SignalHook.objects.get(bot=bot)
    assert body["enabled"] and body["url"].endswith(f"/hooks/signals/{hook.token}/")
    assert body["url"].startswith("http") and len(body["secret"]) >= 32
    assert body["secret"] in body["example_message"]
    status = control.get(url(bot))
    assert status.status_code == 200 and status.json()["url"] == body["url"]
    assert body["secret"] not in status.content.decode() and "secret" not in status.json()


def test_posting_again_rotates(bot, control):
    first = control.post(url(bot)).json()
    second = control.post(url(bot)).json()
    assert second["url"] != first["url"] and second["secret"] != first["secret"]
    assert second["rotated_at"] is not None


def test_the_status_lists_the_last_alerts(bot, control):
    created = control.post(url(bot)).json()
    token = SignalHook.objects.get(bot=bot).token
    signal_receive(token=token, payload={"secret": created["secret"], "action": "enter",
                                         "alert_id": "tv-5"}, ip="1.2.3.4")
    alerts = control.get(url(bot)).json()["alerts"]
    assert [(a["alert_id"], a["action"]) for a in alerts] == [("tv-5", "enter")]
    assert alerts[0]["outcome"].startswith("queued") and alerts[0]["manual_order"]


def test_delete_disables_it(bot, control):
    control.post(url(bot))
    assert control.delete(url(bot)).status_code == 204
    assert control.get(url(bot)).json() == {"enabled": False, "url": None, "created_at": None,
                                            "rotated_at": None, "last_used_at": None,
                                            "alerts": []}
    assert control.delete(url(bot)).status_code == 204  # already off: still fine


def test_a_read_key_cannot_see_or_change_it(world, bot):
    reader = world.client_with_key(world.read_key_a)
    for method in ("get", "post", "delete"):
        assert getattr(reader, method)(url(bot)).status_code == 403
    assert not SignalHook.objects.exists()


def test_another_tenants_bot_is_a_404(world, bot):
    other = world.client_with_key(world.control_key_b)
    assert other.post(url(bot)).status_code == 404
    assert not SignalHook.objects.exists()


def test_the_schema_documents_it(control):
    schema = control.get("/api/v1/schema/?format=json").json()
    operations = schema["paths"]["/api/v1/bots/{id}/signal-hook/"]
    assert {"get", "post", "delete"} <= set(operations)
    created = operations["post"]["responses"]["201"]["content"]["application/json"]["schema"]
    assert created["$ref"].endswith("SignalHookCreated")
