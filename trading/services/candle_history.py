"""Stored candle history in: a candle CSV merged into a store, the uploads that fill a
tenant's own store from the Backtests page, and the downloads of a market's real history
from its exchange into the shared store (see "Downloads" below).

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
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from aitrader.errors import Conflict, NotFound, ValidationFailed
from tenants.actors import Actor
from tenants.events import publish_now
from tenants.models import Scope, Tenant
from tenants.services import audit_record
from trading.core.candles import CandleFileError, Candles, load_csv
from trading.core.history import (
    HistoryError,
    StoredMarket,
    history_markets,
    history_summary,
    history_write,
    market_dir,
)
from trading.services.accounts import SUPPORTED_EXCHANGES
from trading.services.market import exchange_market_check, market_catalogue_refresh

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
    candle_upload_size_check(size=file.size)
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



# --- Downloads: a market's real history from its exchange into the shared store ------------
# An exchange's candles are the same for every tenant, so a download goes into the SHARED
# store (unlike an upload, which is whatever its uploader says it is): one tenant's download
# serves every tenant's backtests, and nobody downloads the same market twice. Its status
# file lives under the requesting tenant's directory (only that tenant can look it up); a
# claim file per market in the shared store keeps a second download of it from starting.

DOWNLOADS_DIR = "downloads"  # in a tenant's directory (status) and the shared one (claims)
DOWNLOAD_EARLIEST = datetime(2010, 1, 1, tzinfo=UTC)  # before any crypto exchange's candles
DOWNLOAD_EARLIEST_MS = int(DOWNLOAD_EARLIEST.timestamp() * 1000)
# Candles held in memory before they go into the store: about 2 MB of floats, a few writes a
# month of 1-minute candles, and progress the page can follow.
DOWNLOAD_BATCH_ROWS = 20_000
DOWNLOAD_RETRIES = 3
# A claim whose download has not moved for this long was left by a stopped worker: the
# market is free again (a download reports after every page, a few seconds apart).
DOWNLOAD_STALE_SECONDS = 15 * 60


@dataclass(frozen=True)
class HistoryDownload:
    """One requested download and how it went (queued, running, done or failed)."""

    id: str
    status: str
    exchange: str
    symbol: str
    timeframe: str
    since_ms: int
    created_at: str
    updated_at: str
    progress: int = 0
    candles: int = 0
    added: int = 0
    first_ms: int | None = None
    last_ms: int | None = None
    error: str = ""

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed")


@dataclass(frozen=True)
class DownloadOutcome:
    """What a download fetched (candles, their first and last) and how many were new."""

    candles: int
    added: int
    first_ms: int | None
    last_ms: int | None


def download_since_check(since: object) -> int:
    """`since` as epoch ms from 2010-01-01 up to now; ValidationFailed ("since") otherwise.
    The page, the API and the service share these bounds."""
    now_ms = int(timezone.now().timestamp() * 1000)
    if isinstance(since, bool) or not isinstance(since, int):
        raise ValidationFailed("Give the first candle's time as epoch milliseconds.",
                               field="since")
    if since < DOWNLOAD_EARLIEST_MS:
        raise ValidationFailed("The start may not be before 2010-01-01.", field="since")
    if since > now_ms:
        raise ValidationFailed("The start may not be in the future.", field="since")
    return since


@transaction.atomic
def history_download_request(*, tenant: Tenant, actor: Actor, exchange: str, symbol: str,
                             timeframe: str, since: int) -> HistoryDownload:
    """Queue a download of one market's history from its exchange into the shared store
    (an admin or above, or a key with the `admin` scope).

    The market must be listed by the exchange itself (its cached market list, whatever this
    server's feed replays; a well-formed market passes while the list is not cached, and the
    job records the exchange's answer) and `since` within 2010-01-01..now (ValidationFailed
    naming the field); a market already being downloaded is a Conflict. The job pages
    through the exchange; history_download_get follows it.
    """
    actor.require(Scope.ADMIN)
    if exchange not in SUPPORTED_EXCHANGES:
        raise ValidationFailed(f"Choose one of {', '.join(SUPPORTED_EXCHANGES)}.",
                               field="exchange")
    symbol = symbol.strip().upper()
    check_market_names(exchange, symbol, timeframe)
    exchange_market_check(exchange_id=exchange, symbol=symbol, timeframe=timeframe)
    since = download_since_check(since)
    now = timezone.now().isoformat()
    download = HistoryDownload(id=uuid.uuid4().hex, status="queued", exchange=exchange,
                               symbol=symbol, timeframe=timeframe, since_ms=since,
                               created_at=now, updated_at=now)
    _claim_market(tenant.pk, download)
    _save_download(tenant.pk, download)
    audit_record(tenant=tenant, actor=actor, action="candles.download",
                 target=f"{exchange} {symbol} {timeframe}", details={"since_ms": since})
    from trading.tasks import history_download_task

    transaction.on_commit(lambda: history_download_task.delay(tenant.pk, download.id))
    return download


def history_download_execute(*, tenant_id: int, download_id: str) -> HistoryDownload:
    """Run a queued download to the end; its status file (and the tenant's live feed, as
    "history_download" events) records progress and outcome. A redelivered job finds a
    finished download and leaves it alone."""
    download = history_download_get(tenant=tenant_id, download_id=download_id)
    if download.finished:
        return download
    download = _download_set(tenant_id, download, status="running")
    try:
        _listed_check(download)
        outcome = history_download_fetch(
            exchange=download.exchange, symbol=download.symbol, timeframe=download.timeframe,
            since_ms=download.since_ms,
            progress=lambda percent: _download_progress(tenant_id, download, percent))
        if not outcome.candles:
            raise ValidationFailed(f"{download.exchange} returned no {download.symbol} "
                                   f"{download.timeframe} candles since the start asked for.")
    except ValidationFailed as exc:
        download = _download_set(tenant_id, download, status="failed", error=exc.message)
    except Exception as exc:  # the download fails with a reason; the worker carries on
        download = _download_set(tenant_id, download, status="failed",
                                 error=_download_error(download, exc))
    else:
        download = _download_set(tenant_id, download, status="done", progress=100,
                                 candles=outcome.candles, added=outcome.added,
                                 first_ms=outcome.first_ms, last_ms=outcome.last_ms)
    _release_market(download)
    return download


def _listed_check(download: HistoryDownload) -> None:
    """ValidationFailed unless the exchange, asked now (this is the job, it may wait; the
    answer refreshes the shared list), lists the market; passes when it did not answer."""
    catalogue = market_catalogue_refresh(exchange_id=download.exchange)
    if catalogue is not None:
        exchange_market_check(exchange_id=download.exchange, symbol=download.symbol,
                              timeframe=download.timeframe, catalogue=catalogue)


def history_downloads_resume() -> int:
    """Queue again the downloads left queued or running (the embedded server stopped before
    its job pool finished them); returns how many. Safe: a finished download is left alone,
    and the store merges candles it holds already."""
    from trading.tasks import history_download_task

    resumed = 0
    # Every tenant's directory, by design: the server's start-up sweep, no tenant's request.
    root = Path(settings.AITRADER_TENANT_HISTORY_DIR)
    for path in sorted(root.glob(f"*/{DOWNLOADS_DIR}/*.json")):
        tenant_dir = path.parent.parent.name
        download = HistoryDownload(**json.loads(path.read_text()))
        if tenant_dir.isdigit() and not download.finished:
            history_download_task.delay(int(tenant_dir), download.id)
            resumed += 1
    return resumed


def history_download_fetch(*, exchange: str, symbol: str, timeframe: str, since_ms: int,
                           until_ms: int | None = None, urls_api: str | None = None,
                           retries: int = DOWNLOAD_RETRIES,
                           progress: Callable[[int], None] | None = None) -> DownloadOutcome:
    """Page through `exchange`'s public candles of one market from `since_ms` up to
    `until_ms` (default now, closed candles only) and merge them into the shared store as
    they come, `DOWNLOAD_BATCH_ROWS` at a time; `progress` hears the percent of the period
    covered. download_ohlcv and the download jobs both come through here.

    Exchange errors (TemporaryExchangeError, PermanentExchangeError) and HistoryError are
    raised for the caller to word; what was stored before the error stays stored.
    """
    from trading.exchanges.live import fetch_ohlcv_pages

    check_market_names(exchange, symbol, timeframe)
    until_ms = until_ms or int(timezone.now().timestamp() * 1000)
    client = _public_client(exchange, urls_api)
    rows: list[list] = []
    fetched, added, first_ms, last_ms = 0, 0, None, None
    try:
        for page in fetch_ohlcv_pages(client, symbol, timeframe, since_ms, until_ms,
                                      retries=retries):
            rows.extend(page)
            fetched, last_ms = fetched + len(page), int(page[-1][0])
            first_ms = int(rows[0][0]) if first_ms is None else first_ms
            if len(rows) >= DOWNLOAD_BATCH_ROWS:
                added += _store_rows(exchange, symbol, timeframe, rows)
                rows = []
            if progress is not None:
                progress(min(99, int(100 * (last_ms - since_ms) / max(until_ms - since_ms, 1))))
        added += _store_rows(exchange, symbol, timeframe, rows)
    finally:
        client.close()
    return DownloadOutcome(candles=fetched, added=added, first_ms=first_ms, last_ms=last_ms)


def history_download_get(*, tenant: Tenant | int, download_id: str) -> HistoryDownload:
    """One of the tenant's downloads; NotFound for an id that is not one of them."""
    tenant_id = tenant if isinstance(tenant, int) else tenant.pk
    path = _downloads_dir(tenant_id) / f"{download_id}.json"
    if not UPLOAD_ID.fullmatch(str(download_id)) or not path.is_file():
        raise NotFound("No such download.")
    return HistoryDownload(**json.loads(path.read_text()))


def history_download_list(*, tenant: Tenant) -> list[HistoryDownload]:
    """The tenant's latest downloads, newest first."""
    directory = _downloads_dir(tenant.pk)
    if not directory.is_dir():
        return []
    paths = sorted(directory.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    return [HistoryDownload(**json.loads(path.read_text())) for path in paths[:RECENT_UPLOADS]]


def _public_client(exchange: str, urls_api: str | None):
    """A credential-less ccxt client of `exchange` (honouring set_live_connection), or one
    pointed at `urls_api`; imported here so ccxt loads only where a download runs."""
    from trading.exchanges.live import LiveExchange
    from trading.exchanges.live_clients import live_exchange_for_keys

    if urls_api is not None:
        return LiveExchange(exchange, urls_api=urls_api)
    return live_exchange_for_keys(exchange, None, None)


def _store_rows(exchange: str, symbol: str, timeframe: str, rows: list[list]) -> int:
    if not rows:
        return 0
    return history_write(history_root(None), exchange, symbol, timeframe,
                         Candles.from_rows(rows))


def _download_error(download: HistoryDownload, exc: Exception) -> str:
    """A failure's reason, safe to show (exchange errors carry no credentials: the client
    is public)."""
    from trading.exchanges.base import PermanentExchangeError, TemporaryExchangeError

    if isinstance(exc, TemporaryExchangeError):
        return f"Cannot reach {download.exchange} now (try again later): {exc}"
    if isinstance(exc, PermanentExchangeError):
        return f"{download.exchange} refused the download: {exc}"
    logger.exception("history download %s failed", download.id)
    return f"The download stopped with an internal error ({type(exc).__name__})."


def _download_progress(tenant_id: int, download: HistoryDownload, percent: int) -> None:
    _download_set(tenant_id, download, status="running", progress=percent)


def _download_set(tenant_id: int, download: HistoryDownload, **fields) -> HistoryDownload:
    """Save the download with `fields` changed and tell the tenant's live feed."""
    download = replace(download, updated_at=timezone.now().isoformat(), **fields)
    _save_download(tenant_id, download)
    publish_now(tenant_id, "history_download", None,
                {"id": download.id, "status": download.status, "progress": download.progress,
                 "error": download.error})
    return download


def _downloads_dir(tenant_id: int) -> Path:
    return history_root(tenant_id) / DOWNLOADS_DIR


def _save_download(tenant_id: int, download: HistoryDownload) -> None:
    directory = _downloads_dir(tenant_id)
    directory.mkdir(parents=True, exist_ok=True)
    _write_json(directory / f"{download.id}.json", asdict(download))


def _claim_path(download: HistoryDownload) -> Path:
    # The names were checked by market_dir: letters, digits and `_` only.
    pair = download.symbol.replace("/", "-")
    return (history_root(None) / DOWNLOADS_DIR
            / f"{download.exchange}-{pair}-{download.timeframe}.json")


def _claim_market(tenant_id: int, download: HistoryDownload) -> None:
    """Take the market for this download; Conflict while another download holds it and is
    still alive (unfinished, and moved within DOWNLOAD_STALE_SECONDS)."""
    path = _claim_path(download)
    path.parent.mkdir(parents=True, exist_ok=True)
    claim = {"tenant": tenant_id, "download": download.id}
    try:
        with open(path, "x") as new:  # atomic: of two requests at once, one creates it
            json.dump(claim, new)
        return
    except FileExistsError:
        if _claim_alive(path):
            raise Conflict(f"{download.exchange} {download.symbol} {download.timeframe} is "
                           "already being downloaded; its history is shared, so wait for "
                           "that download to finish.") from None
    _write_json(path, claim)


def _claim_alive(path: Path) -> bool:
    try:
        claim = json.loads(path.read_text())
        holder = history_download_get(tenant=int(claim["tenant"]),
                                      download_id=str(claim["download"]))
    except (OSError, ValueError, KeyError, TypeError, NotFound):
        return False  # a claim nobody can follow holds nothing
    if holder.finished:
        return False
    idle = timezone.now() - datetime.fromisoformat(holder.updated_at)
    return idle.total_seconds() < DOWNLOAD_STALE_SECONDS


def _release_market(download: HistoryDownload) -> None:
    """Free the market, unless a later download has taken over a claim thought stale."""
    path = _claim_path(download)
    try:
        if json.loads(path.read_text()).get("download") == download.id:
            path.unlink()
    except (OSError, ValueError, AttributeError):
        pass


def _write_json(path: Path, data: dict) -> None:
    """Write atomically (a reader never sees half)."""
    temp = path.with_suffix(".json.tmp")
    temp.write_text(json.dumps(data))
    os.replace(temp, path)
