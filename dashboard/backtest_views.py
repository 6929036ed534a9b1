"""The backtest runs compared side by side (the report's own figures and tables are built
in dashboard/backtest_report.py)."""
from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from aitrader.errors import NotFound, ValidationFailed
from dashboard.views import _strategy_name, member_required
from trading import selectors
from trading.core.backtest.compare import COMPARE_RUNS_MAX, COMPARE_RUNS_MIN, parse_run_ids


@member_required
def backtest_compare(request: HttpRequest) -> HttpResponse:
    """2 to 6 of the tenant's runs side by side (?runs=1,2,3, or the runs list's ticked
    boxes as ?run=1&run=2): settings and metrics in rows, the best value of each row
    marked, and their equity curves as returns on one chart. A bad pick goes back to the
    runs list with a message; another tenant's run is a 404."""
    raw = request.GET.get("runs") or ",".join(request.GET.getlist("run"))
    try:
        run_ids = parse_run_ids(raw)
    except ValidationFailed as exc:
        messages.error(request, exc.message)
        return redirect(reverse("dashboard:backtests") + "#past-runs")
    try:
        comparison = selectors.backtest_runs_compare(tenant=request.tenant, run_ids=run_ids)
    except NotFound:
        raise Http404("No such backtest.") from None
    for column in comparison["runs"]:
        column["strategy_name"] = _strategy_name(column["strategy"])
    return render(request, "dashboard/backtest_compare.html", {
        "comparison": comparison,
        "equity_series": [series for series in comparison["equity"] if series["points"]],
        "compare_min": COMPARE_RUNS_MIN, "compare_max": COMPARE_RUNS_MAX})
