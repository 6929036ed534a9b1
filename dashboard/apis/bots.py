"""/api/v1/bots/: list, detail, create, update, and the pause / resume / close_all actions."""
from __future__ import annotations

from decimal import Decimal

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from aitrader.errors import ValidationFailed
from dashboard.apis.base import TenantViewSet
from dashboard.apis.fields import MoneyModelSerializer
from dashboard.apis.filters import BotFilter
from tenants.models import Scope
from trading import money, selectors
from trading.engine import bot_market_snapshot
from trading.marketdata import MarketDataUnavailable
from trading.models import Bot
from trading.services import bots as bot_services
from trading.services import protection


class BotSerializer(MoneyModelSerializer):
    account = serializers.IntegerField(source="account_id", read_only=True)
    mode = serializers.CharField(source="account.mode", read_only=True)
    stop_loss_rests_at = serializers.SerializerMethodField(
        help_text="Where the bot's stop loss is watched: \"exchange\" (a stop order rests "
                  "there after each entry, also while the platform is down) or \"platform\" "
                  "(checked on every closed candle).")

    class Meta:
        model = Bot
        fields = ["id", "name", "account", "mode", "symbol", "timeframe", "strategy",
                  "parameters", "preset", "risk", "breakers", "allowed_symbols",
                  "max_order_value", "capital", "realized_pnl", "status", "paused_reason",
                  "paused_at", "close_requested_at", "last_candle_ts", "stop_loss_rests_at",
                  "created_at", "updated_at"]
        read_only_fields = fields

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
    capital = serializers.DecimalField(**money.CAPITAL.field_kwargs(), default=Decimal("1000"))


class BotUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=80, required=False)
    parameters = serializers.DictField(required=False)
    preset = serializers.CharField(max_length=20, required=False)
    risk = serializers.DictField(required=False)
    breakers = serializers.DictField(required=False)
    allowed_symbols = serializers.ListField(child=serializers.CharField(max_length=30),
                                            required=False)
    max_order_value = serializers.DecimalField(**money.ORDER_VALUE.field_kwargs(),
                                               required=False, allow_null=True)
    capital = serializers.DecimalField(**money.CAPITAL.field_kwargs(), required=False)


class BotViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """The tenant's bots. Writes and control actions need the `control` scope (or trader+)."""

    serializer_class = BotSerializer
    filterset_class = BotFilter
    ordering_fields = ["name", "created_at", "status"]
    scope_map = {"POST": Scope.CONTROL, "PATCH": Scope.CONTROL}

    def get_tenant_queryset(self, tenant):
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

    @extend_schema(request=None, responses={202: BotSerializer})
    @action(detail=True, methods=["post"])
    def close_all(self, request, pk=None):
        """Pause the bot and queue the sale of its position: 202, with `close_requested_at`
        set until the position is sold (retried while the exchange is unreachable)."""
        return self._control(bot_services.bot_close_all, status_code=status.HTTP_202_ACCEPTED)

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
