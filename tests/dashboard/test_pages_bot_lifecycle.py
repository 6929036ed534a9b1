"""The bot page's lifecycle forms: edit (a refusal is the form with its error, never an error
page), duplicate, stop, archive (out of the overview, page kept) and delete."""
from __future__ import annotations

import re
from decimal import Decimal

import pytest

from tests.base import client_past_second_factor
from tests.dashboard.conftest import paper_bot
from trading.models import Bot, Position


@pytest.fixture
def bot(world):
    return paper_bot(world.tenant_a, name="trend")


@pytest.fixture
def alice(world):
    return client_past_second_factor(world.alice)


def edit_form(bot: Bot, **changes) -> dict:
    form = {"name": bot.name, "symbol": bot.symbol, "timeframe": bot.timeframe,
            "preset": bot.preset, "capital": str(bot.capital),
            **{f"param_{k}": v for k, v in bot.parameters.items()}}
    return form | changes


def test_the_edit_form_saves_and_redirects(alice, bot):
    response = alice.post(f"/bots/{bot.pk}/edit/", edit_form(
        bot, name="trend fast", timeframe="1h", param_fast="4", capital="750"))
    assert response.status_code == 302 and response["Location"] == f"/bots/{bot.pk}/"
    bot.refresh_from_db()
    assert (bot.name, bot.timeframe, bot.parameters["fast"], bot.capital) == (
        "trend fast", "1h", 4, Decimal("750"))


def test_the_edit_form_as_shown_saves_unchanged(alice, bot):
    """The page's own values post back: the capital is shown as typed, not with the
    column's 18 decimal places that the 8-place check would refuse."""
    Bot.objects.filter(pk=bot.pk).update(capital=Decimal("1234.5"))
    bot.refresh_from_db()
    page = alice.get(f"/bots/{bot.pk}/").content.decode()
    shown = re.search(r'<input type="number" name="capital" value="([^"]+)"', page).group(1)
    assert shown == "1234.5"
    response = alice.post(f"/bots/{bot.pk}/edit/", edit_form(bot, capital=shown,
                                                            name="renamed"))
    assert response.status_code == 302
    bot.refresh_from_db()
    assert (bot.name, bot.capital) == ("renamed", Decimal("1234.5"))


def test_a_refused_edit_shows_the_form_with_the_reason(alice, bot):
    Position.objects.create(tenant_id=bot.tenant_id, bot=bot, symbol=bot.symbol,
                            amount=Decimal("0.2"), average_price=Decimal("100"), entries=1)
    response = alice.post(f"/bots/{bot.pk}/edit/", edit_form(bot, timeframe="1h"))
    assert response.status_code == 400
    body = response.content.decode()
    assert 'id="edit-bot"' in body and "only while flat" in body and "<details open" in body
    bot.refresh_from_db()
    assert bot.timeframe == "1m"


def test_a_parameter_out_of_range_is_a_form_error(alice, bot):
    response = alice.post(f"/bots/{bot.pk}/edit/", edit_form(bot, param_fast="-3"))
    assert response.status_code == 400 and "fast" in response.content.decode()


def test_duplicate_opens_the_paused_copy(alice, bot):
    response = alice.post(f"/bots/{bot.pk}/duplicate/")
    copy = Bot.objects.get(name="trend copy")
    assert response["Location"] == f"/bots/{copy.pk}/" and copy.status == Bot.Status.PAUSED


def test_archive_leaves_the_overview_and_delete_removes_it(alice, bot):
    alice.post(f"/bots/{bot.pk}/archive/")
    overview = alice.get("/").content.decode()
    assert f'data-bot-id="{bot.pk}"' not in overview
    assert 'id="archived-bots"' in overview and "trend" in overview
    page = alice.get(f"/bots/{bot.pk}/").content.decode()
    assert "Unarchive" in page and "Delete" in page
    response = alice.post(f"/bots/{bot.pk}/delete/")
    assert response.status_code == 302 and response["Location"] == "/"
    assert not Bot.objects.filter(pk=bot.pk).exists()


def test_a_viewer_gets_no_lifecycle_forms_and_cannot_post_them(world, bot):
    bob = client_past_second_factor(world.bob)
    page = bob.get(f"/bots/{bot.pk}/").content.decode()
    assert 'id="edit-bot"' not in page and "Duplicate" not in page
    bob.post(f"/bots/{bot.pk}/archive/")
    bot.refresh_from_db()
    assert bot.archived_at is None


def test_another_tenants_bot_is_not_found(world, bot):
    charlie = client_past_second_factor(world.charlie)
    for path in ("edit/", "duplicate/", "stop/", "archive/", "delete/"):
        assert charlie.post(f"/bots/{bot.pk}/{path}").status_code == 404


def test_exit_now_from_the_page_queues_the_request(alice, bot):
    Position.objects.create(tenant_id=bot.tenant_id, bot=bot, symbol=bot.symbol,
                            amount=Decimal("0.2"), average_price=Decimal("100"), entries=1)
    response = alice.post(f"/bots/{bot.pk}/manual/", {"action": "exit", "fraction": "0.5"},
                          follow=True)
    assert response.status_code == 200 and "its next tick" in response.content.decode()
    assert bot.manual_orders.get().fraction == Decimal("0.5")
    refused = alice.post(f"/bots/{bot.pk}/manual/", {"action": "exit"}, follow=True)
    assert "waiting for its next tick" in refused.content.decode()
