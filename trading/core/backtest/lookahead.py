"""Lookahead check: a strategy must give the same past signals when the future is cut off.

A live tick only ever sees closed candles. If signals over candles[:cut] differ from the
first `cut` signals over the whole data, the strategy peeked at candles after the one it
decided on, and its backtest is too good to be true. The report says so.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from trading.core.backtest.report import iso_times
from trading.core.candles import Candles
from trading.core.strategies import Strategy

DEFAULT_CUTS = 4
MAX_REPORTED = 10


def cut_points(count: int, warmup: int, cuts: int = DEFAULT_CUTS) -> list[int]:
    """Lengths to truncate to: spread from just after warm-up to one candle short of the end.

    The last cut drops only the final candle, which catches a strategy that reads one candle
    ahead; earlier cuts catch those that normalise by the whole series (its max, its mean).
    """
    first = min(warmup + 2, count - 1)
    if count < 3 or first < 1:
        return []
    return sorted({int(cut) for cut in np.linspace(first, count - 1, cuts)})


def check_lookahead(strategy: type[Strategy], candles: Candles, params: dict[str, Any],
                    signals: np.ndarray | None = None, *, cuts: int = DEFAULT_CUTS,
                    progress: Callable[[float], None] | None = None) -> dict[str, Any]:
    """Re-run `strategy` on truncated data and report every cut where a past signal changed.

    Returns {"ok", "cuts", "mismatches": [{"cut", "index", "time", "full", "truncated",
    "changed"}], "message"}; `signals` are the full-data signals when already computed.
    """
    full = strategy.signals(candles, params) if signals is None else signals
    points = cut_points(len(candles), strategy.warmup(params), cuts)
    mismatches = []
    for done, cut in enumerate(points, start=1):
        mismatch = _compare(strategy, candles, params, full, cut)
        if mismatch is not None and len(mismatches) < MAX_REPORTED:
            mismatches.append(mismatch)
        if progress is not None:
            progress(done / len(points))
    return {"ok": not mismatches, "cuts": points, "mismatches": mismatches,
            "message": _message(strategy, points, mismatches)}


def _compare(strategy: type[Strategy], candles: Candles, params: dict[str, Any],
             full: np.ndarray, cut: int) -> dict[str, Any] | None:
    truncated = strategy.signals(candles[:cut], params)
    changed = np.flatnonzero(truncated != full[:cut])
    if changed.shape[0] == 0:
        return None
    index = int(changed[0])
    return {"cut": cut, "index": index, "time": iso_times(candles.timestamp[[index]])[0],
            "full": int(full[index]), "truncated": int(truncated[index]),
            "changed": int(changed.shape[0])}


def _message(strategy: type[Strategy], points: list[int],
             mismatches: list[dict[str, Any]]) -> str:
    if not points:
        return "Too few candles to check for lookahead."
    if not mismatches:
        return f"No lookahead: {strategy.key} reproduced every earlier signal at {len(points)} " \
               f"cut(s)."
    first = mismatches[0]
    return (f"LOOKAHEAD: {strategy.key} changed its signal at {first['time']} (candle "
            f"{first['index']}) from {first['truncated']} to {first['full']} once candles after "
            f"{first['cut'] - 1} were added; its results use future data.")
