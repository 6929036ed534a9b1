"""/api/v1/notification-channels/: admin scope for everything, the secret answered once, the
webhook URL masked, bad input 400, another tenant's channel 404."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from notifications.models import NotificationChannel
from tenants.models import AuditEvent, Role
from tenants.services import api_key_issue
from tenants.vault import load_secret
from tests.base import owner_actor
from tests.dashboard.conftest import member_client

pytestmark = pytest.mark.django_db
URL = "/api/v1/notification-channels/"
HOOK = "https://discord.com/api/webhooks/1/tok-en-abcd"


def _admin_key(tenant) -> APIClient:
    _row, key = api_key_issue(tenant=tenant, actor=owner_actor(tenant), name="admin",
                              scopes=["admin"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def _create(client, **body) -> dict:
    response = client.post(URL, {"kind": "webhook", "target": HOOK} | body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_an_admin_key_creates_a_webhook_and_gets_its_secret_once(world):
    client = _admin_key(world.tenant_a)
    body = _create(client, entry=False)
    assert body["kind"] == "webhook" and body["target"] == "discord.com/…"
    assert body["entry"] is False and body["exit"] is True
    channel = NotificationChannel.objects.get(pk=body["id"])
    assert load_secret(world.tenant_a, channel.secret_name,
                       field="signing_secret") == body["signing_secret"]
    listed = client.get(URL).json()
    assert "signing_secret" not in str(listed) and "tok-en" not in str(listed)
    assert client.get(f"{URL}{body['id']}/").json()["target"] == "discord.com/…"


def test_an_email_channel_answers_no_secret(world):
    body = _create(world.client_for(world.alice), kind="email", target="Ops@Example.com")
    assert body["target"] == "ops@example.com" and body["signing_secret"] is None


def test_the_list_is_paginated_and_only_the_callers(world):
    _create(world.client_for(world.alice), kind="email", target="a@example.com")
    _create(world.client_for(world.charlie), kind="email", target="b@example.com")
    rows = world.client_for(world.alice).get(URL).json()["results"]
    assert [r["target"] for r in rows] == ["a@example.com"]


def test_patch_switches_and_delete(world):
    client = world.client_for(world.alice)
    channel_id = _create(client)["id"]
    response = client.patch(f"{URL}{channel_id}/", {"daily_digest": False}, format="json")
    assert response.status_code == 200 and response.json()["daily_digest"] is False
    assert client.delete(f"{URL}{channel_id}/").status_code == 204
    assert not NotificationChannel.objects.exists()
    assert AuditEvent.objects.for_tenant(world.tenant_a).filter(
        action__startswith="notifications.channel_").count() == 3


@pytest.mark.parametrize("body, field", [
    ({"kind": "sms", "target": "+1"}, "kind"),
    ({"kind": "webhook", "target": "http://example.com/x"}, "target"),
    ({"kind": "webhook", "target": "https://10.1.2.3/x"}, "target"),
    ({"kind": "email", "target": "nobody"}, "target"),
    ({"kind": "email"}, "target"),
    ({"kind": "email", "target": "a@example.com", "entry": "maybe"}, "entry"),
])
def test_bad_input_is_a_400_naming_the_field(world, body, field):
    response = world.client_for(world.alice).post(URL, body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.content.decode()
    assert not NotificationChannel.objects.exists()


def test_a_patch_cannot_change_the_target(world):
    client = world.client_for(world.alice)
    channel_id = _create(client)["id"]
    response = client.patch(f"{URL}{channel_id}/", {"target": "https://evil.example/"},
                            format="json")
    assert response.status_code == 400
    channel = NotificationChannel.objects.get()
    assert load_secret(world.tenant_a, channel.secret_name, field="url") == HOOK


@pytest.mark.parametrize("role", [Role.VIEWER, Role.TRADER])
def test_below_admin_every_method_is_403(world, role):
    channel_id = _create(world.client_for(world.alice))["id"]
    client = member_client(world.tenant_a, role)
    assert client.get(URL).status_code == 403
    assert client.post(URL, {"kind": "email", "target": "x@example.com"},
                       format="json").status_code == 403
    assert client.patch(f"{URL}{channel_id}/", {"entry": False},
                        format="json").status_code == 403
    assert client.delete(f"{URL}{channel_id}/").status_code == 403
    assert NotificationChannel.objects.get().entry is True


def test_a_control_key_is_403_and_no_key_is_401(world):
    assert world.client_with_key(world.control_key_a).get(URL).status_code == 403
    assert APIClient().get(URL).status_code == 401


def test_another_tenants_channel_is_404(world):
    channel_id = _create(world.client_for(world.alice))["id"]
    for client in (world.client_for(world.charlie), _admin_key(world.tenant_b)):
        assert client.get(f"{URL}{channel_id}/").status_code == 404
        assert client.patch(f"{URL}{channel_id}/", {"entry": False},
                            format="json").status_code == 404
        assert client.delete(f"{URL}{channel_id}/").status_code == 404
    assert NotificationChannel.objects.get().entry is True


def test_the_schema_documents_the_endpoint(world):
    schema = world.client_for(world.alice).get("/api/v1/schema/?format=json").json()
    paths = schema["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/notification-channels/"])
    assert {"get", "patch", "delete"} <= set(paths["/api/v1/notification-channels/{id}/"])
    assert "signing_secret" in str(schema["components"]["schemas"])
