"""/api/v1/backtests/: create queues a backtest (202, it runs in the background); detail shows
progress and report."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers

from dashboard.apis.base import TenantViewSet
from dashboard.apis.filters import BacktestFilter
from dashboard.apis.jobs import JOB_LOCATION, accepted
from trading import selectors
from trading.models import BacktestRun
from trading.services.backtests import backtest_run_create


class BacktestListSerializer(serializers.ModelSerializer):
    class Meta:
        model = BacktestRun
        fields = ["id", "strategy", "parameters", "config", "symbol", "timeframe", "status",
                  "progress", "error", "created_at", "started_at", "finished_at"]
        read_only_fields = fields


class BacktestDetailSerializer(BacktestListSerializer):
    class Meta(BacktestListSerializer.Meta):
        fields = [*BacktestListSerializer.Meta.fields, "report"]
        read_only_fields = fields


class BacktestCreateSerializer(serializers.Serializer):
    strategy = serializers.CharField(max_length=40)
    symbol = serializers.CharField(max_length=30, default="BTC/USDT")
    timeframe = serializers.CharField(max_length=8, default="1h")
    parameters = serializers.DictField(required=False, default=dict)
    config = serializers.DictField(required=False, default=dict,
                                   help_text="preset, risk, cash, fee, slippage, stake")


class BacktestViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """The tenant's backtests; creating one needs only the `read` scope (it trades nothing)."""

    filterset_class = BacktestFilter
    ordering_fields = ["created_at"]
    scope_map = {"POST": "read"}

    def get_serializer_class(self):
        return BacktestDetailSerializer if self.action == "retrieve" else BacktestListSerializer

    def get_tenant_queryset(self, tenant):
        runs = selectors.backtest_run_list(tenant=tenant)
        return runs if self.action == "retrieve" else runs.defer("report")

    @extend_schema(request=BacktestCreateSerializer, responses={202: BacktestDetailSerializer},
                   parameters=[JOB_LOCATION])
    def create(self, request):
        """Queue a backtest: 202 at once, with the run's URL in `Location`; the run reports
        its progress there and on /ws/live ("backtest" events) until it is done or failed."""
        serializer = BacktestCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        run = backtest_run_create(tenant=self.tenant, actor=self.actor,
                                  **serializer.validated_data)
        run = selectors.backtest_run_get(tenant=self.tenant, run_id=run.pk)
        return accepted(request, BacktestDetailSerializer(run).data,
                        view_name="api:backtest-detail", pk=run.pk)
