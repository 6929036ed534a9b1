"""OHLCV candles as NumPy columns, and the one CSV format the project reads and writes.

File format: a header `timestamp,open,high,low,close,volume` (any case), then one row per
candle in ascending time; timestamp is epoch milliseconds or ISO-8601. Loading checks every
row and names the first bad one, so a user can fix the file.
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")


class CandleFileError(ValueError):
    """A candle file that cannot be used; the message names the file and row."""


@dataclass(frozen=True)
class Candles:
    """Columns of equal length; timestamp in epoch ms (int64), prices/volume float64."""

    timestamp: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __len__(self) -> int:
        return int(self.timestamp.shape[0])

    def __getitem__(self, index: slice) -> Candles:
        if not isinstance(index, slice):
            raise TypeError("Candles supports slices only; index the columns directly.")
        return Candles(*(getattr(self, name)[index] for name in COLUMNS))

    @classmethod
    def from_rows(cls, rows) -> Candles:
        """From ccxt-style rows `[ts_ms, open, high, low, close, volume]`."""
        array = np.asarray(rows, dtype=np.float64).reshape(-1, 6)
        return cls(array[:, 0].astype(np.int64), *(array[:, i].copy() for i in range(1, 6)))

    def to_rows(self) -> list[list[float]]:
        return [[int(t), float(o), float(h), float(lo), float(c), float(v)] for t, o, h, lo, c, v
                in zip(self.timestamp, self.open, self.high, self.low, self.close, self.volume,
                       strict=True)]


def parse_timestamp(raw: str) -> int:
    """Epoch milliseconds from epoch ms digits or an ISO-8601 string (naive means UTC)."""
    text = raw.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _parse_row(row: list[str], line: int, path: Path) -> tuple[float, ...]:
    if len(row) != 6:
        raise CandleFileError(f"{path}: row {line}: expected 6 columns, found {len(row)}.")
    try:
        timestamp = parse_timestamp(row[0])
    except ValueError:
        raise CandleFileError(
            f"{path}: row {line}: timestamp {row[0]!r} is neither epoch ms nor ISO-8601."
        ) from None
    values = []
    for name, raw in zip(COLUMNS[1:], row[1:], strict=True):
        try:
            value = float(raw)
        except ValueError:
            raise CandleFileError(f"{path}: row {line}: {name} {raw!r} is not a number.") from None
        if not math.isfinite(value) or value < 0:
            raise CandleFileError(f"{path}: row {line}: {name} {raw!r} must be a finite number "
                                  f">= 0.")
        values.append(value)
    open_, high, low, close, _volume = values
    if high < max(open_, close, low) or low > min(open_, close):
        raise CandleFileError(f"{path}: row {line}: high/low do not contain open and close.")
    return (timestamp, *values)


def load_csv(path: str | Path) -> Candles:
    """Read and validate a candle file; raises CandleFileError naming the first bad row."""
    path = Path(path)
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise CandleFileError(f"{path}: cannot open ({exc.strerror}).") from None
    with handle:
        reader = csv.reader(handle)
        header = [c.strip().lower() for c in next(reader, [])]
        if tuple(header) != COLUMNS:
            raise CandleFileError(f"{path}: row 1: header must be {','.join(COLUMNS)}.")
        rows = []
        try:
            for line, row in enumerate(reader, start=2):
                if not row or all(not c.strip() for c in row):
                    continue
                parsed = _parse_row(row, line, path)
                if rows and parsed[0] <= rows[-1][0]:
                    raise CandleFileError(f"{path}: row {line}: timestamps must increase.")
                rows.append(parsed)
        except (UnicodeDecodeError, csv.Error) as exc:
            raise CandleFileError(f"{path}: row {reader.line_num}: unreadable ({exc}).") from None
    if not rows:
        raise CandleFileError(f"{path}: holds no candles.")
    return Candles.from_rows(rows)


def write_csv(path: str | Path, candles: Candles) -> None:
    """Write candles in the project's format (epoch ms timestamps)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for row in candles.to_rows():
            writer.writerow([row[0], *(repr(v) for v in row[1:])])
