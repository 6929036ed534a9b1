"""Web pages of the dashboard, and the friendly error pages.

Pages are thin: parse a form, call one service, render. A ServiceError becomes a message or a
form error a person understands; another tenant's object is a 404, like a missing one. Live
updates come from static JS (/ws/live and the REST API); the pages work without it.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import NoReverseMatch, reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from aitrader.errors import Forbidden, NotFound, ServiceError, ValidationFailed
from dashboard import selectors as page_selectors
from dashboard.backtest_report import report_context, runs_table_context
from dashboard.forms import (
    NEW_PAPER_ACCOUNT,
    ApiKeyForm,
    BacktestForm,
    BotEditForm,
    BotForm,
    CandleUploadForm,
    CredentialsForm,
    HistoryDownloadForm,
    LiveAccountForm,
    PaperAccountForm,
    strategy_parameters,
)
from dashboard.post_only import post_only
from dashboard.uploads import BoundedUploadHandler
from dashboard.web import member_actor, run_member_action, show_once_hold, show_once_take
from mlmodels import selectors as ml_selectors
from tenants import selectors as tenant_selectors
from tenants import services as tenant_services
from tenants.billing import selectors as billing_selectors
from tenants.billing import services as billing
from tenants.models import Role
from tenants.plans import PLAN_LIMITS, PLAN_ORDER, Plan
from trading import selectors
from trading.core.money import as_decimal
from trading.core.pnl import bot_pnl
from trading.core.strategies import get_strategy, strategy_list
from trading.core.strategies.presets import PRESETS, risk_for
from trading.models import BacktestRun, Bot, TradingMode
from trading.services import bots as bot_services
from trading.services import protection
from trading.services.accounts import (
    SUPPORTED_EXCHANGES,
    exchange_account_create,
    paper_account_free_label,
)
from trading.services.backtests import DATA_SET_LABELS, backtest_run_create
from trading.services.bots import NEW_PAPER_EXCHANGE
from trading.services.candle_history import (
    candle_upload_create,
    candle_upload_get,
    candle_upload_list,
    candle_upload_size_check,
    history_download_list,
    stored_market_list,
)
from trading.services.credentials import exchange_credentials_remove, exchange_credentials_save
from trading.services.market import exchange_market_offer, market_offer

REPORT_TRADE_ROWS = 200
PAST_RUNS = 50


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
           "pairs": data["pairs"],
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
        "pair_rows": selectors.bot_pair_rows(bot=bot),
        "max_open_positions": risk_for(bot.preset, bot.risk).max_open_positions,
        "lead": selectors.bot_get(tenant=bot.tenant_id, bot_id=bot.lead_id) if bot.lead_id
        else None,
        "balances": selectors.account_balances(account=bot.account),
        "edit_open": edit_form is not None,
        **page_selectors.bot_recent_activity(bot=bot),
        **_signal_hook_panel(request, bot),
    }, status=status)


def _signal_hook_panel(request: HttpRequest, bot: Bot) -> dict:
    # Imported here: signal_views builds on this module's helpers.
    from dashboard.signal_views import signal_hook_panel
    return signal_hook_panel(request, bot)


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
    """The backtest and upload forms, the stored history there is, and past runs."""
    if request.method == "POST":  # the form's old address: the same action as its new one
        return backtest_new(request)
    return _render_backtests(request)


def _render_backtests(request: HttpRequest, *, form: BacktestForm | None = None,
                      upload_form: CandleUploadForm | None = None,
                      download_form: HistoryDownloadForm | None = None) -> HttpResponse:
    tenant = request.tenant
    shared = stored_market_list()
    uploaded = stored_market_list(tenant_id=tenant.pk)
    sort = request.GET.get("sort")
    runs = selectors.backtest_run_summaries(tenant=tenant, ordering=sort)[:PAST_RUNS]
    return render(request, "dashboard/backtests.html", {
        "form": form or _backtest_form(request, markets=[*shared, *uploaded]),
        "upload_form": upload_form or CandleUploadForm(),
        "stored_markets": shared, "uploaded_markets": uploaded,
        "uploads": candle_upload_list(tenant=tenant),
        "can_upload": member_actor(request).has_role(Role.TRADER),
        "download_form": _download_form(download_form),
        "downloads": history_download_list(tenant=tenant),
        "can_download": member_actor(request).has_role(Role.ADMIN),
        "runs": runs, "submitted_params": _submitted_params(request), **_strategy_context(),
        **runs_table_context(sort)})


def _download_form(form: HistoryDownloadForm | None) -> HistoryDownloadForm:
    """The download form suggesting the markets the exchanges themselves list (cached)."""
    form = form or HistoryDownloadForm()
    form.offer_symbols(exchange_market_offer(exchange_ids=SUPPORTED_EXCHANGES))
    return form


def backtest_markets(request: HttpRequest, markets=None) -> list[tuple[str, str]]:
    """(symbol, timeframe) of the stored and uploaded history the backtest and sweep forms
    offer besides the sample's (`markets`: those stored markets, when read already)."""
    if markets is None:
        markets = [*stored_market_list(), *stored_market_list(tenant_id=request.tenant.pk)]
    return [(m.symbol, m.timeframe) for m in markets]


def _backtest_form(request: HttpRequest, data=None, *, markets=None) -> BacktestForm:
    """The form offering the markets with stored or uploaded history besides the sample's."""
    return BacktestForm(data, markets=backtest_markets(request, markets))


@member_required
@post_only("dashboard:backtests")
def backtest_new(request: HttpRequest) -> HttpResponse:
    """Queue the backtest the form asks for and open its page; a refusal is shown on the
    field it concerns."""
    form = _backtest_form(request, request.POST)
    if form.is_valid():
        strategy = form.cleaned_data["strategy"]
        try:
            run = backtest_run_create(
                tenant=request.tenant, actor=member_actor(request), strategy=strategy,
                symbol=form.cleaned_data["symbol"], timeframe=form.cleaned_data["timeframe"],
                parameters=strategy_parameters(request.POST, strategy), config=form.config())
        except ServiceError as exc:
            field = BacktestForm.SERVICE_FIELDS.get(exc.field, exc.field)
            _form_error(form, ValidationFailed(exc.message, field=field))
        else:
            return redirect("dashboard:backtest_detail", run_id=run.pk)
    return _render_backtests(request, form=form)


@csrf_exempt  # checked by _backtest_upload, once the bounded handler is in place
@member_required
@post_only("dashboard:backtests")
def backtest_upload(request: HttpRequest) -> HttpResponse:
    """Add a candle CSV to the tenant's own history: a small file at once (back to the page
    with a message), a large one by a job (its status page follows it). The body stops
    being read past the upload limit (an oversize file never reaches the disk whole)."""
    request.upload_handlers.insert(0, BoundedUploadHandler(
        request, settings.AITRADER_CANDLE_UPLOAD_MAX_BYTES))
    return _backtest_upload(request)


@csrf_protect
def _backtest_upload(request: HttpRequest) -> HttpResponse:
    form = CandleUploadForm(request.POST, request.FILES)
    if getattr(request, "upload_too_large", None):
        try:
            candle_upload_size_check(size=request.upload_too_large)
        except ServiceError as exc:
            form.errors.pop("file", None)  # "required": the file was never read
            _form_error(form, exc)
    elif form.is_valid():
        data = form.cleaned_data
        try:
            upload = candle_upload_create(
                tenant=request.tenant, actor=member_actor(request), file=data["file"],
                exchange=data["exchange"], symbol=data["symbol"], timeframe=data["timeframe"])
        except ServiceError as exc:
            _form_error(form, exc)
        else:
            if not upload.finished:
                return redirect("dashboard:backtest_upload_detail", upload_id=upload.id)
            messages.success(request, f"Imported {upload.candles:,} candles of {upload.symbol} "
                                      f"{upload.timeframe} ({upload.added:,} new) into your "
                                      "uploaded history.")
            return redirect("dashboard:backtests")
    return _render_backtests(request, upload_form=form)


@member_required
def backtest_upload_detail(request: HttpRequest, upload_id: str) -> HttpResponse:
    """How an upload's import is going; the page reloads itself until it has finished."""
    try:
        upload = candle_upload_get(tenant=request.tenant, upload_id=upload_id)
    except NotFound:
        raise Http404("No such upload.") from None
    return render(request, "dashboard/backtest_upload.html", {"upload": upload})


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
        "run_settings": _run_settings(run, report),
        "ml_learned_until": _ml_learned_until(request, report),
        **(report_context(run, report) if run.status == BacktestRun.Status.DONE else {}),
    })


def _ml_learned_until(request: HttpRequest, report: dict) -> str | None:
    """For an ml_signal run: when its model's training candles end (the page marks the part
    of the run before that as in-sample)."""
    model_id = (report.get("ml_model") or {}).get("id")
    if model_id is None:
        return None
    return ml_selectors.mlmodel_learned_until(tenant=request.tenant, model_id=model_id)


def _run_settings(run: BacktestRun, report: dict) -> list[tuple[str, str]]:
    """The data set, range and frictions a run used, as the page shows them."""
    data = (report.get("config") or {}).get("data") or {}
    kind = data.get("set") or run.config.get("data") or "sample"
    exchange = data.get("exchange") or run.config.get("exchange")
    rows = [("Data set", DATA_SET_LABELS.get(kind, kind) + (f" · {exchange}" if exchange else ""))]
    first, last = data.get("start_ms", run.config.get("start_ms")), data.get(
        "end_ms", run.config.get("end_ms"))
    if first is not None or last is not None:
        rows.append(("Range (UTC)", f"{_utc(first) or 'first candle'} to "
                                    f"{_utc(last) or 'last candle'}"))
    for name, label in (("fee", "Fee"), ("slippage", "Slippage"), ("stake", "Stake")):
        value = as_decimal(run.config.get(name))  # stored as the caller sent it: str or number
        if value is not None:
            rows.append((label, f"{value * 100:f}".rstrip("0").rstrip(".") + " %"))
    return rows


def _utc(timestamp_ms: int | None) -> str:
    if timestamp_ms is None:
        return ""
    return datetime.fromtimestamp(timestamp_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


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
    new = show_once_take(request, NEW_KEY_SESSION)
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
            show_once_hold(request, NEW_KEY_SESSION, {"key": full_key, "id": api_key.pk})
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
