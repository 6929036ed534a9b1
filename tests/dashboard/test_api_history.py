"""/api/v1/history/: candle uploads (the page's bounds and checks, 201 inline, 202 queued)
and downloads of a market's history (202 and a status URL), each workspace seeing only its
own, bad input a 400 naming the field, too little scope or role a 403."""
from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tenants.services import api_key_issue
from tests.base import owner_actor
from trading.core.backtest.synthetic import random_walk_candles
from trading.core.history import history_read
from trading.sampledata import generate
from trading.services.candle_history import history_root

pytestmark = pytest.mark.django_db

JAN_1 = 1_704_067_200_000  # 2024-01-01T00:00Z
HOUR = 3_600_000
UPLOADS = "/api/v1/history/uploads/"
DOWNLOADS = "/api/v1/history/downloads/"


def csv_file(candles, name: str = "sol.csv") -> SimpleUploadedFile:
    buffer = io.StringIO("timestamp,open,high,low,close,volume\n")
    buffer.seek(0, io.SEEK_END)
    for row in candles.to_rows():
        buffer.write(",".join(repr(value) for value in row) + "\n")
    return SimpleUploadedFile(name, buffer.getvalue().encode(), content_type="text/csv")


def hourly(count: int, *, seed: int = 1):
    return random_walk_candles(count, seed=seed, start_ms=JAN_1, timeframe_ms=HOUR)


def upload(client, file, **fields):
    body = {"exchange": "binance", "symbol": "sol/usdt", "timeframe": "1h", "file": file}
    return client.post(UPLOADS, body | fields, format="multipart")


def stored_upload(tenant) -> list[list[float]]:
    return history_read(history_root(tenant.pk), "binance", "SOL/USDT", "1h").to_rows()


@pytest.fixture
def admin_key_a(world):
    return api_key_issue(tenant=world.tenant_a, name="admin", actor=owner_actor(world.tenant_a),
                         scopes=["read", "admin"])[1]


@pytest.fixture
def served(exchange_markets):
    candles = generate("BTC/USDT", "1h", 1500, seed=3, start_ms=JAN_1)
    exchange_markets.set_klines("BTC/USDT", "1h", candles.to_rows())
    return candles


def test_a_small_upload_is_imported_at_once(world):
    candles = hourly(200)

    response = upload(world.client_with_key(world.control_key_a), csv_file(candles))

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["status"], body["candles"], body["added"], body["symbol"]) == \
        ("done", 200, 200, "SOL/USDT")
    assert response["Location"] == body["url"]
    assert stored_upload(world.tenant_a) == candles.to_rows()
    status = world.client_with_key(world.read_key_a).get(body["url"])
    assert status.status_code == 200 and status.json()["status"] == "done"


def test_a_large_upload_is_queued_with_its_status_url(world, settings,
                                                      django_capture_on_commit_callbacks):
    settings.AITRADER_CANDLE_UPLOAD_INLINE_BYTES = 100
    candles = hourly(300)

    with django_capture_on_commit_callbacks(execute=True):
        response = upload(world.client_with_key(world.control_key_a), csv_file(candles))

    assert response.status_code == 202
    status = world.client_with_key(world.read_key_a).get(response["Location"])
    assert status.json()["status"] == "done"
    assert stored_upload(world.tenant_a) == candles.to_rows()


def test_an_oversized_upload_is_a_400_on_file(world, settings):
    settings.AITRADER_CANDLE_UPLOAD_MAX_BYTES = 1000

    response = upload(world.client_with_key(world.control_key_a), csv_file(hourly(100)))

    assert response.status_code == 400
    (message,) = response.json()["error"]["fields"]["file"]
    assert "a candle upload may be at most 1000 bytes" in message
    assert not history_root(world.tenant_a.pk).joinpath("binance").exists()


def test_a_bad_row_is_a_400_naming_it_and_stores_nothing(world):
    rows = "timestamp,open,high,low,close,volume\n" \
           f"{JAN_1},10,11,9,10,1\n{JAN_1 + HOUR},10,9,11,10,1\n"

    response = upload(world.client_with_key(world.control_key_a),
                      SimpleUploadedFile("broken.csv", rows.encode()))

    assert response.status_code == 400
    assert response.json()["error"]["fields"]["file"] == [
        "broken.csv: row 3: high/low do not contain open and close."]
    assert not history_root(world.tenant_a.pk).joinpath("binance").exists()


@pytest.mark.parametrize(("fields", "field"), [
    ({"symbol": "SOLUSDT"}, "symbol"), ({"timeframe": "7m"}, "timeframe"),
    ({"exchange": "../../etc"}, "exchange"), ({"file": "not a file"}, "file")])
def test_bad_upload_fields_are_a_400_naming_them(world, fields, field):
    fields = dict(fields)
    file = fields.pop("file", csv_file(hourly(5)))
    response = upload(world.client_with_key(world.control_key_a), file, **fields)
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_a_viewer_or_a_read_key_cannot_upload(world):
    assert upload(world.client_for(world.bob), csv_file(hourly(5))).status_code == 403
    assert upload(world.client_with_key(world.read_key_a), csv_file(hourly(5))).status_code \
        == 403
    assert not history_root(world.tenant_a.pk).joinpath("binance").exists()


def test_a_download_is_accepted_and_its_status_followed(world, served, admin_key_a,
                                                        django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = world.client_with_key(admin_key_a).post(DOWNLOADS, {
            "exchange": "binance", "symbol": "btc/usdt", "timeframe": "1h",
            "since": "2024-01-01"}, format="json")

    assert response.status_code == 202, response.json()
    assert response.json()["status"] == "queued"
    status = world.client_with_key(world.read_key_a).get(response["Location"])
    assert status.status_code == 200
    assert (status.json()["status"], status.json()["candles"]) == ("done", 1500)
    assert history_read(history_root(None), "binance", "BTC/USDT", "1h").to_rows() == \
        served.to_rows()


@pytest.mark.parametrize(("fields", "field"), [
    ({"since": "2009-12-31"}, "since"), ({"since": "soon"}, "since"),
    ({"symbol": "DOGE/USDT"}, "symbol"), ({"exchange": "mtgox"}, "exchange"),
    ({"timeframe": "2m"}, "timeframe"), ({"since": None}, "since")])
def test_bad_download_input_is_a_400_naming_the_field(world, served, admin_key_a, fields,
                                                      field):
    body = {"exchange": "binance", "symbol": "BTC/USDT", "timeframe": "1h",
            "since": "2024-01-01"} | fields
    response = world.client_with_key(admin_key_a).post(DOWNLOADS, body, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_a_download_needs_an_admin(world, served):
    body = {"exchange": "binance", "symbol": "BTC/USDT", "timeframe": "1h",
            "since": "2024-01-01"}
    assert world.client_with_key(world.control_key_a).post(
        DOWNLOADS, body, format="json").status_code == 403
    assert world.client_for(world.bob).post(DOWNLOADS, body, format="json").status_code == 403
    assert world.client_for(world.alice).post(DOWNLOADS, body, format="json").status_code == 202


def test_another_workspaces_statuses_are_404(world, served, admin_key_a, settings):
    mine = upload(world.client_with_key(world.control_key_a), csv_file(hourly(10)))
    download = world.client_with_key(admin_key_a).post(DOWNLOADS, {
        "exchange": "binance", "symbol": "BTC/USDT", "timeframe": "1h",
        "since": "2024-01-01"}, format="json")
    theirs = world.client_with_key(world.control_key_b)

    for url in (mine["Location"], download["Location"]):
        assert world.client_with_key(world.read_key_a).get(url).status_code == 200
        assert theirs.get(url).status_code == 404
        assert world.client_for(world.charlie).get(url).status_code == 404
    assert theirs.get(f"{UPLOADS}not-an-id/").status_code == 404
    assert theirs.get(f"{DOWNLOADS}{'0' * 32}/").status_code == 404


def test_a_trader_session_may_upload_and_the_message_says_why_a_viewer_may_not(world):
    from tests.dashboard.conftest import member_client

    trader = member_client(world.tenant_a, "trader")
    assert upload(trader, csv_file(hourly(5))).status_code == 201
    refused = upload(world.client_for(world.bob), csv_file(hourly(5)))
    assert "needs trader or above" in refused.json()["error"]["message"]


def test_a_session_upload_without_the_csrf_token_is_refused(world):
    from rest_framework.test import APIClient

    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(world.alice)

    assert upload(browser, csv_file(hourly(5))).status_code == 403
    assert not history_root(world.tenant_a.pk).joinpath("binance").exists()
