"""The one definition of a bot's P&L and a position's open P&L that every surface shows."""
from __future__ import annotations

from decimal import Decimal

from trading.core.pnl import bot_pnl, marked_equity, open_pnl


def test_a_bots_pnl_is_equity_less_capital_and_none_before_any_equity():
    assert bot_pnl(capital=Decimal("1000"), equity=Decimal("1012.50")) == Decimal("12.50")
    assert bot_pnl(capital=Decimal("1000"), equity=Decimal("990")) == Decimal("-10")
    assert bot_pnl(capital=Decimal("1000"), equity=None) is None


def test_open_pnl_is_the_marked_value_less_the_cost_of_a_held_position():
    assert open_pnl(amount=Decimal("0.5"), average_price=Decimal("100"),
                    position_value=Decimal("55")) == Decimal("5.0")
    assert open_pnl(amount=Decimal("0"), average_price=Decimal("0"),
                    position_value=Decimal("0")) is None
    assert open_pnl(amount=Decimal("1"), average_price=Decimal("100"),
                    position_value=None) is None


def test_the_engines_equity_marks_the_position_at_the_price():
    assert marked_equity(capital=1000.0, realized=-20.0, amount=2.0, average_price=100.0,
                         price=110.0) == 1000.0
