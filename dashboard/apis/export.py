"""/api/v1/export/trades.csv: the tenant's trades, filtered like the list, streamed."""
from __future__ import annotations

from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

from dashboard.apis.base import TenantAPIView
from dashboard.apis.filters import TradeFilter
from dashboard.export import csv_chunks, csv_chunks_async
from tenants.models import Scope
from tenants.plans import plan_require_feature
from trading import selectors


class CsvRenderer(BaseRenderer):
    media_type = "text/csv"
    format = "csv"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


class TradeExportApi(TenantAPIView):
    """Stream the trades as CSV. A key with the `export` scope may always export; a read
    credential may where the plan includes exports."""

    filterset_class = TradeFilter
    renderer_classes = [CsvRenderer]

    def get_tenant_queryset(self, tenant):
        return selectors.trade_list(tenant=tenant).order_by("id")

    def finalize_response(self, request, response, *args, **kwargs):
        if isinstance(response, Response):  # only errors: the API's one JSON error shape
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)

    def check_permissions(self, request) -> None:
        super().check_permissions(request)
        actor = request.auth
        if actor.api_key is not None and (Scope.EXPORT in actor.scopes
                                          or Scope.ADMIN in actor.scopes):
            return
        plan_require_feature(actor.tenant.plan, "exports")

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR})
    def get(self, request):
        trades = self.filter_queryset(self.get_queryset())
        wsgi_request = request._request
        chunks = (csv_chunks_async(trades) if isinstance(wsgi_request, ASGIRequest)
                  else csv_chunks(trades))
        response = StreamingHttpResponse(chunks, content_type="text/csv; charset=utf-8")
        stamp = timezone.now().strftime("%Y%m%d-%H%M")
        response["Content-Disposition"] = (
            f'attachment; filename="trades-{self.tenant.slug}-{stamp}.csv"')
        return response
