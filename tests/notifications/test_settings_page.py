"""/settings/telegram/: viewers see, admins link, unlink and switch alerts; strict CSP."""
from __future__ import annotations

import re

import pytest
from django.urls import reverse

from notifications.models import AlertKind, NotificationSettings, TelegramLink, TelegramLinkCode
from tests.notifications.conftest import CHATS, ask, link_chat

pytestmark = pytest.mark.django_db
PAGE = "/settings/telegram/"


def _client(cast, name):
    return cast.world.client_for(cast.user(name))


def test_the_url_is_named_for_the_nav():
    assert reverse("notifications:telegram_settings") == PAGE


def test_it_needs_a_login(client):
    response = client.get(PAGE)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_a_viewer_sees_chats_and_switches_but_no_controls(cast, fake_telegram):
    link_chat(cast, "tina")
    response = _client(cast, "bob").get(PAGE)
    body = response.content.decode()
    assert response.status_code == 200
    assert "@tina" in body and "tina@example.com" in body
    assert "Link Telegram" not in body and "Unlink" not in body
    assert body.count("disabled") == len(AlertKind)  # every alert switch, read-only


def test_an_admin_gets_a_one_time_code_and_deep_link_that_links(cast, fake_telegram):
    response = _client(cast, "adam").post(reverse("notifications:telegram_link_code"),
                                          follow=True)
    body = response.content.decode()
    code = re.search(r'id="telegram-code">([^<]+)<', body).group(1)
    assert f"https://t.me/aitrader_test_bot?start={code}" in body
    assert "valid for 10 minutes" in body
    assert TelegramLinkCode.objects.get().user == cast.adam
    assert "Linked to Tenant A as adam@example.com" in ask(fake_telegram, 9, f"/start {code}")


def test_a_viewer_cannot_mint_a_code(cast, fake_telegram):
    response = _client(cast, "bob").post(reverse("notifications:telegram_link_code"),
                                         follow=True)
    assert "cannot do this; it needs admin or above" in response.content.decode()
    assert not TelegramLinkCode.objects.exists()


def test_an_admin_unlinks_a_chat(cast, fake_telegram):
    link = link_chat(cast, "tina")
    response = _client(cast, "adam").post(
        reverse("notifications:telegram_unlink", args=[link.pk]), follow=True)
    assert "is unlinked" in response.content.decode()
    assert not TelegramLink.objects.get(pk=link.pk).active
    assert "not linked" in ask(fake_telegram, CHATS["tina"], "/status")


def test_a_trader_cannot_unlink(cast, fake_telegram):
    link = link_chat(cast, "bob")
    _client(cast, "tina").post(reverse("notifications:telegram_unlink", args=[link.pk]))
    assert TelegramLink.objects.get(pk=link.pk).active


def test_another_tenants_owner_gets_404_on_unlink(cast, fake_telegram):
    link = link_chat(cast, "tina")
    response = _client(cast, "charlie").post(
        reverse("notifications:telegram_unlink", args=[link.pk]))
    assert response.status_code == 404
    assert TelegramLink.objects.get(pk=link.pk).active


def test_an_admin_switches_alert_types(cast):
    _client(cast, "adam").post(reverse("notifications:notification_settings"),
                               {"auto_pause": "on", "vault": "on"})
    row = NotificationSettings.objects.get(tenant=cast.tenant_a)
    assert (row.auto_pause, row.order_failed, row.drift, row.vault) == (True, False, False, True)
    body = _client(cast, "adam").get(PAGE).content.decode()
    assert body.count("checked") == 2


def test_a_viewer_cannot_switch_alert_types(cast):
    _client(cast, "bob").post(reverse("notifications:notification_settings"), {})
    assert not NotificationSettings.objects.exists()


def test_the_page_has_no_inline_script_or_handlers(cast, fake_telegram):
    link_chat(cast, "tina")
    body = _client(cast, "alice").post(reverse("notifications:telegram_link_code")).content
    html = body.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)
    assert not re.search(r"\son[a-z]+\s*=", html)


def test_it_works_without_a_bot_token(cast, settings):
    settings.AITRADER_TELEGRAM_BOT_TOKEN = ""
    response = _client(cast, "alice").post(reverse("notifications:telegram_link_code"),
                                           follow=True)
    body = response.content.decode()
    assert "not set up on this server" in body and "/start " in body
    assert "t.me/" not in body
