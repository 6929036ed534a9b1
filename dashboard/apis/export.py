"""/api/v1/export/trades.csv: the tenant's trades, filtered like the list, streamed."""
from __future__ import annotations

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

from dashboard.apis.base import TenantAPIView
from dashboard.apis.filters import TradeFilter
from dashboard.export import csv_chunks, streaming_csv
from tenants.actors import Actor
from trading import selectors


class CsvRenderer(BaseRenderer):
    media_type = "text/csv"
    format = "csv"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


class CsvStreamApi(TenantAPIView):
    """Base of CSV downloads: rows stream in constant memory; errors keep the API's JSON."""

    renderer_classes = [CsvRenderer]

    def finalize_response(self, request, response, *args, **kwargs):
        if isinstance(response, Response):  # only errors: the API's one JSON error shape
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)

    def csv_download(self, make_chunks, name: str):
        """Stream `make_chunks()` as `<name>-<tenant>-<time>.csv`."""
        stamp = timezone.now().strftime("%Y%m%d-%H%M")
        return streaming_csv(self.request._request, make_chunks,
                             f"{name}-{self.tenant.slug}-{stamp}.csv")


class TradeExportApi(CsvStreamApi):
    """Stream the trades as CSV: the `export` or `read` scope, on a plan with exports
    (trading.selectors.trade_list_for_export holds the rule)."""

    filterset_class = TradeFilter

    def get_tenant_queryset(self, tenant):
        return selectors.trade_list_for_export(actor=self.actor)

    def check_permissions(self, request) -> None:
        # Checked before the first byte streams, so a refusal keeps the API's JSON shape.
        if not isinstance(request.auth, Actor):
            self.permission_denied(request)  # 401 without a credential
        selectors.trade_list_for_export(actor=request.auth)

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR})
    def get(self, request):
        trades = self.filter_queryset(self.get_queryset())
        return self.csv_download(lambda: csv_chunks(trades), "trades")
