"""/api/v1/notification-channels/: e-mail and signed webhook channels, as on the Telegram page.

Everything here needs an admin (a key with the `admin` scope): a webhook URL of Discord or
Slack works as a credential, so even the list shows it masked, and a webhook's signing secret
is answered once, by the create call.
"""
from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.response import Response

from dashboard.apis.base import TenantViewSet
from notifications import selectors as notification_selectors
from notifications import services_channels as channel_services
from notifications.models import CHANNEL_EVENTS, NotificationChannel
from notifications.outgoing import MAX_URL_LENGTH
from tenants.models import Scope


class ChannelSerializer(serializers.ModelSerializer):
    target = serializers.CharField(source="display_target", read_only=True,
                                   help_text="The e-mail address, or the webhook's host "
                                             "and \"…\" (its URL is kept in the vault).")

    class Meta:
        model = NotificationChannel
        fields = ["id", "kind", "target", "active", *CHANNEL_EVENTS, "created_at"]
        read_only_fields = fields


class ChannelCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=NotificationChannel.Kind.choices)
    target = serializers.CharField(max_length=MAX_URL_LENGTH, help_text=(
        "An e-mail address, or an https:// webhook URL (Discord, Slack or your own)."))
    entry = serializers.BooleanField(required=False)
    exit = serializers.BooleanField(required=False)
    alert = serializers.BooleanField(required=False)
    daily_digest = serializers.BooleanField(required=False)


class ChannelCreatedSerializer(ChannelSerializer):
    signing_secret = serializers.CharField(
        read_only=True, allow_null=True,
        help_text="A webhook's HMAC secret, answered this once (null for e-mail).")

    class Meta(ChannelSerializer.Meta):
        fields = [*ChannelSerializer.Meta.fields, "signing_secret"]


class ChannelSwitchesSerializer(serializers.Serializer):
    entry = serializers.BooleanField(required=False)
    exit = serializers.BooleanField(required=False)
    alert = serializers.BooleanField(required=False)
    daily_digest = serializers.BooleanField(required=False)

    def validate(self, attrs):
        unknown = sorted(set(self.initial_data) - set(CHANNEL_EVENTS))
        if unknown:
            raise serializers.ValidationError({unknown[0]: "Only the event switches "
                                               f"({', '.join(CHANNEL_EVENTS)}) can change."})
        return attrs


class NotificationChannelViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin,
                                 TenantViewSet):
    """The workspace's e-mail and webhook channels (admin scope for every method)."""

    serializer_class = ChannelSerializer
    scope_map = {"GET": Scope.ADMIN, "HEAD": Scope.ADMIN, "POST": Scope.ADMIN,
                 "PATCH": Scope.ADMIN, "DELETE": Scope.ADMIN}

    def get_tenant_queryset(self, tenant):
        return notification_selectors.channel_list(tenant=tenant)

    @extend_schema(request=ChannelCreateSerializer, responses={201: ChannelCreatedSerializer})
    def create(self, request):
        body = ChannelCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        kind, target = data.pop("kind"), data.pop("target")
        channel, secret = channel_services.channel_add(
            tenant=self.tenant, actor=self.actor, kind=kind, target=target, switches=data)
        return Response(ChannelSerializer(channel).data | {"signing_secret": secret},
                        status=status.HTTP_201_CREATED)

    @extend_schema(request=ChannelSwitchesSerializer, responses=ChannelSerializer)
    def partial_update(self, request, pk=None):
        channel = self.get_object()
        body = ChannelSwitchesSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        channel = channel_services.channel_update(tenant=self.tenant, actor=self.actor,
                                                  channel_id=channel.pk, **body.validated_data)
        return Response(ChannelSerializer(channel).data)

    @extend_schema(request=None, responses={204: None})
    def destroy(self, request, pk=None):
        channel = self.get_object()
        channel_services.channel_remove(tenant=self.tenant, actor=self.actor,
                                        channel_id=channel.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)
