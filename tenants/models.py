"""Accounts and tenancy: users, tenants (workspaces), memberships, API keys, invitations."""
from __future__ import annotations

import hashlib

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.utils import timezone

from tenants.plans import Plan
from tenants.scoping import TenantScopedModel


class UserManager(BaseUserManager):
    """Users are identified by their e-mail address."""

    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra) -> User:
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra) -> User:
        extra.update(is_staff=True, is_superuser=True)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in; belongs to tenants through memberships."""

    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=150, blank=True)
    is_staff = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)
    # TOTP second factor: the base32 seed sealed by the vault (tenants.vault.seal_user_secret),
    # confirmed once the user has entered a valid code.
    totp_secret = models.CharField(max_length=255, blank=True, editable=False)
    totp_enabled = models.BooleanField(default=False)
    # The time step of the last code accepted: a code works once (RFC 6238, section 5.2).
    totp_last_step = models.BigIntegerField(null=True, blank=True, editable=False)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    def __str__(self) -> str:
        return self.email


class RecoveryCode(models.Model):
    """A one-time code that stands in for the TOTP code at the second sign-in step.

    Only a keyed hash (HMAC-SHA256 under a pepper of AITRADER_API_KEY_PEPPERS, bound to the
    user) is stored; the codes are shown once, when issued.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="recovery_codes")
    code_hash = models.CharField(max_length=64, editable=False)
    pepper_version = models.CharField(max_length=16, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "code_hash"],
                                               name="recovery_code_unique_per_user")]

    def __str__(self) -> str:
        return f"recovery code of {self.user_id}{' (used)' if self.used_at else ''}"


class Tenant(models.Model):
    """A workspace: owns exchange accounts, bots, keys and everything they produce."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"

    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=60, unique=True)
    plan = models.CharField(max_length=20, choices=Plan.choices, default=Plan.FREE)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.slug

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE


class Role(models.TextChoices):
    VIEWER = "viewer", "Viewer"
    TRADER = "trader", "Trader"
    ADMIN = "admin", "Admin"
    OWNER = "owner", "Owner"


ROLE_RANK = {Role.VIEWER: 0, Role.TRADER: 1, Role.ADMIN: 2, Role.OWNER: 3}


def role_at_least(role: str, minimum: str) -> bool:
    """True when `role` ranks at or above `minimum` (viewer < trader < admin < owner)."""
    return ROLE_RANK[Role(role)] >= ROLE_RANK[Role(minimum)]


class Membership(TenantScopedModel):
    """A user's role in one tenant."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    # Over the plan's member limit after a downgrade: the member keeps read access (acts as a
    # viewer) until the owner removes someone or upgrades; the role is kept for that day.
    limited = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    @property
    def acting_role(self) -> str:
        """The role this member acts with: `role`, or viewer while over the plan's limit."""
        return Role.VIEWER if self.limited else self.role

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "user"],
                                               name="membership_unique_user_per_tenant")]

    def __str__(self) -> str:
        return f"{self.user} in {self.tenant_id} as {self.role}"


class Scope(models.TextChoices):
    READ = "read", "Read"
    EXPORT = "export", "Export"
    CONTROL = "control", "Control"
    ADMIN = "admin", "Admin"


class ApiKey(TenantScopedModel):
    """A programmatic credential of a tenant; only its prefix and an HMAC are stored."""

    name = models.CharField(max_length=80)
    prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64, editable=False)
    pepper_version = models.CharField(max_length=16, editable=False)
    scopes = models.JSONField(default=list)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["tenant", "created_at"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"

    def is_usable(self, now=None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and self.expires_at > now


class Invitation(TenantScopedModel):
    """An invitation for an e-mail address to join a tenant with a role; single use."""

    email = models.EmailField()
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.email} to {self.tenant_id} as {self.role}"

    @staticmethod
    def hash_token(token: str) -> str:
        """What is stored of an invitation's token (SHA-256: the token has 256 random bits)."""
        return hashlib.sha256(token.encode()).hexdigest()


class AuditEvent(TenantScopedModel):
    """One security-relevant action: who did what to which object, from where, when."""

    actor_user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    actor_key = models.ForeignKey(ApiKey, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+")
    actor_label = models.CharField(max_length=254)
    via = models.CharField(max_length=20)
    action = models.CharField(max_length=60, db_index=True)
    target = models.CharField(max_length=200, blank=True)
    details = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.action} by {self.actor_label}"


class TenantDataKey(TenantScopedModel):
    """A tenant's vault data key, stored only wrapped (AES-256-GCM) by the master key `kid`.

    Rotating master keys re-wraps this one row per tenant; the entries it encrypts stay as
    they are. See tenants/vault.py.
    """

    kid = models.CharField(max_length=32, db_index=True, editable=False,
                           help_text="Id of the master key that wraps this data key.")
    nonce = models.BinaryField(editable=False)
    wrapped_key = models.BinaryField(editable=False)
    tag = models.BinaryField(editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    rewrapped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant"],
                                               name="tenant_data_key_one_per_tenant")]

    def __str__(self) -> str:
        return f"data key of {self.tenant_id} (wrapped by {self.kid})"


class VaultEntry(TenantScopedModel):
    """One encrypted field of a named tenant secret (AES-256-GCM under the tenant's data key).

    Only the vault reads or writes these rows; the plaintext never touches the database.
    """

    name = models.CharField(max_length=120)
    field = models.CharField(max_length=40, default="value")
    nonce = models.BinaryField(editable=False)
    ciphertext = models.BinaryField(editable=False)
    tag = models.BinaryField(editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "vault entries"
        constraints = [models.UniqueConstraint(fields=["tenant", "name", "field"],
                                               name="vault_entry_unique_field")]

    def __str__(self) -> str:
        return f"{self.name}.{self.field}"


class Subscription(TenantScopedModel):
    """A tenant's paid plan (or trial) as Stripe sees it; one per tenant.

    Only `tenants.billing` writes it, from Checkout and from verified webhooks. The tenant's
    `plan` field stays the one the rest of the product reads; billing changes it through
    `plan_change` so live bots and members follow.
    """

    class Status(models.TextChoices):
        TRIALING = "trialing", "Trial"
        ACTIVE = "active", "Active"
        PAST_DUE = "past_due", "Payment failed"
        CANCELED = "canceled", "Cancelled"

    class Interval(models.TextChoices):
        MONTH = "month", "Monthly"
        YEAR = "year", "Yearly"

    plan = models.CharField(max_length=20, choices=Plan.choices)
    interval = models.CharField(max_length=10, choices=Interval.choices, default=Interval.MONTH)
    status = models.CharField(max_length=20, choices=Status.choices)
    stripe_customer_id = models.CharField(max_length=64, blank=True, db_index=True)
    stripe_subscription_id = models.CharField(max_length=64, blank=True, db_index=True)
    trial_ends_at = models.DateTimeField(null=True, blank=True)
    trial_reminder_sent_at = models.DateTimeField(null=True, blank=True)
    current_period_end = models.DateTimeField(null=True, blank=True)
    grace_ends_at = models.DateTimeField(null=True, blank=True)
    # Stripe's `created` of the newest event applied: an older one arriving late changes
    # nothing (Stripe does not promise delivery order).
    last_event_at = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant"],
                                               name="subscription_one_per_tenant")]

    def __str__(self) -> str:
        return f"{self.plan} ({self.status}) of {self.tenant_id}"


class StripeEvent(models.Model):
    """A webhook event already processed, by Stripe's event id: a redelivery is a no-op.

    Platform-level (an event may name no tenant we know), so not tenant-scoped."""

    event_id = models.CharField(max_length=64, unique=True)
    type = models.CharField(max_length=60)
    tenant_id_seen = models.BigIntegerField(null=True, blank=True)
    processed_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"
