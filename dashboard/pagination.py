"""API pagination (its own module: DRF imports it while importing its generic views)."""
import re

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination

# Digits only: int() would also take " 7", "+7" and "7_0", none of which is an integer.
WHOLE_NUMBER = re.compile(r"[0-9]{1,19}")
# The databases' OFFSET is a signed 64-bit integer; past it SQLite raises (a 500).
MAX_OFFSET = 2**63 - 1


class TenantPagination(LimitOffsetPagination):
    """`?limit=&offset=`, 50 rows by default and at most 500 a page.

    DRF replaces a malformed bound with its default; here it is a 400 naming the parameter,
    as the schema (integer, limit >= 1, offset >= 0) promises. A limit past 500 is capped."""

    default_limit = 50
    max_limit = 500

    def get_limit(self, request) -> int:
        raw = request.query_params.get(self.limit_query_param)
        if raw is None:
            return self.default_limit
        return min(_whole_number(self.limit_query_param, raw, minimum=1), self.max_limit)

    def get_offset(self, request) -> int:
        raw = request.query_params.get(self.offset_query_param)
        if raw is None:
            return 0
        return _whole_number(self.offset_query_param, raw, minimum=0)

    def get_schema_operation_parameters(self, view) -> list[dict]:
        minimums = {self.limit_query_param: 1, self.offset_query_param: 0}
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"]["minimum"] = minimums[parameter["name"]]
        return parameters


def _whole_number(name: str, raw: str, *, minimum: int) -> int:
    value = int(raw) if WHOLE_NUMBER.fullmatch(raw) else None
    if value is None or not minimum <= value <= MAX_OFFSET:
        raise ValidationError({name: [f"Give a whole number of at least {minimum}."]})
    return value
