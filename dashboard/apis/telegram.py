"""/api/v1/telegram/: one-time link codes and the linked chats, as on the Telegram page.

A code links a chat to the workspace as one member (`/start CODE` in Telegram, 10 minutes,
once); minting one and unlinking a chat need an admin (a key with the `admin` scope).
"""
from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from aitrader.errors import ValidationFailed
from dashboard.apis.base import TenantAPIView, TenantViewSet
from notifications import selectors as notification_selectors
from notifications import services as notification_services
from notifications.models import TelegramLink
from tenants import selectors as tenant_selectors
from tenants.models import Scope


class TelegramLinkSerializer(serializers.ModelSerializer):
    label = serializers.CharField(read_only=True)
    email = serializers.EmailField(source="user.email", read_only=True,
                                   help_text="The member whose role the chat's commands carry.")

    class Meta:
        model = TelegramLink
        fields = ["id", "label", "chat_type", "email", "active", "checkins_enabled",
                  "checkin_interval_minutes", "created_at"]
        read_only_fields = fields


class LinkCodeRequestSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254,
                                   help_text="The member the linked chat will act as.")


class LinkCodeSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Send `/start CODE` to the bot; works once.")
    email = serializers.EmailField()
    expires_at = serializers.DateTimeField()


class TelegramLinkCodeApi(TenantAPIView):
    """Mint a one-time code that links a Telegram chat as a member of the workspace."""

    scope_map = {"POST": Scope.ADMIN}
    serializer_class = LinkCodeRequestSerializer

    def get_tenant_queryset(self, tenant):
        return tenant_selectors.membership_list(tenant=tenant)

    @extend_schema(request=LinkCodeRequestSerializer, responses={201: LinkCodeSerializer})
    def post(self, request):
        body = LinkCodeRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        email = body.validated_data["email"].strip().lower()
        membership = self.get_queryset().filter(user__email=email).first()
        if membership is None:
            raise ValidationFailed(f"{email} is not a member of this workspace.", field="email")
        row, code = notification_services.link_code_issue(
            tenant=self.tenant, actor=self.actor, user=membership.user)
        return Response({"code": code, "email": email, "expires_at": row.expires_at},
                        status=status.HTTP_201_CREATED)


class TelegramLinkViewSet(mixins.ListModelMixin, TenantViewSet):
    """The workspace's linked chats; unlinking one needs an admin."""

    serializer_class = TelegramLinkSerializer
    scope_map = {"POST": Scope.ADMIN}

    def get_tenant_queryset(self, tenant):
        return notification_selectors.link_list(tenant=tenant)

    @extend_schema(request=None, responses=TelegramLinkSerializer)
    @action(detail=True, methods=["post"])
    def unlink(self, request, pk=None):
        link = self.get_object()
        link = notification_services.link_unlink(tenant=self.tenant, actor=self.actor,
                                                 link_id=link.pk)
        return Response(TelegramLinkSerializer(link).data)
