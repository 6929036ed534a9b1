"""What a market symbol and a currency code may look like, for every surface that takes one.

Pure: no ORM. Exchanges name spot markets BASE/QUOTE with letters and digits only
(`BTC/USDT`, `1000SHIB/USDT`); anything else (markup, spaces, a third part) is refused here
rather than stored and echoed back.
"""
from __future__ import annotations

import re

from trading.core.errors import ValidationFailed

CURRENCY = re.compile(r"[A-Z0-9]{2,12}")
MAX_ALLOWED_SYMBOLS = 50  # a bot's allow-list; the guard checks every order against it


def clean_currency(raw, *, field: str = "quote_currency") -> str:
    """An upper-case currency code such as USDT; ValidationFailed otherwise."""
    code = str(raw or "").strip().upper()
    if not CURRENCY.fullmatch(code):
        raise ValidationFailed("A currency code is 2 to 12 letters or digits, e.g. USDT.",
                               field=field)
    return code


def clean_symbol(raw, *, field: str = "symbol") -> str:
    """An upper-case BASE/QUOTE market symbol; ValidationFailed otherwise."""
    symbol = str(raw or "").strip().upper()
    base, slash, quote = symbol.partition("/")
    if not slash or not CURRENCY.fullmatch(base) or not CURRENCY.fullmatch(quote):
        raise ValidationFailed("Symbol must read BASE/QUOTE in letters and digits, "
                               "e.g. BTC/USDT.", field=field)
    return symbol


def clean_symbol_list(raw, *, field: str = "allowed_symbols") -> list[str]:
    """A de-duplicated list of at most MAX_ALLOWED_SYMBOLS symbols, in the order given."""
    if raw is None:
        return []
    if not isinstance(raw, list | tuple):
        raise ValidationFailed("Give the symbols as a list, e.g. [\"BTC/USDT\"].", field=field)
    if len(raw) > MAX_ALLOWED_SYMBOLS:
        raise ValidationFailed(f"At most {MAX_ALLOWED_SYMBOLS} symbols may be listed.",
                               field=field)
    return list(dict.fromkeys(clean_symbol(entry, field=field) for entry in raw))


MAX_PAIRS = 20  # a multi-pair bot's pairs, its own symbol included: one bot row ticks each


def clean_pair_list(symbol: str, raw) -> list[str]:
    """A bot's pairs: `symbol` first, then the others of `raw` (a list, or a text of symbols
    separated by commas, spaces or new lines), upper-cased, each once, at most MAX_PAIRS.
    They must share the symbol's quote currency (one capital, one currency to count it in)."""
    if isinstance(raw, str):
        raw = [part for part in re.split(r"[\s,]+", raw) if part]
    if raw is None:
        raw = []
    if not isinstance(raw, list | tuple):
        raise ValidationFailed("Give the pairs as a list, e.g. [\"BTC/USDT\", \"ETH/USDT\"].",
                               field="pairs")
    pairs = list(dict.fromkeys([symbol, *(clean_symbol(entry, field="pairs") for entry in raw)]))
    if len(pairs) > MAX_PAIRS:
        raise ValidationFailed(f"A bot trades at most {MAX_PAIRS} pairs.", field="pairs")
    quote = symbol.partition("/")[2]
    odd = [pair for pair in pairs if pair.partition("/")[2] != quote]
    if odd:
        raise ValidationFailed(f"Every pair must be quoted in {quote}, like {symbol}: "
                               f"{', '.join(odd)} is not.", field="pairs")
    return pairs
