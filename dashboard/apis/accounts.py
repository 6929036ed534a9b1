"""Exchange accounts (secrets write-only) and API keys (signed-in admins only)."""
from __future__ import annotations

from decimal import Decimal

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from dashboard.apis.base import TenantViewSet
from dashboard.apis.fields import MoneyModelSerializer
from tenants import selectors as tenant_selectors
from tenants import services as tenant_services
from tenants.models import ApiKey, Role, Scope
from trading import selectors
from trading.core import money
from trading.models import ExchangeAccount, ReconcileStatus
from trading.services.accounts import exchange_account_create
from trading.services.credentials import (
    exchange_credentials_remove,
    exchange_credentials_save,
)


class ExchangeAccountSerializer(MoneyModelSerializer):
    has_credentials = serializers.BooleanField(read_only=True)
    # Blank until the account's first reconciliation: the schema lists "" with the outcomes.
    reconcile_status = serializers.ChoiceField(
        choices=ReconcileStatus.choices, allow_blank=True, read_only=True,
        help_text="How the last reconciliation ended; \"\" before the first one.")
    balances = serializers.JSONField(
        read_only=True, help_text="What the exchange said the account holds at the last "
        "reconciliation: currency -> {free, used, total} as exact decimal strings.")

    class Meta:
        model = ExchangeAccount
        fields = ["id", "label", "exchange_id", "mode", "has_credentials", "quote_currency",
                  "paper_starting_balance", "maker_fee", "taker_fee", "slippage", "created_at",
                  "reconciled_at", "reconcile_status", "reconcile_detail", "balances",
                  "balances_at"]
        read_only_fields = fields


class ExchangeAccountCreateSerializer(serializers.Serializer):
    label = serializers.CharField(max_length=80)
    exchange_id = serializers.CharField(max_length=40, default="binance")
    mode = serializers.ChoiceField(choices=["paper", "live"], default="paper")
    paper_starting_balance = serializers.DecimalField(**money.PAPER_BALANCE.field_kwargs(),
                                                      default=Decimal("10000"))
    quote_currency = serializers.CharField(max_length=10, default="USDT")


class ExchangeAccountViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """The tenant's exchange accounts; creating one needs an admin."""

    serializer_class = ExchangeAccountSerializer
    scope_map = {"POST": Scope.ADMIN}

    def get_tenant_queryset(self, tenant):
        return selectors.exchange_account_list(tenant=tenant)

    @extend_schema(request=ExchangeAccountCreateSerializer,
                   responses={201: ExchangeAccountSerializer})
    def create(self, request):
        serializer = ExchangeAccountCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        account = exchange_account_create(tenant=self.tenant, actor=self.actor,
                                          **serializer.validated_data)
        return Response(ExchangeAccountSerializer(account).data, status=status.HTTP_201_CREATED)


class CredentialsSerializer(serializers.Serializer):
    api_key = serializers.CharField(max_length=200, write_only=True, trim_whitespace=True)
    secret = serializers.CharField(max_length=200, write_only=True, trim_whitespace=True)
    password = serializers.CharField(
        max_length=200, write_only=True, trim_whitespace=False, required=False, default="",
        help_text="A signed-in member's aitrader password (re-authentication); an API key "
                  "with the admin scope sends none.")


class CredentialsSavedSerializer(serializers.Serializer):
    account = ExchangeAccountSerializer()
    warnings = serializers.ListField(child=serializers.CharField())


class ExchangeCredentialsApi(TenantViewSet):
    """Write-only exchange credentials of an account: a signed-in admin re-enters their
    password, a key needs the `admin` scope; the keys are verified at the exchange and kept
    only in the vault."""

    scope_map = {"POST": Scope.ADMIN, "DELETE": Scope.ADMIN}
    serializer_class = CredentialsSerializer

    def get_tenant_queryset(self, tenant):
        return selectors.exchange_account_list(tenant=tenant)

    @extend_schema(request=CredentialsSerializer, responses={200: CredentialsSavedSerializer})
    def create(self, request, pk=None):
        account = self.get_object()
        body = CredentialsSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        saved = exchange_credentials_save(tenant=self.tenant, actor=self.actor,
                                          account_id=account.pk, **body.validated_data)
        return Response({"account": ExchangeAccountSerializer(saved.account).data,
                         "warnings": saved.warnings})

    @extend_schema(request=None, responses={200: ExchangeAccountSerializer})
    def destroy(self, request, pk=None):
        account = self.get_object()
        account = exchange_credentials_remove(tenant=self.tenant, actor=self.actor,
                                              account_id=account.pk)
        return Response(ExchangeAccountSerializer(account).data)


class ApiKeySerializer(serializers.ModelSerializer):
    class Meta:
        model = ApiKey
        # Never the hash or pepper version: the prefix identifies a key.
        fields = ["id", "name", "prefix", "scopes", "created_at", "expires_at", "last_used_at",
                  "revoked_at"]
        read_only_fields = fields


class ApiKeyCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=80)
    scopes = serializers.ListField(child=serializers.CharField(max_length=20), min_length=1)
    days = serializers.IntegerField(min_value=1, max_value=365, required=False)


class ApiKeyCreatedSerializer(ApiKeySerializer):
    key = serializers.CharField(read_only=True, help_text="Shown once; store it now.")

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]


class ApiKeyViewSet(mixins.ListModelMixin, TenantViewSet):
    """API keys of the tenant; only a signed-in admin or owner manages them."""

    serializer_class = ApiKeySerializer
    session_only = True
    required_role = Role.ADMIN
    scope_map = {"GET": Scope.ADMIN, "POST": Scope.ADMIN}

    def get_tenant_queryset(self, tenant):
        return tenant_selectors.api_key_list(tenant=tenant)

    @extend_schema(request=ApiKeyCreateSerializer, responses={201: ApiKeyCreatedSerializer})
    def create(self, request):
        serializer = ApiKeyCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        api_key, full_key = tenant_services.api_key_issue(
            tenant=self.tenant, actor=self.actor, **serializer.validated_data)
        body = ApiKeySerializer(api_key).data | {"key": full_key}
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=ApiKeySerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        api_key = self.get_object()
        api_key = tenant_services.api_key_revoke(tenant=self.tenant, actor=self.actor,
                                                 key_id=api_key.pk)
        return Response(ApiKeySerializer(api_key).data)
