"""MoneyField: a DecimalField that is exact on SQLite too, and the expressions that keep it so.

PostgreSQL stores money as numeric(28, 12) and does exact arithmetic. SQLite has no decimal
type: Django's DecimalField becomes a REAL there and keeps 15 significant digits
(12345678.123456789012 reads back as 12345678.1234568). On SQLite a MoneyField is therefore
a text column holding the fixed-point digits, with three helpers registered on every SQLite
connection (`install_sqlite_money`):

- the `money` collation compares the texts as numbers, so filters (`amount__gt=0`), ORDER BY,
  MIN and MAX behave as on PostgreSQL;
- `aitrader_money_add(a, b)` and `aitrader_money_subtract(a, b)` are exact: SQLite's `+`
  and `-` would read the texts as REAL;
- the `aitrader_money_sum(x)` aggregate sums exactly, for the same reason.

So on both backends: no `F("money") + x`, `F("a") - F("b")` or `Sum("money")` on money
columns; write `MoneyAdd(F("money"), x)`, `MoneySubtract(F("a"), F("b"))`, `MoneySum(...)`.
A sqlite3 shell without these helpers can read the tables but not sort or compare money
columns.
"""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.db.backends.signals import connection_created
from django.utils.deconstruct import deconstructible

from trading.core.money import LIMITS

COLLATION = "money"
_WIDE = Context(prec=200, rounding=ROUND_HALF_UP)


@deconstructible
class MoneyLimitValidator:
    """Model-field validator of one `trading.core.money` limit (by name, so migrations name it)."""

    def __init__(self, limit: str) -> None:
        self.limit = limit

    def __call__(self, value: Any) -> None:
        problem = LIMITS[self.limit].problem(value)
        if problem is not None:
            raise ValidationError(problem, code="money_limit")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MoneyLimitValidator) and other.limit == self.limit

    def __hash__(self) -> int:
        return hash(self.limit)


class MoneyField(models.DecimalField):
    """numeric(max_digits, decimal_places) on PostgreSQL; exact fixed-point text on SQLite."""

    def get_internal_type(self) -> str:
        # Not "DecimalField": Django's SQLite code for that type reads values as floats and
        # wraps expressions in CAST(... AS NUMERIC), both of which lose digits.
        return "MoneyField"

    def db_type(self, connection) -> str:
        if connection.vendor == "sqlite":
            return f"text COLLATE {COLLATION}"
        return connection.data_types["DecimalField"] % self.db_type_parameters(connection)

    def cast_db_type(self, connection) -> str:
        return "text" if connection.vendor == "sqlite" else self.db_type(connection)

    def get_db_prep_value(self, value: Any, connection, prepared: bool = False) -> Any:
        value = super().get_db_prep_value(value, connection, prepared)
        if connection.vendor != "sqlite" or value is None:
            return value
        return format(value, "f")  # a filter's value compares exactly, unrounded

    def get_db_prep_save(self, value: Any, connection) -> Any:
        if connection.vendor != "sqlite" or value is None or hasattr(value, "as_sql"):
            return super().get_db_prep_save(value, connection)
        return format(self._quantized(self.to_python(value)), "f")  # the scale PG would keep

    def from_db_value(self, value: Any, expression, connection) -> Decimal | None:
        if value is None or connection.vendor != "sqlite":
            return value
        number = _to_decimal(value)
        return None if number is None else self._quantized(number)

    def _quantized(self, number: Decimal) -> Decimal:
        # The wide context never raises on a value beyond max_digits (a row written before
        # the limits existed): reading it must not fail; the engine pauses on it instead.
        return number.quantize(Decimal(1).scaleb(-self.decimal_places), context=_WIDE)


class MoneySum(models.Sum):
    """Sum of a money column, exact on SQLite too (its SUM would read the texts as REAL)."""

    def as_sqlite(self, compiler, connection, **extra_context):
        return self.as_sql(compiler, connection, function="aitrader_money_sum", **extra_context)


class _MoneyArithmetic(models.Func):
    """`lhs <connector> rhs` of money; on SQLite a registered function computes it exactly
    (SQLite's own operators would read the texts as REAL)."""

    connector = ""
    sqlite_function = ""
    template = "(%(expressions)s)"

    def __init__(self, lhs: Any, rhs: Any, **extra: Any) -> None:
        rhs = rhs if hasattr(rhs, "resolve_expression") else models.Value(
            rhs, output_field=MoneyField(max_digits=28, decimal_places=12))
        super().__init__(lhs, rhs, output_field=MoneyField(max_digits=28, decimal_places=12),
                         arg_joiner=f" {self.connector} ", **extra)

    def as_sqlite(self, compiler, connection, **extra_context):
        return self.as_sql(compiler, connection, function=self.sqlite_function,
                           template="%(function)s(%(expressions)s)", arg_joiner=", ",
                           **extra_context)


class MoneyAdd(_MoneyArithmetic):
    """`lhs + rhs` of money, e.g. `update(free=MoneyAdd(F("free"), delta))`."""

    connector = "+"
    sqlite_function = "aitrader_money_add"


class MoneySubtract(_MoneyArithmetic):
    """`lhs - rhs` of money, e.g. `MoneySum(MoneySubtract(F("amount"), F("filled")))`."""

    connector = "-"
    sqlite_function = "aitrader_money_subtract"


# --- SQLite helpers ---------------------------------------------------------------------------

def _to_decimal(value: Any) -> Decimal | None:
    """A stored cell as a Decimal: our text, or a REAL/INTEGER left by an older column."""
    try:
        return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        return None


def _compare(left: str, right: str) -> int:
    a, b = _to_decimal(left), _to_decimal(right)
    if a is None or b is None:  # not a number (never written by MoneyField): compare as text
        return (left > right) - (left < right)
    return (a > b) - (a < b)


def _operands(left: Any, right: Any) -> tuple[Decimal, Decimal] | None:
    """Both cells as Decimals; None when either is NULL (the result is NULL, as in SQL)."""
    if left is None or right is None:
        return None
    a, b = _to_decimal(left), _to_decimal(right)
    return None if a is None or b is None else (a, b)


def _add(left: Any, right: Any) -> str | None:
    operands = _operands(left, right)
    return None if operands is None else format(_WIDE.add(*operands), "f")


def _subtract(left: Any, right: Any) -> str | None:
    operands = _operands(left, right)
    return None if operands is None else format(_WIDE.subtract(*operands), "f")


class _Sum:
    """The `aitrader_money_sum` aggregate: NULL over no rows, like SUM."""

    def __init__(self) -> None:
        self.total: Decimal | None = None

    def step(self, value: Any) -> None:
        number = _to_decimal(value) if value is not None else None
        if number is not None:
            self.total = number if self.total is None else _WIDE.add(self.total, number)

    def finalize(self) -> str | None:
        return None if self.total is None else format(self.total, "f")


def install_sqlite_money(sender, connection, **kwargs) -> None:
    """Register the money collation and functions on a new SQLite connection."""
    if connection.vendor != "sqlite":
        return
    raw = connection.connection
    raw.create_collation(COLLATION, _compare)
    raw.create_function("aitrader_money_add", 2, _add, deterministic=True)
    raw.create_function("aitrader_money_subtract", 2, _subtract, deterministic=True)
    raw.create_aggregate("aitrader_money_sum", 1, _Sum)


def connect_sqlite_money() -> None:
    """Install the helpers on every SQLite connection opened from now on (apps.ready)."""
    connection_created.connect(install_sqlite_money, dispatch_uid="trading.money_sqlite")
