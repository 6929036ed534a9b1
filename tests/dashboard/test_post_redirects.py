"""POST/redirect/GET on every dashboard form: a reload never repeats an action, a secret shown
once is carried by the session to the next page, and a POST-only URL opened with GET (a login
redirect's ?next=, a bookmark, the address bar after a refused form) leads back to its page
instead of a 405."""
from __future__ import annotations

import re

import pytest
from django.urls import reverse

from notifications.models import TelegramLinkCode
from tenants.models import ApiKey, Tenant
from tenants.plans import Plan
from tests.dashboard.conftest import paper_bot
from trading.models import Bot, ExchangeAccount

pytestmark = pytest.mark.django_db

KEY_RE = re.compile(r'id="new-api-key">([^<]+)<')
TELEGRAM_CODE_RE = re.compile(r'id="telegram-code">([^<]+)<')


@pytest.fixture
def bot(world) -> Bot:
    return paper_bot(world.tenant_a)


def test_a_new_api_key_is_shown_once_and_a_reload_mints_nothing(alice, world):
    before = ApiKey.objects.for_tenant(world.tenant_a).count()
    response = alice.post(reverse("dashboard:api_key_create"),
                          {"name": "ci", "scopes": ["read"], "days": "30"})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("dashboard:settings"))
    assert ApiKey.objects.for_tenant(world.tenant_a).count() == before + 1

    shown = alice.get(response["Location"])
    keys = KEY_RE.findall(shown.content.decode())
    assert len(keys) == 1
    assert world.key_row(keys[0]).name == "ci"
    assert "no-store" in shown["Cache-Control"] or "no-cache" in shown["Cache-Control"]

    reloaded = alice.get(response["Location"])  # the reload is a GET: nothing new
    assert not KEY_RE.findall(reloaded.content.decode())
    assert ApiKey.objects.for_tenant(world.tenant_a).count() == before + 1


def test_a_refused_api_key_form_shows_its_errors(alice, world):
    before = ApiKey.objects.for_tenant(world.tenant_a).count()
    response = alice.post(reverse("dashboard:api_key_create"), {"name": "", "days": "30"})
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    assert ApiKey.objects.for_tenant(world.tenant_a).count() == before


def test_a_telegram_code_is_shown_once_and_a_reload_mints_nothing(alice, settings):
    settings.AITRADER_TELEGRAM_BOT_TOKEN = ""
    response = alice.post(reverse("notifications:telegram_link_code"))
    assert response.status_code == 302
    assert response["Location"] == reverse("notifications:telegram_settings")
    assert TelegramLinkCode.objects.count() == 1

    shown = alice.get(response["Location"]).content.decode()
    assert len(TELEGRAM_CODE_RE.findall(shown)) == 1
    again = alice.get(response["Location"]).content.decode()
    assert not TELEGRAM_CODE_RE.findall(again)
    assert TelegramLinkCode.objects.count() == 1


def _post_views(bot: Bot) -> list[tuple[str, dict, str]]:
    """(url, data, where it lands) for each successful page POST."""
    detail = reverse("dashboard:bot_detail", args=[bot.pk])
    settings_url = reverse("dashboard:settings")
    return [
        (reverse("dashboard:bot_pause", args=[bot.pk]), {}, detail),
        (reverse("dashboard:bot_resume", args=[bot.pk]), {}, detail),
        (reverse("dashboard:bot_close_all", args=[bot.pk]), {}, detail),
        (reverse("dashboard:bot_stop", args=[bot.pk]), {}, detail),
        (reverse("dashboard:bot_edit", args=[bot.pk]),
         {"name": "renamed", "preset": "balanced", "capital": "1000",
          "symbol": "BTC/USDT", "timeframe": "1m"}, detail),
        (reverse("dashboard:bot_manual", args=[bot.pk]), {"action": "enter"}, detail),
        (reverse("dashboard:exchange_account_new"),
         {"label": "spare", "exchange_id": "binance", "paper_starting_balance": "1000",
          "quote_currency": "USDT"}, settings_url),
        (reverse("notifications:notification_settings"), {"auto_pause": "on"},
         reverse("notifications:telegram_settings")),
        (reverse("members"), {"email": "new@example.com", "role": "viewer"}, reverse("members")),
    ]


def test_each_successful_post_redirects(alice, world, bot):
    Tenant.objects.filter(pk=world.tenant_a.pk).update(plan=Plan.TEAM)  # room to invite
    for url, data, lands in _post_views(bot):
        response = alice.post(url, data)
        assert response.status_code == 302, (url, response.content[:2000])
        assert response["Location"].split("#")[0].split("?")[0] == lands, url


def test_a_bot_is_made_once_and_its_page_opens(alice, world):
    account = ExchangeAccount.objects.for_tenant(world.tenant_a).first() or paper_bot(
        world.tenant_a).account
    before = Bot.objects.for_tenant(world.tenant_a).count()
    response = alice.post(reverse("dashboard:bot_new"), {
        "name": "fresh", "account": str(account.pk), "symbol": "BTC/USDT", "timeframe": "1m",
        "strategy": "sma_cross", "preset": "balanced", "capital": "1000"})
    assert response.status_code == 302
    assert Bot.objects.for_tenant(world.tenant_a).count() == before + 1


@pytest.mark.parametrize("name, lands", [
    ("dashboard:bot_new", "dashboard:overview"),
    ("dashboard:api_key_create", "dashboard:settings"),
    ("dashboard:exchange_account_new", "dashboard:settings"),
    ("dashboard:live_account_new", "dashboard:settings"),
    ("notifications:telegram_link_code", "notifications:telegram_settings"),
    ("notifications:notification_settings", "notifications:telegram_settings"),
])
def test_a_post_only_url_opened_with_get_leads_to_its_page(alice, name, lands):
    response = alice.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].split("#")[0] == reverse(lands)


@pytest.mark.parametrize("name", ["bot_pause", "bot_resume", "bot_close_all", "bot_edit",
                                  "bot_delete", "bot_manual"])
def test_a_bot_action_opened_with_get_leads_to_the_bot(alice, bot, name):
    response = alice.get(reverse(f"dashboard:{name}", args=[bot.pk]))
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard:bot_detail", args=[bot.pk])
    bot.refresh_from_db()
    assert bot.status == Bot.Status.RUNNING  # a GET changes nothing


def test_a_get_on_another_tenants_bot_action_is_a_404(world, client):
    other = paper_bot(world.tenant_b, name="theirs")
    client.force_login(world.alice)
    assert client.get(reverse("dashboard:bot_pause", args=[other.pk])).status_code == 404


def test_a_signed_out_post_comes_back_to_the_page_after_login(client, bot):
    response = client.post(reverse("dashboard:bot_pause", args=[bot.pk]))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    bot.refresh_from_db()
    assert bot.status == Bot.Status.RUNNING
