"""The audit-log page, /settings/audit/: every recorded action of the tenant, for admins.

Filters are the CSV export's (dashboard.apis.audit.AuditEventFilter), so "Export CSV" on the
Enterprise plan downloads what the page shows; other plans see which plan includes it.
"""
from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.urls import reverse

from aitrader.errors import PlanLimitExceeded
from dashboard.apis.audit import AuditEventFilter
from dashboard.views import member_required
from tenants import selectors as tenant_selectors
from tenants.actors import Actor
from tenants.models import Role
from tenants.plans import plan_require_feature

PAGE_SIZE = 50


def _export_refusal(plan: str) -> str | None:
    """Why this plan cannot export the log (naming the plan that can), or None."""
    try:
        plan_require_feature(plan, "audit_export")
    except PlanLimitExceeded as exc:
        return exc.message
    return None


def _given(query: QueryDict) -> QueryDict:
    """The filters the form was given a value for: the API refuses an empty date filter
    (the form submits every field, filled or not)."""
    given = QueryDict(mutable=True)
    given.update({name: value for name, value in query.items() if value})
    return given


@member_required
def audit_log(request: HttpRequest) -> HttpResponse:
    """The tenant's audit log, newest first, filtered and paginated (admin+ only)."""
    if not Actor.for_member(request.membership).has_role(Role.ADMIN):
        raise PermissionDenied("The audit log is for admins and owners.")
    events = tenant_selectors.audit_event_list(tenant=request.tenant)
    filters = AuditEventFilter(request.GET or None, queryset=events)
    page = Paginator(filters.qs, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "dashboard/audit_log.html", {
        "filters": filters,
        "page": page,
        "query": query.urlencode(),
        "actions": events.order_by("action").values_list("action", flat=True).distinct(),
        "export_url": f"{reverse('api:audit-export')}?{_given(query).urlencode()}",
        "export_refusal": _export_refusal(request.tenant.plan),
    })
