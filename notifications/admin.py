"""Staff views of Telegram links, alert settings and deliveries (code hashes never shown)."""
from django.contrib import admin, messages

from notifications import services
from notifications.models import NotificationSettings, TelegramDelivery, TelegramLink


@admin.register(TelegramLink)
class TelegramLinkAdmin(admin.ModelAdmin):
    """Linked chats; staff can only deactivate (through the service, which audits)."""

    list_display = ["chat_id", "chat_title", "tenant", "user", "active", "checkins_enabled",
                    "checkin_interval_minutes", "next_checkin_at", "created_at"]
    list_filter = ["active", "checkins_enabled", "chat_type"]
    search_fields = ["chat_title", "telegram_username", "tenant__slug", "user__email"]
    list_select_related = ["tenant", "user"]
    readonly_fields = ["tenant", "chat_id", "chat_type", "user", "created_by", "telegram_user_id",
                       "telegram_username", "active", "last_checkin_at", "next_checkin_at",
                       "created_at", "deactivated_at", "deactivated_reason"]
    actions = ["deactivate"]

    @admin.action(description="Deactivate the selected chats")
    def deactivate(self, request, queryset) -> None:
        count = sum(services.link_deactivate(link_id=pk, reason=f"staff: {request.user}")
                    for pk in queryset.values_list("pk", flat=True))
        self.message_user(request, f"{count} chat(s) deactivated.", messages.SUCCESS)


@admin.register(NotificationSettings)
class NotificationSettingsAdmin(admin.ModelAdmin):
    """Per-tenant alert switches."""

    list_display = ["tenant", "auto_pause", "order_failed", "drift", "vault", "updated_at"]
    list_select_related = ["tenant"]
    readonly_fields = ["tenant", "updated_at", "updated_by"]


@admin.register(TelegramDelivery)
class TelegramDeliveryAdmin(admin.ModelAdmin):
    """The outbound message log, read-only: what was sent, retried or dropped, and why."""

    list_display = ["kind", "tenant", "link", "status", "attempts", "next_attempt_at",
                    "created_at", "sent_at", "last_error"]
    list_filter = ["status", "kind"]
    search_fields = ["tenant__slug", "dedup_key"]
    list_select_related = ["tenant", "link"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
