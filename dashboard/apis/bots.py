"""/api/v1/bots/: list, detail, create, update, delete, and the control actions (pause,
resume, close_all, stop, duplicate, archive, unarchive)."""
from __future__ import annotations

from decimal import Decimal

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from aitrader.errors import ValidationFailed
from dashboard.apis.base import TenantViewSet
from dashboard.apis.fields import MoneyDecimalField, MoneyModelSerializer
from dashboard.apis.filters import BotFilter
from dashboard.apis.jobs import JOB_LOCATION, accepted
from tenants.models import Scope
from trading import selectors
from trading.core import money
from trading.core.pnl_periods import PERIODS
from trading.core.symbols import MAX_PAIRS
from trading.engine import bot_market_snapshot
from trading.marketdata import MarketDataUnavailable
from trading.models import Bot, ManualOrder
from trading.services import bot_lifecycle as lifecycle
from trading.services import bots as bot_services
from trading.services import manual as manual_services
from trading.services import protection


class BotSerializer(MoneyModelSerializer):
    account = serializers.IntegerField(source="account_id", read_only=True)
    mode = serializers.CharField(source="account.mode", read_only=True)
    lead = serializers.IntegerField(source="lead_id", read_only=True, allow_null=True,
                                    help_text="Set on the bot of one further pair of a "
                                              "multi-pair bot: the bot it belongs to (controls "
                                              "act through that one).")
    pairs = serializers.SerializerMethodField(
        help_text="Every pair the bot trades, its own symbol first; the further pairs are "
                  "traded by bots of their own (their `lead` is this bot).")
    stop_loss_rests_at = serializers.SerializerMethodField(
        help_text="Where the bot's stop loss is watched: \"exchange\" (a stop order rests "
                  "there after each entry, also while the platform is down) or \"platform\" "
                  "(checked on every closed candle).")

    class Meta:
        model = Bot
        fields = ["id", "name", "account", "mode", "symbol", "pairs", "lead", "timeframe",
                  "strategy",
                  "parameters", "preset", "risk", "breakers", "allowed_symbols",
                  "max_order_value", "capital", "realized_pnl", "status", "paused_reason",
                  "paused_at", "close_requested_at", "last_candle_ts", "stop_loss_rests_at",
                  "archived_at", "created_at", "updated_at"]
        read_only_fields = fields

    def get_pairs(self, bot: Bot) -> list[str]:
        return [bot.symbol, *(pair.symbol for pair in bot.pair_bots.all()
                              if pair.archived_at is None)]

    def get_stop_loss_rests_at(self, bot: Bot) -> str:
        return "exchange" if protection.stops_rest_at_exchange(account=bot.account) \
            else "platform"


class BotCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=80)
    account = serializers.IntegerField(min_value=1)
    symbol = serializers.CharField(max_length=30)
    timeframe = serializers.CharField(max_length=8, default="1m")
    strategy = serializers.CharField(max_length=40)
    parameters = serializers.DictField(required=False, default=dict)
    preset = serializers.CharField(max_length=20, default="balanced")
    risk = serializers.DictField(required=False, default=dict)
    breakers = serializers.DictField(required=False, default=dict)
    capital = serializers.DecimalField(**money.CAPITAL.field_kwargs(), default=Decimal("1000"),
                                       help_text="Quote currency of each pair.")
    pairs = serializers.ListField(
        child=serializers.CharField(max_length=30), required=False, max_length=MAX_PAIRS,
        help_text=f"Trade several pairs (at most {MAX_PAIRS}, `symbol` first, one quote "
                  "currency), each with `capital` of its own; the preset's (or `risk`'s) "
                  "`max_open_positions` holds across them.")


class BotUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=80, required=False)
    symbol = serializers.CharField(max_length=30, required=False,
                                   help_text="Only while the bot is flat (409 otherwise).")
    timeframe = serializers.CharField(max_length=8, required=False,
                                      help_text="Only while the bot is flat (409 otherwise).")
    account = serializers.IntegerField(min_value=1, required=False,
                                       help_text="Only while the bot is flat (409 otherwise).")
    parameters = serializers.DictField(required=False)
    preset = serializers.CharField(max_length=20, required=False)
    risk = serializers.DictField(required=False)
    breakers = serializers.DictField(required=False)
    allowed_symbols = serializers.ListField(child=serializers.CharField(max_length=30),
                                            required=False)
    max_order_value = serializers.DecimalField(**money.ORDER_VALUE.field_kwargs(),
                                               required=False, allow_null=True)
    capital = serializers.DecimalField(**money.CAPITAL.field_kwargs(), required=False)
    pairs = serializers.ListField(
        child=serializers.CharField(max_length=30), required=False, max_length=MAX_PAIRS,
        help_text="The whole list of pairs, `symbol` first; a pair may be dropped only while "
                  "it is flat (409 otherwise).")


PNL_DEFAULT_COUNT = {"day": 7, "week": 4, "month": 6}
PNL_PERIOD = OpenApiParameter("period", str, enum=list(PERIODS), default="day")
PNL_COUNT = OpenApiParameter("count", int, description=(
    "How many periods, newest first (days up to 90, weeks up to 52, months up to 24)."))


class PnlRowSerializer(serializers.Serializer):
    start = serializers.DateField()
    trades = serializers.IntegerField()
    wins = serializers.IntegerField()
    pnl = MoneyDecimalField(max_digits=28, decimal_places=12)


class PairPnlSerializer(serializers.Serializer):
    symbol = serializers.CharField()
    trades = serializers.IntegerField()
    wins = serializers.IntegerField()
    pnl = MoneyDecimalField(max_digits=28, decimal_places=12)


class PnlTableSerializer(serializers.Serializer):
    period = serializers.CharField()
    rows = PnlRowSerializer(many=True)
    pairs = PairPnlSerializer(many=True)


class ManualOrderInputSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=ManualOrder.Action.choices)
    fraction = serializers.DecimalField(**money.EXIT_FRACTION.field_kwargs(), required=False,
                                        help_text="exit: the share of the position to sell "
                                                  "(default 1, all of it).")
    order = serializers.IntegerField(min_value=1, required=False,
                                     help_text="cancel: the working order's id.")


class ManualOrderSerializer(serializers.ModelSerializer):
    class Meta:
        model = ManualOrder
        fields = ["id", "bot", "action", "fraction", "order", "status", "note", "requested_by",
                  "created_at", "done_at"]
        read_only_fields = fields


class BotDuplicateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=80, required=False, allow_blank=True)


class BotViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """The tenant's bots. Writes and control actions need the `control` scope (or trader+)."""

    serializer_class = BotSerializer
    filterset_class = BotFilter
    ordering_fields = ["name", "created_at", "status"]
    scope_map = {"POST": Scope.CONTROL, "PATCH": Scope.CONTROL, "DELETE": Scope.CONTROL}

    def get_tenant_queryset(self, tenant):
        # Archived bots are out of the default list (not of detail or the actions).
        # A multi-pair bot is listed once; the bots of its further pairs by id only.
        if self.action == "list":
            rows = (selectors.bot_list_shown(tenant=tenant) if "archived" in
                    self.request.query_params else selectors.bot_list_current(tenant=tenant))
            return selectors.bot_list_with_pairs(bots=rows, tenant=tenant)
        return selectors.bot_list(tenant=tenant)

    @extend_schema(request=BotCreateSerializer, responses={201: BotSerializer})
    def create(self, request):
        data = _valid(BotCreateSerializer, request.data)
        bot = bot_services.bot_create(tenant=self.tenant, actor=self.actor,
                                      account_id=data.pop("account"), **data)
        return Response(BotSerializer(bot).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=BotUpdateSerializer, responses=BotSerializer)
    def partial_update(self, request, pk=None):
        self.get_object()
        changes = _valid(BotUpdateSerializer, request.data, partial=True)
        if "account" in changes:
            changes["account_id"] = changes.pop("account")
        bot = bot_services.bot_update(tenant=self.tenant, actor=self.actor, bot_id=int(pk),
                                      **changes)
        return Response(BotSerializer(bot).data)

    @extend_schema(request=None, responses=BotSerializer)
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        return self._control(bot_services.bot_pause)

    @extend_schema(request=None, responses=BotSerializer)
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        return self._control(bot_services.bot_resume)

    @extend_schema(responses={204: None})
    def destroy(self, request, pk=None):
        """Delete an archived bot that never traded (409 otherwise: it stays archived)."""
        bot = self.get_object()
        lifecycle.bot_delete(tenant=self.tenant, actor=self.actor, bot_id=bot.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses=BotSerializer)
    @action(detail=True, methods=["post"])
    def stop(self, request, pk=None):
        """Stop a flat bot (409 while it holds a position or an order)."""
        return self._control(lifecycle.bot_stop)

    @extend_schema(request=None, responses=BotSerializer)
    @action(detail=True, methods=["post"])
    def archive(self, request, pk=None):
        """Stop and archive a flat bot: kept with its history, out of the default list."""
        return self._control(lifecycle.bot_archive)

    @extend_schema(request=None, responses=BotSerializer)
    @action(detail=True, methods=["post"])
    def unarchive(self, request, pk=None):
        """Back in the default list, stopped."""
        return self._control(lifecycle.bot_unarchive)

    @extend_schema(request=BotDuplicateSerializer, responses={201: BotSerializer})
    @action(detail=True, methods=["post"])
    def duplicate(self, request, pk=None):
        """A paused copy of the bot's configuration, optionally named."""
        bot = self.get_object()
        data = _valid(BotDuplicateSerializer, request.data)
        copy = lifecycle.bot_duplicate(tenant=self.tenant, actor=self.actor, bot_id=bot.pk,
                                       name=data.get("name", ""))
        return Response(BotSerializer(copy).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={202: BotSerializer}, parameters=[JOB_LOCATION])
    @action(detail=True, methods=["post"])
    def close_all(self, request, pk=None):
        """Pause the bot and queue the sale of its position: 202 with the bot's URL in
        `Location`, `close_requested_at` set until the position is sold (retried while the
        exchange is unreachable); its orders and thoughts follow on /ws/live."""
        bot = self.get_object()
        bot = bot_services.bot_close_all(tenant=self.tenant, actor=self.actor, bot_id=bot.pk)
        return accepted(request, BotSerializer(bot).data, view_name="api:bot-detail",
                        pk=bot.pk)

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    @action(detail=True)
    def candles(self, request, pk=None):
        """The bot's closed candles (shared feed) and its entries/exits, for the chart."""
        bot = self.get_object()
        try:
            snapshot = bot_market_snapshot(bot)
        except MarketDataUnavailable as exc:
            return Response({"candles": [], "marks": [], "error": str(exc)})
        trades = selectors.trade_list(tenant=self.tenant).filter(bot=bot)[:200]
        return Response({"candles": snapshot.closed().to_rows(),
                         "marks": [_mark(trade) for trade in trades]})

    @extend_schema(request=ManualOrderInputSerializer, responses={202: ManualOrderSerializer},
                   parameters=[JOB_LOCATION])
    @action(detail=True, methods=["post"])
    def manual(self, request, pk=None):
        """Trade by hand: `enter` now, `exit` now (all or `fraction`), or `cancel` a working
        `order`. 202: the bot's next tick (within seconds) carries it out through the bot's
        own order path and risk checks; the request's `status` and `note` say how it went."""
        bot = self.get_object()
        data = _valid(ManualOrderInputSerializer, request.data)
        created = manual_services.manual_order_request(
            tenant=self.tenant, actor=self.actor, bot_id=bot.pk, action=data["action"],
            fraction=data.get("fraction"), order_id=data.get("order"))
        return accepted(request, ManualOrderSerializer(created).data,
                        view_name="api:bot-manual-orders", pk=bot.pk)

    @extend_schema(responses={200: ManualOrderSerializer(many=True)})
    @action(detail=True, url_path="manual-orders")
    def manual_orders(self, request, pk=None):
        """The bot's manual orders, newest first, a page at a time like every list."""
        bot = self.get_object()
        rows = self.paginate_queryset(
            selectors.manual_order_list(tenant=self.tenant).filter(bot=bot))
        return self.get_paginated_response(ManualOrderSerializer(rows, many=True).data)

    @extend_schema(parameters=[PNL_PERIOD, PNL_COUNT], responses={200: PnlTableSerializer})
    @action(detail=True)
    def pnl(self, request, pk=None):
        """Closed-trade P&L per day, week or month on the bot's market clock, newest first,
        with per-pair totals (freqtrade's /daily, /weekly, /monthly)."""
        bot = self.get_object()
        period = request.query_params.get("period", "day")
        count = request.query_params.get("count", str(PNL_DEFAULT_COUNT[period])
                                         if period in PNL_DEFAULT_COUNT else "7")
        if not count.isdigit():
            raise ValidationFailed("count must be a whole number.", field="count")
        rows = selectors.pnl_table(tenant=self.tenant, bot=bot, period=period,
                                   count=int(count), today=selectors.bot_market_today(bot=bot))
        return Response(PnlTableSerializer({"period": period, "rows": rows,
                                            "pairs": selectors.pnl_pairs(bot=bot)}).data)

    def _control(self, service, status_code: int = status.HTTP_200_OK) -> Response:
        bot = self.get_object()
        bot = service(tenant=self.tenant, actor=self.actor, bot_id=bot.pk)
        return Response(BotSerializer(bot).data, status=status_code)


def _mark(trade) -> dict:
    return {"id": trade.pk, "entry_time": trade.entry_time, "entry_price": trade.entry_price,
            "exit_time": trade.exit_time, "exit_price": trade.exit_price, "pnl": trade.pnl,
            "exit_reason": trade.exit_reason}


def _valid(serializer_class, data, partial: bool = False) -> dict:
    serializer = serializer_class(data=data, partial=partial)
    unknown = sorted(set(data) - set(serializer.fields)) if hasattr(data, "keys") else []
    if unknown:  # silently ignoring e.g. a changed symbol would mislead the caller
        raise ValidationFailed(f"'{unknown[0]}' cannot be set here.", field=unknown[0])
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)
