"""Parameter sweep pages: the form with past sweeps, and one sweep's progress, results table
and heatmap (server-rendered; the strict CSP allows no inline script or style)."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from aitrader.errors import NotFound, ServiceError
from dashboard.forms import PARAM_PREFIX, BacktestSettingsForm
from dashboard.sweep_forms import SweepForm, chosen_strategy, sweepable_choices
from dashboard.views import _strategy_name, backtest_markets, member_required
from dashboard.web import member_actor
from trading import selectors
from trading.core.backtest import walk_forward
from trading.models import BacktestSweep
from trading.services.sweeps import sweep_create

PAST_SWEEPS = 50
HEATMAP_PARTS = (("in_sample", "In-sample"), ("out_of_sample", "Out-of-sample"))


@member_required
def sweeps(request: HttpRequest) -> HttpResponse:
    """The sweep form and past sweeps; a valid form queues a sweep and opens its page."""
    data = request.POST if request.method == "POST" else None
    strategy = chosen_strategy((data or request.GET).get("strategy"))
    form = SweepForm(data, strategy=strategy, markets=backtest_markets(request))
    if data is not None and form.is_valid():
        try:
            sweep = sweep_create(tenant=request.tenant, actor=member_actor(request),
                                 **form.sweep_arguments())
        except ServiceError as exc:
            form.add_service_error(exc)
        else:
            return redirect("dashboard:sweep_detail", sweep_id=sweep.pk)
    past = selectors.sweep_list(tenant=request.tenant).defer("result")[:PAST_SWEEPS]
    return render(request, "dashboard/sweeps.html", {
        "form": form, "sweeps": past, "bounds": walk_forward.describe_bounds(),
        "strategy": strategy, "strategy_choices": sweepable_choices()},
        status=400 if form.errors else 200)


@member_required
def sweep_detail(request: HttpRequest, sweep_id: int) -> HttpResponse:
    """One sweep: progress while it runs, then every combination's in-sample and
    out-of-sample figures (best in-sample first) and a heatmap of two parameters."""
    try:
        sweep = selectors.sweep_get(tenant=request.tenant, sweep_id=sweep_id)
    except NotFound:
        raise Http404("No such sweep.") from None
    result = sweep.result or {}
    swept = list(result.get("parameters") or sweep.grid)
    rows = _table_rows(sweep, result, swept)
    return render(request, "dashboard/sweep_detail.html", {
        "sweep": sweep,
        "finished": sweep.status in (BacktestSweep.Status.DONE, BacktestSweep.Status.FAILED),
        "strategy_name": _strategy_name(sweep.strategy),
        "result": result,
        "swept": swept,
        "rows": rows,
        "best_params": list(zip(swept, rows[0]["values"], strict=True)) if rows else [],
        "periods": _periods(result),
        **_heatmap_context(request, result, swept),
    })


def _table_rows(sweep: BacktestSweep, result: dict, swept: list[str]) -> list[dict[str, Any]]:
    """Each ranked row with its swept values in column order, and what a backtest of that
    combination posts to the backtest form."""
    return [{"rank": row["rank"], "values": [row["params"].get(name) for name in swept],
             "in_sample": row["in_sample"], "out_of_sample": row["out_of_sample"],
             "backtest": _backtest_inputs(sweep, row["params"])}
            for row in result.get("rows") or []]


def _periods(result: dict) -> dict[str, dict[str, Any]]:
    """The in-sample and out-of-sample periods with their first and last candle as times."""
    split = result.get("split") or {}
    return {part: {"candles": period["candles"], "start": _time(period["start_ms"]),
                   "end": _time(period["end_ms"])}
            for part, period in split.items() if isinstance(period, dict)}


def _time(epoch_ms: int) -> datetime:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)


def _backtest_inputs(sweep: BacktestSweep, params: dict) -> list[tuple[str, Any]]:
    inputs = [("strategy", sweep.strategy), ("symbol", sweep.symbol),
              ("timeframe", sweep.timeframe), *BacktestSettingsForm.inputs_for(sweep.config)]
    return inputs + [(PARAM_PREFIX + name, _word(value)) for name, value in params.items()]


def _word(value: Any) -> Any:
    return ("on" if value else "") if isinstance(value, bool) else value


def _heatmap_context(request: HttpRequest, result: dict, swept: list[str]) -> dict[str, Any]:
    """The heatmap the query asks for (?x=&y=&part=), else of the first two parameters
    in-sample; none when fewer than two parameters were swept."""
    if len(swept) < 2 or not result.get("rows"):
        return {"heatmap": None, "heatmap_error": ""}
    choice = {"x": request.GET.get("x") or swept[0], "y": request.GET.get("y") or swept[1],
              "part": request.GET.get("part") or "in_sample"}
    error = ""
    try:
        heatmap = walk_forward.heatmap(result, **choice)
    except ServiceError as exc:
        error = exc.message
        choice = {"x": swept[0], "y": swept[1], "part": "in_sample"}
        heatmap = walk_forward.heatmap(result, **choice)
    return {"heatmap": heatmap, "heatmap_error": error, "heatmap_choice": choice,
            "heatmap_parts": HEATMAP_PARTS,
            "heatmap_levels": range(walk_forward.HEATMAP_LEVELS),
            "heatmap_rows": list(zip(heatmap["y_values"], heatmap["cells"], strict=True))}
