"""The Channels section of /settings/telegram/: admins add (the secret shown once), switch and
remove; viewers only see; another tenant's channel is a 404; POST, redirect, GET."""
from __future__ import annotations

import re

import pytest
from django.urls import reverse

from notifications import services_channels as channels
from notifications.models import NotificationChannel
from tenants.actors import Actor

pytestmark = pytest.mark.django_db
PAGE = "/settings/telegram/"
HOOK = "https://hooks.slack.com/services/T0/B0/tokenwxyz"


def _client(cast, name):
    return cast.world.client_for(cast.user(name))


def _channel(tenant, target=HOOK, kind="webhook") -> NotificationChannel:
    return channels.channel_add(tenant=tenant, actor=Actor.system(tenant, via="test"),
                                kind=kind, target=target)[0]


def test_an_admin_adds_a_webhook_and_sees_its_secret_once(cast):
    client = _client(cast, "adam")
    response = client.post(reverse("notifications:channel_add"),
                           {"kind": "webhook", "target": HOOK})
    assert response.status_code == 302 and response["Location"] == PAGE
    body = client.get(PAGE).content.decode()
    secret = re.search(r'id="channel-secret">([^<]+)<', body).group(1)
    assert len(secret) >= 40
    assert "hooks.slack.com/…" in body and "wxyz" not in body  # the URL stays masked
    assert secret not in client.get(PAGE).content.decode()  # a reload: gone
    channel = NotificationChannel.objects.get()
    assert (channel.entry, channel.exit, channel.alert, channel.daily_digest) == (True,) * 4


def test_a_bad_target_is_a_message_not_an_error(cast):
    response = _client(cast, "adam").post(reverse("notifications:channel_add"),
                                          {"kind": "webhook", "target": "http://x.example"},
                                          follow=True)
    assert response.status_code == 200
    assert "must start with https://" in response.content.decode()
    assert not NotificationChannel.objects.exists()


def test_an_admin_switches_events_a_left_out_box_is_off(cast):
    channel = _channel(cast.tenant_a)
    _client(cast, "adam").post(reverse("notifications:channel_update", args=[channel.pk]),
                               {"alert": "on"})
    channel.refresh_from_db()
    assert (channel.entry, channel.exit, channel.alert, channel.daily_digest) == (
        False, False, True, False)


def test_an_admin_removes_a_channel(cast):
    channel = _channel(cast.tenant_a, "ops@example.com", kind="email")
    response = _client(cast, "adam").post(
        reverse("notifications:channel_remove", args=[channel.pk]), follow=True)
    assert "ops@example.com removed" in response.content.decode()
    assert not NotificationChannel.objects.exists()


def test_a_viewer_sees_channels_but_cannot_change_them(cast):
    channel = _channel(cast.tenant_a)
    client = _client(cast, "bob")
    body = client.get(PAGE).content.decode()
    assert "hooks.slack.com/…" in body
    assert "Add channel" not in body and "Remove" not in body
    client.post(reverse("notifications:channel_add"), {"kind": "email", "target": "a@b.co"})
    client.post(reverse("notifications:channel_update", args=[channel.pk]), {})
    client.post(reverse("notifications:channel_remove", args=[channel.pk]))
    assert NotificationChannel.objects.count() == 1
    assert NotificationChannel.objects.get().entry is True


def test_another_tenants_channel_is_a_404(cast):
    channel = _channel(cast.tenant_a)
    client = _client(cast, "charlie")
    for name in ("notifications:channel_update", "notifications:channel_remove"):
        assert client.post(reverse(name, args=[channel.pk]), {}).status_code == 404
    assert NotificationChannel.objects.get().entry is True
    assert "wxyz" not in client.get(PAGE).content.decode()


def test_a_get_of_an_action_url_lands_on_the_page(cast):
    response = _client(cast, "adam").get(reverse("notifications:channel_add"))
    assert response.status_code == 302 and response["Location"] == PAGE
