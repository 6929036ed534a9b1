"""Trades as CSV, streamed in chunks: constant memory whatever the row count.

Text cells that a spreadsheet would read as a formula (starting with = + - @ TAB CR) are
prefixed with a quote; numbers are written in fixed point, times in ISO 8601 (UTC).

On PostgreSQL the database writes the CSV itself (COPY (query) TO STDOUT) and its output
passes through in blocks of about 64 KB: over 200k rows/s where formatting every cell in
Python managed ~40k (bench/export.py). Elsewhere (SQLite, the embedded default) Python writes
the same cells. Either way a cell holding a CR or LF is quoted, so a line break in a name
cannot end the row early; rows end in LF from PostgreSQL and CRLF from Python.
"""
from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Callable, Iterator
from decimal import Decimal
from itertools import islice
from typing import TypeVar

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.db import connections
from django.db.models import F, Func, QuerySet, TextField
from django.http import StreamingHttpResponse

T = TypeVar("T")

HEADER = ["id", "bot", "symbol", "status", "amount", "entry_price", "exit_price",
          "entry_time", "exit_time", "fees", "pnl", "pnl_pct", "exit_reason"]
COLUMNS = ["id", "bot__name", "symbol", "status", "amount", "entry_price", "exit_price",
           "entry_time", "exit_time", "fees", "pnl", "pnl_pct", "exit_reason"]
TEXT_COLUMNS = {1, 2, 3, 12}
TIME_COLUMNS = {7, 8}
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CHUNK_ROWS = 2000
COPY_BLOCK_BYTES = 64 * 1024


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
    if isinstance(value, Decimal):
        return format(value, "f")  # fixed point, as PostgreSQL writes it (never 0E-12)
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


def _python_blocks(trades: QuerySet) -> Iterator[str]:
    rows = trade_rows(trades)
    while chunk := list(islice(rows, CHUNK_ROWS)):
        yield _render(chunk)


# --- PostgreSQL: the database writes the cells ------------------------------------------------

class _Neutralised(Func):
    """`neutralise` in SQL; an empty text becomes NULL so COPY writes an empty cell, not ""."""

    output_field = TextField()
    template = ("CASE WHEN left(%(expressions)s, 1) IN ('=', '+', '-', '@', chr(9), chr(13)) "
                "THEN '''' || %(expressions)s ELSE NULLIF(%(expressions)s, '') END")


class _IsoTime(Func):
    """A time as `datetime.isoformat()` writes it in UTC (microseconds only when it has some)."""

    output_field = TextField()
    template = ("to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') || "
                "CASE WHEN date_trunc('second', %(expressions)s) = %(expressions)s THEN '' "
                "ELSE to_char(%(expressions)s AT TIME ZONE 'UTC', '.US') END || '+00:00'")


def _copy_statement(trades: QuerySet) -> tuple[str, tuple]:
    """COPY of the export columns of `trades` (its filters and order kept) as CSV."""
    cells = {}
    for index, column in enumerate(COLUMNS):
        cell = F(column)
        if index in TEXT_COLUMNS:
            cell = _Neutralised(cell)
        elif index in TIME_COLUMNS:
            cell = _IsoTime(cell)
        cells[f"cell_{index}"] = cell
    sql, params = trades.annotate(**cells).values_list(*cells).query.sql_with_params()
    return f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", params


def _copy_blocks(trades: QuerySet) -> Iterator[bytes]:
    """The rows as PostgreSQL writes them, in blocks of about COPY_BLOCK_BYTES. Closing the
    generator early (the client went away) cancels the COPY and frees the connection."""
    statement, params = _copy_statement(trades)
    with connections[trades.db].cursor() as cursor, \
            cursor.cursor.copy(statement, params) as copy:  # psycopg binds params client-side
        pending, size = [], 0
        while data := copy.read():
            pending.append(data)
            size += len(data)
            if size >= COPY_BLOCK_BYTES:
                yield b"".join(pending)
                pending, size = [], 0
        if pending:
            yield b"".join(pending)


# --- Streams ------------------------------------------------------------------------------------

def _row_blocks(trades: QuerySet) -> Iterator[str | bytes]:
    if connections[trades.db].vendor == "postgresql":
        return _copy_blocks(trades)
    return _python_blocks(trades)


def csv_chunks(trades: QuerySet) -> Iterator[str | bytes]:
    """The CSV in chunks (the header, then blocks of rows), for WSGI streaming."""
    yield _header()
    yield from _row_blocks(trades)


async def in_sync_thread(make_iterator: Callable[[], Iterator[T]]) -> AsyncIterator[T]:
    """An async view of a sync iterator for ASGI streaming (a sync iterator would be buffered
    whole). It is made, read and closed in the request's one sync thread, where its database
    connection and server-side cursor live."""
    items = await sync_to_async(make_iterator, thread_sensitive=True)()
    next_item = sync_to_async(lambda: next(items, None), thread_sensitive=True)
    try:
        while (item := await next_item()) is not None:
            yield item
    finally:
        await sync_to_async(items.close, thread_sensitive=True)()


def streaming_csv(request, make_chunks: Callable[[], Iterator[str | bytes]],
                  filename: str) -> StreamingHttpResponse:
    """A CSV download streamed in constant memory under WSGI and ASGI alike."""
    chunks = (in_sync_thread(make_chunks) if isinstance(request, ASGIRequest)
              else make_chunks())
    response = StreamingHttpResponse(chunks, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
