"""A candle CSV uploaded on the Backtests page fills the workspace's own stored history: small
files at once, large ones by a job with a status page; a bad file is refused naming its row
and loses nothing; another workspace neither sees nor overwrites it."""
from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tenants.models import AuditEvent, Membership, Role
from tests.base import make_user
from trading.core.backtest.synthetic import random_walk_candles
from trading.core.candles import write_csv
from trading.core.history import history_read, history_summary
from trading.models import BacktestRun
from trading.services.candle_history import history_root

JAN_1 = 1_704_067_200_000  # 2024-01-01T00:00Z
HOUR = 3_600_000
MARKET = {"exchange": "binance", "symbol": "sol/usdt", "timeframe": "1h"}


@pytest.fixture(autouse=True)
def stores(settings, tmp_path):
    settings.AITRADER_HISTORY_DIR = str(tmp_path / "history")
    settings.AITRADER_TENANT_HISTORY_DIR = str(tmp_path / "tenant-history")


def csv_file(candles, name: str = "sol.csv") -> SimpleUploadedFile:
    buffer = io.StringIO()
    buffer.write("timestamp,open,high,low,close,volume\n")
    for row in candles.to_rows():
        buffer.write(",".join(repr(value) for value in row) + "\n")
    return SimpleUploadedFile(name, buffer.getvalue().encode(), content_type="text/csv")


def hourly(count: int, *, seed: int = 1, start_ms: int = JAN_1):
    return random_walk_candles(count, seed=seed, start_ms=start_ms, timeframe_ms=HOUR)


def upload(client, file, **market):
    return client.post(reverse("dashboard:backtest_upload"), {**MARKET, **market, "file": file})


def stored(tenant) -> list[list[float]]:
    return history_read(history_root(tenant.pk), "binance", "SOL/USDT", "1h").to_rows()


def test_a_small_csv_is_imported_at_once_into_the_workspaces_own_history(world, alice,
                                                                         settings):
    candles = hourly(200)

    response = upload(alice, csv_file(candles))

    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard:backtests")
    assert stored(world.tenant_a) == candles.to_rows()
    assert history_summary(settings.AITRADER_HISTORY_DIR, "binance", "SOL/USDT", "1h") is None
    page = alice.get(response["Location"]).content.decode()
    assert "Imported 200 candles of SOL/USDT 1h (200 new)" in page
    assert "Your upload · binance" in page
    assert AuditEvent.objects.for_tenant(world.tenant_a).filter(action="candles.upload").exists()


def test_a_backtest_runs_on_the_upload(world, alice, django_capture_on_commit_callbacks):
    upload(alice, csv_file(hourly(300)))

    with django_capture_on_commit_callbacks(execute=True):
        alice.post(reverse("dashboard:backtest_new"), {
            "strategy": "sma_cross", "symbol": "SOL/USDT", "timeframe": "1h", "cash": "1000",
            "data": "upload", "param_fast": "5", "param_slow": "20"})

    run = BacktestRun.objects.for_tenant(world.tenant_a).get()
    assert run.status == BacktestRun.Status.DONE, run.error
    assert run.report["config"]["data"]["set"] == "upload"
    assert run.report["period"]["candles"] == 300


def test_a_bad_csv_is_refused_naming_the_row_and_loses_nothing(world, alice):
    good = hourly(100)
    upload(alice, csv_file(good))
    rows = "timestamp,open,high,low,close,volume\n" \
           f"{JAN_1 + 500 * HOUR},10,11,9,10,1\n{JAN_1 + 501 * HOUR},10,9,11,10,1\n"

    response = upload(alice, SimpleUploadedFile("broken.csv", rows.encode()))

    assert response.status_code == 200
    errors = response.context["upload_form"].errors["file"]
    assert errors == ["broken.csv: row 3: high/low do not contain open and close."]
    assert "broken.csv: row 3" in response.content.decode()
    assert stored(world.tenant_a) == good.to_rows()  # what was stored is untouched


def test_an_oversized_file_is_refused_before_it_is_read(world, alice, settings):
    settings.AITRADER_CANDLE_UPLOAD_MAX_BYTES = 1000

    response = upload(alice, csv_file(hourly(100)))

    assert response.status_code == 200
    (error,) = response.context["upload_form"].errors["file"]
    assert "KB; a candle upload may be at most 1000 bytes" in error
    assert "import_candles" in error
    assert not history_root(world.tenant_a.pk).joinpath("binance").exists()
    assert response.wsgi_request.upload_too_large  # the body stopped being read at the limit
    assert "file" not in response.wsgi_request.FILES


def test_an_empty_file_or_a_bad_market_is_a_field_error(alice):
    empty = upload(alice, SimpleUploadedFile("empty.csv", b""))
    assert "file" in empty.context["upload_form"].errors

    symbol = upload(alice, csv_file(hourly(10)), symbol="SOLUSDT")
    assert "BASE/QUOTE" in symbol.context["upload_form"].errors["symbol"][0]
    exchange = upload(alice, csv_file(hourly(10)), exchange="../../etc")
    assert "exchange" in exchange.context["upload_form"].errors


def test_a_large_file_is_imported_by_a_job_with_a_status_page(world, alice, settings,
                                                              django_capture_on_commit_callbacks):
    settings.AITRADER_CANDLE_UPLOAD_INLINE_BYTES = 100  # this file is "large"
    candles = hourly(500)

    with django_capture_on_commit_callbacks(execute=True):  # the job runs after the commit
        response = upload(alice, csv_file(candles))

    assert response.status_code == 302
    status_url = response["Location"]
    assert status_url.startswith("/backtests/uploads/")
    page = alice.get(status_url)
    assert page.context["upload"].status == "done"
    assert "Imported 500 candles (500 new)" in page.content.decode()
    assert stored(world.tenant_a) == candles.to_rows()
    kept = history_root(world.tenant_a.pk) / "uploads"
    assert not list(kept.glob("*.csv"))  # the kept file is gone once imported


def test_a_large_bad_file_fails_its_job_with_the_row_and_stores_nothing(
        world, alice, settings, django_capture_on_commit_callbacks):
    settings.AITRADER_CANDLE_UPLOAD_INLINE_BYTES = 10
    rows = "timestamp,open,high,low,close,volume\n" \
           f"{JAN_1},10,11,9,10,1\n{JAN_1 + HOUR},ten,11,9,10,1\n"

    with django_capture_on_commit_callbacks(execute=True):
        response = upload(alice, SimpleUploadedFile("big.csv", rows.encode()))

    page = alice.get(response["Location"])
    assert page.context["upload"].status == "failed"
    assert "big.csv: row 3: open &#x27;ten&#x27; is not a number." in page.content.decode()
    assert not history_root(world.tenant_a.pk).joinpath("binance").exists()


def test_a_queued_upload_page_reloads_itself_until_done(world, alice, settings,
                                                        django_capture_on_commit_callbacks):
    settings.AITRADER_CANDLE_UPLOAD_INLINE_BYTES = 100
    with django_capture_on_commit_callbacks(execute=False):  # no job has run yet
        response = upload(alice, csv_file(hourly(50)))

    html = alice.get(response["Location"]).content.decode()
    assert '<meta http-equiv="refresh"' in html
    assert "Waiting for a worker" in html


def test_another_workspaces_upload_is_a_404_and_never_overwritten(world, alice, client,
                                                                  settings,
                                                                  django_capture_on_commit_callbacks):
    settings.AITRADER_CANDLE_UPLOAD_INLINE_BYTES = 100
    mine = hourly(100)
    with django_capture_on_commit_callbacks(execute=True):
        status_url = upload(alice, csv_file(mine))["Location"]

    client.force_login(world.charlie)
    assert client.get(status_url).status_code == 404
    theirs = hourly(100, seed=9)
    with django_capture_on_commit_callbacks(execute=True):
        upload(client, csv_file(theirs))  # the same market, in B's own history

    assert stored(world.tenant_a) == mine.to_rows()
    assert stored(world.tenant_b) == theirs.to_rows()
    assert client.get("/backtests/uploads/not-an-id/").status_code == 404


def test_a_viewer_cannot_upload(world, client):
    bob = world.bob
    client.force_login(bob)

    response = upload(client, csv_file(hourly(10)))

    assert response.status_code == 200
    assert response.context["upload_form"].non_field_errors()
    assert not history_root(world.tenant_a.pk).joinpath("binance").exists()


def test_the_upload_form_opened_with_get_leads_back_to_the_page(alice):
    response = alice.get(reverse("dashboard:backtest_upload"))
    assert response["Location"] == reverse("dashboard:backtests")


def test_import_candles_uses_the_same_service(tmp_path, settings):
    from django.core.management import call_command

    candles = hourly(50)
    write_csv(tmp_path / "a.csv", candles)
    out = io.StringIO()
    call_command("import_candles", str(tmp_path / "a.csv"), "--exchange", "binance",
                 "--symbol", "SOL/USDT", "--timeframe", "1h", stdout=out)
    assert out.getvalue().startswith("Imported 50 candles (50 new)")
    assert history_summary(settings.AITRADER_HISTORY_DIR, "binance", "SOL/USDT", "1h").count == 50


def test_a_trader_may_upload(world, client):
    trader = make_user("trader@example.com")
    Membership.objects.create(tenant=world.tenant_a, user=trader, role=Role.TRADER)
    client.force_login(trader)

    assert upload(client, csv_file(hourly(10))).status_code == 302


def test_an_upload_without_the_csrf_token_is_refused(world):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(world.alice)

    response = upload(browser, csv_file(hourly(10)))

    assert response.status_code == 403
    assert not history_root(world.tenant_a.pk).joinpath("binance").exists()


def test_uploads_a_stopped_server_left_are_queued_again_at_start(
        world, alice, settings, django_capture_on_commit_callbacks):
    from trading.services.candle_history import candle_upload_get, candle_uploads_resume

    settings.AITRADER_CANDLE_UPLOAD_INLINE_BYTES = 100
    candles = hourly(80)
    with django_capture_on_commit_callbacks(execute=False):  # the server stops: never run
        kept = upload(alice, csv_file(candles))["Location"].rstrip("/").rsplit("/", 1)[1]
    with django_capture_on_commit_callbacks(execute=False):
        lost = upload(alice, csv_file(hourly(10), name="lost.csv"))["Location"] \
            .rstrip("/").rsplit("/", 1)[1]
    (history_root(world.tenant_a.pk) / "uploads" / f"{lost}.csv").unlink()

    assert candle_uploads_resume() == 1  # the job runs in the caller here (no pool)

    assert candle_upload_get(tenant=world.tenant_a, upload_id=kept).status == "done"
    assert stored(world.tenant_a) == candles.to_rows()
    failed = candle_upload_get(tenant=world.tenant_a, upload_id=lost)
    assert (failed.status, failed.error) == ("failed", "The server stopped before the import; "
                                                       "upload the file again.")
    assert candle_uploads_resume() == 0
