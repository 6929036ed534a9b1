"""Outgoing channels: adding (e-mail or signed webhook), switching events, removing; who may,
what is validated, what is audited, where the signing secret lives, and the alert fan-out."""
from __future__ import annotations

import pytest

from aitrader.errors import Forbidden, NotFound, ValidationFailed
from notifications import services
from notifications import services_channels as channels
from notifications.models import AlertKind, ChannelDelivery, NotificationChannel
from tenants.actors import Actor
from tenants.models import AuditEvent, Membership, VaultEntry
from tenants.vault import load_secret

pytestmark = pytest.mark.django_db
HOOK = "https://discord.com/api/webhooks/123/secret-token-abcd"


@pytest.fixture(autouse=True)
def _loopback_allowed(settings):
    settings.AITRADER_WEBHOOK_ALLOW_LOOPBACK = True


def _actor(cast, name: str) -> Actor:
    membership = Membership.objects.get(tenant=cast.tenant_of(name), user=cast.user(name))
    return Actor.for_member(membership, via="test")


def _add(cast, name="adam", **kwargs):
    kwargs.setdefault("kind", "webhook")
    kwargs.setdefault("target", HOOK)
    return channels.channel_add(tenant=cast.tenant_of(name), actor=_actor(cast, name), **kwargs)


# --- adding ----------------------------------------------------------------------------------


def test_an_admin_adds_a_webhook_whose_secret_is_returned_once_and_kept_in_the_vault(cast):
    channel, secret = _add(cast)
    assert channel.kind == "webhook" and channel.display_target == "discord.com/…"
    assert load_secret(cast.tenant_a, channel.secret_name, field="url") == HOOK
    assert len(secret) >= 40
    assert load_secret(cast.tenant_a, channel.secret_name, field="signing_secret") == secret
    # Nowhere in the row itself, nor in the audit row.
    assert secret not in str(NotificationChannel.objects.filter(pk=channel.pk).values().get())
    event = AuditEvent.objects.for_tenant(cast.tenant_a).get(action="notifications.channel_add")
    assert secret not in str(event.details) and "secret-token" not in event.target + str(
        event.details)
    assert event.target == "discord.com/…"


def test_an_email_channel_has_no_secret(cast):
    channel, secret = _add(cast, kind="email", target="  Ops@Example.com ")
    assert secret is None and channel.target == "ops@example.com"
    assert not VaultEntry.objects.for_tenant(cast.tenant_a).exists()


def test_switches_can_be_chosen_at_creation(cast):
    channel, _ = _add(cast, switches={"entry": False, "exit": False})
    assert (channel.entry, channel.exit, channel.alert, channel.daily_digest) == (
        False, False, True, True)


@pytest.mark.parametrize("name", ["tina", "bob"])
def test_below_admin_nobody_adds_a_channel(cast, name):
    with pytest.raises(Forbidden):
        _add(cast, name=name)
    assert not NotificationChannel.objects.exists()


@pytest.mark.parametrize("url", [
    "http://example.com/hook",            # not https
    "ftp://example.com/hook",
    "https://",                           # no host
    "https://user:pw@example.com/hook",   # credentials in the URL
    "https://10.0.0.5/hook",              # private address
    "https://169.254.169.254/latest",     # cloud metadata
    "https://[::1]/hook",                 # loopback over https is still the server itself
    "http://192.168.1.1/hook",
    "https://example.com:99999/hook",     # bad port
    "https://example.com/" + "x" * 600,   # too long
    "not a url",
])
def test_a_bad_webhook_url_is_refused(cast, url):
    with pytest.raises(ValidationFailed) as refused:
        _add(cast, target=url)
    assert refused.value.field == "target"
    assert not NotificationChannel.objects.exists()


def test_loopback_http_is_refused_unless_allowed(cast, settings):
    _add(cast, target="http://127.0.0.1:8123/hook")
    settings.AITRADER_WEBHOOK_ALLOW_LOOPBACK = False
    with pytest.raises(ValidationFailed):
        _add(cast, target="http://127.0.0.1:8123/hook")


@pytest.mark.parametrize("address", ["not-an-email", "a@b", "x" * 250 + "@example.com", ""])
def test_a_bad_email_is_refused(cast, address):
    with pytest.raises(ValidationFailed) as refused:
        _add(cast, kind="email", target=address)
    assert refused.value.field == "target"


def test_an_unknown_kind_or_switch_is_refused(cast):
    with pytest.raises(ValidationFailed) as refused:
        _add(cast, kind="sms", target="+123")
    assert refused.value.field == "kind"
    with pytest.raises(ValidationFailed) as refused:
        _add(cast, switches={"checkins": True})
    assert refused.value.field == "checkins"


def test_a_workspace_has_a_bounded_number_of_channels(cast):
    for number in range(channels.MAX_CHANNELS_PER_TENANT):
        _add(cast, kind="email", target=f"ops{number}@example.com")
    with pytest.raises(ValidationFailed) as refused:
        _add(cast, kind="email", target="one-more@example.com")
    assert str(channels.MAX_CHANNELS_PER_TENANT) in refused.value.message


# --- switching and removing --------------------------------------------------------------------


def test_an_admin_switches_events_and_it_is_audited(cast):
    channel, _ = _add(cast)
    updated = channels.channel_update(tenant=cast.tenant_a, actor=_actor(cast, "adam"),
                                      channel_id=channel.pk, entry=False, daily_digest=False)
    assert (updated.entry, updated.exit, updated.alert, updated.daily_digest) == (
        False, True, True, False)
    event = AuditEvent.objects.for_tenant(cast.tenant_a).get(
        action="notifications.channel_update")
    assert event.details == {"entry": False, "daily_digest": False}


def test_an_update_refuses_unknown_switches_and_viewers(cast):
    channel, _ = _add(cast)
    with pytest.raises(ValidationFailed):
        channels.channel_update(tenant=cast.tenant_a, actor=_actor(cast, "adam"),
                                channel_id=channel.pk, target="https://evil.example/")
    with pytest.raises(Forbidden):
        channels.channel_update(tenant=cast.tenant_a, actor=_actor(cast, "bob"),
                                channel_id=channel.pk, entry=False)


def test_another_tenants_channel_is_not_found(cast):
    channel, _ = _add(cast)
    charlie = _actor(cast, "charlie")
    with pytest.raises(NotFound):
        channels.channel_update(tenant=cast.tenant_b, actor=charlie, channel_id=channel.pk,
                                entry=False)
    with pytest.raises(NotFound):
        channels.channel_remove(tenant=cast.tenant_b, actor=charlie, channel_id=channel.pk)
    assert NotificationChannel.objects.get(pk=channel.pk).entry is True


def test_removing_a_webhook_deletes_it_and_its_secret(cast):
    channel, _ = _add(cast)
    channels.channel_remove(tenant=cast.tenant_a, actor=_actor(cast, "adam"),
                            channel_id=channel.pk)
    assert not NotificationChannel.objects.exists()
    assert not VaultEntry.objects.for_tenant(cast.tenant_a).exists()
    assert AuditEvent.objects.for_tenant(cast.tenant_a).filter(
        action="notifications.channel_remove", target="discord.com/…").exists()


# --- fan-out -----------------------------------------------------------------------------------


def test_an_alert_reaches_every_channel_wanting_alerts_once_per_key(cast):
    wanting, _ = _add(cast)
    _add(cast, kind="email", target="ops@example.com", switches={"alert": False})
    _add(cast, name="charlie", kind="email", target="b@example.com")  # tenant B
    for _ in range(2):
        services.alert_notify(tenant_id=cast.tenant_a.pk, kind=AlertKind.DRIFT,
                              text="Drift on sma", dedup_key="sma:1")
    delivery = ChannelDelivery.objects.get()
    assert delivery.channel == wanting and delivery.tenant == cast.tenant_a
    assert (delivery.event, delivery.text, delivery.data["kind"]) == (
        "alert", "Drift on sma", "drift")
    assert delivery.subject == "Reconciliation drift"


def test_channels_get_alerts_when_telegram_is_not_configured(cast, settings):
    settings.AITRADER_TELEGRAM_BOT_TOKEN = ""
    _add(cast)
    assert services.alert_notify(tenant_id=cast.tenant_a.pk, kind=AlertKind.VAULT,
                                 text="Vault", dedup_key="v") == 1


def test_an_inactive_channel_gets_nothing(cast):
    channel, _ = _add(cast)
    NotificationChannel.objects.filter(pk=channel.pk).update(active=False)
    services.alert_notify(tenant_id=cast.tenant_a.pk, kind=AlertKind.DRIFT, text="x",
                          dedup_key="k")
    assert not ChannelDelivery.objects.exists()
