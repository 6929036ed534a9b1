"""The Backtests page and API steer a run: data set, date range, fee, slippage, stake, cash and
preset, with the backtest config's own bounds and field errors that say what is wrong."""
from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from dashboard.forms import BacktestForm
from tests.dashboard.conftest import DAY, HOUR, JAN_1
from trading.core.backtest.config import BACKTEST_LIMITS, as_percent
from trading.core.backtest.synthetic import random_walk_candles
from trading.core.history import history_write
from trading.models import BacktestRun

BACKTESTS = "/api/v1/backtests/"


@pytest.fixture(autouse=True)
def history(january_sol_history):
    return january_sol_history


@pytest.fixture
def post(django_capture_on_commit_callbacks):
    """POST and let the queued backtest run when the request commits."""
    def send(client, url, body, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(url, body, **kwargs)
    return send


FORM = {"strategy": "sma_cross", "symbol": "SOL/USDT", "timeframe": "1h", "cash": "2500",
        "param_fast": "5", "param_slow": "20"}


def test_the_form_runs_a_steered_backtest_and_redirects_to_it(world, alice, post):
    response = post(alice, reverse("dashboard:backtest_new"), FORM | {
        "data": "stored", "start": "2024-01-05", "end": "2024-01-20", "fee": "0.25",
        "slippage": "0.05", "stake": "50", "preset": "balanced"})

    run = BacktestRun.objects.for_tenant(world.tenant_a).get()
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard:backtest_detail", args=[run.pk])
    assert run.config == {"cash": 2500.0, "data": "stored", "exchange": "binance",
                          "preset": "balanced", "fee": 0.0025, "slippage": 0.0005,
                          "stake": 0.5, "start_ms": JAN_1 + 4 * DAY,
                          "end_ms": JAN_1 + 20 * DAY - 1}
    assert run.status == BacktestRun.Status.DONE, run.error
    assert run.report["period"]["candles"] == 16 * 24  # the end day is included
    assert run.report["config"]["fee"] == 0.0025
    assert run.report["config"]["risk"]["stake_fraction"] == 0.5
    page = alice.get(response["Location"]).content.decode()
    assert "Stored history" in page and "2024-01-05" in page and "2024-01-20" in page


def test_the_form_fields_carry_the_backtest_configs_bounds():
    form = BacktestForm()
    for name in ("fee", "slippage", "stake"):
        limit = as_percent(BACKTEST_LIMITS[name])
        field = form.fields[name]
        assert (field.min_value, field.max_value) == (limit.minimum, limit.maximum)
    assert form.fields["fee"].max_value == BACKTEST_LIMITS["fee"].maximum * 100
    assert form.fields["cash"].max_value == BACKTEST_LIMITS["cash"].maximum


@pytest.mark.parametrize(("change", "field", "words"), [
    ({"fee": "10.5"}, "fee", "less than or equal to 10"),
    ({"slippage": "-1"}, "slippage", "greater than or equal to 0"),
    ({"stake": "150"}, "stake", "less than or equal to 100"),
    ({"stake": "0"}, "stake", "greater than or equal to 0.01"),
    ({"cash": "0"}, "cash", "greater than or equal to"),
    ({"start": "2024-01-20", "end": "2024-01-05"}, "end", "on or after the start"),
    ({"start": "2024-13-01"}, "start", "valid date"),
    ({"start": "2023-01-01", "end": "2023-02-01"}, "start",
     "No stored candles for SOL/USDT 1h between 2023-01-01 00:00 and 2023-02-01 23:59 (UTC); "
     "stored: 2024-01-01 00:00 to 2024-01-31 23:00."),
    ({"data": "stored", "symbol": "BTC/USDT"}, "data", "No stored history for BTC/USDT 1h"),
    ({"data": "moon"}, "data", "Select a valid choice"),
])
def test_a_bad_setting_is_an_error_on_its_field_and_runs_nothing(world, alice, change, field,
                                                                 words):
    response = alice.post(reverse("dashboard:backtest_new"), FORM | change)

    assert response.status_code == 200
    errors = response.context["form"].errors
    assert field in errors, errors
    assert any(words in error for error in errors[field]), errors
    assert not BacktestRun.objects.exists()


def test_the_form_url_opened_with_get_leads_back_to_the_page(alice):
    response = alice.get(reverse("dashboard:backtest_new"))
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard:backtests")


def test_the_page_lists_the_stored_history_and_offers_its_markets(alice):
    page = alice.get(reverse("dashboard:backtests")).content.decode()

    assert 'id="stored-history"' in page
    assert "SOL/USDT" in page and "2024-01-01" in page and "2024-01-31" in page
    assert '<option value="SOL/USDT"' in page
    assert 'type="date"' in page


def test_the_page_shows_another_tenants_uploads_to_nobody(world, alice, client, tmp_path):
    history_write(tmp_path / "tenant-history" / str(world.tenant_b.pk), "binance", "XRP/USDT",
                  "1h", random_walk_candles(50, seed=1, start_ms=JAN_1, timeframe_ms=HOUR))

    assert "XRP/USDT" not in alice.get(reverse("dashboard:backtests")).content.decode()
    client.force_login(world.charlie)
    assert "XRP/USDT" in client.get(reverse("dashboard:backtests")).content.decode()


# --- The API ----------------------------------------------------------------------------------

@pytest.fixture
def reader(world):
    return world.client_with_key(world.read_key_a)


API = {"strategy": "sma_cross", "symbol": "SOL/USDT", "timeframe": "1h",
       "parameters": {"fast": 5, "slow": 20}}


def test_the_api_takes_the_same_settings_as_top_level_fields(world, reader, post):
    response = post(reader, BACKTESTS, API | {
        "data": "stored", "start": "2024-01-05", "end": "2024-01-20T12:00:00Z", "fee": "0.0025",
        "slippage": 0.0005, "stake": 0.5, "cash": 2500, "preset": "balanced"}, format="json")

    assert response.status_code == 202, response.content
    run = BacktestRun.objects.for_tenant(world.tenant_a).get()
    assert run.config == {"cash": 2500.0, "data": "stored", "exchange": "binance",
                          "preset": "balanced", "fee": 0.0025, "slippage": 0.0005,
                          "stake": 0.5, "start_ms": JAN_1 + 4 * DAY,
                          "end_ms": JAN_1 + 19 * DAY + 12 * HOUR}
    assert run.status == BacktestRun.Status.DONE, run.error


def test_the_api_takes_a_date_as_the_whole_day_and_epoch_ms_as_the_moment(world, reader, post):
    response = post(reader, BACKTESTS, API | {"start": JAN_1 + DAY, "end": "2024-01-02"},
                    format="json")

    assert response.status_code == 202, response.content
    run = BacktestRun.objects.for_tenant(world.tenant_a).get()
    assert (run.config["start_ms"], run.config["end_ms"]) == (JAN_1 + DAY, JAN_1 + 2 * DAY - 1)
    assert run.report["period"]["candles"] == 24


@pytest.mark.parametrize(("change", "field"), [
    ({"fee": 0.5}, "fee"),
    ({"fee": "lots"}, "fee"),
    ({"slippage": -0.1}, "slippage"),
    ({"stake": 2}, "stake"),
    ({"cash": 0}, "cash"),
    ({"preset": "yolo"}, "preset"),
    ({"data": "moon"}, "data"),
    ({"start": "soon"}, "start"),
    ({"end": [1, 2]}, "end"),
    ({"start": "2024-01-20", "end": "2024-01-05"}, "end"),
    ({"start": "2023-01-01", "end": "2023-01-31"}, "start"),
    ({"data": "upload"}, "data"),
    ({"fee": 0.001, "config": {"fee": 0.002}}, "fee"),
    ({"start": 10**30}, "start"),
    ({"config": {"start_ms": 10**30}}, "start_ms"),
    ({"config": {"end_ms": -5}}, "end_ms"),
    ({"exchange": "../../etc"}, "exchange"),
    ({"symbol": "SOL"}, "symbol"),
])
def test_a_bad_api_setting_is_a_400_naming_the_field(reader, change, field):
    response = reader.post(BACKTESTS, API | change, format="json")

    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"], response.json()
    assert not BacktestRun.objects.exists()


def test_the_schema_documents_the_settings_and_their_bounds(reader):
    schema = reader.get("/api/v1/schema/", {"format": "json"}).json()
    components = schema["components"]["schemas"]
    body = components["BacktestCreate"]["properties"]

    assert {"start", "end", "fee", "slippage", "stake", "cash", "preset", "data",
            "exchange"} <= set(body)
    assert Decimal(str(body["fee"]["maximum"])) == BACKTEST_LIMITS["fee"].maximum
    assert Decimal(str(body["stake"]["minimum"])) == BACKTEST_LIMITS["stake"].minimum
    assert Decimal(str(body["cash"]["maximum"])) == BACKTEST_LIMITS["cash"].maximum
    data = body["data"]
    enum = data.get("enum") or components[_ref(data).rsplit("/", 1)[-1]]["enum"]
    assert set(enum) >= {"sample", "stored", "upload"}
    assert "epoch ms" in body["start"]["description"]
    assert {"type": "integer", "format": "int64"} in body["start"]["oneOf"]


def _ref(prop: dict) -> str:
    return prop.get("$ref") or prop["allOf"][0]["$ref"]


def test_a_setting_sent_as_a_string_in_config_shows_on_the_run_page(world, reader, alice, post):
    """`config` keeps what the caller sent ("0.001" as a string): the page still reads it."""
    response = post(reader, BACKTESTS, API | {"config": {"fee": "0.001"}}, format="json")
    assert response.status_code == 202, response.content
    run = BacktestRun.objects.for_tenant(world.tenant_a).get()
    page = alice.get(f"/backtests/{run.pk}/")
    assert page.status_code == 200
    assert "0.1 %" in page.content.decode()
