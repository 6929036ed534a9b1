"""LiveExchange: the real ccxt client against the local Binance stand-in (tests/fakes)."""
from __future__ import annotations

import logging
import threading
from decimal import Decimal

import pytest

from trading.exchanges.base import (
    AuthenticationError,
    DuplicateClientOrderId,
    Exchange,
    InsufficientFunds,
    InvalidOrder,
    OrderNotFound,
    OrderRequest,
    PermanentExchangeError,
    RateLimited,
    TemporaryExchangeError,
)
from trading.exchanges.live import (
    LiveExchange,
    forget_markets,
    retry_after_seconds,
    shared_live_exchange,
)

# The stand-in's fixtures (fake_binance, binance_exchange); imported as a plugin rather than
# from the module so pytest can still rewrite its asserts.
pytest_plugins = ["tests.fakes.binance"]

ORDER_PATH = "/api/v3/order"
TICKER_PATH = "/api/v3/ticker/24hr"


def market_buy(amount: str = "0.01", client_order_id: str = "bot1-c100-open",
               expected_price: str | None = None) -> OrderRequest:
    price = Decimal(expected_price) if expected_price else None
    return OrderRequest("BTC/USDT", "buy", "market", Decimal(amount), price, client_order_id)


def limit_order(side: str = "buy", amount: str = "0.01", price: str = "49000",
                client_order_id: str = "bot1-c100-limit") -> OrderRequest:
    return OrderRequest("BTC/USDT", side, "limit", Decimal(amount), Decimal(price),
                        client_order_id)


@pytest.fixture
def quick_exchange(fake_binance):
    """Gives up on a silent stand-in after 300 ms, so timeout tests stay fast."""
    exchange = fake_binance.live_exchange(timeout_ms=300)
    yield exchange
    exchange.close()


def test_it_implements_the_exchange_interface(binance_exchange):
    assert isinstance(binance_exchange, Exchange)


def test_it_places_a_market_order_and_reports_its_fill(fake_binance, binance_exchange):
    state = binance_exchange.create_order(market_buy())

    assert state.status == "closed"
    assert state.client_order_id == "bot1-c100-open"
    assert (state.amount, state.filled, state.remaining) == (Decimal("0.01"), Decimal("0.01"),
                                                             Decimal("0"))
    assert state.average == Decimal("50000")
    assert (state.fee, state.fee_currency) == (Decimal("0.00001"), "BTC")  # 0.1 % of 0.01 BTC
    assert fake_binance.request_count(ORDER_PATH, "POST") == 1
    assert fake_binance.balance("USDT")[0] == Decimal("99500")


def test_it_rests_a_limit_order_lists_it_and_cancels_it(fake_binance, binance_exchange):
    placed = binance_exchange.create_order(limit_order())

    assert placed.status == "open" and placed.price == Decimal("49000")
    assert fake_binance.balance("USDT") == (Decimal("99510"), Decimal("490"))
    assert [o.exchange_order_id for o in binance_exchange.fetch_open_orders("BTC/USDT")] == \
        [placed.exchange_order_id]

    canceled = binance_exchange.cancel_order("BTC/USDT", placed.exchange_order_id)

    assert canceled.status == "canceled"
    assert canceled.client_order_id == "bot1-c100-limit"  # not the cancel request's own id
    assert binance_exchange.fetch_open_orders("BTC/USDT") == []
    assert fake_binance.balance("USDT") == (Decimal("100000"), Decimal("0"))


def test_it_finds_an_order_by_client_id_and_by_exchange_id(binance_exchange):
    placed = binance_exchange.create_order(limit_order())

    by_client = binance_exchange.fetch_order("BTC/USDT", client_order_id="bot1-c100-limit")
    by_exchange = binance_exchange.fetch_order("BTC/USDT",
                                               exchange_order_id=placed.exchange_order_id)

    assert by_client.exchange_order_id == placed.exchange_order_id
    assert by_exchange.client_order_id == "bot1-c100-limit"


def test_it_raises_order_not_found_for_an_unknown_client_id(binance_exchange):
    with pytest.raises(OrderNotFound):
        binance_exchange.fetch_order("BTC/USDT", client_order_id="never-sent")


def test_cancelling_a_finished_order_is_order_not_found(binance_exchange):
    filled = binance_exchange.create_order(market_buy())

    with pytest.raises(OrderNotFound):
        binance_exchange.cancel_order("BTC/USDT", filled.exchange_order_id)


@pytest.mark.parametrize("mode", ["disconnect", "timeout"])
def test_a_lost_answer_is_temporary_and_the_order_is_then_found_by_client_id(
        fake_binance, quick_exchange, mode):
    fake_binance.lose_response_next(ORDER_PATH, mode=mode)

    with pytest.raises(TemporaryExchangeError):
        quick_exchange.create_order(market_buy(client_order_id="bot1-c101-open"))
    found = quick_exchange.fetch_order("BTC/USDT", client_order_id="bot1-c101-open")

    assert found.status == "closed" and found.filled == Decimal("0.01")
    assert len(fake_binance.orders_with_client_id("bot1-c101-open")) == 1
    assert fake_binance.request_count(ORDER_PATH, "POST") == 1  # never resent by ccxt/aiohttp


def test_a_429_becomes_rate_limited_with_the_retry_after(fake_binance, binance_exchange):
    fake_binance.rate_limit_next(TICKER_PATH, retry_after=0.25)

    with pytest.raises(RateLimited) as caught:
        binance_exchange.fetch_ticker("BTC/USDT")

    assert caught.value.retry_after == pytest.approx(0.25)
    assert isinstance(caught.value, TemporaryExchangeError)
    assert binance_exchange.fetch_ticker("BTC/USDT").last == Decimal("50000")


def test_a_rate_limited_order_is_not_placed(fake_binance, binance_exchange):
    fake_binance.rate_limit_next(ORDER_PATH)

    with pytest.raises(RateLimited):
        binance_exchange.create_order(market_buy())

    assert fake_binance.orders_with_client_id("bot1-c100-open") == []


@pytest.mark.parametrize("status", [500, 502, 503])
def test_a_5xx_is_temporary(fake_binance, binance_exchange, status):
    fake_binance.server_error_next(TICKER_PATH, status=status)

    with pytest.raises(TemporaryExchangeError) as caught:
        binance_exchange.fetch_ticker("BTC/USDT")

    assert not isinstance(caught.value, RateLimited)


def test_a_timeout_is_temporary(fake_binance, quick_exchange):
    fake_binance.timeout_next(TICKER_PATH, times=2)  # aiohttp resends an idempotent GET once

    with pytest.raises(TemporaryExchangeError):
        quick_exchange.fetch_ticker("BTC/USDT")


def test_a_wrong_secret_is_an_authentication_error_without_credentials_in_it(fake_binance):
    exchange = fake_binance.live_exchange(secret="not-the-secret-42")
    try:
        with pytest.raises(AuthenticationError) as caught:
            exchange.fetch_balance()
    finally:
        exchange.close()

    message = str(caught.value)
    assert "Signature for this request is not valid" in message
    assert fake_binance.default_key[0] not in message and "not-the-secret-42" not in message
    assert "signature=" not in message  # signed query strings are cut from messages


def test_an_unknown_key_is_an_authentication_error(fake_binance):
    exchange = fake_binance.live_exchange(api_key="someone-elses-key")
    try:
        with pytest.raises(AuthenticationError):
            exchange.create_order(market_buy())
    finally:
        exchange.close()
    assert fake_binance.orders_with_client_id("bot1-c100-open") == []


def test_it_rounds_amount_and_price_to_the_market_before_sending(fake_binance,
                                                                binance_exchange):
    state = binance_exchange.create_order(limit_order(amount="0.0123456", price="48000.129"))

    sent = fake_binance.orders_with_client_id("bot1-c100-limit")[0]
    assert (sent["origQty"], sent["price"]) == ("0.01234000", "48000.13000000")
    assert (state.amount, state.price) == (Decimal("0.01234"), Decimal("48000.13"))


@pytest.mark.parametrize(("request_", "reason"), [
    (market_buy(amount="0.000001"), "rounds to 0"),
    (limit_order(amount="0.00005", price="50000"), "order value 2.5 USDT is below the exchange "
                                                   "minimum of 5.0 USDT"),
    (market_buy(amount="0.00005", expected_price="50000"), "below the exchange minimum"),
    (limit_order(amount="10000", price="50000"), "amount 10000 BTC is above"),
    (OrderRequest("DOGE/USDT", "buy", "market", Decimal(1), None, "x"), "no market DOGE/USDT"),
    (market_buy(client_order_id="b" * 37), "does not fit binance's format"),
    (market_buy(client_order_id="bot 1|candle"), "does not fit binance's format"),
])
def test_it_refuses_what_the_market_would_reject_before_sending_anything(
        fake_binance, binance_exchange, request_, reason):
    with pytest.raises(InvalidOrder, match=reason):
        binance_exchange.create_order(request_)

    assert fake_binance.request_count() == 0


def test_a_partially_filled_limit_order_stays_open_until_filled(fake_binance,
                                                               binance_exchange):
    fake_binance.set_price("BTC/USDT", "48000")
    fake_binance.partial_fill_next("0.4")

    placed = binance_exchange.create_order(limit_order(amount="0.01", price="49000"))

    assert placed.status == "open"
    assert (placed.filled, placed.remaining) == (Decimal("0.004"), Decimal("0.006"))
    fake_binance.fill(placed.exchange_order_id)
    final = binance_exchange.fetch_order("BTC/USDT", exchange_order_id=placed.exchange_order_id)
    fills = binance_exchange.fetch_my_trades("BTC/USDT")
    assert final.status == "closed" and final.filled == Decimal("0.01")
    assert [(f.amount, f.price) for f in fills] == [(Decimal("0.004"), Decimal("48000")),
                                                    (Decimal("0.006"), Decimal("49000"))]
    assert {f.exchange_order_id for f in fills} == {placed.exchange_order_id}


def test_the_unfilled_rest_of_a_market_order_expires(fake_binance, binance_exchange):
    fake_binance.partial_fill_next("0.5")

    state = binance_exchange.create_order(market_buy(amount="0.02"))

    assert state.status == "expired"
    assert (state.filled, state.remaining) == (Decimal("0.01"), Decimal("0.01"))


def test_an_order_beyond_the_balance_is_insufficient_funds(fake_binance, binance_exchange):
    fake_binance.set_balance("USDT", "100")

    with pytest.raises(InsufficientFunds):
        binance_exchange.create_order(market_buy(amount="0.01"))


def test_reusing_the_client_id_of_an_open_order_is_a_duplicate(binance_exchange):
    binance_exchange.create_order(limit_order(client_order_id="bot1-c102-grid"))

    with pytest.raises(DuplicateClientOrderId):
        binance_exchange.create_order(limit_order(client_order_id="bot1-c102-grid"))


def test_it_reads_balances_ticker_and_candles(fake_binance, binance_exchange):
    rows = [[1_704_067_200_000 + i * 3_600_000, 100 + i, 101 + i, 99 + i, 100.5 + i, 10.0]
            for i in range(5)]
    fake_binance.set_klines("BTC/USDT", "1h", rows)

    balances = binance_exchange.fetch_balance()
    ticker = binance_exchange.fetch_ticker("BTC/USDT")
    candles = binance_exchange.fetch_ohlcv("BTC/USDT", "1h", limit=3)

    assert balances["BTC"].total == Decimal("1") and balances["USDT"].free == Decimal("100000")
    assert (ticker.bid, ticker.ask) == (Decimal("49999.99"), Decimal("50000.01"))
    assert candles == rows[-3:]


def test_markets_are_loaded_once_per_exchange_per_process(fake_binance):
    forget_markets("binance")
    first = fake_binance.live_exchange(with_markets=False)
    second = fake_binance.live_exchange(with_markets=False)
    try:
        first.fetch_ticker("BTC/USDT")
        second.fetch_ticker("ETH/USDT")
    finally:
        first.close()
        second.close()

    assert fake_binance.request_count("/api/v3/exchangeInfo") == 1
    assert fake_binance.request_count(TICKER_PATH) == 2


def test_a_failed_market_load_is_temporary_and_tried_again_next_call(fake_binance):
    forget_markets("binance")
    fake_binance.server_error_next("/api/v3/exchangeInfo")
    exchange = fake_binance.live_exchange(with_markets=False)
    try:
        with pytest.raises(TemporaryExchangeError):
            exchange.fetch_ticker("BTC/USDT")
        assert exchange.fetch_ticker("BTC/USDT").last == Decimal("50000")
    finally:
        exchange.close()

    assert fake_binance.request_count("/api/v3/exchangeInfo") == 2


def test_it_serves_many_threads_at_once_on_its_one_loop(binance_exchange):
    prices, errors = [], []

    def read() -> None:
        try:
            prices.append(binance_exchange.fetch_ticker("BTC/USDT").last)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert errors == [] and prices == [Decimal("50000")] * 8


def test_verify_credentials_reports_a_withdrawal_enabled_key(fake_binance, binance_exchange):
    fake_binance.set_permissions(enableWithdrawals=True, ipRestrict=True)

    permissions = binance_exchange.verify_credentials()

    assert (permissions.can_trade, permissions.can_withdraw, permissions.ip_restricted) == \
        (True, True, True)


def test_verify_credentials_refuses_a_wrong_secret(fake_binance):
    exchange = fake_binance.live_exchange(secret="wrong")
    try:
        with pytest.raises(AuthenticationError):
            exchange.verify_credentials()
    finally:
        exchange.close()


def test_it_reads_our_fills_since_a_moment(fake_binance, binance_exchange):
    first = binance_exchange.create_order(market_buy(client_order_id="c-1"))
    second = binance_exchange.create_order(market_buy(client_order_id="c-2"))

    fills = binance_exchange.fetch_my_trades("BTC/USDT", since_ms=first.timestamp_ms)

    assert [f.exchange_order_id for f in fills] == [first.exchange_order_id,
                                                    second.exchange_order_id]
    assert fake_binance.request_count("/api/v3/myTrades") == 1  # a short page is the last


def test_debug_logging_never_carries_the_api_key(fake_binance, binance_exchange, caplog):
    caplog.set_level(logging.DEBUG)

    binance_exchange.fetch_balance()

    assert fake_binance.default_key[0] not in caplog.text


def test_the_shared_instance_is_one_per_credentials(fake_binance):
    kwargs = {"urls_api": fake_binance.url, "timeout_ms": 1000}
    first = shared_live_exchange("binance", "key-a", "secret-a", **kwargs)

    assert shared_live_exchange("binance", "key-a", "secret-a", **kwargs) is first
    assert shared_live_exchange("binance", "key-b", "secret-a", **kwargs) is not first


def test_its_repr_never_shows_credentials(fake_binance, binance_exchange):
    api_key, secret = fake_binance.default_key
    assert api_key not in repr(binance_exchange) and secret not in repr(binance_exchange)


def test_an_unknown_exchange_id_is_refused():
    with pytest.raises(PermanentExchangeError, match="no-such-exchange"):
        LiveExchange("no-such-exchange")


@pytest.mark.parametrize(("headers", "seconds"), [
    ({"Retry-After": "2"}, 2.0),
    ({"retry-after": "0.5"}, 0.5),
    ({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),  # a date in the past
    ({}, None),
    (None, None),
])
def test_retry_after_seconds_reads_delta_seconds_and_dates(headers, seconds):
    assert retry_after_seconds(headers) == seconds
