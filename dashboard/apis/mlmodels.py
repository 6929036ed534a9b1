"""/api/v1/models/: the tenant's ML model registry — train, read, promote, retire."""
from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from dashboard.apis.base import TenantViewSet
from dashboard.apis.jobs import JOB_LOCATION, accepted
from mlmodels import selectors as ml_selectors
from mlmodels import services as ml_services
from tenants.models import Scope


class MLModelTrainSerializer(serializers.Serializer):
    symbol = serializers.CharField(max_length=30, default="BTC/USDT")
    timeframe = serializers.CharField(max_length=8, default="1h")
    options = serializers.DictField(required=False, default=dict,
                                    help_text="architecture, epochs, seed, label, horizon, ...")
    walk_forward_folds = serializers.IntegerField(min_value=0, max_value=10, default=0)


class MLModelViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """Models of the tenant. Training, promoting and retiring need the `control` scope."""

    scope_map = {"POST": Scope.CONTROL}

    def get_tenant_queryset(self, tenant):
        return ml_selectors.mlmodel_list(tenant=tenant)

    def get_serializer_class(self):
        return MLModelTrainSerializer

    @extend_schema(operation_id="models_list", responses={200: {
        "type": "object", "properties": {
            "count": {"type": "integer"}, "next": {"type": "string", "nullable": True},
            "previous": {"type": "string", "nullable": True},
            "results": {"type": "array", "items": {"type": "object"}}}}})
    def list(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response([_body(model) for model in page])

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def retrieve(self, request, pk=None):
        return Response(_body(self.get_object()))

    @extend_schema(request=MLModelTrainSerializer, responses={202: OpenApiTypes.OBJECT},
                   parameters=[JOB_LOCATION])
    def create(self, request):
        """Train a new version on the stored history of the market: 202 at once, with the
        model's URL in `Location`; it stays `training` (progress on /ws/live, "training"
        events) until it is ready or failed."""
        body = MLModelTrainSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        model = ml_services.mlmodel_train_stored(
            tenant=self.tenant, actor=self.actor, symbol=data["symbol"],
            timeframe=data["timeframe"], options=data["options"],
            walk_forward_folds=data["walk_forward_folds"])
        model = ml_selectors.mlmodel_get(tenant=self.tenant, model_id=model.pk)
        return accepted(request, _body(model), view_name="api:mlmodel-detail", pk=model.pk)

    @extend_schema(request=None, responses={200: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["post"])
    def promote(self, request, pk=None):
        """Make this model the active one of its market (the previous one goes back to ready)."""
        return self._lifecycle(ml_services.mlmodel_promote)

    @extend_schema(request=None, responses={200: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["post"])
    def retire(self, request, pk=None):
        """Stop using this model; bots on it hold until another is active."""
        return self._lifecycle(ml_services.mlmodel_retire)

    def _lifecycle(self, service) -> Response:
        model = self.get_object()
        model = service(tenant=self.tenant, actor=self.actor, model_id=model.pk)
        return Response(_body(model))


def _body(model) -> dict:
    """The registry entry (as `train_model --json` prints it) with the resource's `id`."""
    return {"id": model.pk, **model.as_dict()}
