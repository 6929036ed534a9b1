"""A bot made on a paper account created for it: the account takes the next free "Paper N"
label, and a refused bot leaves no account behind."""
from __future__ import annotations

import pytest

from aitrader.errors import ValidationFailed
from tests.base import owner_actor
from trading.models import Bot, ExchangeAccount
from trading.services.bots import bot_create_on_new_paper_account

BOT = {"symbol": "BTC/USDT", "timeframe": "1m", "strategy": "sma_cross",
       "parameters": {"fast": 4, "slow": 12}}


def _create(world, name: str, **changes) -> Bot:
    return bot_create_on_new_paper_account(tenant=world.tenant_a,
                                           actor=owner_actor(world.tenant_a), name=name,
                                           **(BOT | changes))


def test_each_bot_gets_the_next_free_paper_label(world):
    ExchangeAccount.objects.create(tenant=world.tenant_a, label="Paper 2")
    labels = [_create(world, name).account.label for name in ("one", "two", "three")]
    assert labels == ["Paper", "Paper 3", "Paper 4"]
    assert {bot.account.mode for bot in Bot.objects.for_tenant(world.tenant_a)} == {"paper"}


def test_a_refused_bot_leaves_no_account_behind(world):
    with pytest.raises(ValidationFailed):
        _create(world, "bad", parameters={"fast": 0, "slow": 12})
    assert not ExchangeAccount.objects.for_tenant(world.tenant_a).exists()
