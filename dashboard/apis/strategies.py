"""/api/v1/strategies/: registered strategies with their parameter schema, and the presets."""
from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from dashboard.apis.base import TenantAPIView
from trading.core.strategies import strategy_list
from trading.core.strategies.presets import PRESETS


class StrategyListApi(TenantAPIView):
    """Every strategy a bot or backtest can run, and the risk presets."""

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        return Response({"strategies": strategy_list(),
                         "presets": {name: preset.to_dict() for name, preset in PRESETS.items()}})

    def get_tenant_queryset(self, tenant):  # no tenant rows: the registry is global
        raise NotImplementedError
