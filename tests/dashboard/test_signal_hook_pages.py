"""The bot page's "Signal webhook" section: enable / rotate / disable answer with a redirect,
the secret is shown once, the last alerts are listed, and a viewer gets none of it."""
from __future__ import annotations

import pytest

from tests.base import client_past_second_factor
from tests.dashboard.conftest import paper_bot
from trading.models import Bot, SignalHook
from trading.services.signals import signal_receive


@pytest.fixture
def bot(world) -> Bot:
    return paper_bot(world.tenant_a, name="tv")


@pytest.fixture
def alice(world):
    return client_past_second_factor(world.alice)


def enable(alice, bot: Bot) -> str:
    """Enable (or rotate) on the page; the secret the page shows once."""
    response = alice.post(f"/bots/{bot.pk}/signal-hook/")
    assert response.status_code == 302 and response["Location"] == f"/bots/{bot.pk}/#signals"
    page = alice.get(f"/bots/{bot.pk}/").content.decode()
    secret = page.split('id="signal-secret">')[1].split("<")[0]
    assert len(secret) >= 32
    return secret


def test_enabling_shows_the_url_and_secret_once(alice, bot):
    secret = enable(alice, bot)
    hook = SignalHook.objects.get(bot=bot)
    again = alice.get(f"/bots/{bot.pk}/").content.decode()
    assert secret not in again and f"/hooks/signals/{hook.token}/" in again
    assert "Rotate URL and secret" in again


def test_rotating_on_the_page_gives_a_new_secret_and_url(alice, bot):
    first = enable(alice, bot)
    old_token = SignalHook.objects.get(bot=bot).token
    second = enable(alice, bot)
    assert second != first and SignalHook.objects.get(bot=bot).token != old_token


def test_the_last_alerts_are_listed_with_their_outcome(alice, bot):
    secret = enable(alice, bot)
    token = SignalHook.objects.get(bot=bot).token
    signal_receive(token=token, payload={"secret": secret, "action": "exit",
                                         "alert_id": "tv-77"}, ip="1.2.3.4")
    page = alice.get(f"/bots/{bot.pk}/").content.decode()
    table = page.split('id="signal-alerts"')[1]
    assert "tv-77" in table and "refused" in table and "holds nothing" in table


def test_disable_turns_it_off(alice, bot):
    enable(alice, bot)
    response = alice.post(f"/bots/{bot.pk}/signal-hook/disable/", follow=True)
    assert "signal webhook is off" in response.content.decode()
    assert not SignalHook.objects.get(bot=bot).active
    assert "Enable signal webhook" in response.content.decode()


def test_a_get_on_the_action_lands_on_the_page(alice, bot):
    response = alice.get(f"/bots/{bot.pk}/signal-hook/")
    assert response.status_code == 302 and response["Location"] == f"/bots/{bot.pk}/"
    assert not SignalHook.objects.exists()


def test_a_viewer_sees_no_section_and_cannot_enable(world, bot):
    bob = client_past_second_factor(world.bob)
    page = bob.get(f"/bots/{bot.pk}/").content.decode()
    assert 'id="signals"' not in page
    bob.post(f"/bots/{bot.pk}/signal-hook/")
    assert not SignalHook.objects.exists()
