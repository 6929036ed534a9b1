"""Dashboard pages through the Django test client: access, isolation, forms, strict-CSP HTML."""
from __future__ import annotations

import re
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from django.conf import settings
from django.urls import reverse

from tenants.models import ApiKey, Role, Tenant
from tenants.plans import Plan
from tests.base import owner_actor
from tests.dashboard.conftest import member_client, paper_bot, tick
from trading.models import BacktestRun, Bot, ExchangeAccount
from trading.services.backtests import backtest_run_create

pytestmark = pytest.mark.django_db

SIMPLE_PAGES = ["dashboard:overview", "dashboard:backtests", "dashboard:settings"]


@pytest.fixture
def bot(world, market) -> Bot:
    """A paper bot of tenant A that has traded: orders, trades, thoughts and equity exist."""
    bot = paper_bot(world.tenant_a, parameters={"fast": 3, "slow": 8})
    tick(bot, market, 80)
    return bot


@pytest.fixture
def run(world, django_capture_on_commit_callbacks) -> BacktestRun:
    """A finished backtest of tenant A (the eager task runs on commit)."""
    with django_capture_on_commit_callbacks(execute=True):
        run = backtest_run_create(tenant=world.tenant_a, actor=owner_actor(world.tenant_a),
                                  strategy="sma_cross", symbol="BTC/USDT", timeframe="1h",
                                  parameters={"fast": 5, "slow": 20}, config={"cash": 10000})
    run.refresh_from_db()
    assert run.status == BacktestRun.Status.DONE, run.error
    return run


@pytest.fixture
def bob(world, client):
    """bob is a viewer in tenant A."""
    client.force_login(world.bob)
    return client


def _page_urls(bot: Bot, run: BacktestRun) -> list[str]:
    return [*(reverse(name) for name in SIMPLE_PAGES),
            reverse("dashboard:bot_detail", args=[bot.pk]),
            reverse("dashboard:backtest_detail", args=[run.pk])]


# --- Strict-CSP HTML ---------------------------------------------------------------------------

class _CspAudit(HTMLParser):
    """Collects what a nonce-only CSP would block: inline scripts, handlers, inline styles."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "script" and "src" not in attributes \
                and attributes.get("type") != "application/json":
            self.problems.append(f"inline <script {attrs}>")
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"handler {name} on <{tag}>")
            if name == "style":
                self.problems.append(f"inline style on <{tag}>")
            if value and value.strip().lower().startswith("javascript:"):
                self.problems.append(f"javascript: URL in {name} of <{tag}>")


def assert_strict_csp_html(html: str) -> None:
    audit = _CspAudit()
    audit.feed(html)
    assert not audit.problems, audit.problems
    assert not re.search(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", html)
    assert not re.search(r"<[^>]*\son[a-z]+\s*=", html), "an on*= handler attribute"
    assert "javascript:" not in html.lower()


def test_it_renders_every_page_for_a_member_with_strict_csp_html(alice, bot, run):
    for url in _page_urls(bot, run):
        response = alice.get(url)
        assert response.status_code == 200, url
        assert_strict_csp_html(response.content.decode())


def test_it_renders_every_page_for_a_viewer(bob, bot, run):
    for url in _page_urls(bot, run):
        assert bob.get(url).status_code == 200, url


def test_it_sends_signed_out_visitors_to_the_login_page(client, bot, run):
    for url in _page_urls(bot, run):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login")), url


def test_the_audit_helper_catches_what_the_csp_would_block():
    for bad in ('<script>alert(1)</script>', '<a href="javascript:void(0)">x</a>',
                '<button onclick="x()">x</button>', '<div style="color:red">x</div>'):
        with pytest.raises(AssertionError):
            assert_strict_csp_html(bad)
    assert_strict_csp_html('<script src="/static/js/app.js"></script>'
                           '<script id="d" type="application/json">{}</script>')


# --- Another tenant's objects -----------------------------------------------------------------

def test_it_returns_404_for_another_tenants_bot_and_backtest(world, client, bot, run):
    client.force_login(world.charlie)
    assert client.get(reverse("dashboard:bot_detail", args=[bot.pk])).status_code == 404
    assert client.get(reverse("dashboard:backtest_detail", args=[run.pk])).status_code == 404
    for name in ("dashboard:bot_pause", "dashboard:bot_resume", "dashboard:bot_close_all"):
        assert client.post(reverse(name, args=[bot.pk])).status_code == 404
    bot.refresh_from_db()
    assert bot.status == Bot.Status.RUNNING


def test_it_returns_404_for_a_missing_bot(alice):
    assert alice.get(reverse("dashboard:bot_detail", args=[999999])).status_code == 404


def test_the_overview_lists_only_the_tenants_own_bots(world, client, bot, market):
    paper_bot(world.tenant_b, name="charlies-secret-bot")
    client.force_login(world.alice)
    html = client.get(reverse("dashboard:overview")).content.decode()
    assert bot.name in html and "charlies-secret-bot" not in html


# --- Overview ----------------------------------------------------------------------------------

def test_the_overview_shows_bots_with_money_formatted(alice, bot):
    html = alice.get(reverse("dashboard:overview")).content.decode()
    assert f'data-bot-id="{bot.pk}"' in html
    assert "1,000.00" in html  # the capital, in quote-currency format
    assert 'id="portfolio-chart"' in html and "Pro plan" in html
    assert reverse("api:export-trades") in html


def test_the_overview_has_a_clear_empty_state(alice):
    html = alice.get(reverse("dashboard:overview")).content.decode()
    assert "No bots yet — create a paper bot to start" in html
    assert "New paper account" in html  # an owner can start without an account


def test_a_free_plan_sees_why_it_cannot_export(world, alice):
    Tenant.objects.filter(pk=world.tenant_a.pk).update(plan=Plan.FREE)
    html = alice.get(reverse("dashboard:overview")).content.decode()
    assert "Exports come with the Pro plan" in html
    assert f'href="{reverse("api:export-trades")}"' not in html


def _bot_form(**overrides) -> dict:
    return {"name": "trend", "account": "new-paper", "symbol": "BTC/USDT", "timeframe": "1m",
            "strategy": "sma_cross", "preset": "balanced", "capital": "750",
            "param_fast": "4", "param_slow": "12"} | overrides


def test_the_bot_form_creates_a_paper_bot_on_a_new_paper_account(world, alice):
    response = alice.post(reverse("dashboard:bot_new"), _bot_form())
    bot = Bot.objects.for_tenant(world.tenant_a).get(name="trend")
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard:bot_detail", args=[bot.pk])
    assert bot.parameters == {"fast": 4, "slow": 12}
    assert (bot.capital, bot.account.mode, bot.status) == (Decimal("750"), "paper", "running")


def test_the_bot_form_reuses_an_existing_account(world, alice):
    account = ExchangeAccount.objects.create(tenant=world.tenant_a, label="Mine")
    alice.post(reverse("dashboard:bot_new"), _bot_form(account=str(account.pk)))
    assert Bot.objects.for_tenant(world.tenant_a).get(name="trend").account_id == account.pk
    assert ExchangeAccount.objects.for_tenant(world.tenant_a).count() == 1


def test_the_bot_form_shows_a_parameter_error_and_creates_nothing(world, alice):
    response = alice.post(reverse("dashboard:bot_new"), _bot_form(param_fast="0"))
    assert response.status_code == 200
    assert "Parameter fast must be at least 1" in response.content.decode()
    assert not Bot.objects.for_tenant(world.tenant_a).exists()
    assert not ExchangeAccount.objects.for_tenant(world.tenant_a).exists(), \
        "a refused bot must not leave its new paper account behind"
    assert response.context["submitted_params"] == {"fast": "0", "slow": "12"}


def test_the_bot_form_shows_field_errors(alice):
    response = alice.post(reverse("dashboard:bot_new"), _bot_form(name="", capital="-5"))
    form = response.context["form"]
    assert set(form.errors) >= {"name", "capital"}


def test_the_bot_form_names_the_plan_that_allows_another_bot(world, alice, bot):
    Tenant.objects.filter(pk=world.tenant_a.pk).update(plan=Plan.FREE)
    response = alice.post(reverse("dashboard:bot_new"), _bot_form(name="second"))
    assert response.status_code == 200
    assert "Pro" in response.context["form"].non_field_errors()[0]
    assert not Bot.objects.for_tenant(world.tenant_a).filter(name="second").exists()


def test_a_viewer_cannot_create_a_bot(world, bob):
    account = ExchangeAccount.objects.create(tenant=world.tenant_a, label="Mine")
    response = bob.post(reverse("dashboard:bot_new"), _bot_form(account=str(account.pk)))
    assert response.status_code == 200
    assert "viewer" in response.content.decode()
    assert not Bot.objects.for_tenant(world.tenant_a).exists()


# --- Bot page and controls --------------------------------------------------------------------

def test_the_bot_page_shows_its_ledger_parameters_and_controls(alice, bot):
    html = alice.get(reverse("dashboard:bot_detail", args=[bot.pk])).content.decode()
    assert 'id="candles-chart"' in html and reverse("api:bot-candles", args=[bot.pk]) in html
    assert bot.trades.exists() and "No trades yet" in html  # empty-state text, hidden
    assert 'id="trades-table"' in html and 'id="orders-table"' in html
    assert "Fast SMA length" in html
    for name in ("dashboard:bot_pause", "dashboard:bot_close_all"):
        assert reverse(name, args=[bot.pk]) in html
    assert 'data-confirm="Close all' in html


def test_a_viewer_sees_no_controls_and_is_refused_server_side(bob, bot):
    html = bob.get(reverse("dashboard:bot_detail", args=[bot.pk])).content.decode()
    assert reverse("dashboard:bot_pause", args=[bot.pk]) not in html
    response = bob.post(reverse("dashboard:bot_pause", args=[bot.pk]), follow=True)
    assert "needs trader or above" in response.content.decode()
    bot.refresh_from_db()
    assert bot.status == Bot.Status.RUNNING


def test_pause_and_resume_change_the_bot_and_say_so(alice, bot):
    response = alice.post(reverse("dashboard:bot_pause", args=[bot.pk]), follow=True)
    bot.refresh_from_db()
    assert bot.status == Bot.Status.PAUSED
    assert "is paused" in response.content.decode()
    alice.post(reverse("dashboard:bot_resume", args=[bot.pk]))
    bot.refresh_from_db()
    assert bot.status == Bot.Status.RUNNING


def test_close_all_pauses_the_bot(alice, bot):
    alice.post(reverse("dashboard:bot_close_all", args=[bot.pk]))
    bot.refresh_from_db()
    assert bot.status == Bot.Status.PAUSED and "close all" in bot.paused_reason


def test_control_pages_change_nothing_on_get_and_refuse_other_methods(alice, bot):
    url = reverse("dashboard:bot_pause", args=[bot.pk])
    assert alice.get(url)["Location"] == reverse("dashboard:bot_detail", args=[bot.pk])
    assert alice.put(url).status_code == 405
    bot.refresh_from_db()
    assert bot.status == Bot.Status.RUNNING


# --- Backtests -----------------------------------------------------------------------------------

def test_the_backtest_form_runs_a_backtest_and_shows_its_report(world, alice,
                                                               django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = alice.post(reverse("dashboard:backtests"), {
            "strategy": "rsi_reversion", "symbol": "ETH/USDT", "timeframe": "1h",
            "preset": "conservative", "cash": "5000", "param_period": "10"})
    run = BacktestRun.objects.for_tenant(world.tenant_a).get()
    assert response["Location"] == reverse("dashboard:backtest_detail", args=[run.pk])
    assert (run.strategy, run.symbol, run.parameters["period"]) == ("rsi_reversion", "ETH/USDT",
                                                                   "10")
    assert run.config == {"cash": 5000.0, "preset": "conservative", "data": "sample"}
    html = alice.get(response["Location"]).content.decode()
    assert 'id="equity-chart"' in html and 'id="metrics-table"' in html
    assert "5,000.00" in html


def test_the_backtest_form_shows_a_parameter_error(world, alice):
    response = alice.post(reverse("dashboard:backtests"), {
        "strategy": "sma_cross", "symbol": "BTC/USDT", "timeframe": "1h", "cash": "1000",
        "param_fast": "30", "param_slow": "10"})
    assert response.status_code == 200
    assert response.context["form"].non_field_errors()
    assert not BacktestRun.objects.for_tenant(world.tenant_a).exists()


def test_a_running_backtest_shows_a_progress_bar(world, alice):
    run = BacktestRun.objects.create(tenant=world.tenant_a, strategy="sma_cross",
                                     symbol="BTC/USDT", timeframe="1h", status="running",
                                     progress=40)
    html = alice.get(reverse("dashboard:backtest_detail", args=[run.pk])).content.decode()
    assert '<progress max="100" value="40"' in html
    assert reverse("api:backtest-detail", args=[run.pk]) in html  # the polling fallback


def test_the_backtest_list_shows_past_runs(alice, run):
    html = alice.get(reverse("dashboard:backtests")).content.decode()
    assert reverse("dashboard:backtest_detail", args=[run.pk]) in html


# --- Settings ------------------------------------------------------------------------------------

def test_an_api_key_is_shown_once_after_the_redirect_and_works(world, alice):
    response = alice.post(reverse("dashboard:api_key_create"),
                          {"name": "my script", "scopes": ["read", "export"], "days": "30"})
    assert response.status_code == 302  # a reload of the next page mints no second key
    response = alice.get(response["Location"])
    assert "no-store" in response["Cache-Control"]
    full_key, html = response.context["new_key"], response.content.decode()
    assert full_key in html and 'data-copy="new-api-key"' in html
    row = ApiKey.objects.for_tenant(world.tenant_a).get(name="my script")
    assert sorted(row.scopes) == ["export", "read"]
    assert full_key not in alice.get(reverse("dashboard:settings")).content.decode()
    assert ApiKey.objects.for_tenant(world.tenant_a).filter(name="my script").count() == 1
    api = world.client_with_key(full_key)
    assert api.get(reverse("api:bot-list")).status_code == 200


def test_the_api_key_form_shows_errors(world, alice):
    response = alice.post(reverse("dashboard:api_key_create"), {"name": "x", "days": "999"})
    assert set(response.context["key_form"].errors) == {"scopes", "days"}
    assert not ApiKey.objects.for_tenant(world.tenant_a).filter(name="x").exists()


def test_revoking_a_key_from_settings(world, alice):
    row = world.key_row(world.read_key_a)
    alice.post(reverse("dashboard:api_key_revoke", args=[row.pk]))
    row.refresh_from_db()
    assert row.revoked_at is not None
    assert world.client_with_key(world.read_key_a).get(reverse("api:bot-list")).status_code == 401


def test_another_tenants_key_cannot_be_revoked(world, client):
    client.force_login(world.charlie)
    row = world.key_row(world.read_key_a)
    assert client.post(reverse("dashboard:api_key_revoke", args=[row.pk])).status_code == 404
    row.refresh_from_db()
    assert row.revoked_at is None


def test_a_viewer_sees_no_key_management_and_is_refused(world, bob):
    html = bob.get(reverse("dashboard:settings")).content.decode()
    assert world.key_row(world.read_key_a).prefix not in html
    assert 'id="api-key-form"' not in html and 'id="account-form"' not in html
    response = bob.post(reverse("dashboard:api_key_create"), {"name": "sneaky", "scopes": ["admin"],
                                                            "days": "30"})
    assert response.context["new_key"] is None
    assert not ApiKey.objects.for_tenant(world.tenant_a).filter(name="sneaky").exists()
    bob.post(reverse("dashboard:api_key_revoke", args=[world.key_row(world.read_key_a).pk]))
    assert world.key_row(world.read_key_a).revoked_at is None


def test_an_admin_adds_a_paper_account(world):
    client = member_client(world.tenant_a, Role.ADMIN)
    response = client.post(reverse("dashboard:exchange_account_new"), {
        "label": "Paper ETH", "exchange_id": "kraken", "paper_starting_balance": "2500",
        "quote_currency": "usdt"})
    assert response.status_code == 302
    account = ExchangeAccount.objects.for_tenant(world.tenant_a).get(label="Paper ETH")
    assert (account.exchange_id, account.mode, account.paper_starting_balance,
            account.quote_currency) == ("kraken", "paper", Decimal("2500"), "USDT")


def test_a_duplicate_account_label_is_a_form_error(world, alice):
    ExchangeAccount.objects.create(tenant=world.tenant_a, label="Paper")
    response = alice.post(reverse("dashboard:exchange_account_new"), {
        "label": "Paper", "exchange_id": "binance", "paper_starting_balance": "100",
        "quote_currency": "USDT"})
    assert "exists already" in response.content.decode()


def test_a_trader_cannot_add_an_account(world):
    client = member_client(world.tenant_a, Role.TRADER)
    client.post(reverse("dashboard:exchange_account_new"), {
        "label": "x", "exchange_id": "binance", "paper_starting_balance": "100",
        "quote_currency": "USDT"})
    assert not ExchangeAccount.objects.for_tenant(world.tenant_a).exists()


def test_settings_show_the_plan_members_and_telegram(alice):
    html = alice.get(reverse("dashboard:settings")).content.decode()
    assert 'id="plan"' in html and "Enterprise" in html
    assert reverse("members") in html
    assert 'id="telegram"' in html and "linked on their own page" in html


def test_every_page_links_the_icon_and_favicon_ico_leads_to_it(client):
    login = client.get("/accounts/login/").content.decode()
    icon = re.search(r'<link rel="icon" href="([^"]+)"', login).group(1)
    assert icon.endswith(".svg")
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"] == icon
    assert (settings.BASE_DIR / "static" / "favicon.svg").read_text().startswith("<svg")
