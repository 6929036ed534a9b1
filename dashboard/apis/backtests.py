"""/api/v1/backtests/: create queues a backtest (202, it runs in the background); detail shows
progress and report."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import mixins, serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from aitrader.errors import ServiceError
from dashboard.apis.base import TenantViewSet
from dashboard.apis.filters import BacktestFilter, ListFilterBackend, StrictOrderingFilter
from dashboard.apis.jobs import JOB_LOCATION, accepted
from trading import selectors
from trading.core.backtest.compare import COMPARE_RUNS_MAX, COMPARE_RUNS_MIN, parse_run_ids
from trading.core.backtest.config import BACKTEST_LIMITS
from trading.core.candles import parse_timestamp
from trading.core.strategies.presets import PRESETS
from trading.models import BacktestRun
from trading.selectors import BACKTEST_RUN_FIGURES, BACKTEST_RUN_ORDERINGS
from trading.services.backtests import DATA_SET_LABELS, LAST_MS, backtest_run_create


def _figure(what: str) -> serializers.FloatField:
    return serializers.FloatField(read_only=True, allow_null=True,
                                  help_text=f"{what}, from the report (null until it is done).")


class BacktestListSerializer(serializers.ModelSerializer):
    return_pct = _figure("Return in percent")
    max_drawdown_pct = _figure("Max drawdown in percent")
    trades = serializers.IntegerField(read_only=True, allow_null=True,
                                      help_text="Closed trades (null until it is done).")
    sharpe = _figure("Sharpe ratio of daily returns")

    class Meta:
        model = BacktestRun
        fields = ["id", "strategy", "parameters", "config", "symbol", "timeframe", "status",
                  "progress", "error", "created_at", "started_at", "finished_at",
                  *BACKTEST_RUN_FIGURES]
        read_only_fields = fields


class BacktestDetailSerializer(BacktestListSerializer):
    class Meta(BacktestListSerializer.Meta):
        fields = [*BacktestListSerializer.Meta.fields, "report"]
        read_only_fields = fields


# A moment as epoch ms or ISO-8601; the schema says both (the field parses either).
MOMENT_SCHEMA = {"oneOf": [{"type": "integer", "format": "int64"},
                           {"type": "string", "format": "date"},
                           {"type": "string", "format": "date-time"}]}


@extend_schema_field(MOMENT_SCHEMA)
class MomentField(serializers.Field):
    """Epoch milliseconds, or an ISO-8601 date or date-time (UTC unless it says otherwise).
    With `end_of_day`, a bare date means its last millisecond, so the day is included."""

    default_error_messages = {
        "invalid": "Give epoch milliseconds or an ISO-8601 date or date-time (UTC).",
        "range": "The moment must lie between 1970 and 9999."}

    def __init__(self, *, end_of_day: bool = False, **kwargs) -> None:
        self.end_of_day = end_of_day
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> int:
        if isinstance(data, bool) or not isinstance(data, int | str):
            self.fail("invalid")
        text = str(data).strip()
        try:
            day = date.fromisoformat(text) if len(text) == 10 and "-" in text[1:] else None
            moment = parse_timestamp(text if day is None else f"{text}T00:00:00Z")
        except ValueError:
            self.fail("invalid")
        if day is not None and self.end_of_day:
            moment += 86_400_000 - 1
        if not 0 <= moment <= LAST_MS:
            self.fail("range")
        return moment

    def to_representation(self, value) -> int:
        return value


def _fraction(name: str, what: str) -> serializers.DecimalField:
    limit = BACKTEST_LIMITS[name]
    return serializers.DecimalField(required=False, coerce_to_string=False,
                                    **limit.field_kwargs(),
                                    help_text=f"{what}, as a fraction; {limit.describe()}.")


class BacktestCreateSerializer(serializers.Serializer):
    """A backtest request. The settings may also come inside `config` (older clients), but
    not both ways at once."""

    strategy = serializers.CharField(
        max_length=40, help_text="A key of /api/v1/strategies/. ml_signal runs on the tenant's "
        "active model of the market (or parameters.model_id); without one the answer is 400.")
    symbol = serializers.CharField(max_length=30, default="BTC/USDT")
    timeframe = serializers.CharField(max_length=8, default="1h")
    parameters = serializers.DictField(required=False, default=dict)
    data = serializers.ChoiceField(
        choices=list(DATA_SET_LABELS.items()), required=False,
        help_text="sample: the replayed sample; stored: shared history (download_ohlcv, "
                  "import_candles); upload: your workspace's uploads. Default: stored history "
                  "when the market has some, else the sample.")
    exchange = serializers.CharField(
        max_length=32, required=False,
        help_text="Whose stored history (stored, upload); default: the first that has it.")
    start = MomentField(required=False, help_text="First candle: epoch ms, or an ISO-8601 "
                                                  "date or date-time (UTC). Default: the first.")
    end = MomentField(required=False, end_of_day=True,
                      help_text="Last candle, included: epoch ms, or an ISO-8601 date (the "
                                "whole day) or date-time (UTC). Default: the last.")
    fee = _fraction("fee", "Fee rate per fill (0.001 = 0.1 %)")
    slippage = _fraction("slippage", "Slippage per fill (0.0005 = 0.05 %)")
    stake = _fraction("stake", "Share of equity per position (default: the preset's, else 1)")
    cash = serializers.DecimalField(required=False, coerce_to_string=False,
                                    **BACKTEST_LIMITS["cash"].field_kwargs(),
                                    help_text=f"Starting cash; "
                                              f"{BACKTEST_LIMITS['cash'].describe()}.")
    preset = serializers.ChoiceField(choices=sorted(PRESETS), required=False,
                                     help_text="Risk preset (stop loss, take profit, ...).")
    config = serializers.DictField(required=False, default=dict,
                                   help_text="preset, risk, cash, fee, slippage, stake, data, "
                                             "exchange, start_ms, end_ms (the same settings)")

    # top-level field -> its key in `config`
    SETTINGS = {"data": "data", "exchange": "exchange", "start": "start_ms", "end": "end_ms",
                "fee": "fee", "slippage": "slippage", "stake": "stake", "cash": "cash",
                "preset": "preset"}

    def validate(self, attrs: dict) -> dict:
        """Fold the top-level settings into `config` (fractions and money as floats, the
        simulation's numbers); the same setting given both ways is refused."""
        config = dict(attrs.get("config") or {})
        for name, key in self.SETTINGS.items():
            if name not in attrs:
                continue
            if key in config:
                raise serializers.ValidationError(
                    {name: f"Given both as {name} and as config.{key}; give it once."})
            value = attrs.pop(name)
            config[key] = float(value) if isinstance(value, Decimal) else value
        return attrs | {"config": config}


def _renamed(exc: ServiceError, body) -> ServiceError:
    """`exc` naming `start`/`end` instead of `start_ms`/`end_ms` when the body used those."""
    names = {"start_ms": "start", "end_ms": "end"}
    name = names.get(exc.field)
    if name is None or not isinstance(body, dict) or name not in body:
        return exc
    return type(exc)(exc.message, field=name)


class BacktestOrderingFilter(StrictOrderingFilter):
    """`?ordering=` as everywhere (a 400 naming the fields), ordered as the runs page sorts:
    runs without the figure last in either direction."""

    def filter_queryset(self, request, queryset, view):
        ordering = self.get_ordering(request, queryset, view)
        if not ordering:
            return queryset
        return queryset.order_by(*selectors.backtest_run_ordering(",".join(ordering)))


class CompareRunSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    strategy = serializers.CharField()
    symbol = serializers.CharField()
    timeframe = serializers.CharField()
    status = serializers.CharField()


class CompareRowSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    kind = serializers.CharField(help_text="How the values read: text, mapping, range, money, "
                                           "fraction (0.001 = 0.1 %), percent, ratio, count.")
    values = serializers.ListField(child=serializers.JSONField(allow_null=True),
                                   help_text="One value per run, in the runs' order.")


class CompareMetricSerializer(CompareRowSerializer):
    better = serializers.ChoiceField(choices=["high", "low"], allow_null=True,
                                     help_text="Which direction is better; null: neither.")
    best = serializers.ListField(child=serializers.BooleanField(),
                                 help_text="Which runs hold the row's best value.")


class CompareEquitySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    points = serializers.ListField(child=serializers.ListField(child=serializers.FloatField()),
                                   help_text="[timestamp_ms, return in percent] pairs.")


class BacktestCompareSerializer(serializers.Serializer):
    runs = CompareRunSerializer(many=True)
    settings = CompareRowSerializer(many=True)
    metrics = CompareMetricSerializer(many=True)
    equity = CompareEquitySerializer(many=True)


class BacktestViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """The tenant's backtests; creating one needs only the `read` scope (it trades nothing).
    The list carries each run's return, drawdown, trades and Sharpe and orders by them."""

    filterset_class = BacktestFilter
    filter_backends = [ListFilterBackend, BacktestOrderingFilter]
    ordering_fields = list(BACKTEST_RUN_ORDERINGS)
    scope_map = {"POST": "read"}

    def get_serializer_class(self):
        return BacktestDetailSerializer if self.action == "retrieve" else BacktestListSerializer

    def get_tenant_queryset(self, tenant):
        runs = selectors.backtest_run_summaries(tenant=tenant)
        return runs.defer(None) if self.action == "retrieve" else runs

    @extend_schema(
        parameters=[OpenApiParameter(
            "runs", str, required=True,
            description=f"{COMPARE_RUNS_MIN} to {COMPARE_RUNS_MAX} run ids, comma-separated "
                        "(runs=12,15). Another tenant's or a missing id is a 404.")],
        responses={200: BacktestCompareSerializer})
    @action(detail=False, pagination_class=None, filter_backends=[])
    def compare(self, request):
        """Runs side by side: their settings and key metrics in rows (one value per run),
        the best value of each row marked, and equity curves as returns."""
        run_ids = parse_run_ids(request.query_params.get("runs"))
        return Response(selectors.backtest_runs_compare(tenant=self.tenant, run_ids=run_ids))

    @extend_schema(request=BacktestCreateSerializer, responses={202: BacktestDetailSerializer},
                   parameters=[JOB_LOCATION])
    def create(self, request):
        """Queue a backtest: 202 at once, with the run's URL in `Location`; the run reports
        its progress there and on /ws/live ("backtest" events) until it is done or failed."""
        serializer = BacktestCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            run = backtest_run_create(tenant=self.tenant, actor=self.actor,
                                      **serializer.validated_data)
        except ServiceError as exc:  # a range error belongs to the field the client sent
            raise _renamed(exc, request.data) from None
        run = selectors.backtest_run_get(tenant=self.tenant, run_id=run.pk)
        return accepted(request, BacktestDetailSerializer(run).data,
                        view_name="api:backtest-detail", pk=run.pk)
