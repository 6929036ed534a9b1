"""A value shown once after its POST (a Telegram link code, a webhook's signing secret, an API
key, a bot's signal secret) belongs to the workspace it was made in: after a switch to
another workspace that workspace's page does not show it, and back in the first it is still
shown, once."""
from __future__ import annotations

import pytest
from django.urls import reverse

from tenants.models import Membership, Role
from tests.base import client_past_second_factor
from tests.dashboard.conftest import paper_bot

pytestmark = pytest.mark.django_db
TELEGRAM = "/settings/telegram/"
SETTINGS = "/settings/"
HOOK = "https://discord.com/api/webhooks/5/tok-en"


@pytest.fixture(autouse=True)
def _loopback_allowed(settings):
    settings.AITRADER_WEBHOOK_ALLOW_LOOPBACK = True


@pytest.fixture
def alice(world):
    """alice owns A and is an admin of B too; her browser starts in A."""
    Membership.objects.create(tenant=world.tenant_b, user=world.alice, role=Role.ADMIN)
    client = client_past_second_factor(world.alice)
    switch(client, world.tenant_a)
    return client


def switch(client, tenant) -> None:
    response = client.post(reverse("switch_tenant"), {"tenant": tenant.pk})
    assert response.status_code == 302


def shown(page: str, element_id: str) -> str | None:
    """The text of the page's `<code id=element_id>`, if it has one."""
    marker = f'id="{element_id}">'
    return page.split(marker)[1].split("<")[0] if marker in page else None


def _page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def _shown_in_a_only(alice, world, url: str, element_id: str,
                     url_in_b: str | None = None) -> None:
    switch(alice, world.tenant_b)
    in_b = _page(alice, url_in_b or url)
    assert shown(in_b, element_id) is None
    switch(alice, world.tenant_a)
    value = shown(_page(alice, url), element_id)
    assert value and value not in in_b
    assert shown(_page(alice, url), element_id) is None  # once: a reload shows it no more


def test_a_link_code_is_not_shown_in_another_workspace(alice, world):
    assert alice.post(reverse("notifications:telegram_link_code")).status_code == 302
    _shown_in_a_only(alice, world, TELEGRAM, "telegram-code")


def test_a_channel_secret_is_not_shown_in_another_workspace(alice, world):
    response = alice.post(reverse("notifications:channel_add"),
                          {"kind": "webhook", "target": HOOK})
    assert response.status_code == 302
    _shown_in_a_only(alice, world, TELEGRAM, "channel-secret")


def test_an_api_key_is_not_shown_in_another_workspace(alice, world):
    response = alice.post(reverse("dashboard:api_key_create"),
                          {"name": "script", "scopes": ["read"], "days": "30"})
    assert response.status_code == 302
    _shown_in_a_only(alice, world, SETTINGS, "new-api-key")


def test_a_signal_secret_is_not_shown_in_another_workspace(alice, world):
    bot_a, bot_b = paper_bot(world.tenant_a, name="tv"), paper_bot(world.tenant_b, name="tv")
    assert alice.post(f"/bots/{bot_a.pk}/signal-hook/").status_code == 302
    _shown_in_a_only(alice, world, f"/bots/{bot_a.pk}/", "signal-secret",
                     url_in_b=f"/bots/{bot_b.pk}/")


def test_the_workspace_that_made_a_link_code_shows_it_at_once(alice, world):
    alice.post(reverse("notifications:telegram_link_code"))
    assert shown(_page(alice, TELEGRAM), "telegram-code")
