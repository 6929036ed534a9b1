"""Number formats of the pages: money to 2 places, crypto amounts to 8, signed P&L."""
from __future__ import annotations

from decimal import Decimal

import pytest

from dashboard.templatetags.money import crypto, money, percent, pnl_class, price, signed_money


@pytest.mark.parametrize(("value", "shown"), [
    (Decimal("1234.5"), "1,234.50"), ("0.005", "0.01"), (-12.344, "\u221212.34"),
    (Decimal("-0.001"), "0.00"), (None, "—"), ("not a number", "—"),
])
def test_money_shows_quote_currency_to_two_places(value, shown):
    assert money(value) == shown


@pytest.mark.parametrize(("value", "shown"), [
    (Decimal("0.001250000000"), "0.00125"), (Decimal("2"), "2"), ("0.123456789", "0.12345679"),
    (Decimal("12345.5"), "12,345.5"), (Decimal("0"), "0"), (None, "—"),
])
def test_crypto_amounts_keep_up_to_eight_places(value, shown):
    assert crypto(value) == shown


def test_pnl_carries_its_sign_and_colour():
    assert (signed_money(12.3), signed_money(-4.1), signed_money(0)) == ("+12.30", "\u22124.10",
                                                                          "0.00")
    assert (pnl_class(1), pnl_class(-1), pnl_class(0), pnl_class(None)) == ("pos", "neg", "", "")


def test_prices_and_percentages():
    assert price("43123.456") == "43,123.46" and price("0.000123") == "0.000123"
    assert percent(12.345) == "12.35 %" and percent(None) == "—"
