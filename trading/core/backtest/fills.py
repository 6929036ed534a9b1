"""How a simulated order fills: slippage and fees (backtest; the paper exchange follows suit).

Plain functions of floats, compiled as they are by the fast fill loop.
"""
from __future__ import annotations


def buy_fill_price(price: float, slippage: float) -> float:
    """A buy fills `slippage` (a fraction) above the quoted price."""
    return price * (1.0 + slippage)


def sell_fill_price(price: float, slippage: float) -> float:
    """A sell fills `slippage` (a fraction) below the quoted price."""
    return price * (1.0 - slippage)


def trading_fee(notional: float, fee_rate: float) -> float:
    """Fee charged on one fill: rate × notional, on entries and exits alike."""
    return notional * fee_rate
