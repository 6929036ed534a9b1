"""The demo tenant's paper bot, and `seed_demo --ticks N` replaying candles through it."""
from __future__ import annotations

from decimal import Decimal

from tenants.actors import Actor
from tenants.models import Tenant
from trading import selectors
from trading.core.timeframes import timeframe_ms
from trading.engine import run_tick
from trading.exchanges.factory import (
    replay_directory,
    replayed_since_first_start,
    reset_market_sources,
    set_market_source,
)
from trading.exchanges.replay import WARM_UP_CANDLES, ReplayClock, ReplayExchange
from trading.marketdata import forget_local_memo
from trading.models import Bot
from trading.sampledata import ensure_sample_files
from trading.services.accounts import exchange_account_create
from trading.services.bots import bot_create

DEMO_ACCOUNT = "Paper (demo)"
DEMO_BOT = "BTC trend (demo)"
# Candles of history a replayed demo starts with, so indicators are warm.
MIN_HISTORY = 60


def demo_seed_trading(*, tenant: Tenant, ticks: int = 0) -> Bot:
    """Ensure the demo paper account and bot exist; replay `ticks` candles through it."""
    actor = Actor.system(tenant, via="cli")
    bot = _demo_bot(tenant, actor)
    if ticks > 0:
        replay_ticks(bot=bot, candles=ticks)
    return bot


def _demo_bot(tenant: Tenant, actor: Actor) -> Bot:
    existing = selectors.bot_list(tenant=tenant).filter(name=DEMO_BOT).first()
    if existing is not None:
        return existing
    account = selectors.exchange_account_list(tenant=tenant).filter(label=DEMO_ACCOUNT).first()
    if account is None:
        account = exchange_account_create(tenant=tenant, actor=actor, label=DEMO_ACCOUNT,
                                          exchange_id="binance")
    return bot_create(tenant=tenant, actor=actor, name=DEMO_BOT, account_id=account.pk,
                      symbol="BTC/USDT", timeframe="1m", strategy="sma_cross",
                      parameters={"fast": 5, "slow": 20}, preset="balanced",
                      capital=Decimal("1000"))


def replay_ticks(*, bot: Bot, candles: int) -> int:
    """Step a replay one candle at a time and tick `bot` on each: the real tick path, fast.

    The replayed candles end where the live demo replay is now, so `make run` carries on
    from them at once; a bot that is further along continues from its last candle instead.
    Returns how many ticks ran.
    """
    directory = replay_directory()
    ensure_sample_files(directory)
    live_index = WARM_UP_CANDLES + replayed_since_first_start()
    replay = ReplayExchange.from_directory(
        directory / "replay", ReplayClock(max(MIN_HISTORY, live_index - candles)))
    if bot.last_candle_ts is not None:
        behind = (bot.last_candle_ts - replay.now_ms()) // timeframe_ms("1m") + 1
        replay.clock.advance(max(0, behind))
    set_market_source(bot.account.exchange_id, replay)
    forget_local_memo()
    try:
        done = 0
        for _ in range(candles):
            replay.clock.advance()
            outcome = run_tick(tenant_id=bot.tenant_id, bot_id=bot.pk)
            done += outcome.status == "ticked"
        return done
    finally:
        reset_market_sources()
        forget_local_memo()
