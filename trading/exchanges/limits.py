"""A market's order rules (lot size, minimum amount, minimum value) and the one check of them.

Every order is checked here before it is sent, live and paper alike (trading.services.orders
calls `order_limits_refusal` with the exchange's `market_rules`), market orders included: a
market order is valued at the price the engine expects (its decision candle's close). An
order the exchange would refuse ("Filter failure: NOTIONAL") is skipped instead of sent, so
it never counts as an exchange error. The live adapter keeps its own check as a last guard.

Paper accounts follow the same rules: the real market's where this process has loaded it,
otherwise Binance-like defaults (a minimum order value of 5 in a stablecoin or fiat quote).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from trading.exchanges.base import LEDGER_AMOUNT_STEP, round_down_to_step

# Binance's NOTIONAL filter on its main spot markets, by quote currency; other quotes have no
# default minimum value on paper.
DEFAULT_MIN_ORDER_VALUE: dict[str, Decimal] = {
    **dict.fromkeys(("USDT", "USDC", "FDUSD", "BUSD", "TUSD", "DAI", "USD", "EUR", "GBP", "TRY"),
                    Decimal("5")),
    "BTC": Decimal("0.0001"), "ETH": Decimal("0.001"), "BNB": Decimal("0.01"),
}


@dataclass(frozen=True)
class MarketRules:
    """What a market accepts; None where it sets no limit."""

    symbol: str
    amount_step: Decimal = LEDGER_AMOUNT_STEP
    min_amount: Decimal | None = None
    max_amount: Decimal | None = None
    min_value: Decimal | None = None
    max_value: Decimal | None = None

    @property
    def base(self) -> str:
        return self.symbol.split("/")[0]

    @property
    def quote(self) -> str:
        return self.symbol.split("/")[1].split(":")[0]

    @classmethod
    def paper_default(cls, symbol: str) -> MarketRules:
        """Binance-like rules for a market this process knows nothing about."""
        quote = symbol.split("/")[1].split(":")[0] if "/" in symbol else ""
        return cls(symbol=symbol, min_value=DEFAULT_MIN_ORDER_VALUE.get(quote.upper()))

    @classmethod
    def from_ccxt(cls, market: Mapping, amount_step: Decimal) -> MarketRules:
        """From a ccxt market structure (its `limits`) and its lot size."""
        limits = market.get("limits") or {}
        amount, cost = limits.get("amount") or {}, limits.get("cost") or {}
        return cls(symbol=market["symbol"], amount_step=amount_step,
                   min_amount=_limit(amount.get("min")), max_amount=_limit(amount.get("max")),
                   min_value=_limit(cost.get("min")), max_value=_limit(cost.get("max")))


def _limit(value) -> Decimal | None:
    """A ccxt limit as a Decimal; None, 0 and negative mean "no limit"."""
    if value is None:
        return None
    limit = Decimal(str(value))
    return limit if limit > 0 else None


def order_limits_refusal(rules: MarketRules, *, amount: Decimal,
                         price: Decimal | None) -> str | None:
    """Why the market would refuse an order of `amount` valued at `price`, or None.

    The amount is first rounded down to the lot size, as the exchange would take it; the value
    check needs a price (an order without one is checked on its amount only).
    """
    sent = round_down_to_step(amount, rules.amount_step)
    if sent <= 0:
        return (f"amount {_plain(amount)} {rules.base} is below the exchange's lot size of "
                f"{_plain(rules.amount_step)} {rules.base}")
    if rules.min_amount is not None and sent < rules.min_amount:
        return (f"amount {_plain(sent)} {rules.base} is below the exchange minimum of "
                f"{_plain(rules.min_amount)} {rules.base}")
    if rules.max_amount is not None and sent > rules.max_amount:
        return (f"amount {_plain(sent)} {rules.base} is above the exchange maximum of "
                f"{_plain(rules.max_amount)} {rules.base}")
    if price is None or price <= 0:
        return None
    value = sent * price
    if rules.min_value is not None and value < rules.min_value:
        return (f"value {_value(value)} {rules.quote} is below the exchange minimum of "
                f"{_plain(rules.min_value)} {rules.quote}")
    if rules.max_value is not None and value > rules.max_value:
        return (f"value {_value(value)} {rules.quote} is above the exchange maximum of "
                f"{_plain(rules.max_value)} {rules.quote}")
    return None


def _plain(value: Decimal) -> str:
    return f"{value.normalize():f}"


def _value(value: Decimal) -> str:
    """An order value as people read it: cents, or 8 places for a coin-quoted market."""
    return f"{value:.2f}" if value >= 1 else _plain(value.quantize(LEDGER_AMOUNT_STEP))


# Rules of real markets this process has loaded (live clients register them), so paper
# accounts on the same exchange follow them too.
_known: dict[tuple[str, str], MarketRules] = {}


def remember_market_rules(exchange_id: str, rules: list[MarketRules]) -> None:
    """Record the rules of an exchange's markets as a live client loaded them."""
    _known.update({(exchange_id, each.symbol): each for each in rules})


def known_market_rules(exchange_id: str, symbol: str) -> MarketRules:
    """The loaded rules of `symbol` on `exchange_id`, else the Binance-like defaults."""
    return _known.get((exchange_id, symbol)) or MarketRules.paper_default(symbol)
