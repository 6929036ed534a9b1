"""API pagination (its own module: DRF imports it while importing its generic views)."""
from rest_framework.pagination import LimitOffsetPagination


class TenantPagination(LimitOffsetPagination):
    """`?limit=&offset=`, 50 rows by default and at most 500 a page."""

    default_limit = 50
    max_limit = 500
