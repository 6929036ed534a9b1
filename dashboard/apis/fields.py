"""Serializer fields shared by the API's model serializers."""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

from rest_framework import serializers

from trading.fields import MoneyField


class MoneyDecimalField(serializers.DecimalField):
    """A stored money value as fixed-point text, like DRF's DecimalField; a value wider than
    the column (a row written before the limits existed) is shown as it is instead of
    failing the whole response (DRF's rounding raises on it)."""

    def to_representation(self, value: Decimal) -> str:
        try:
            return super().to_representation(value)
        except InvalidOperation:
            return format(value, "f")


class MoneyModelSerializer(serializers.ModelSerializer):
    """ModelSerializer whose money columns use `MoneyDecimalField`."""

    serializer_field_mapping = {**serializers.ModelSerializer.serializer_field_mapping,
                                MoneyField: MoneyDecimalField}
