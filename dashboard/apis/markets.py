"""/api/v1/markets/: the markets and timeframes a bot can trade, per exchange."""
from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from aitrader.errors import ValidationFailed
from dashboard.apis.base import TenantAPIView
from trading import selectors
from trading.services.accounts import SUPPORTED_EXCHANGES
from trading.services.bots import NEW_PAPER_EXCHANGE
from trading.services.market import market_catalogue


class MarketCatalogueApi(TenantAPIView):
    """Each exchange's catalogue as this server serves it: symbol -> timeframes. By default
    the exchanges of the tenant's accounts (and the new paper account's); `exchange` asks
    for one. A catalogue that could not be read is null (bots are then checked by their
    feed)."""

    @extend_schema(
        parameters=[OpenApiParameter("exchange", str, enum=list(SUPPORTED_EXCHANGES),
                                     description="One exchange instead of the tenant's.")],
        responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        exchange = request.query_params.get("exchange")
        if exchange is not None and exchange not in SUPPORTED_EXCHANGES:
            raise ValidationFailed(f"Choose one of {', '.join(SUPPORTED_EXCHANGES)}.",
                                   field="exchange")
        exchanges = [exchange] if exchange else sorted(
            {account.exchange_id
             for account in selectors.exchange_account_list(tenant=self.tenant)}
            | {NEW_PAPER_EXCHANGE})
        return Response({"exchanges": {
            exchange_id: _as_lists(market_catalogue(exchange_id=exchange_id))
            for exchange_id in exchanges}})

    def get_tenant_queryset(self, tenant):  # no tenant rows: the catalogue is shared
        raise NotImplementedError


def _as_lists(catalogue: dict[str, tuple[str, ...]] | None) -> dict[str, list[str]] | None:
    if catalogue is None:
        return None
    return {symbol: list(timeframes) for symbol, timeframes in catalogue.items()}
