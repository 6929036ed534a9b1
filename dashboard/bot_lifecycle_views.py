"""Bot pages for a bot's life: edit, duplicate, stop, archive, unarchive, delete, and trading
by hand (enter now, exit now, cancel a working order).

Each view parses the form, calls one service and redirects (a reload never repeats it); a
refused edit renders the bot page again with the form and its errors, never an error page.
"""
from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from aitrader.errors import NotFound, ServiceError
from dashboard.post_only import post_only
from dashboard.views import (
    _bot_check,
    _bot_control,
    _bot_or_404,
    edit_form_for,
    member_required,
    render_bot_detail,
)
from dashboard.web import member_actor
from trading.core.strategies import get_strategy
from trading.services import bot_lifecycle as lifecycle
from trading.services import manual
from trading.services.bots import bot_update


def _submitted_parameters(request: HttpRequest, strategy_key: str) -> dict[str, str]:
    """The `param_<name>` inputs of the edit form (the strategy coerces and bounds them)."""
    names = [param.name for param in get_strategy(strategy_key).params]
    return {name: request.POST[f"param_{name}"] for name in names
            if request.POST.get(f"param_{name}", "") != ""}


@member_required
@post_only("dashboard:bot_detail", kwargs=("bot_id",), check=_bot_check)
def bot_edit(request: HttpRequest, bot_id: int) -> HttpResponse:
    """Save the edit form: settings at once, market and candle only while flat."""
    bot = _bot_or_404(request, bot_id)
    form = edit_form_for(bot, request.POST)
    if form.is_valid():
        changes = {**form.cleaned_data,
                   "parameters": {**bot.parameters,
                                  **_submitted_parameters(request, bot.strategy)}}
        try:
            bot_update(tenant=request.tenant, actor=member_actor(request), bot_id=bot.pk,
                       **changes)
        except NotFound:
            form.add_error(None, "That account is not one of this workspace's.")
        except ServiceError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(request, f"{changes['name']} is saved.")
            return redirect("dashboard:bot_detail", bot_id=bot.pk)
    bot.refresh_from_db()
    return render_bot_detail(request, bot, edit_form=form, status=400)


@member_required
@post_only("dashboard:bot_detail", kwargs=("bot_id",), check=_bot_check)
def bot_duplicate(request: HttpRequest, bot_id: int) -> HttpResponse:
    """A paused copy; the page of the copy opens."""
    bot = _bot_or_404(request, bot_id)
    try:
        copy = lifecycle.bot_duplicate(tenant=request.tenant, actor=member_actor(request),
                                       bot_id=bot.pk, name=request.POST.get("name", ""))
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("dashboard:bot_detail", bot_id=bot.pk)
    messages.success(request, f"{copy.name} is a paused copy of {bot.name}: review it, then "
                              f"resume it.")
    return redirect("dashboard:bot_detail", bot_id=copy.pk)


@member_required
@post_only("dashboard:bot_detail", kwargs=("bot_id",), check=_bot_check)
def bot_stop(request: HttpRequest, bot_id: int) -> HttpResponse:
    """Stop a flat bot."""
    return _bot_control(request, bot_id, lifecycle.bot_stop,
                        "{name} is stopped. Resume starts it again.")


@member_required
@post_only("dashboard:bot_detail", kwargs=("bot_id",), check=_bot_check)
def bot_archive(request: HttpRequest, bot_id: int) -> HttpResponse:
    """Stop and archive a flat bot; it leaves the overview, its page stays."""
    return _bot_control(request, bot_id, lifecycle.bot_archive,
                        "{name} is archived: kept with its history, out of the overview.")


@member_required
@post_only("dashboard:bot_detail", kwargs=("bot_id",), check=_bot_check)
def bot_unarchive(request: HttpRequest, bot_id: int) -> HttpResponse:
    """Back on the overview, stopped."""
    return _bot_control(request, bot_id, lifecycle.bot_unarchive,
                        "{name} is back on the overview, stopped.")


@member_required
@post_only("dashboard:bot_detail", kwargs=("bot_id",), check=_bot_check)
def bot_delete(request: HttpRequest, bot_id: int) -> HttpResponse:
    """Delete an archived bot that never traded; back to the overview."""
    bot = _bot_or_404(request, bot_id)
    try:
        lifecycle.bot_delete(tenant=request.tenant, actor=member_actor(request), bot_id=bot.pk)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("dashboard:bot_detail", bot_id=bot.pk)
    messages.success(request, f"{bot.name} is deleted.")
    return redirect("dashboard:overview")


@member_required
@post_only("dashboard:bot_detail", kwargs=("bot_id",), check=_bot_check)
def bot_manual(request: HttpRequest, bot_id: int) -> HttpResponse:
    """Enter now, exit now (a share) or cancel an order: the next tick carries it out."""
    bot = _bot_or_404(request, bot_id)
    order_id = request.POST.get("order", "")
    try:
        manual.manual_order_request(
            tenant=request.tenant, actor=member_actor(request), bot_id=bot.pk,
            action=request.POST.get("action", ""),
            fraction=request.POST.get("fraction") or None,
            order_id=int(order_id) if order_id.isdigit() else None)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Asked {bot.name} to {manual.WORDS[request.POST['action']]}:"
                                  f" its next tick (within seconds) carries it out; the "
                                  f"thoughts below say how it went.")
    return redirect("dashboard:bot_detail", bot_id=bot.pk)
