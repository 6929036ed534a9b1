"""Trades as CSV, streamed in chunks: constant memory whatever the row count.

Text cells that a spreadsheet would read as a formula (starting with = + - @ TAB CR) are
prefixed with a quote; numeric and date columns are written as they are.
"""
from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterator
from itertools import islice

from asgiref.sync import sync_to_async
from django.db.models import QuerySet

HEADER = ["id", "bot", "symbol", "status", "amount", "entry_price", "exit_price",
          "entry_time", "exit_time", "fees", "pnl", "pnl_pct", "exit_reason"]
COLUMNS = ["id", "bot__name", "symbol", "status", "amount", "entry_price", "exit_price",
           "entry_time", "exit_time", "fees", "pnl", "pnl_pct", "exit_reason"]
TEXT_COLUMNS = {1, 2, 3, 12}
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CHUNK_ROWS = 2000


def neutralise(value: str) -> str:
    """A text cell a spreadsheet will not evaluate."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def _cell(index: int, value) -> str:
    if value is None:
        return ""
    if index in TEXT_COLUMNS:
        return neutralise(str(value))
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


# RFC 4180 line ends: the csv module then quotes any cell holding a CR or LF, so a name with
# a bare CR cannot end the row early and start the next one with a formula.
LINE_END = "\r\n"


def _render(rows) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=LINE_END)
    writer.writerows([_cell(i, v) for i, v in enumerate(row)] for row in rows)
    return buffer.getvalue()


def _header() -> str:
    return ",".join(HEADER) + LINE_END


def trade_rows(trades: QuerySet) -> Iterator:
    """Tuples of the export columns, read with a server-side cursor where the DB has one."""
    return trades.values_list(*COLUMNS).iterator(chunk_size=CHUNK_ROWS)


def csv_chunks(trades: QuerySet) -> Iterator[str]:
    """The CSV as text chunks, for WSGI streaming."""
    yield _header()
    rows = trade_rows(trades)
    while chunk := list(islice(rows, CHUNK_ROWS)):
        yield _render(chunk)


async def csv_chunks_async(trades: QuerySet) -> AsyncIterator[str]:
    """The same chunks for ASGI, where a sync iterator would be buffered whole."""
    yield _header()
    rows = await sync_to_async(trade_rows, thread_sensitive=True)(trades)
    next_chunk = sync_to_async(lambda: list(islice(rows, CHUNK_ROWS)), thread_sensitive=True)
    while chunk := await next_chunk():
        yield _render(chunk)
