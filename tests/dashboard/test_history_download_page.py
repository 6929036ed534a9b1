"""The Backtests page's "Download history" form: an admin's valid request opens the
download's status page (which follows the job to its outcome), bad input comes back as the
form with its errors, and another workspace's download is a 404."""
from __future__ import annotations

import pytest
from django.urls import reverse

from tenants.models import Membership, Role
from tests.base import make_user
from trading.sampledata import generate

pytestmark = pytest.mark.django_db

JAN_1 = 1_704_067_200_000  # 2024-01-01T00:00Z
FORM = {"exchange": "binance", "symbol": "BTC/USDT", "timeframe": "1h", "since": "2024-01-01"}


@pytest.fixture
def served(exchange_markets):
    exchange_markets.set_klines("BTC/USDT", "1h", generate("BTC/USDT", "1h", 120, seed=4,
                                                           start_ms=JAN_1).to_rows())


def download(client, **fields):
    return client.post(reverse("dashboard:history_download"), FORM | fields)


def test_the_form_is_on_the_backtests_page_for_an_admin(alice):
    html = alice.get(reverse("dashboard:backtests")).content.decode()
    assert 'id="history-download"' in html
    assert 'type="date"' in html and 'min="2010-01-01"' in html


def test_a_download_opens_its_status_page_which_shows_the_outcome(
        alice, served, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):  # not run yet
        response = download(alice)

    assert response.status_code == 302
    status_url = response["Location"]
    waiting = alice.get(status_url).content.decode()
    assert '<meta http-equiv="refresh"' in waiting and "Waiting for a worker" in waiting

    with django_capture_on_commit_callbacks(execute=True):
        status_url = download(alice, symbol="ETH/USDT")["Location"]  # nothing served: fails
    assert "binance returned no ETH/USDT 1h candles" in alice.get(status_url).content.decode()


def test_a_finished_download_says_what_it_stored(alice, served,
                                                 django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        status_url = download(alice)["Location"]

    page = alice.get(status_url)
    assert page.context["download"].status == "done"
    assert "Downloaded 120 candles (120 new)" in page.content.decode()
    assert "BTC/USDT" in alice.get(reverse("dashboard:backtests")).content.decode()


@pytest.mark.parametrize(("fields", "field"), [
    ({"since": "2009-12-31"}, "since"), ({"since": "not a date"}, "since"),
    ({"symbol": "DOGE/USDT"}, "symbol"), ({"exchange": "mtgox"}, "exchange")])
def test_bad_input_is_the_form_with_its_errors(alice, served, fields, field):
    response = download(alice, **fields)

    assert response.status_code == 200
    assert field in response.context["download_form"].errors


def test_a_trader_is_refused_on_the_form(world, client, served):
    trader = make_user("trader@example.com")
    Membership.objects.create(tenant=world.tenant_a, user=trader, role=Role.TRADER)
    client.force_login(trader)

    assert 'id="history-download"' not in client.get(reverse("dashboard:backtests")).content \
        .decode()
    response = download(client)
    assert response.status_code == 200
    assert response.context["download_form"].non_field_errors()


def test_the_form_opened_with_get_leads_back_to_the_page(alice):
    response = alice.get(reverse("dashboard:history_download"))
    assert response["Location"] == reverse("dashboard:backtests")


def test_another_workspaces_download_is_a_404(world, alice, client, served):
    status_url = download(alice)["Location"]

    client.force_login(world.charlie)
    assert client.get(status_url).status_code == 404
    assert client.get("/backtests/downloads/not-an-id/").status_code == 404
