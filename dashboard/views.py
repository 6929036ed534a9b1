"""Web pages of the dashboard, and the friendly error pages.

Pages are thin: parse a form, call one service, render. A ServiceError becomes a message or a
form error a person understands; another tenant's object is a 404, like a missing one. Live
updates come from static JS (/ws/live and the REST API); the pages work without it.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import NoReverseMatch, reverse
from django.views.decorators.cache import never_cache

from aitrader.errors import Forbidden, NotFound, ServiceError
from dashboard import selectors as page_selectors
from dashboard.forms import (
    NEW_PAPER_ACCOUNT,
    ApiKeyForm,
    BacktestForm,
    BotEditForm,
    BotForm,
    CredentialsForm,
    LiveAccountForm,
    PaperAccountForm,
    strategy_parameters,
)
from dashboard.post_only import post_only
from dashboard.web import member_actor, run_member_action
from tenants import selectors as tenant_selectors
from tenants import services as tenant_services
from tenants.billing import selectors as billing_selectors
from tenants.billing import services as billing
from tenants.models import Role
from tenants.plans import PLAN_LIMITS, PLAN_ORDER, Plan
from trading import selectors
from trading.core.pnl import bot_pnl
from trading.core.strategies import get_strategy, strategy_list
from trading.core.strategies.presets import PRESETS, risk_for
from trading.models import BacktestRun, Bot, TradingMode
from trading.services import bots as bot_services
from trading.services import protection
from trading.services.accounts import exchange_account_create, paper_account_free_label
from trading.services.backtests import backtest_run_create
from trading.services.bots import NEW_PAPER_EXCHANGE
from trading.services.credentials import exchange_credentials_remove, exchange_credentials_save
from trading.services.market import market_offer

REPORT_TRADE_ROWS = 200


# --- Helpers ----------------------------------------------------------------------------------

def member_required(view: Callable) -> Callable:
    """Signed in and a member of a tenant; a tenantless user is sent to the overview, which
    explains how to get into a workspace."""
    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.membership is None:
            return redirect("dashboard:overview")
        return view(request, *args, **kwargs)
    return wrapper


def _form_error(form, exc: ServiceError) -> None:
    """Show a service refusal next to the field it names, else above the form."""
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)


def _bot_or_404(request: HttpRequest, bot_id: int) -> Bot:
    try:
        return selectors.bot_get(tenant=request.tenant, bot_id=bot_id)
    except NotFound:
        raise Http404("No such bot.") from None


def _bot_check(request: HttpRequest, kwargs: dict) -> None:
    """A GET on a bot's action: another tenant's bot is a 404 before any redirect."""
    _bot_or_404(request, kwargs["bot_id"])


def _account_or_404(request: HttpRequest, account_id: int):
    try:
        return selectors.exchange_account_get(tenant=request.tenant, account_id=account_id)
    except NotFound:
        raise Http404("No such exchange account.") from None


def _url_or_none(name: str) -> str | None:
    """A named URL that another part of the product may not have mounted yet."""
    try:
        return reverse(name)
    except NoReverseMatch:
        return None


def _strategy_context() -> dict:
    """The strategy registry and presets for the forms' JavaScript (json_script data)."""
    return {"strategies": strategy_list(),
            "presets": {name: preset.to_dict() for name, preset in PRESETS.items()}}


# --- Overview and bots -------------------------------------------------------------------------

@login_required
def overview(request: HttpRequest) -> HttpResponse:
    """The tenant's bots, P&L and equity at a glance, and the new-bot form."""
    if request.membership is None:
        return render(request, "dashboard/overview.html", {})
    return _render_overview(request, _bot_form(request))


def _bot_form(request: HttpRequest, data=None) -> BotForm:
    accounts = selectors.exchange_account_list(tenant=request.tenant)
    # The markets of every exchange an account is on, and of the new paper account's.
    exchanges = {account.exchange_id for account in accounts} | {NEW_PAPER_EXCHANGE}
    return BotForm(data, accounts=accounts, offer=market_offer(exchange_ids=exchanges),
                   can_add_account=member_actor(request).has_role(Role.ADMIN))


def _render_overview(request: HttpRequest, form: BotForm, status: int = 200) -> HttpResponse:
    tenant = request.tenant
    bots = page_selectors.bot_overview_rows(tenant=tenant)
    usage = page_selectors.plan_usage(tenant=tenant)
    return render(request, "dashboard/overview.html", {
        "bots": bots,
        "archived_bots": selectors.bot_list(tenant=tenant).filter(archived_at__isnull=False),
        "summary": page_selectors.portfolio_summary(bots),
        "usage": usage,
        "bot_limit_reached": (usage.limits.max_bots is not None
                              and usage.bots >= usage.limits.max_bots),
        "form": form,
        "can_control": member_actor(request).has_role(Role.TRADER),
        "submitted_params": _submitted_params(request),
        **_strategy_context(),
    }, status=status)


def _submitted_params(request: HttpRequest) -> dict:
    """The parameter values a failed form sent, so the rebuilt inputs keep them."""
    if request.method != "POST":
        return {}
    return strategy_parameters(request.POST, request.POST.get("strategy", ""))


@member_required
@post_only("dashboard:overview")
def bot_new(request: HttpRequest) -> HttpResponse:
    """Create a bot from the overview form; paper unless a live account is chosen."""
    form = _bot_form(request, request.POST)
    if form.is_valid():
        try:
            bot = _create_bot(request, form)
        except ServiceError as exc:
            _form_error(form, exc)
        else:
            messages.success(request, f"{bot.name} is running. It acts on each closed "
                                      f"{bot.timeframe} candle.")
            return redirect("dashboard:bot_detail", bot_id=bot.pk)
    return _render_overview(request, form)


def _create_bot(request: HttpRequest, form: BotForm) -> Bot:
    """The bot as the form asks, on a fresh paper account when the form says so."""
    data = form.cleaned_data
    bot = {"name": data["name"], "symbol": data["symbol"], "timeframe": data["timeframe"],
           "strategy": data["strategy"], "preset": data["preset"], "capital": data["capital"],
           "parameters": strategy_parameters(request.POST, data["strategy"])}
    if data["account"] == NEW_PAPER_ACCOUNT:
        return bot_services.bot_create_on_new_paper_account(
            tenant=request.tenant, actor=member_actor(request), **bot)
    return bot_services.bot_create(tenant=request.tenant, actor=member_actor(request),
                                   account_id=int(data["account"]), **bot)


@member_required
def bot_detail(request: HttpRequest, bot_id: int) -> HttpResponse:
    """One bot: chart with its trades, position, orders, trades, live thoughts, controls."""
    return render_bot_detail(request, _bot_or_404(request, bot_id))


def edit_form_for(bot: Bot, data=None) -> BotEditForm:
    """The bot's edit form, offering the markets of its account's exchange."""
    return BotEditForm.for_bot(bot, market_offer(exchange_ids=[bot.account.exchange_id]), data)


def render_bot_detail(request: HttpRequest, bot: Bot, *, edit_form: BotEditForm | None = None,
                      status: int = 200) -> HttpResponse:
    """The bot page, with the edit form as given (a refused edit keeps what was typed)."""
    strategy = get_strategy(bot.strategy)
    equity = selectors.equity_latest_for_bot(bot=bot)
    return render(request, "dashboard/bot_detail.html", {
        "bot": bot,
        "strategy": strategy,
        "parameters": [(param, bot.parameters.get(param.name, param.default))
                       for param in strategy.params],
        "risk": _risk_rows(bot),
        "position": selectors.position_for_bot(bot=bot),
        "stop": protection.stop_protection_get(bot=bot),
        "equity": equity,
        "pnl": bot_pnl(capital=bot.capital,
                       equity=equity.equity if equity is not None else None),
        "can_control": member_actor(request).has_role(Role.TRADER),
        "edit_form": edit_form or edit_form_for(bot),
        "pnl_tables": _pnl_tables(bot),
        "working_orders": selectors.order_pending_for_bot(bot=bot),
        "pnl_pairs": selectors.pnl_pairs(bot=bot),
        "balances": selectors.account_balances(account=bot.account),
        "edit_open": edit_form is not None,
        **page_selectors.bot_recent_activity(bot=bot),
        **_signal_hook_panel(request, bot),
    }, status=status)


# The bot page's P&L tables: (period, how many, heading).
PNL_TABLES = (("day", 7, "Daily"), ("week", 4, "Weekly"), ("month", 6, "Monthly"))


def _pnl_tables(bot: Bot) -> list[tuple[str, list]]:
    """(heading, rows) per period on the bot's market clock, newest first."""
    today = selectors.bot_market_today(bot=bot)
    return [(heading, selectors.pnl_table(tenant=bot.tenant_id, bot=bot, period=period,
                                          count=count, today=today))
            for period, count, heading in PNL_TABLES]


RISK_LABELS = {
    "stake_fraction": "Stake per position", "stop_loss_pct": "Stop loss",
    "take_profit_pct": "Take profit", "max_open_positions": "Max open positions",
    "daily_loss_limit_pct": "Daily loss limit", "max_drawdown_pct": "Pause at drawdown",
    "cooldown_candles": "Cooldown after a stop (candles)",
}


def _risk_rows(bot: Bot) -> list[tuple[str, object]]:
    """The bot's effective risk settings as (label, shown value); None means switched off."""
    try:
        settings = risk_for(bot.preset, bot.risk).to_dict()
    except ServiceError:  # a preset renamed since the bot was made: show the raw overrides
        settings = dict(bot.risk)
    rows = []
    for name, value in settings.items():
        if name == "stake_fraction" and value is not None:
            value = f"{value * 100:g} % of equity"
        elif name.endswith("_pct") and value is not None:
            value = f"{value:g} %"
        rows.append((RISK_LABELS.get(name, name.replace("_", " ")), value))
    return rows


def _bot_control(request: HttpRequest, bot_id: int, service: Callable, done: str) -> HttpResponse:
    bot = _bot_or_404(request, bot_id)  # another tenant's bot: 404 before anything else
    run_member_action(request, service, success=done.format(name=bot.name), bot_id=bot.pk)
    return redirect("dashboard:bot_detail", bot_id=bot.pk)


@member_required
@post_only("dashboard:bot_detail", kwargs=("bot_id",), check=_bot_check)
def bot_pause(request: HttpRequest, bot_id: int) -> HttpResponse:
    """Pause: the bot keeps its position and places nothing until resumed."""
    return _bot_control(request, bot_id, bot_services.bot_pause,
                        "{name} is paused. It keeps its position and places no orders.")


@member_required
@post_only("dashboard:bot_detail", kwargs=("bot_id",), check=_bot_check)
def bot_resume(request: HttpRequest, bot_id: int) -> HttpResponse:
    """Resume a paused bot."""
    return _bot_control(request, bot_id, bot_services.bot_resume, "{name} is running again.")


@member_required
@post_only("dashboard:bot_detail", kwargs=("bot_id",), check=_bot_check)
def bot_close_all(request: HttpRequest, bot_id: int) -> HttpResponse:
    """Pause the bot and queue the sale of its position (retried until it is sold)."""
    return _bot_control(request, bot_id, bot_services.bot_close_all,
                        "{name} is paused. Selling its position is queued and retried until "
                        "it is sold; the bot page shows it.")


# --- Backtests ---------------------------------------------------------------------------------

@member_required
def backtests(request: HttpRequest) -> HttpResponse:
    """The backtest form and past runs; a valid form queues a run and opens its page."""
    form = BacktestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        strategy = form.cleaned_data["strategy"]
        try:
            run = backtest_run_create(
                tenant=request.tenant, actor=member_actor(request), strategy=strategy,
                symbol=form.cleaned_data["symbol"], timeframe=form.cleaned_data["timeframe"],
                parameters=strategy_parameters(request.POST, strategy), config=form.config())
        except ServiceError as exc:
            _form_error(form, exc)
        else:
            return redirect("dashboard:backtest_detail", run_id=run.pk)
    runs = selectors.backtest_run_list(tenant=request.tenant).defer("report")[:50]
    return render(request, "dashboard/backtests.html", {
        "form": form, "runs": runs, "submitted_params": _submitted_params(request),
        **_strategy_context()})


@member_required
def backtest_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    """One run: progress while it runs, then its metrics, equity chart and trades."""
    try:
        run = selectors.backtest_run_get(tenant=request.tenant, run_id=run_id)
    except NotFound:
        raise Http404("No such backtest.") from None
    report = run.report or {}
    trades = report.get("trades") or []
    return render(request, "dashboard/backtest_detail.html", {
        "run": run,
        "finished": run.status in (BacktestRun.Status.DONE, BacktestRun.Status.FAILED),
        "report": report,
        "metrics": report.get("metrics") or {},
        "trades": trades[-REPORT_TRADE_ROWS:][::-1],
        "trades_hidden": max(0, len(trades) - REPORT_TRADE_ROWS),
        "equity_points": report.get("equity") or [],
        "strategy_name": _strategy_name(run.strategy),
    })


def _strategy_name(key: str) -> str:
    try:
        return get_strategy(key).name
    except ServiceError:
        return key


# --- Settings ----------------------------------------------------------------------------------

# The session key that carries a new API key from its POST to the one page that shows it.
NEW_KEY_SESSION = "new_api_key_once"


@never_cache  # the page may show a new key once; no cache may keep it
@member_required
def settings_page(request: HttpRequest) -> HttpResponse:
    """API keys, exchange accounts, Telegram, members and the plan."""
    from dashboard.billing_views import billing_messages  # it imports this module

    billing_messages(request)
    new = request.session.pop(NEW_KEY_SESSION, None)
    row = (tenant_selectors.api_key_list(tenant=request.tenant).filter(pk=new["id"]).first()
           if new else None)
    return _render_settings(request, new_key=new["key"] if row else None, new_key_row=row)


def _render_settings(request: HttpRequest, *, key_form: ApiKeyForm | None = None,
                     account_form: PaperAccountForm | None = None,
                     live_account_form: LiveAccountForm | None = None,
                     credentials_form: CredentialsForm | None = None,
                     credentials_account_id: int | None = None, new_key: str | None = None,
                     new_key_row=None, status: int = 200) -> HttpResponse:
    tenant = request.tenant
    can_admin = member_actor(request).has_role(Role.ADMIN)
    accounts = list(selectors.exchange_account_list(tenant=tenant))
    context = {
        "can_admin": can_admin,
        "is_owner": member_actor(request).has_role(Role.OWNER),
        "accounts": accounts,
        "usage": page_selectors.plan_usage(tenant=tenant),
        "plans": [(Plan(plan), PLAN_LIMITS[plan]) for plan in PLAN_ORDER],
        "telegram_url": _url_or_none("notifications:telegram_settings"),
        "new_key": new_key,
        "new_key_row": new_key_row,
        "billing_configured": billing.billing_configured(),
        "paid_plans": [Plan(plan) for plan in PLAN_ORDER if plan != Plan.FREE],
    }
    if context["is_owner"]:  # the invoices are the owner's business (and a Stripe call)
        context["billing"] = billing_selectors.billing_overview(tenant=tenant)
    if can_admin:  # lesser roles never get the rows, not just a hidden section
        context.update({
            "api_keys": tenant_selectors.api_key_list(tenant=tenant),
            "key_form": key_form or ApiKeyForm(),
            "account_form": account_form or PaperAccountForm(
                initial={"label": paper_account_free_label(tenant=request.tenant)}),
            "live_account_form": live_account_form or LiveAccountForm(prefix="live"),
            "audit_events": tenant_selectors.audit_event_list(tenant=tenant)[:15],
        })
        _attach_credentials_forms(accounts, credentials_form, credentials_account_id)
    return render(request, "dashboard/settings.html", context, status=status)


def _attach_credentials_forms(accounts: list, refused: CredentialsForm | None,
                              refused_account_id: int | None) -> None:
    """A keys form on each live account's row, with ids of its own; a refused form reopens
    on its account's row with its errors."""
    for account in accounts:
        if account.mode != TradingMode.LIVE:
            continue
        if refused is not None and account.pk == refused_account_id:
            account.credentials_form, account.credentials_open = refused, True
        else:
            account.credentials_form = CredentialsForm(auto_id=f"id_keys{account.pk}_%s")
            account.credentials_open = False


@never_cache  # the response shows a new key once; no cache may keep it
@member_required
@post_only("dashboard:settings")
def api_key_create(request: HttpRequest) -> HttpResponse:
    """Mint a key, then redirect: the next page shows it once (a reload mints nothing)."""
    form = ApiKeyForm(request.POST)
    if form.is_valid():
        try:
            api_key, full_key = tenant_services.api_key_issue(
                tenant=request.tenant, actor=member_actor(request), **form.cleaned_data)
        except ServiceError as exc:
            _form_error(form, exc)
        else:
            # Held in the server-side session only until the next page pops it.
            request.session[NEW_KEY_SESSION] = {"key": full_key, "id": api_key.pk}
            return redirect(reverse("dashboard:settings") + "#api-keys")
    return _render_settings(request, key_form=form, status=400)


@member_required
@post_only("dashboard:settings")
def api_key_revoke(request: HttpRequest, key_id: int) -> HttpResponse:
    """Revoke a key; programs using it get 401 from the next request."""
    run_member_action(request, tenant_services.api_key_revoke, key_id=key_id,
                      success=lambda key: f"Key {key.name} ({key.prefix}…) is revoked.")
    return redirect("dashboard:settings")


@member_required
@post_only("dashboard:settings")
def exchange_account_new(request: HttpRequest) -> HttpResponse:
    """Add a paper account."""
    form = PaperAccountForm(request.POST)
    account = _create_account(request, form, TradingMode.PAPER)
    if account is None:
        return _render_settings(request, account_form=form)
    messages.success(request, f"Paper account {account.label} is ready for bots.")
    return redirect("dashboard:settings")


@member_required
@post_only("dashboard:settings")
def live_account_new(request: HttpRequest) -> HttpResponse:
    """Add a live account (plan permitting); its keys are set next, on its row."""
    form = LiveAccountForm(request.POST, prefix="live")
    account = _create_account(request, form, TradingMode.LIVE)
    if account is None:
        return _render_settings(request, live_account_form=form)
    messages.success(request, f"Live account {account.label} is added; set its API keys to "
                              "trade with it.")
    return redirect(f"{reverse('dashboard:settings')}#accounts")


def _create_account(request: HttpRequest, form, mode: str):
    """The new account, or None with the reason on the form."""
    if not form.is_valid():
        return None
    try:
        return exchange_account_create(tenant=request.tenant, actor=member_actor(request),
                                       mode=mode, **form.cleaned_data)
    except ServiceError as exc:
        _form_error(form, exc)
        return None


@never_cache  # the refused form is rendered again; no cache may keep what was typed
@member_required
@post_only("dashboard:settings")
def credentials_save(request: HttpRequest, account_id: int) -> HttpResponse:
    """Verify an account's keys at the exchange and keep them in the vault (admin+, password
    re-entered). The secret and password are never rendered back."""
    _account_or_404(request, account_id)
    form = CredentialsForm(request.POST, auto_id=f"id_keys{account_id}_%s")
    if form.is_valid():
        try:
            saved = exchange_credentials_save(tenant=request.tenant, actor=member_actor(request),
                                              account_id=account_id, **form.cleaned_data)
        except Forbidden as exc:
            if exc.field is not None:  # the password: shown next to it
                _form_error(form, exc)
            else:  # a role below admin: the page shows them no keys form to put it in
                messages.error(request, exc.message)
                return redirect(f"{reverse('dashboard:settings')}#accounts")
        except ServiceError as exc:
            _form_error(form, exc)
        else:
            messages.success(request, f"The keys of {saved.account.label} are verified and "
                                      "stored encrypted.")
            for warning in saved.warnings:
                messages.warning(request, warning)
            return redirect(f"{reverse('dashboard:settings')}#accounts")
    return _render_settings(request, credentials_form=form, credentials_account_id=account_id)


@member_required
@post_only("dashboard:settings")
def credentials_remove(request: HttpRequest, account_id: int) -> HttpResponse:
    """Delete an account's keys from the vault (admin+); one step, for a key that leaked."""
    run_member_action(request, exchange_credentials_remove, account_id=account_id,
                      success=lambda account: f"The keys of {account.label} are deleted.")
    return redirect(f"{reverse('dashboard:settings')}#accounts")


# --- Error pages -------------------------------------------------------------------------------

def _error_page(request: HttpRequest, status: int, title: str, text: str) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"error": {"code": str(status), "message": text}}, status=status)
    return render(request, "error.html", {"title": title, "text": text}, status=status)


def bad_request(request: HttpRequest, exception=None) -> HttpResponse:
    return _error_page(request, 400, "Bad request", "The request could not be understood.")


def permission_denied(request: HttpRequest, exception=None) -> HttpResponse:
    return _error_page(request, 403, "Not allowed", "You do not have access to this page.")


def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers and feed readers ask for /favicon.ico whatever the page links; the icon is the
    static SVG."""
    return redirect(static("favicon.svg"), permanent=True)


def page_not_found(request: HttpRequest, exception=None) -> HttpResponse:
    return _error_page(request, 404, "Not found", "There is nothing at this address.")


def server_error(request: HttpRequest) -> HttpResponse:
    return _error_page(request, 500, "Something went wrong",
                       "We hit an error and have been told about it. Please try again.")
