"""Fixtures of the benchmarks: a tenant with N paper bots on one shared stepping market."""
from __future__ import annotations

from decimal import Decimal

from tenants.models import User
from tenants.plans import Plan
from tenants.services import tenant_create
from trading.core.candles import Candles
from trading.exchanges.factory import set_market_source
from trading.models import Bot, ExchangeAccount, PaperBalance
from trading.sampledata import generate

START_MS = 1_700_000_000_000 - 1_700_000_000_000 % 86_400_000


class StepMarket:
    """Candles up to a cursor: candle `cursor` is forming, earlier ones are closed."""

    def __init__(self, candles: Candles, cursor: int = 300) -> None:
        self.candles, self.cursor = candles, cursor

    def now_ms(self) -> int:
        return int(self.candles.timestamp[self.cursor]) + 1

    def fetch_ohlcv(self, symbol, timeframe, since_ms=None, limit=None):
        end = self.cursor + 1
        return self.candles[max(0, end - (limit or end)):end].to_rows()

    def step(self) -> None:
        self.cursor += 1


def build_bots(count: int) -> tuple[StepMarket, list[int], int]:
    """A tenant with `count` sma_cross paper bots (bulk-created) on one shared market."""
    owner = User.objects.create_user("bench@example.com", "bench-password-123")
    tenant = tenant_create(name="Bench", slug="bench", owner=owner, plan=Plan.ENTERPRISE)
    account = ExchangeAccount.objects.create(tenant=tenant, label="paper")
    PaperBalance.objects.create(tenant=tenant, account=account, currency="USDT",
                                free=Decimal("1e12"))
    Bot.objects.bulk_create([
        Bot(tenant=tenant, name=f"bot-{i}", account=account, symbol="BTC/USDT", timeframe="1m",
            strategy="sma_cross", parameters={"fast": 5, "slow": 20}, preset="balanced")
        for i in range(count)], batch_size=2000)
    market = StepMarket(generate("BTC/USDT", "1m", 5000, 11, START_MS))
    set_market_source("binance", market)
    ids = list(Bot.objects.filter(tenant=tenant).order_by("pk").values_list("pk", flat=True))
    return market, ids, tenant.pk
