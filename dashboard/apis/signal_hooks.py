"""/api/v1/bots/{id}/signal-hook/: a bot's inbound signal webhook (TradingView-style alerts).

POST enables it, or rotates it (a new URL and secret; the old ones stop at once), and answers
the secret this once; GET is its status and last alerts, never the secret; DELETE turns it
off. All three need the `control` scope (or a signed-in trader+): the URL places orders.
"""
from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from dashboard.apis.base import TenantAPIView
from dashboard.signal_views import example_message, signal_hook_url
from tenants.models import Scope
from trading import selectors
from trading.models import Bot, SignalAlert, SignalHook
from trading.services import signals


class SignalAlertSerializer(serializers.ModelSerializer):
    class Meta:
        model = SignalAlert
        fields = ["alert_id", "action", "outcome", "manual_order", "received_at"]
        read_only_fields = fields


class SignalHookStatusSerializer(serializers.Serializer):
    enabled = serializers.BooleanField()
    url = serializers.URLField(allow_null=True, help_text="POST alerts here (while enabled).")
    created_at = serializers.DateTimeField(allow_null=True)
    rotated_at = serializers.DateTimeField(allow_null=True)
    last_used_at = serializers.DateTimeField(allow_null=True)
    alerts = SignalAlertSerializer(many=True, help_text="The last alerts, newest first.")


class SignalHookCreatedSerializer(SignalHookStatusSerializer):
    secret = serializers.CharField(help_text="Shown this once; only its SHA-256 is kept.")
    example_message = serializers.CharField(
        help_text="A TradingView alert message for this hook (JSON; {{...}} are TradingView "
                  "placeholders).")


class BotSignalHookApi(TenantAPIView):
    """A bot's inbound signal webhook: enable or rotate, status, disable."""

    scope_map = {"GET": Scope.CONTROL, "HEAD": Scope.CONTROL, "POST": Scope.CONTROL,
                 "DELETE": Scope.CONTROL}
    serializer_class = SignalHookStatusSerializer

    def get_tenant_queryset(self, tenant):
        return selectors.bot_list(tenant=tenant)

    @extend_schema(responses={200: SignalHookStatusSerializer})
    def get(self, request, pk=None):
        """The hook's status and last alerts (the secret is never shown again)."""
        bot = self.get_object()
        return Response(self._status(bot, selectors.signal_hook_for_bot(bot=bot)))

    @extend_schema(request=None, responses={201: SignalHookCreatedSerializer})
    def post(self, request, pk=None):
        """Enable, or rotate: a new URL and secret, the old ones stop working at once."""
        bot = self.get_object()
        hook, secret = signals.signal_hook_enable(tenant=self.tenant, actor=self.actor,
                                                  bot_id=bot.pk)
        return Response({**self._status(bot, hook), "secret": secret,
                         "example_message": example_message(secret)},
                        status=status.HTTP_201_CREATED)

    @extend_schema(responses={204: None})
    def delete(self, request, pk=None):
        """Turn the hook off (already off: nothing changes)."""
        bot = self.get_object()
        signals.signal_hook_disable(tenant=self.tenant, actor=self.actor, bot_id=bot.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _status(self, bot: Bot, hook: SignalHook | None) -> dict:
        return SignalHookStatusSerializer({
            "enabled": hook is not None,
            "url": signal_hook_url(self.request, hook.token) if hook else None,
            "created_at": hook.created_at if hook else None,
            "rotated_at": hook.rotated_at if hook else None,
            "last_used_at": hook.last_used_at if hook else None,
            "alerts": selectors.signal_alert_list(bot=bot)}).data
