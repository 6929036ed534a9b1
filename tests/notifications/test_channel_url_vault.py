"""A webhook channel's URL works as a credential (Discord, Slack), so it lives in the vault
like the signing secret: never in the channel's row, an API answer, a page, an audit row or
a chat; delivery reads it from the vault; the migration moves URLs saved in plain text."""
from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse
from rest_framework.test import APIClient

from notifications import messages, selectors
from notifications import services_channels as channels
from notifications.models import ChannelDelivery, NotificationChannel
from tenants.models import AuditEvent, VaultEntry
from tenants.services import api_key_issue
from tenants.vault import VaultError, VaultSecretMissing, load_secret
from tests.base import owner_actor

pytestmark = pytest.mark.django_db
TOKEN = "s3cr3t-tok3n-wxyz"
HOOK = f"https://discord.com/api/webhooks/987/{TOKEN}"
API = "/api/v1/notification-channels/"
PAGE = "/settings/telegram/"
BEFORE = ("notifications", "0003_outgoing_channels")
AFTER = ("notifications", "0004_webhook_urls_in_vault")


@pytest.fixture(autouse=True)
def _loopback_allowed(settings):
    settings.AITRADER_WEBHOOK_ALLOW_LOOPBACK = True


def _add(tenant, target=HOOK, **switches) -> tuple[NotificationChannel, str]:
    return channels.channel_add(tenant=tenant, actor=owner_actor(tenant), kind="webhook",
                                target=target, switches=switches or None)


def _raw_rows() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM notifications_notificationchannel")
        return repr(cursor.fetchall())


def _admin_api(tenant) -> APIClient:
    key = api_key_issue(tenant=tenant, actor=owner_actor(tenant), name="admin",
                        scopes=["admin"])[1]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


# --- storage -----------------------------------------------------------------------------------


def test_it_keeps_the_url_in_the_vault_and_only_the_host_on_the_row(world):
    channel, _secret = _add(world.tenant_a)
    assert load_secret(world.tenant_a, channel.secret_name, field="url") == HOOK
    row = NotificationChannel.objects.filter(pk=channel.pk).values().get()
    assert TOKEN not in str(row) and "/api/webhooks" not in str(row)
    assert TOKEN not in _raw_rows() and "webhooks/987" not in _raw_rows()
    assert NotificationChannel.objects.get(pk=channel.pk).display_target == "discord.com/…"


def test_it_keeps_the_url_out_of_the_row_after_an_update(world):
    channel, _secret = _add(world.tenant_a)
    channels.channel_update(tenant=world.tenant_a, actor=owner_actor(world.tenant_a),
                            channel_id=channel.pk, entry=False, daily_digest=False)
    assert TOKEN not in _raw_rows()
    assert load_secret(world.tenant_a, channel.secret_name, field="url") == HOOK


def test_it_removes_the_url_from_the_vault_with_the_channel(world):
    channel, _secret = _add(world.tenant_a)
    channels.channel_remove(tenant=world.tenant_a, actor=owner_actor(world.tenant_a),
                            channel_id=channel.pk)
    assert not VaultEntry.objects.for_tenant(world.tenant_a).filter(
        name=channel.secret_name).exists()


def test_an_email_channel_keeps_its_address_and_stores_nothing_in_the_vault(world):
    channel, _secret = channels.channel_add(tenant=world.tenant_a,
                                            actor=owner_actor(world.tenant_a), kind="email",
                                            target="ops@example.com")
    assert NotificationChannel.objects.get(pk=channel.pk).display_target == "ops@example.com"
    assert not VaultEntry.objects.for_tenant(world.tenant_a).exists()


def test_another_tenant_cannot_decrypt_the_url(world):
    channel, _secret = _add(world.tenant_a)
    _add(world.tenant_b, target="https://hooks.slack.com/services/B/B/b-only")
    with pytest.raises(VaultSecretMissing):
        load_secret(world.tenant_b, channel.secret_name, field="url")
    # The ciphertext copied into tenant B's vault does not open there either.
    entry = VaultEntry.objects.for_tenant(world.tenant_a).get(name=channel.secret_name,
                                                              field="url")
    VaultEntry.objects.create(tenant=world.tenant_b, name="stolen", field="url",
                              nonce=entry.nonce, ciphertext=entry.ciphertext, tag=entry.tag)
    with pytest.raises(VaultError):
        load_secret(world.tenant_b, "stolen", field="url")


# --- surfaces ----------------------------------------------------------------------------------


def test_no_api_answer_carries_the_url(world):
    client = _admin_api(world.tenant_a)
    created = client.post(API, {"kind": "webhook", "target": HOOK}, format="json")
    assert created.status_code == 201 and created.json()["target"] == "discord.com/…"
    channel_id = created.json()["id"]
    answers = [created, client.get(API), client.get(f"{API}{channel_id}/"),
               client.patch(f"{API}{channel_id}/", {"exit": False}, format="json")]
    for answer in answers:
        assert answer.status_code in (200, 201)
        assert TOKEN not in answer.content.decode() and "webhooks/987" not in \
            answer.content.decode()


def test_no_page_audit_row_or_chat_message_carries_the_url(world):
    client = world.client_for(world.alice)
    added = client.post(reverse("notifications:channel_add"),
                        {"kind": "webhook", "target": HOOK}, follow=True)
    page = added.content.decode() + client.get(PAGE).content.decode()
    assert "discord.com/…" in page and TOKEN not in page and "webhooks/987" not in page
    for event in AuditEvent.objects.for_tenant(world.tenant_a).filter(
            action__startswith="notifications.channel_"):
        assert event.target == "discord.com/…" and TOKEN not in str(event.details)
    reply = messages.outgoing_channels(list(selectors.channel_list(tenant=world.tenant_a)))
    assert "Webhook · discord.com/… ·" in reply and TOKEN not in reply


# --- delivery ----------------------------------------------------------------------------------


def test_delivery_reads_the_url_from_the_vault(world, fake_webhook,
                                               django_capture_on_commit_callbacks):
    _add(world.tenant_a, target=fake_webhook.url)
    assert "/hook/abc" not in _raw_rows()
    with django_capture_on_commit_callbacks(execute=True):
        channels.channel_fan_out(tenant_id=world.tenant_a.pk, event="alert", subject="Alert",
                                 text="Bot sma was paused", dedup_key="k1")
    [received] = fake_webhook.received
    assert received.path == "/hook/abc"
    assert ChannelDelivery.objects.get().status == ChannelDelivery.Status.SENT


def test_delivery_fails_for_good_when_the_url_is_gone_from_the_vault(
        world, fake_webhook, django_capture_on_commit_callbacks):
    channel, _secret = _add(world.tenant_a, target=fake_webhook.url)
    VaultEntry.objects.for_tenant(world.tenant_a).filter(name=channel.secret_name,
                                                         field="url").delete()
    with django_capture_on_commit_callbacks(execute=True):
        channels.channel_fan_out(tenant_id=world.tenant_a.pk, event="alert", subject="Alert",
                                 text="Bot sma was paused", dedup_key="k1")
    assert fake_webhook.received == []
    delivery = ChannelDelivery.objects.get()
    assert (delivery.status, delivery.last_error) == ("failed", "webhook URL missing")


# --- the migration -------------------------------------------------------------------------------


def _migrate(target: tuple[str, str]):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([target])
    return executor.loader.project_state([target]).apps


@pytest.mark.django_db(transaction=True)
def test_the_migration_moves_a_plain_url_into_the_vault_and_back(world):
    leaf = [key for key in MigrationExecutor(connection).loader.graph.leaf_nodes()
            if key[0] == "notifications"]
    try:
        old_apps = _migrate(BEFORE)
        old_channel = old_apps.get_model("notifications", "NotificationChannel")
        plain = old_channel.objects.create(tenant_id=world.tenant_a.pk, kind="webhook",
                                           target=HOOK)
        email = old_channel.objects.create(tenant_id=world.tenant_a.pk, kind="email",
                                           target="ops@example.com")
        _migrate(AFTER)
        moved = NotificationChannel.objects.get(pk=plain.pk)
        assert moved.display_target == "discord.com/…" and TOKEN not in _raw_rows()
        assert load_secret(world.tenant_a, moved.secret_name, field="url") == HOOK
        assert NotificationChannel.objects.get(pk=email.pk).display_target == "ops@example.com"
        _migrate(BEFORE)  # reversed: the URL is back on the row and gone from the vault
        assert old_channel.objects.get(pk=plain.pk).target == HOOK
        assert not VaultEntry.objects.filter(name=moved.secret_name, field="url").exists()
    finally:
        _migrate(leaf[0])

