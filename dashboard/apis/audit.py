"""/api/v1/audit-events/export.csv: the tenant's audit log as CSV (Enterprise plan, admins).

The filters are shared with the audit-log page (dashboard/audit_views.py), so the page's
"Export" link downloads exactly what the page shows.
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from itertools import islice

import django_filters
from django.db.models import QuerySet
from django.forms import DateInput
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema

from dashboard.apis.export import CsvStreamApi
from dashboard.export import LINE_END, neutralise
from tenants import selectors as tenant_selectors
from tenants.models import AuditEvent, Role, Scope
from tenants.plans import plan_require_feature
from tenants.services import audit_record

HEADER = ["id", "time", "actor", "via", "action", "target", "ip", "user_agent", "details"]
COLUMNS = ["id", "created_at", "actor_label", "via", "action", "target", "ip", "user_agent",
           "details"]
CHUNK_ROWS = 1000


class AuditEventFilter(django_filters.FilterSet):
    """Narrow the log: action prefix ("bot." or "login.failure"), who, what, how, when."""

    action = django_filters.CharFilter(lookup_expr="startswith", label="Action starts with")
    actor = django_filters.CharFilter(field_name="actor_label", lookup_expr="icontains",
                                      label="Who (e-mail or key prefix)")
    target = django_filters.CharFilter(lookup_expr="icontains", label="Target contains")
    via = django_filters.CharFilter(label="Channel (web, api, telegram, engine)")
    ip = django_filters.CharFilter(label="IP address")
    since = django_filters.DateFilter(field_name="created_at", lookup_expr="date__gte",
                                      label="From", widget=DateInput(attrs={"type": "date"}))
    until = django_filters.DateFilter(field_name="created_at", lookup_expr="date__lte",
                                      label="To", widget=DateInput(attrs={"type": "date"}))

    class Meta:
        model = AuditEvent
        fields = ["action", "actor", "target", "via", "ip", "since", "until"]


def _row(values: tuple) -> list[str]:
    """One CSV row: text a spreadsheet could evaluate is neutralised, details as JSON."""
    event_id, created_at, *texts, details = values
    return [str(event_id), created_at.isoformat(),
            *(neutralise(str(text)) if text is not None else "" for text in texts),
            neutralise(json.dumps(details, sort_keys=True))]


def audit_csv_chunks(events: QuerySet) -> Iterator[str]:
    """The header, then the rows in chunks, read with a server-side cursor where there is one."""
    yield ",".join(HEADER) + LINE_END
    rows = events.values_list(*COLUMNS).iterator(chunk_size=CHUNK_ROWS)
    while chunk := list(islice(rows, CHUNK_ROWS)):
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator=LINE_END).writerows(_row(row) for row in chunk)
        yield buffer.getvalue()


class AuditExportApi(CsvStreamApi):
    """Stream the audit log as CSV: a signed-in admin or an `admin` key, Enterprise plan.
    Every export is itself audited, with the filters it used."""

    filterset_class = AuditEventFilter
    scope_map = {"GET": Scope.ADMIN, "HEAD": Scope.ADMIN}
    required_role = Role.ADMIN

    def get_tenant_queryset(self, tenant):
        return tenant_selectors.audit_event_list(tenant=tenant).order_by("id")

    def check_permissions(self, request) -> None:
        super().check_permissions(request)
        plan_require_feature(request.auth.tenant.plan, "audit_export")

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR})
    def get(self, request):
        events = self.filter_queryset(self.get_queryset())
        audit_record(tenant=self.tenant, actor=self.actor, action="audit_log.export",
                     details={"filters": {k: v for k, v in request.query_params.items()
                                          if k in AuditEventFilter.base_filters}})
        return self.csv_download(lambda: audit_csv_chunks(events), "audit")
