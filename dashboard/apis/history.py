"""/api/v1/history/: fill the stored candle history backtests read.

`downloads/` queues a download of a market's real history from its exchange into the shared
store (202, it runs in the background); `uploads/` takes a candle CSV for the workspace's own
store (201 when imported at once, 202 when a job imports it). Both have a status resource.
The same services as the Backtests page, with the same bounds and messages.
"""
from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.reverse import reverse

from dashboard.apis.backtests import MomentField
from dashboard.apis.base import TenantAPIView
from dashboard.apis.jobs import JOB_LOCATION, accepted
from dashboard.uploads import BoundedUploadHandler
from trading.core.timeframes import SUPPORTED as SUPPORTED_TIMEFRAMES
from trading.services.accounts import SUPPORTED_EXCHANGES
from trading.services.candle_history import (
    candle_upload_create,
    candle_upload_get,
    candle_upload_size_check,
    history_download_get,
    history_download_request,
)

STATUSES = ["queued", "running", "done", "failed"]


class _StatusSerializer(serializers.Serializer):
    id = serializers.CharField(read_only=True)
    status = serializers.CharField(read_only=True, help_text=" / ".join(STATUSES))
    exchange = serializers.CharField(read_only=True)
    symbol = serializers.CharField(read_only=True)
    timeframe = serializers.CharField(read_only=True)
    created_at = serializers.CharField(read_only=True)
    candles = serializers.IntegerField(read_only=True, help_text="Candles read (once done).")
    added = serializers.IntegerField(read_only=True,
                                     help_text="Of those, how many the store did not hold.")
    first_ms = serializers.IntegerField(read_only=True, allow_null=True)
    last_ms = serializers.IntegerField(read_only=True, allow_null=True)
    error = serializers.CharField(read_only=True, help_text="Why it failed (else empty).")


class HistoryDownloadSerializer(_StatusSerializer):
    since_ms = serializers.IntegerField(read_only=True)
    updated_at = serializers.CharField(read_only=True)
    progress = serializers.IntegerField(read_only=True, help_text="Percent of the period.")


class HistoryUploadSerializer(_StatusSerializer):
    name = serializers.CharField(read_only=True)
    size = serializers.IntegerField(read_only=True)


class HistoryDownloadCreateSerializer(serializers.Serializer):
    exchange = serializers.ChoiceField(choices=list(SUPPORTED_EXCHANGES))
    symbol = serializers.CharField(max_length=30, help_text="BASE/QUOTE, e.g. BTC/USDT; one "
                                                            "of GET /api/v1/markets/.")
    timeframe = serializers.ChoiceField(choices=list(SUPPORTED_TIMEFRAMES))
    since = MomentField(help_text="First candle: epoch ms, or an ISO-8601 date or date-time "
                                  "(UTC); from 2010-01-01 up to now.")


class HistoryUploadCreateSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="timestamp,open,high,low,close,volume; timestamps "
                                           "in epoch ms or ISO-8601 (UTC).")
    exchange = serializers.CharField(max_length=32, default="binance")
    symbol = serializers.CharField(max_length=30, help_text="BASE/QUOTE, e.g. BTC/USDT.")
    timeframe = serializers.ChoiceField(choices=list(SUPPORTED_TIMEFRAMES))


class HistoryDownloadListApi(TenantAPIView):
    """Queue a download of a market's history from its exchange into the stored history
    shared by every workspace (an admin's session, or a key with the `admin` scope)."""

    scope_map = {"POST": "admin"}

    @extend_schema(request=HistoryDownloadCreateSerializer,
                   responses={202: HistoryDownloadSerializer}, parameters=[JOB_LOCATION])
    def post(self, request):
        """202 at once with the download's URL in `Location`; it reports its progress there
        and on /ws/live ("history_download" events) until done or failed. A market already
        being downloaded is a 409."""
        serializer = HistoryDownloadCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        download = history_download_request(
            tenant=self.tenant, actor=self.actor, exchange=data["exchange"],
            symbol=data["symbol"], timeframe=data["timeframe"], since=data["since"])
        return accepted(request, HistoryDownloadSerializer(download).data,
                        view_name="api:history-download-detail", pk=download.id)

    def get_tenant_queryset(self, tenant):  # status files, no rows
        raise NotImplementedError


class HistoryDownloadDetailApi(TenantAPIView):
    """How one of the workspace's downloads is going (another workspace's is a 404)."""

    @extend_schema(responses={200: HistoryDownloadSerializer})
    def get(self, request, download_id: str):
        download = history_download_get(tenant=self.tenant, download_id=download_id)
        return Response(HistoryDownloadSerializer(download).data)

    def get_tenant_queryset(self, tenant):  # status files, no rows
        raise NotImplementedError


class HistoryUploadListApi(TenantAPIView):
    """Upload a candle CSV into the workspace's own stored history (a trader's session, or
    a key with the `control` scope), multipart with the fields below."""

    scope_map = {"POST": "control"}
    parser_classes = [MultiPartParser]

    def initialize_request(self, request, *args, **kwargs):
        # First in the chain, before anything reads the body (authentication may): an
        # oversize file stops being read at the limit and never reaches the disk whole.
        request.upload_handlers.insert(0, BoundedUploadHandler(
            request, settings.AITRADER_CANDLE_UPLOAD_MAX_BYTES))
        return super().initialize_request(request, *args, **kwargs)

    @extend_schema(request={"multipart/form-data": HistoryUploadCreateSerializer},
                   responses={201: HistoryUploadSerializer, 202: HistoryUploadSerializer},
                   parameters=[JOB_LOCATION])
    def post(self, request):
        """201 when the file was imported at once (up to the inline size), 202 with the
        upload's URL when a job imports it. A bad row is a 400 naming it; nothing is stored
        then. Too large or empty: a 400 on `file`."""
        serializer = HistoryUploadCreateSerializer(data=request.data)  # reads the body
        too_large = getattr(request._request, "upload_too_large", None)
        if too_large:  # the handler stopped reading: say so rather than "file required"
            candle_upload_size_check(size=too_large)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        upload = candle_upload_create(tenant=self.tenant, actor=self.actor, file=data["file"],
                                      exchange=data["exchange"], symbol=data["symbol"],
                                      timeframe=data["timeframe"])
        body = HistoryUploadSerializer(upload).data
        if not upload.finished:
            return accepted(request, body, view_name="api:history-upload-detail",
                            pk=upload.id)
        url = reverse("api:history-upload-detail", args=[upload.id], request=request)
        return Response({**body, "url": url}, status=status.HTTP_201_CREATED,
                        headers={"Location": url})

    def get_tenant_queryset(self, tenant):  # status files, no rows
        raise NotImplementedError


class HistoryUploadDetailApi(TenantAPIView):
    """How one of the workspace's uploads went (another workspace's is a 404)."""

    @extend_schema(responses={200: HistoryUploadSerializer})
    def get(self, request, upload_id: str):
        upload = candle_upload_get(tenant=self.tenant, upload_id=upload_id)
        return Response(HistoryUploadSerializer(upload).data)

    def get_tenant_queryset(self, tenant):  # status files, no rows
        raise NotImplementedError
