"""/api/v1/sweeps/: create queues a parameter sweep (202, it runs in the background); detail
shows progress and, once done, every combination's in-sample and out-of-sample figures."""
from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers

from dashboard.apis.base import TenantViewSet
from dashboard.apis.jobs import JOB_LOCATION, accepted
from trading import selectors
from trading.core.backtest import walk_forward
from trading.models import BacktestSweep
from trading.services.sweeps import sweep_create

BOUNDS = walk_forward.describe_bounds()
GRID_HELP = (
    "Swept parameter -> a list of values, or {\"min\", \"max\", \"step\"} for a number (step "
    f"1 by default for whole numbers). At most {BOUNDS['max_values_per_parameter']} values "
    f"per parameter and {BOUNDS['max_combinations']} combinations; each value within the "
    "parameter's declared range (GET /api/v1/strategies/).")


class SweepFilter(django_filters.FilterSet):
    class Meta:
        model = BacktestSweep
        fields = ["status", "strategy", "symbol"]


class SweepListSerializer(serializers.ModelSerializer):
    class Meta:
        model = BacktestSweep
        fields = ["id", "strategy", "parameters", "grid", "config", "symbol", "timeframe",
                  "out_of_sample_pct", "combinations", "status", "progress", "error",
                  "created_at", "started_at", "finished_at"]
        read_only_fields = fields


class SweepDetailSerializer(SweepListSerializer):
    result = serializers.JSONField(
        read_only=True, allow_null=True,
        help_text="Once done: split (the in-sample and out-of-sample periods), parameters, "
                  "grid, rank_by, rows (best in-sample return first: rank, params, in_sample, "
                  f"out_of_sample with {', '.join(walk_forward.ROW_METRICS)}) and invalid "
                  "(combinations the strategy refuses, with the reason).")

    class Meta(SweepListSerializer.Meta):
        fields = [*SweepListSerializer.Meta.fields, "result"]
        read_only_fields = fields


class SweepCreateSerializer(serializers.Serializer):
    strategy = serializers.CharField(max_length=40)
    symbol = serializers.CharField(max_length=30, default="BTC/USDT")
    timeframe = serializers.CharField(max_length=8, default="1h")
    grid = serializers.DictField(help_text=GRID_HELP)
    parameters = serializers.DictField(required=False, default=dict,
                                       help_text="Fixed values of parameters not swept.")
    config = serializers.DictField(required=False, default=dict,
                                   help_text="preset, risk, cash, fee, slippage, stake, "
                                             "start_ms, end_ms (as for a backtest)")
    out_of_sample_pct = serializers.IntegerField(
        required=False, default=walk_forward.OUT_OF_SAMPLE_PCT_DEFAULT,
        min_value=walk_forward.OUT_OF_SAMPLE_PCT_MIN,
        max_value=walk_forward.OUT_OF_SAMPLE_PCT_MAX,
        help_text="The last share of the candles, in percent, kept out of the ranking.")


class SweepViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """The tenant's parameter sweeps; creating one needs only the `read` scope (it trades
    nothing), as a backtest does."""

    filterset_class = SweepFilter
    ordering_fields = ["created_at"]
    scope_map = {"POST": "read"}

    def get_serializer_class(self):
        return SweepDetailSerializer if self.action == "retrieve" else SweepListSerializer

    def get_tenant_queryset(self, tenant):
        sweeps = selectors.sweep_list(tenant=tenant)
        return sweeps if self.action == "retrieve" else sweeps.defer("result")

    @extend_schema(request=SweepCreateSerializer, responses={202: SweepDetailSerializer},
                   parameters=[JOB_LOCATION])
    def create(self, request):
        """Queue a parameter sweep: 202 at once, with the sweep's URL in `Location`; it
        reports its progress there and on /ws/live ("sweep" events) until done or failed.
        The last `out_of_sample_pct` percent of the candles are kept out of the ranking and
        each combination's figures on them are shown beside its in-sample ones."""
        serializer = SweepCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        sweep = sweep_create(tenant=self.tenant, actor=self.actor, **serializer.validated_data)
        sweep = selectors.sweep_get(tenant=self.tenant, sweep_id=sweep.pk)
        return accepted(request, SweepDetailSerializer(sweep).data,
                        view_name="api:sweep-detail", pk=sweep.pk)
