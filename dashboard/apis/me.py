"""API endpoints of the tenants app: who am I, and API key management."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dashboard.apis.permissions import TenantScopePermission


class MeApi(APIView):
    """The tenant the credential acts in, and its role (session) or scopes (API key)."""

    permission_classes = [TenantScopePermission]

    @extend_schema(responses=inline_serializer("Me", {
        "tenant": serializers.DictField(), "role": serializers.CharField(required=False),
        "scopes": serializers.ListField(child=serializers.CharField(), required=False)}))
    def get(self, request: Request) -> Response:
        actor = request.auth
        tenant = actor.tenant
        body = {"tenant": {"slug": tenant.slug, "name": tenant.name, "plan": tenant.plan}}
        if actor.api_key is not None:
            body["scopes"] = sorted(actor.scopes)
        else:
            body["role"] = actor.role
            body["user"] = {"email": actor.user.email}
        return Response(body)
