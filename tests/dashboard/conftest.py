"""API test fixtures: a stepping market for 'binance', paper bots, session clients by role."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tenants.models import Membership, Tenant
from tests.base import make_user, owner_actor
from tests.trading.markets import SteppingMarket
from trading.engine import run_tick
from trading.exchanges.factory import reset_market_sources, set_market_source
from trading.marketdata import forget_local_memo
from trading.models import Bot
from trading.services.accounts import exchange_account_create
from trading.services.bots import bot_create


@pytest.fixture
def market():
    """A fresh stepping market for 'binance'; caches are cleared around it."""
    forget_local_memo()
    stepping = SteppingMarket.sample()
    set_market_source("binance", stepping)
    yield stepping
    reset_market_sources()
    forget_local_memo()


def paper_bot(tenant: Tenant, *, name: str = "sma", parameters: dict | None = None,
              preset: str = "aggressive") -> Bot:
    """A running SMA-cross paper bot on BTC/USDT 1m, on its own paper account."""
    actor = owner_actor(tenant)
    account = exchange_account_create(tenant=tenant, actor=actor, label=f"paper-{name}",
                                      exchange_id="binance")
    return bot_create(tenant=tenant, actor=actor, name=name, account_id=account.pk,
                      symbol="BTC/USDT", timeframe="1m", strategy="sma_cross",
                      parameters=parameters or {"fast": 3, "slow": 8}, preset=preset)


def tick(bot: Bot, market: SteppingMarket, candles: int = 1) -> None:
    """Let `candles` candles close, ticking the bot after each."""
    for _ in range(candles):
        market.step()
        run_tick(tenant_id=bot.tenant_id, bot_id=bot.pk)


def member_client(tenant: Tenant, role: str) -> APIClient:
    """A signed-in session client of a new member of `tenant` holding `role`."""
    user = make_user(f"{role}-{tenant.slug}@example.com")
    Membership.objects.create(tenant=tenant, user=user, role=role)
    client = APIClient()
    client.force_login(user)
    return client

