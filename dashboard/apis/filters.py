"""Filters shared by the list endpoints: bot, symbol, status and a time range."""
from __future__ import annotations

from datetime import UTC

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django_filters.fields import IsoDateTimeField
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import exceptions
from rest_framework.filters import OrderingFilter

from trading.models import BacktestRun, Bot, EquitySnapshot, Fill, Order, Position, Thought, Trade


class ListFilterBackend(DjangoFilterBackend):
    """django-filter, skipped when the request names none of the filterset's parameters.

    A FilterSet with no data filters nothing, yet building it and its form deep-copies every
    filter: about a millisecond of CPU, an eighth of an unfiltered list request. Every
    parameter of our filtersets is a single query parameter named like its filter.
    """

    def filter_queryset(self, request, queryset, view):
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is None or filterset_class.base_filters.keys().isdisjoint(
                request.query_params.keys()):
            return queryset
        _refuse_empty_typed_values(filterset_class, request.query_params)
        return super().filter_queryset(request, queryset, view)


def _refuse_empty_typed_values(filterset_class, params) -> None:
    """`?since=` or `?bot=` is not a time or a number (django-filter would drop the filter
    and answer as if it had not been given); an empty free-text filter still matches all."""
    for name, declared in filterset_class.base_filters.items():
        if params.get(name) == "" and not issubclass(declared.field_class, forms.CharField):
            raise exceptions.ValidationError({name: ["Give a value or leave the filter out."]})


class StrictOrderingFilter(OrderingFilter):
    """`?ordering=` over the fields a view lists in `ordering_fields`, else a 400 naming them.

    DRF's own filter raises ImproperlyConfigured (a 500) on a view that lists none, such as
    the CSV exports, and silently ignores unknown fields elsewhere."""

    def get_ordering(self, request, queryset, view):
        params = request.query_params.get(self.ordering_param)
        if not params:
            return self.get_default_ordering(view)
        allowed = list(getattr(view, "ordering_fields", None) or [])
        if not allowed or allowed == "__all__":
            raise exceptions.ValidationError(
                {self.ordering_param: ["This list cannot be reordered."]})
        fields = [term.strip() for term in params.split(",") if term.strip()]
        unknown = [term for term in fields if term.lstrip("-") not in allowed]
        if unknown:
            raise exceptions.ValidationError({self.ordering_param: [
                f"Order by one of {', '.join(allowed)} (prefix - for descending)."]})
        return fields


@extend_schema_field(OpenApiTypes.INT64)
class WholeNumberFilter(django_filters.NumberFilter):
    """An integer a database column holds; a fraction or a number past 64 bits is a 400 (as a
    plain NumberFilter it reached the database and was a 500; found by schemathesis)."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("min_value", -(2**63))
        kwargs.setdefault("max_value", 2**63 - 1)
        super().__init__(*args, **kwargs)


class UtcIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 time, turned to UTC: Python accepts offsets up to +-24 h, PostgreSQL only
    up to +-15:59, so an odd offset such as -21:46 was a 500 there (found by schemathesis)."""

    def to_python(self, value):
        value = super().to_python(value)
        if value is None:
            return None
        try:
            return value.astimezone(UTC)
        except (OverflowError, ValueError):
            raise ValidationError("Enter a date and time in the supported range.",
                                  code="invalid") from None


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    """A time range bound, compared in UTC."""

    field_class = UtcIsoDateTimeField


class _Common(django_filters.FilterSet):
    bot = WholeNumberFilter(field_name="bot_id")
    since = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = UtcDateTimeFilter(field_name="created_at", lookup_expr="lt")


class BotFilter(django_filters.FilterSet):
    archived = django_filters.BooleanFilter(
        method="filter_archived",
        help_text="true: only archived bots; false (the default): only bots not archived.")

    class Meta:
        model = Bot
        fields = ["symbol", "status", "strategy", "timeframe"]

    def filter_archived(self, queryset, name, value):
        if value is None:
            return queryset
        return queryset.filter(archived_at__isnull=not value)


class OrderFilter(_Common):
    class Meta:
        model = Order
        fields = ["bot", "symbol", "status", "side"]


class FillFilter(_Common):
    class Meta:
        model = Fill
        fields = ["bot", "symbol", "side"]


class TradeFilter(_Common):
    since = UtcDateTimeFilter(field_name="entry_time", lookup_expr="gte")
    until = UtcDateTimeFilter(field_name="entry_time", lookup_expr="lt")

    class Meta:
        model = Trade
        fields = ["bot", "symbol", "status", "exit_reason"]


class PositionFilter(django_filters.FilterSet):
    bot = WholeNumberFilter(field_name="bot_id")

    class Meta:
        model = Position
        fields = ["bot", "symbol"]


class ThoughtFilter(_Common):
    class Meta:
        model = Thought
        fields = ["bot", "kind"]


class EquityFilter(django_filters.FilterSet):
    bot = WholeNumberFilter(field_name="bot_id")
    since_ts = WholeNumberFilter(field_name="candle_ts", lookup_expr="gte")
    until_ts = WholeNumberFilter(field_name="candle_ts", lookup_expr="lt")

    class Meta:
        model = EquitySnapshot
        fields = ["bot"]


class BacktestFilter(_Common):
    bot = None  # a backtest belongs to no bot: ?bot= was a 500 (found by schemathesis)

    class Meta:
        model = BacktestRun
        fields = ["status", "strategy", "symbol"]
