"""Stored candle history in: a candle CSV merged into a store, and the uploads that fill a
tenant's own store from the Backtests page.

Two stores, one layout (trading.core.history): the shared one under AITRADER_HISTORY_DIR
(filled by an operator's `download_ohlcv` and `import_candles`; market data every tenant may
backtest on) and one per tenant under AITRADER_TENANT_HISTORY_DIR/<tenant id>/ (its uploads).
An upload never goes into the shared store: a CSV is whatever its uploader says it is, so one
tenant's file must not silently replace the candles another tenant's backtests read.

An upload up to AITRADER_CANDLE_UPLOAD_INLINE_BYTES is imported inside the request (the
column reader takes ~2M rows/s, the row-by-row fallback ~80k rows/s: under half a second);
a larger one, up to AITRADER_CANDLE_UPLOAD_MAX_BYTES, is kept beside the tenant's store and
imported by a job, and its status file says how it went. Status files are the upload's record
(no table): they live under the tenant's directory, so a lookup can only find its own.
"""
from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import uuid
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from aitrader.errors import NotFound, ValidationFailed
from tenants.actors import Actor
from tenants.models import Scope, Tenant
from tenants.services import audit_record
from trading.core.candles import CandleFileError, load_csv
from trading.core.history import (
    HistoryError,
    StoredMarket,
    history_markets,
    history_summary,
    history_write,
    market_dir,
)

logger = logging.getLogger(__name__)
UPLOAD_ID = re.compile(r"[0-9a-f]{32}")
UPLOADS_DIR = "uploads"  # beside the exchange directories; history_markets skips it
RECENT_UPLOADS = 10


@dataclass(frozen=True)
class ImportOutcome:
    """What an import did: candles read, how many were new, and what the store now holds."""

    candles: int
    added: int
    held: StoredMarket


@dataclass(frozen=True)
class CandleUpload:
    """One upload and how its import went (queued, running, done or failed)."""

    id: str
    status: str
    name: str
    size: int
    exchange: str
    symbol: str
    timeframe: str
    created_at: str
    candles: int = 0
    added: int = 0
    first_ms: int | None = None
    last_ms: int | None = None
    error: str = ""

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed")


def history_root(tenant_id: int | None = None) -> Path:
    """The shared store (tenant_id None) or the store of one tenant's uploads."""
    if tenant_id is None:
        return Path(settings.AITRADER_HISTORY_DIR)
    return Path(settings.AITRADER_TENANT_HISTORY_DIR) / str(int(tenant_id))


def stored_market_list(*, tenant_id: int | None = None) -> list[StoredMarket]:
    """What a store holds, market by market (read from the files' footers only)."""
    try:
        return history_markets(history_root(tenant_id))
    except HistoryError:
        logger.exception("stored history is unreadable")
        return []


def check_market_names(exchange: str, symbol: str, timeframe: str) -> None:
    """ValidationFailed naming the one of the three that cannot name a store directory."""
    # market_dir checks all three at once; asking about each with known-good others says
    # which field to blame.
    known = {"exchange": "binance", "symbol": "BTC/USDT", "timeframe": "1m"}
    for field, value in (("exchange", exchange), ("symbol", symbol), ("timeframe", timeframe)):
        try:
            market_dir("", **(known | {field: value}))
        except HistoryError as exc:
            raise ValidationFailed(str(exc), field=field) from None


def candle_history_import(*, root: str | Path, exchange: str, symbol: str, timeframe: str,
                          path: str | Path, shown_name: str | None = None) -> ImportOutcome:
    """Read and check a candle CSV, then merge it into the store at `root`.

    A bad file is a ValidationFailed (field "file") naming the row, with the file called
    `shown_name` when given (an upload's temporary path means nothing to its uploader);
    nothing is stored then. import_candles and the uploads both come through here.
    """
    check_market_names(exchange, symbol, timeframe)
    try:
        candles = load_csv(path)
        added = history_write(root, exchange, symbol, timeframe, candles)
    except CandleFileError as exc:
        message = str(exc) if shown_name is None else str(exc).replace(str(path), shown_name)
        raise ValidationFailed(message, field="file") from None
    held = history_summary(root, exchange, symbol, timeframe)
    return ImportOutcome(candles=len(candles), added=added, held=held)


@transaction.atomic
def candle_upload_create(*, tenant: Tenant, actor: Actor, file: UploadedFile, exchange: str,
                         symbol: str, timeframe: str) -> CandleUpload:
    """Take a candle CSV a member uploaded for one market of the tenant's own store.

    A small file is imported now (the upload comes back done, or ValidationFailed naming the
    bad row and nothing stored); a larger one is kept and queued for a job (it comes back
    queued; candle_upload_get follows it). Too large or empty: ValidationFailed on "file".
    """
    actor.require(Scope.CONTROL)
    symbol = symbol.strip().upper()
    check_market_names(exchange, symbol, timeframe)
    _check_size(file.size)
    upload = CandleUpload(id=uuid.uuid4().hex, status="queued", name=_shown_name(file.name),
                          size=file.size, exchange=exchange, symbol=symbol, timeframe=timeframe,
                          created_at=timezone.now().isoformat())
    directory = _uploads_dir(tenant.pk)
    directory.mkdir(parents=True, exist_ok=True)
    audit_record(tenant=tenant, actor=actor, action="candles.upload",
                 target=f"{exchange} {symbol} {timeframe}",
                 details={"file": upload.name, "bytes": upload.size})
    if file.size <= settings.AITRADER_CANDLE_UPLOAD_INLINE_BYTES:
        return _import_inline(tenant.pk, upload, file)
    _copy(file, directory / f"{upload.id}.csv")
    _save(tenant.pk, upload)
    from trading.tasks import candle_upload_import_task

    transaction.on_commit(lambda: candle_upload_import_task.delay(tenant.pk, upload.id))
    return upload


def candle_upload_execute(*, tenant_id: int, upload_id: str) -> CandleUpload:
    """Import a kept upload into its tenant's store; its status file records the outcome.
    A redelivered job finds a finished upload and leaves it alone."""
    upload = candle_upload_get(tenant=tenant_id, upload_id=upload_id)
    if upload.finished:
        return upload
    kept = _uploads_dir(tenant_id) / f"{upload.id}.csv"
    _save(tenant_id, upload := replace(upload, status="running"))
    try:
        outcome = candle_history_import(root=history_root(tenant_id), exchange=upload.exchange,
                                        symbol=upload.symbol, timeframe=upload.timeframe,
                                        path=kept, shown_name=upload.name)
    except ValidationFailed as exc:
        upload = replace(upload, status="failed", error=exc.message)
    except Exception as exc:  # the upload fails with a reason; the worker carries on
        logger.exception("candle upload %s failed", upload.id)
        upload = replace(upload, status="failed",
                         error=f"The import stopped with an internal error "
                               f"({type(exc).__name__}).")
    else:
        upload = _done(upload, outcome)
    kept.unlink(missing_ok=True)
    _save(tenant_id, upload)
    return upload


def candle_uploads_resume() -> int:
    """Queue again the uploads left queued or running (the embedded server stopped before
    its job pool imported them); returns how many. One whose kept file is gone fails with
    the reason. Safe: a finished upload is left alone, and an import merges idempotently."""
    from trading.tasks import candle_upload_import_task

    resumed = 0
    # Every tenant's directory, by design: the server's start-up sweep, no tenant's request.
    for path in sorted(Path(settings.AITRADER_TENANT_HISTORY_DIR).glob(f"*/{UPLOADS_DIR}/*.json")):
        tenant_dir, upload = path.parent.parent.name, _load(path)
        if upload.finished or not tenant_dir.isdigit():
            continue
        if not path.with_suffix(".csv").is_file():
            _save(int(tenant_dir), replace(upload, status="failed",
                                           error="The server stopped before the import; "
                                                 "upload the file again."))
            continue
        candle_upload_import_task.delay(int(tenant_dir), upload.id)
        resumed += 1
    return resumed


def candle_upload_get(*, tenant: Tenant | int, upload_id: str) -> CandleUpload:
    """One of the tenant's uploads; NotFound for an id that is not one of them."""
    tenant_id = tenant if isinstance(tenant, int) else tenant.pk
    path = _uploads_dir(tenant_id) / f"{upload_id}.json"
    if not UPLOAD_ID.fullmatch(str(upload_id)) or not path.is_file():
        raise NotFound("No such upload.")
    return _load(path)


def candle_upload_list(*, tenant: Tenant) -> list[CandleUpload]:
    """The tenant's latest uploads, newest first."""
    directory = _uploads_dir(tenant.pk)
    if not directory.is_dir():
        return []
    paths = sorted(directory.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    return [_load(path) for path in paths[:RECENT_UPLOADS]]


def _import_inline(tenant_id: int, upload: CandleUpload, file: UploadedFile) -> CandleUpload:
    with tempfile.TemporaryDirectory(prefix="aitrader-upload-") as scratch:
        path = Path(scratch) / "upload.csv"
        _copy(file, path)
        outcome = candle_history_import(root=history_root(tenant_id), exchange=upload.exchange,
                                        symbol=upload.symbol, timeframe=upload.timeframe,
                                        path=path, shown_name=upload.name)
    upload = _done(upload, outcome)
    _save(tenant_id, upload)
    return upload


def _done(upload: CandleUpload, outcome: ImportOutcome) -> CandleUpload:
    return replace(upload, status="done", candles=outcome.candles, added=outcome.added,
                   first_ms=outcome.held.first_ms, last_ms=outcome.held.last_ms)


def candle_upload_size_check(*, size: int) -> None:
    """ValidationFailed ("file") for an upload of `size` bytes that is empty or too large;
    the page calls it too when it stopped reading a body past the limit."""
    _check_size(size)


def _check_size(size: int) -> None:
    limit = settings.AITRADER_CANDLE_UPLOAD_MAX_BYTES
    if size <= 0:
        raise ValidationFailed("The file is empty.", field="file")
    if size > limit:
        raise ValidationFailed(f"The file is {_megabytes(size)}; a candle upload may be at most "
                               f"{_megabytes(limit)}. Split it, or ask an operator to run "
                               f"manage.py import_candles.", field="file")


def _megabytes(size: int) -> str:
    if size >= 2**20:
        return f"{size / 2**20:.1f} MB"
    return f"{size / 2**10:.1f} KB" if size >= 2**10 else f"{size} bytes"


def _shown_name(name: str | None) -> str:
    """The file's own name (no client path), printable, short."""
    base = os.path.basename((name or "upload.csv").replace("\\", "/"))
    return "".join(c for c in base if c.isprintable())[:100] or "upload.csv"


def _uploads_dir(tenant_id: int) -> Path:
    return history_root(tenant_id) / UPLOADS_DIR


def _copy(file: UploadedFile, target: Path) -> None:
    file.seek(0)
    with target.open("wb") as out:
        for chunk in file.chunks():
            out.write(chunk)


def _save(tenant_id: int, upload: CandleUpload) -> None:
    """Write the status file beside the kept upload, atomically (a reader never sees half)."""
    path = _uploads_dir(tenant_id) / f"{upload.id}.json"
    temp = path.with_suffix(".json.tmp")
    temp.write_text(json.dumps(asdict(upload)))
    os.replace(temp, path)


def _load(path: Path) -> CandleUpload:
    return CandleUpload(**json.loads(path.read_text()))

