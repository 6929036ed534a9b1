"""Tenant base views: every API view resolves the caller's tenant and scopes its queryset.

Subclasses implement `get_tenant_queryset(tenant)`; `get_queryset` belongs to the base and
cannot be overridden, so no endpoint can forget the tenant. Another tenant's id is a 404.
"""
from __future__ import annotations

from django.http import Http404
from rest_framework import generics, viewsets

from aitrader.errors import ValidationFailed
from dashboard.apis.permissions import TenantScopePermission
from tenants.actors import Actor
from tenants.models import Tenant


class _TenantScoped:
    permission_classes = [TenantScopePermission]
    # Method -> scope; safe methods default to "read".
    scope_map: dict[str, str] = {}

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if "get_queryset" in cls.__dict__:
            raise TypeError(f"{cls.__name__} must implement get_tenant_queryset(tenant), "
                            "not get_queryset: the base view scopes by tenant.")

    @property
    def actor(self) -> Actor:
        return self.request.auth

    @property
    def tenant(self) -> Tenant:
        return self.request.auth.tenant

    def initial(self, request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)  # 401, 403, 429 first
        _refuse_repeated_parameters(request)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no tenant
            return self.get_tenant_queryset(0).none()
        return self.get_tenant_queryset(self.tenant)

    def get_tenant_queryset(self, tenant: Tenant | None):
        raise NotImplementedError

    def get_object(self):
        try:
            return super().get_object()
        except (ValueError, TypeError, OverflowError):
            raise Http404 from None  # a malformed or huge id is as missing as another tenant's


def _refuse_repeated_parameters(request) -> None:
    """Every query parameter of this API takes one value: given twice, Django would keep the
    last one and the caller would not learn which filter or page applied."""
    for name, values in request.query_params.lists():
        if len(values) > 1:
            raise ValidationFailed(f"'{name}' is given more than once.", field=name)


class TenantAPIView(_TenantScoped, generics.GenericAPIView):
    """Base of single-purpose tenant endpoints."""


class TenantViewSet(_TenantScoped, viewsets.GenericViewSet):
    """Base of tenant resources (list/retrieve/create/update via mixins)."""

    lookup_value_regex = "[0-9]+"
