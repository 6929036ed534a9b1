"""Multi-pair bots on the page and in the API: made from the form or a POST with `pairs`,
listed once, their pairs shown and edited on the bot page, a pair bot's page pointing to its
bot, and a pair bot refused as a target of the bot's controls."""
from __future__ import annotations

import re

import pytest
from django.urls import reverse

from tests.base import client_past_second_factor, owner_actor
from tests.dashboard.conftest import paper_bot
from trading import selectors
from trading.core.symbols import MAX_PAIRS
from trading.models import Bot
from trading.services.bots import bot_update

BOTS = "/api/v1/bots/"
PAIRS = ["BTC/USDT", "ETH/USDT"]  # the replayed markets here


@pytest.fixture
def basket(world) -> Bot:
    bot = paper_bot(world.tenant_a, name="basket")
    return bot_update(tenant=world.tenant_a, actor=owner_actor(world.tenant_a), bot_id=bot.pk,
                      pairs=PAIRS)


@pytest.fixture
def control(world):
    return world.client_with_key(world.control_key_a)


def test_the_form_makes_one_bot_trading_every_pair(alice, world, basket):
    response = alice.post(reverse("dashboard:bot_new"), {
        "name": "majors", "account": str(basket.account_id), "symbol": "BTC/USDT",
        "pairs": "ETH/USDT", "timeframe": "1m", "strategy": "sma_cross",
        "preset": "balanced", "capital": "1000"})
    assert response.status_code == 302
    bot = Bot.objects.get(name="majors")
    assert selectors.bot_pairs(bot=bot) == PAIRS


def test_a_bad_pair_in_the_form_is_the_form_with_its_error(alice, basket):
    response = alice.post(reverse("dashboard:bot_new"), {
        "name": "odd", "account": str(basket.account_id), "symbol": "BTC/USDT",
        "pairs": "ETH/BTC", "timeframe": "1m", "strategy": "sma_cross", "preset": "balanced",
        "capital": "1000"})
    assert response.status_code == 200  # the overview again, the form keeping what was typed
    assert "quoted in USDT" in response.content.decode()
    assert not Bot.objects.filter(name="odd").exists()


def test_the_bot_page_lists_the_pairs_and_each_pair_page_points_back(alice, basket):
    page = alice.get(f"/bots/{basket.pk}/").content.decode()
    assert 'id="pairs"' in page and "and 1 more pair " in page
    eth = selectors.pair_bots(bot=basket)[0]
    assert f'href="/bots/{eth.pk}/"' in page
    assert re.search(r'name="pairs"[^>]*value="ETH/USDT"', page)  # the edit form's pairs
    pair_page = alice.get(f"/bots/{eth.pk}/").content.decode()
    assert 'id="pair-of"' in pair_page and f'href="/bots/{basket.pk}/"' in pair_page
    assert 'id="edit-bot"' not in pair_page  # its settings are edited on its bot's page


def test_the_edit_form_changes_the_pairs(alice, basket):
    response = alice.post(f"/bots/{basket.pk}/edit/", {
        "name": basket.name, "symbol": basket.symbol, "timeframe": basket.timeframe,
        "preset": basket.preset, "capital": "1000", "pairs": ""})
    assert response.status_code == 302
    assert selectors.bot_pairs(bot=basket) == ["BTC/USDT"]
    assert not Bot.objects.filter(lead=basket).exists()  # it never traded: gone


def test_the_overview_lists_the_bot_once_with_the_sums_of_its_pairs(alice, basket):
    page = alice.get("/").content.decode()
    assert "basket · ETH/USDT" not in page and "basket" in page
    eth = selectors.pair_bots(bot=basket)[0]
    row = re.search(rf'<tr data-bot-id="{basket.pk}"[^>]*>', page).group(0)
    assert f'data-members="{basket.pk} {eth.pk}"' in row
    assert f'data-capital="{basket.capital + eth.capital}"' in row
    assert "+1 pair" in page


def test_pausing_a_pair_bot_on_its_page_names_its_bot(alice, basket):
    eth = selectors.pair_bots(bot=basket)[0]
    response = alice.post(f"/bots/{eth.pk}/pause/", follow=True)
    assert "trades one pair of basket" in response.content.decode()
    eth.refresh_from_db()
    assert eth.status == Bot.Status.RUNNING


def test_the_api_creates_lists_and_shows_the_pairs(world, control, basket):
    response = control.post(BOTS, {
        "name": "api basket", "account": basket.account_id, "symbol": "BTC/USDT",
        "pairs": PAIRS, "timeframe": "1m", "strategy": "sma_cross"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["pairs"] == PAIRS and response.json()["lead"] is None
    listed = control.get(BOTS).json()["results"]
    assert sorted(row["name"] for row in listed) == ["api basket", "basket"]
    assert {row["name"]: row["pairs"] for row in listed}["basket"] == PAIRS
    eth = selectors.pair_bots(bot=basket)[0]
    assert control.get(f"{BOTS}{eth.pk}/").json()["lead"] == basket.pk


def test_the_api_changes_the_pairs_and_refuses_too_many(control, basket):
    response = control.patch(f"{BOTS}{basket.pk}/", {"pairs": ["BTC/USDT"]}, format="json")
    assert response.status_code == 200 and response.json()["pairs"] == ["BTC/USDT"]
    response = control.patch(f"{BOTS}{basket.pk}/", {"pairs": ["BTC/USDT", "DOGE/USDT"]},
                             format="json")
    assert response.status_code == 400 and "DOGE/USDT is not a market" in response.content.decode()
    too_many = [f"C{number}/USDT" for number in range(MAX_PAIRS + 1)]
    response = control.patch(f"{BOTS}{basket.pk}/", {"pairs": too_many}, format="json")
    assert response.status_code == 400 and "pairs" in response.json()["error"]["fields"]


def test_the_api_refuses_controls_on_a_pair_bot(control, basket):
    eth = selectors.pair_bots(bot=basket)[0]
    response = control.post(f"{BOTS}{eth.pk}/pause/")
    assert response.status_code == 409
    assert "act on basket" in response.json()["error"]["message"]


def test_another_tenants_pair_bot_is_a_404(world, basket):
    eth = selectors.pair_bots(bot=basket)[0]
    assert world.client_with_key(world.read_key_b).get(f"{BOTS}{eth.pk}/").status_code == 404
    assert client_past_second_factor(world.charlie).get(f"/bots/{eth.pk}/").status_code == 404
