"""A server whose feed replays the sample files while the exchange itself (the Binance
stand-in, reached by the public clients) lists one market more: SOL/USDT. Import
`replay_server_fixture` (the fixture `replay_server`) where a test needs both sides."""
from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from tests.fakes import binance as stand_in
from trading.exchanges.factory import replays_samples, reset_market_sources, set_market_source
from trading.exchanges.live_clients import reset_live_connections, set_live_connection
from trading.exchanges.replay import replay_source_for
from trading.marketdata import forget_local_memo

EXCHANGE_INFO = "/api/v3/exchangeInfo"


@pytest.fixture(name="replay_server")
def replay_server_fixture(fake_binance, tmp_path, monkeypatch) -> Iterator[stand_in.FakeBinance]:
    """binance's feed replays BTC/USDT and ETH/USDT; the exchange also lists SOL/USDT."""
    monkeypatch.setitem(stand_in.MARKETS, "SOLUSDT", ("SOL", "USDT", Decimal("0.01"),
                                                      Decimal("0.001"), Decimal("5")))
    monkeypatch.setitem(stand_in.DEFAULT_PRICES, "SOLUSDT", Decimal("100"))
    forget_local_memo()
    set_live_connection("binance", urls_api=fake_binance.url, timeout_ms=2000,
                        ccxt_config={"rateLimit": 1, "timeout_on_exit": 0})
    set_market_source("binance", replay_source_for(tmp_path / "replay", speed=None))
    assert replays_samples("binance")
    yield fake_binance
    reset_market_sources()
    reset_live_connections()
    forget_local_memo()
