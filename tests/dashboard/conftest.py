"""API test fixtures: a stepping market for 'binance', paper bots, session clients by role."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tenants.models import Membership, Tenant
from tests.base import make_user, owner_actor
from tests.trading.markets import SteppingMarket
from trading.core.backtest.synthetic import random_walk_candles
from trading.core.history import history_write
from trading.engine import run_tick
from trading.exchanges.factory import reset_market_sources, set_market_source
from trading.marketdata import forget_local_memo
from trading.models import Bot
from trading.services.accounts import exchange_account_create
from trading.services.bots import bot_create

JAN_1 = 1_704_067_200_000  # 2024-01-01T00:00Z
DAY, HOUR = 86_400_000, 3_600_000


@pytest.fixture
def january_sol_history(settings, tmp_path):
    """Shared history of SOL/USDT 1h over January 2024 (in the test's own directories)."""
    settings.AITRADER_HISTORY_DIR = str(tmp_path / "history")
    settings.AITRADER_TENANT_HISTORY_DIR = str(tmp_path / "tenant-history")
    history_write(tmp_path / "history", "binance", "SOL/USDT", "1h",
                  random_walk_candles(24 * 31, seed=3, start_ms=JAN_1, timeframe_ms=HOUR))
    return tmp_path / "history"


@pytest.fixture
def alice(world, client):
    """A browser client signed in as alice, owner of tenant A (a test module may define an
    `alice` of its own, e.g. one past the second factor)."""
    client.force_login(world.alice)
    return client


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

