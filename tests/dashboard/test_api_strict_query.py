"""Query parameters mean what the schema says: a malformed one is a 400 naming it, never
silently replaced by a default (found by schemathesis's negative-data check)."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.dashboard.test_api_errors import assert_error_shape
from tests.factories import make
from trading.models import Bot

LISTS = ["/api/v1/bots/", "/api/v1/trades/", "/api/v1/models/", "/api/v1/exchange-accounts/"]


@pytest.fixture
def client(world) -> APIClient:
    make(Bot, world.tenant_a)
    make(Bot, world.tenant_a)
    return world.client_with_key(world.read_key_a)


@pytest.mark.parametrize("url", LISTS)
@pytest.mark.parametrize("query", ["limit=", "limit=abc", "limit=1.5", "limit=false",
                                   "limit=0", "limit=-3", "offset=", "offset=null",
                                   "offset=-1", "offset=2.5"])
def test_it_refuses_a_page_bound_that_is_not_a_whole_number_in_range(client, url, query):
    error = assert_error_shape(client.get(f"{url}?{query}"), 400)
    assert list(error["fields"]) == [query.split("=")[0]]


def test_it_pages_with_valid_bounds_and_caps_the_page_size(client):
    body = client.get("/api/v1/bots/?limit=1&offset=1").json()
    assert body["count"] == 2 and len(body["results"]) == 1
    assert client.get("/api/v1/bots/?limit=100000").status_code == 200  # at most 500 rows


@pytest.mark.parametrize("query", ["offset=1&offset=2", "limit=5&limit=5",
                                   "symbol=BTC/USDT&symbol=ETH/USDT", "ordering=a&ordering=b"])
def test_it_refuses_a_parameter_given_twice(client, query):
    error = assert_error_shape(client.get(f"/api/v1/trades/?{query}"), 400)
    name = query.split("=")[0]
    assert list(error["fields"]) == [name] and "more than once" in error["message"]


@pytest.mark.parametrize("query", ["since=", "until=", "bot=", "status="])
def test_it_refuses_an_empty_value_for_a_typed_filter(client, query):
    error = assert_error_shape(client.get(f"/api/v1/trades/?{query}"), 400)
    assert list(error["fields"]) == [query.rstrip("=")]


def test_an_empty_free_text_filter_still_filters_nothing(client):
    assert client.get("/api/v1/bots/?symbol=").json()["count"] == 2


def test_the_schema_documents_the_page_bounds_and_whole_number_ids(db):
    schema = APIClient().get("/api/v1/schema/", {"format": "json"}).json()
    parameters = {p["name"]: p["schema"]
                  for p in schema["paths"]["/api/v1/trades/"]["get"]["parameters"]}
    assert parameters["limit"] == {"type": "integer", "minimum": 1}
    assert parameters["offset"] == {"type": "integer", "minimum": 0}
    assert parameters["bot"]["type"] == "integer"


def test_the_audit_pages_export_link_leaves_out_the_filters_left_empty(world):
    """The page's form submits every field; its export link must still be a valid request."""
    import html as html_module
    import re

    from tenants.plans import Plan

    world.tenant_a.plan = Plan.ENTERPRISE
    world.tenant_a.save(update_fields=["plan"])
    client = world.client_for(world.alice)
    page = client.get("/settings/audit/", {"action": "bot.", "actor": "", "since": "",
                                           "until": ""}).content.decode()
    link = html_module.unescape(re.search(r'href="(/api/v1/audit-events/export\.csv[^"]*)"',
                                          page).group(1))
    assert link == "/api/v1/audit-events/export.csv?action=bot."
    assert client.get(link).status_code == 200


@pytest.mark.parametrize("query", ["points=", "since_ts=", "until_ts=abc", "points=1_0",
                                   "since_ts=+5"])
def test_the_portfolio_refuses_a_bound_that_is_not_a_whole_number(client, query):
    error = assert_error_shape(client.get(f"/api/v1/equity/portfolio/?{query}"), 400)
    assert list(error["fields"]) == [query.split("=")[0]]


def test_the_portfolio_takes_whole_number_bounds(client):
    response = client.get("/api/v1/equity/portfolio/?since_ts=-5&until_ts=99&points=20")
    assert response.status_code == 200 and response.json() == []
