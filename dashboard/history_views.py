"""The Backtests page's "Download history" form and a download's status page.

The form asks for a market's real history from its exchange (into the shared store every
tenant's backtests read); the download runs as a job, so the POST answers with a redirect to
its status page, which reloads itself until the job has finished.
"""
from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from aitrader.errors import NotFound, ServiceError
from dashboard.forms import HistoryDownloadForm
from dashboard.post_only import post_only
from dashboard.views import _form_error, _render_backtests, member_required
from dashboard.web import member_actor
from trading.services.candle_history import history_download_get, history_download_request


@member_required
@post_only("dashboard:backtests")
def history_download(request: HttpRequest) -> HttpResponse:
    """Queue the download the form asks for and open its status page; a refusal is shown
    on the field it concerns, with the Backtests page around the form."""
    form = HistoryDownloadForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            download = history_download_request(
                tenant=request.tenant, actor=member_actor(request), exchange=data["exchange"],
                symbol=data["symbol"], timeframe=data["timeframe"], since=form.since_ms())
        except ServiceError as exc:
            _form_error(form, exc)
        else:
            return redirect("dashboard:history_download_detail", download_id=download.id)
    return _render_backtests(request, download_form=form)


@member_required
def history_download_detail(request: HttpRequest, download_id: str) -> HttpResponse:
    """How a download is going; the page reloads itself until it has finished."""
    try:
        download = history_download_get(tenant=request.tenant, download_id=download_id)
    except NotFound:
        raise Http404("No such download.") from None
    return render(request, "dashboard/history_download.html", {"download": download})
