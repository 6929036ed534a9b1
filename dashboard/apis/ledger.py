"""Read-only ledger endpoints: orders, fills, trades, positions, thoughts, equity.

Lists serialise straight from `.values()` (about 3x cheaper per row than a ModelSerializer
here) in a fixed number of queries: one count and one page. The serializers below describe
the same fields for the OpenAPI schema and single-object reads.
"""
from __future__ import annotations

import re

from django.db.models import DecimalField
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from dashboard.apis.base import TenantViewSet
from dashboard.apis.fields import MoneyModelSerializer
from dashboard.apis.filters import (
    EquityFilter,
    FillFilter,
    OrderFilter,
    PositionFilter,
    ThoughtFilter,
    TradeFilter,
)
from trading import selectors
from trading.models import EquitySnapshot, Fill, Order, Position, Thought, Trade

# A whole number as the schema's `integer` reads it: digits, an optional minus, 64 bits.
SIGNED_WHOLE_NUMBER = re.compile(r"-?[0-9]{1,18}")


class ValuesReadViewSet(TenantViewSet):
    """List and retrieve from `.values()` of the fields the serializer declares."""

    def _fields(self) -> list[str]:
        return list(self.serializer_class.Meta.fields)

    def list(self, request):
        rows = self.filter_queryset(self.get_queryset()).values(*self._fields())
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(_money_as_strings(page, self._decimal_fields()))

    def _decimal_fields(self) -> list[str]:
        model = self.serializer_class.Meta.model
        return [name for name in self._fields()
                if isinstance(model._meta.get_field(name), DecimalField)]

    def retrieve(self, request, pk=None):
        row = self.get_object()
        return Response(self.get_serializer(row).data)


def _money_as_strings(rows: list[dict], names: list[str]) -> list[dict]:
    """Decimals (the `names` columns) as the detail view and the schema give them: fixed-point
    strings. The JSON encoder would make them floats, which lose digits (28 significant, 12
    after the point)."""
    for row in rows:
        for name in names:
            if row[name] is not None:
                row[name] = format(row[name], "f")
    return rows


def _serializer(model, field_names: list[str]) -> type[serializers.ModelSerializer]:
    meta = type("Meta", (), {"model": model, "fields": field_names,
                             "read_only_fields": field_names})
    return type(f"{model.__name__}Serializer", (MoneyModelSerializer,), {"Meta": meta})


OrderSerializer = _serializer(Order, [
    "id", "bot", "client_order_id", "exchange_order_id", "symbol", "side", "type", "amount",
    "price", "status", "filled", "average", "fee", "fee_currency", "reason", "candle_ts",
    "error", "created_at", "updated_at"])
FillSerializer = _serializer(Fill, [
    "id", "bot", "order", "trade_id", "symbol", "side", "amount", "price", "fee",
    "fee_currency", "fee_quote", "timestamp_ms", "created_at"])
TradeSerializer = _serializer(Trade, [
    "id", "bot", "symbol", "status", "amount", "entry_price", "exit_price", "entry_time",
    "exit_time", "fees", "unpriced_fees", "pnl", "pnl_pct", "exit_reason"])
PositionSerializer = _serializer(Position, [
    "id", "bot", "symbol", "amount", "average_price", "entries", "opened_at", "updated_at"])
ThoughtSerializer = _serializer(Thought, [
    "id", "bot", "kind", "candle_ts", "summary", "data", "created_at"])
EquitySerializer = _serializer(EquitySnapshot, [
    "id", "bot", "candle_ts", "equity", "cash", "position_value"])


class OrderViewSet(ValuesReadViewSet):
    """The tenant's orders, newest first."""

    serializer_class = OrderSerializer
    filterset_class = OrderFilter
    ordering_fields = ["created_at", "status", "symbol"]

    def get_tenant_queryset(self, tenant):
        return selectors.order_list(tenant=tenant)


class FillViewSet(ValuesReadViewSet):
    """Executions reported by the exchanges, newest first."""

    serializer_class = FillSerializer
    filterset_class = FillFilter
    ordering_fields = ["timestamp_ms", "created_at"]

    def get_tenant_queryset(self, tenant):
        return selectors.fill_list(tenant=tenant)


class TradeViewSet(ValuesReadViewSet):
    """Round trips (entry to exit) with P&L, newest first."""

    serializer_class = TradeSerializer
    filterset_class = TradeFilter
    ordering_fields = ["entry_time", "exit_time", "pnl"]

    def get_tenant_queryset(self, tenant):
        return selectors.trade_list(tenant=tenant)


class PositionViewSet(ValuesReadViewSet):
    """What each bot holds."""

    serializer_class = PositionSerializer
    filterset_class = PositionFilter
    ordering_fields = ["updated_at", "amount"]

    def get_tenant_queryset(self, tenant):
        return selectors.position_list(tenant=tenant)


class ThoughtViewSet(ValuesReadViewSet):
    """What the bots saw, decided and why, newest first."""

    serializer_class = ThoughtSerializer
    filterset_class = ThoughtFilter
    ordering_fields = ["created_at"]

    def get_tenant_queryset(self, tenant):
        return selectors.thought_list(tenant=tenant)


class EquityViewSet(ValuesReadViewSet):
    """Equity snapshots per bot; `portfolio/` sums every bot's latest equity over time."""

    serializer_class = EquitySerializer
    filterset_class = EquityFilter
    ordering_fields = ["candle_ts"]

    def get_tenant_queryset(self, tenant):
        return selectors.equity_list(tenant=tenant)

    @extend_schema(parameters=[
        OpenApiParameter("since_ts", int), OpenApiParameter("until_ts", int),
        OpenApiParameter("points", int, description="Most points returned (default 500).")],
        responses={200: {"type": "array", "items": {"type": "object"}}})
    @action(detail=False)
    def portfolio(self, request):
        params = request.query_params
        series = selectors.equity_portfolio(
            tenant=self.tenant, since_ts=_bounded_int(params, "since_ts", None),
            until_ts=_bounded_int(params, "until_ts", None),
            points=_bounded_int(params, "points", 500, 10, 5000))
        return Response(series)


def _bounded_int(params, name: str, default, low: int = 0, high: int = 2**62):
    """`params[name]` as a whole number clamped to [low, high], or `default` when absent.
    An empty or non-integer value is a 400 naming it (int() alone would take "+5", " 5" or
    "1_0", and "" used to mean the default)."""
    from aitrader.errors import ValidationFailed

    raw = params.get(name)
    if raw is None:
        return default
    if not SIGNED_WHOLE_NUMBER.fullmatch(raw):
        raise ValidationFailed(f"'{raw}' is not a whole number.", field=name)
    return min(max(int(raw), low), high)
