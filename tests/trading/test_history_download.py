"""A market's history downloaded into the shared store: an admin asks, a background task
pages through the exchange with the real ccxt client (against the Binance stand-in), the
Parquet store then holds exactly the candles served, its status file says how it went, and a
backtest on the stored data set reads them. download_ohlcv goes through the same service."""
from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command

from aitrader.errors import Conflict, Forbidden, ValidationFailed
from tenants import events as tenant_events
from tenants.actors import Actor
from tenants.models import AuditEvent, Membership, Role
from tests.base import make_user, owner_actor
from trading.core.history import history_read
from trading.models import BacktestRun
from trading.sampledata import generate
from trading.services.backtests import backtest_run_create
from trading.services.candle_history import (
    DOWNLOAD_EARLIEST_MS,
    history_download_get,
    history_download_request,
    history_downloads_resume,
    history_root,
)

pytestmark = pytest.mark.django_db

START_MS = 1_704_067_200_000  # 2024-01-01T00:00Z
HOUR = 3_600_000
KLINES = "/api/v3/klines"


@pytest.fixture
def served(exchange_markets):
    """2,500 hourly BTC/USDT candles from 2024-01-01 on the stand-in (three pages)."""
    candles = generate("BTC/USDT", "1h", 2500, seed=8, start_ms=START_MS)
    exchange_markets.set_klines("BTC/USDT", "1h", candles.to_rows())
    return candles


@pytest.fixture
def events(monkeypatch):
    """Events published during the test (its own subscriber list: nothing outlives it)."""
    seen: list[tuple[int, str, dict]] = []
    monkeypatch.setattr(tenant_events, "_subscribers", [])
    tenant_events.subscribe(lambda tenant_id, raw: seen.extend(
        (tenant_id, kind, data) for kind, _bot, data in raw))
    return seen


def member(tenant, role: str) -> Actor:
    user = make_user(f"{role}@example.com")
    return Actor.for_member(Membership.objects.create(tenant=tenant, user=user, role=role))


def request(tenant, actor=None, **overrides):
    fields = {"exchange": "binance", "symbol": "BTC/USDT", "timeframe": "1h",
              "since": START_MS} | overrides
    return history_download_request(tenant=tenant, actor=actor or owner_actor(tenant),
                                    **fields)


def test_it_stores_exactly_the_served_candles_in_the_shared_store(
        world, served, exchange_markets, events, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):  # the task runs after the commit
        download = request(world.tenant_a)

    assert download.status == "queued"
    done = history_download_get(tenant=world.tenant_a, download_id=download.id)
    assert (done.status, done.candles, done.added, done.progress) == ("done", 2500, 2500, 100)
    assert (done.first_ms, done.last_ms) == (START_MS, START_MS + 2499 * HOUR)
    stored = history_read(history_root(None), "binance", "BTC/USDT", "1h")
    assert stored.to_rows() == served.to_rows()
    # 1000 + 1000 + 500 per page, then an empty one: nothing newer up to now
    assert exchange_markets.request_count(KLINES) == 4
    assert not history_root(world.tenant_a.pk).joinpath("binance").exists()  # shared, not A's
    statuses = [data["status"] for tenant_id, kind, data in events
                if kind == "history_download" and tenant_id == world.tenant_a.pk]
    assert statuses[0] == "running" and statuses[-1] == "done"
    assert AuditEvent.objects.for_tenant(world.tenant_a).filter(
        action="candles.download", target="binance BTC/USDT 1h").exists()


def test_a_backtest_on_stored_data_reads_the_downloaded_candles(
        world, served, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        request(world.tenant_a)
    with django_capture_on_commit_callbacks(execute=True):
        run = backtest_run_create(tenant=world.tenant_b, actor=owner_actor(world.tenant_b),
                                  strategy="sma_cross", symbol="BTC/USDT", timeframe="1h",
                                  parameters={"fast": 5, "slow": 20},
                                  config={"data": "stored", "cash": "1000"})

    run = BacktestRun.objects.for_tenant(world.tenant_b).get(pk=run.pk)
    assert run.status == BacktestRun.Status.DONE, run.error
    data = run.report["config"]["data"]
    assert (data["set"], data["candles"]) == ("stored", 2500)
    assert (data["start_ms"], data["end_ms"]) == (START_MS, START_MS + 2499 * HOUR)


def test_only_an_admin_or_above_may_ask(world, served):
    with pytest.raises(Forbidden):
        request(world.tenant_a, member(world.tenant_a, Role.TRADER))
    admin = request(world.tenant_a, member(world.tenant_a, Role.ADMIN))
    assert admin.status == "queued"


@pytest.mark.parametrize(("overrides", "field"), [
    ({"exchange": "mtgox"}, "exchange"),
    ({"symbol": "DOGE/USDT"}, "symbol"),
    ({"symbol": "BTCUSDT"}, "symbol"),
    ({"timeframe": "7m"}, "timeframe"),
    ({"since": DOWNLOAD_EARLIEST_MS - 1}, "since"),
    ({"since": "yesterday"}, "since"),
])
def test_bad_input_is_refused_naming_the_field(world, served, overrides, field):
    with pytest.raises(ValidationFailed) as caught:
        request(world.tenant_a, **overrides)
    assert caught.value.field == field


def test_a_start_in_the_future_is_refused(world, served):
    tomorrow = int((datetime.now(UTC) + timedelta(days=1)).timestamp() * 1000)
    with pytest.raises(ValidationFailed) as caught:
        request(world.tenant_a, since=tomorrow)
    assert caught.value.field == "since"
    assert exists_nothing_queued(world.tenant_a)


def exists_nothing_queued(tenant) -> bool:
    return not history_root(tenant.pk).joinpath("downloads").exists()


def test_one_download_per_market_at_a_time_across_tenants(
        world, served, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):  # queued, not run yet
        request(world.tenant_a)
    with pytest.raises(Conflict, match="already being downloaded"):
        request(world.tenant_b)
    other_market = request(world.tenant_b, symbol="ETH/USDT")  # another market may go
    assert other_market.status == "queued"


def test_the_market_is_free_again_once_its_download_finished(
        world, served, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        request(world.tenant_a)
    with django_capture_on_commit_callbacks(execute=True):
        again = request(world.tenant_b)

    done = history_download_get(tenant=world.tenant_b, download_id=again.id)
    assert (done.status, done.candles, done.added) == ("done", 2500, 0)  # nothing new


def test_a_period_without_candles_fails_the_download_with_the_reason(
        world, served, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        download = request(world.tenant_a, symbol="ETH/USDT")  # the stand-in serves none

    failed = history_download_get(tenant=world.tenant_a, download_id=download.id)
    assert failed.status == "failed"
    assert failed.error.startswith("binance returned no ETH/USDT 1h candles")
    with django_capture_on_commit_callbacks(execute=False):
        assert request(world.tenant_b).status == "queued"  # the market was released


def test_download_ohlcv_goes_through_the_same_service(served, exchange_markets, tmp_path,
                                                      settings):
    out = io.StringIO()
    call_command("download_ohlcv", "--exchange", "binance", "--symbol", "BTC/USDT",
                 "--timeframe", "1h", "--since", "2024-01-01",
                 "--until", str(START_MS + 2500 * HOUR), "--out", str(tmp_path / "btc.csv"),
                 stdout=out)

    stored = history_read(settings.AITRADER_HISTORY_DIR, "binance", "BTC/USDT", "1h")
    assert stored.to_rows() == served.to_rows()
    assert "Wrote 2500 candles" in out.getvalue()


def test_downloads_a_stopped_server_left_are_queued_again_at_start(
        world, served, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):  # the server stops: never run
        download = request(world.tenant_a)

    assert history_downloads_resume() == 1  # the job runs in the caller here (no pool)

    done = history_download_get(tenant=world.tenant_a, download_id=download.id)
    assert (done.status, done.candles) == ("done", 2500)
    assert history_downloads_resume() == 0
