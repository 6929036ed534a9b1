"""Engine fixtures: a paper account, a bot and a stepping market installed for 'binance'."""
from __future__ import annotations

import pytest

from tenants.actors import Actor
from tests.base import PASSWORD, owner_actor
from tests.fakes.binance import DEFAULT_API_KEY, DEFAULT_SECRET
from tests.trading.markets import SteppingMarket
from trading.engine import forget_signal_memo
from trading.exchanges.factory import reset_market_sources, set_market_source
from trading.marketdata import forget_local_memo
from trading.services.accounts import exchange_account_create
from trading.services.bots import bot_create
from trading.services.credentials import exchange_credentials_save
from trading.signals import bot_auto_paused


@pytest.fixture(autouse=True)
def history_dir(settings, tmp_path):
    """Stored candle history goes to the test's own directory, never the project's var/."""
    settings.AITRADER_HISTORY_DIR = str(tmp_path / "history")
    return tmp_path / "history"


@pytest.fixture
def market():
    """A fresh stepping market for 'binance'; caches are cleared around it."""
    forget_local_memo()
    forget_signal_memo()
    market = SteppingMarket.sample()
    set_market_source("binance", market)
    yield market
    reset_market_sources()
    forget_local_memo()


def make_paper_bot(tenant, *, name="sma", strategy="sma_cross", parameters=None,
                   preset="aggressive", risk=None, actor: Actor | None = None):
    actor = actor or owner_actor(tenant)
    account = exchange_account_create(tenant=tenant, actor=actor, label=f"paper-{name}",
                                      exchange_id="binance")
    return bot_create(tenant=tenant, actor=actor, name=name, account_id=account.pk,
                      symbol="BTC/USDT", timeframe="1m", strategy=strategy,
                      parameters=parameters or {"fast": 3, "slow": 8}, preset=preset,
                      risk=risk or {})


@pytest.fixture
def paper_bot(world, market):
    return make_paper_bot(world.tenant_a)


def make_live_bot(tenant, *, parameters=None, preset="balanced", breakers=None):
    """A running sma_cross bot on a live 'binance' account holding the stand-in's default
    key (the exchange stand-in must be running: the key is verified there)."""
    actor = owner_actor(tenant)
    account = exchange_account_create(tenant=tenant, actor=actor, label="live",
                                      exchange_id="binance", mode="live")
    exchange_credentials_save(tenant=tenant, actor=actor, account_id=account.pk,
                              api_key=DEFAULT_API_KEY, secret=DEFAULT_SECRET, password=PASSWORD)
    return bot_create(tenant=tenant, actor=actor, name="live", account_id=account.pk,
                      symbol="BTC/USDT", timeframe="1m", strategy="sma_cross",
                      parameters=parameters or {"fast": 3, "slow": 8}, preset=preset,
                      breakers=breakers or {})


@pytest.fixture
def pauses():
    """bot_auto_paused signals (the Telegram alert's trigger) sent during the test."""
    sent: list[dict] = []

    def receiver(sender, **kwargs):
        sent.append(kwargs)

    bot_auto_paused.connect(receiver, weak=False)
    yield sent
    bot_auto_paused.disconnect(receiver)


@pytest.fixture
def stand_in(binance_live):
    """The Binance stand-in behind every live client, with the market-data memo cleared
    around the test (live bots read their candles through the same clients)."""
    forget_local_memo()
    yield binance_live
    reset_market_sources()
    forget_local_memo()
