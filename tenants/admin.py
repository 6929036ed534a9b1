"""Staff views of accounts and tenancy; key hashes and secrets are never displayed."""
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from tenants.models import (
    ApiKey,
    AuditEvent,
    Invitation,
    Membership,
    RecoveryCode,
    StripeEvent,
    Subscription,
    Tenant,
    TenantDataKey,
    User,
    VaultEntry,
)


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ["email"]
    list_display = ["email", "full_name", "is_staff", "is_active", "totp_enabled", "date_joined"]
    list_filter = ["is_staff", "is_active", "totp_enabled"]
    search_fields = ["email", "full_name"]
    readonly_fields = ["totp_enabled", "last_login", "date_joined"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Profile", {"fields": ["full_name"]}),
        ("Access", {"fields": ["is_active", "is_staff", "is_superuser", "groups",
                               "user_permissions", "totp_enabled"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"],
                             "fields": ["email", "password1", "password2"]})]


@admin.register(RecoveryCode)
class RecoveryCodeAdmin(admin.ModelAdmin):
    """Which accounts hold recovery codes and which were used; never a hash. Rows change only
    through the services (issue, use, 2FA off)."""

    list_display = ["user", "created_at", "used_at"]
    list_filter = ["used_at"]
    search_fields = ["user__email"]
    list_select_related = ["user"]
    fields = ["user", "created_at", "used_at"]
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "plan", "status", "created_at"]
    list_filter = ["plan", "status"]
    search_fields = ["slug", "name"]
    inlines = [MembershipInline]

    def save_model(self, request, obj: Tenant, form, change: bool) -> None:
        """A plan set by staff goes through the plan service, so live bots, bots over the
        limit and members follow it exactly as after a billing change."""
        new_plan = obj.plan
        if change and "plan" in form.changed_data:
            obj.plan = form.initial["plan"]
            super().save_model(request, obj, form, change)
            from tenants.actors import Actor
            from tenants.billing.services import plan_change

            plan_change(tenant=obj, plan=new_plan, reason=f"set by staff ({request.user})",
                        actor=Actor.system(obj, via="admin"))
            obj.refresh_from_db()
            return
        super().save_model(request, obj, form, change)


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    """Staff read subscriptions; Stripe's webhooks are their only writer."""

    list_display = ["tenant", "plan", "interval", "status", "current_period_end",
                    "trial_ends_at", "grace_ends_at", "stripe_customer_id"]
    list_filter = ["plan", "status", "interval"]
    search_fields = ["tenant__slug", "stripe_customer_id", "stripe_subscription_id"]
    list_select_related = ["tenant"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(StripeEvent)
class StripeEventAdmin(admin.ModelAdmin):
    """The processed webhook events (redeliveries are answered from here)."""

    list_display = ["event_id", "type", "processed_at"]
    search_fields = ["event_id", "type"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "tenant", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__email", "tenant__slug"]
    list_select_related = ["user", "tenant"]
    autocomplete_fields = ["user", "tenant"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["prefix", "name", "tenant", "scopes", "created_at", "expires_at",
                    "last_used_at", "revoked_at"]
    list_filter = ["revoked_at", "expires_at"]
    search_fields = ["prefix", "name", "tenant__slug"]
    list_select_related = ["tenant"]
    # key_hash and pepper_version are not editable and deliberately not listed here.
    fields = ["tenant", "name", "prefix", "scopes", "created_by", "created_at", "expires_at",
              "last_used_at", "revoked_at"]
    readonly_fields = ["tenant", "prefix", "created_by", "created_at", "last_used_at"]

    def has_add_permission(self, request) -> bool:
        return False  # keys are minted by the service, which shows the secret once


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["email", "tenant", "role", "created_at", "expires_at", "accepted_at"]
    search_fields = ["email", "tenant__slug"]
    fields = ["tenant", "email", "role", "invited_by", "created_at", "expires_at", "accepted_at"]
    readonly_fields = fields


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "tenant", "action", "actor_label", "via", "target", "ip"]
    list_filter = ["action", "via"]
    search_fields = ["actor_label", "target", "tenant__slug"]
    list_select_related = ["tenant"]

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # the audit log is append-only

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class VaultRowAdmin(admin.ModelAdmin):
    """Read-only view of vault rows: which secrets exist, never a nonce, ciphertext or tag.

    Rows change only through tenants.vault (saving or removing credentials, rotate_vault_keys):
    deleting a row here would strand the account that refers to it, or, for a data key,
    destroy every secret of its tenant.
    """

    list_select_related = ["tenant"]
    search_fields = ["tenant__slug"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(VaultEntry)
class VaultEntryAdmin(VaultRowAdmin):
    list_display = ["name", "field", "tenant", "created_at", "updated_at"]
    search_fields = ["name", "tenant__slug"]
    fields = ["tenant", "name", "field", "created_at", "updated_at"]
    readonly_fields = fields


@admin.register(TenantDataKey)
class TenantDataKeyAdmin(VaultRowAdmin):
    list_display = ["tenant", "kid", "created_at", "rewrapped_at"]
    list_filter = ["kid"]
    fields = ["tenant", "kid", "created_at", "rewrapped_at"]
    readonly_fields = fields
