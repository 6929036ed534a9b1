"""Writes of the tenants app: sign-up, tenants, members, invitations, API keys, TOTP.

Each function is one use case, called by every surface (pages, API, CLI, admin actions).
"""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pyotp
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core import signing
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from aitrader.errors import Conflict, Forbidden, NotFound, ValidationFailed
from tenants import keys, mail, vault
from tenants.actors import Actor
from tenants.models import (
    ApiKey,
    AuditEvent,
    Invitation,
    Membership,
    RecoveryCode,
    Role,
    Scope,
    Tenant,
    User,
)
from tenants.plans import Plan, plan_check_count
from tenants.selectors import key_creator_role_subquery
from tenants.signals import access_changed

INVITATION_DAYS = 7


def audit_record(*, tenant: Tenant, actor: Actor, action: str, target: str = "",
                 details: dict[str, Any] | None = None) -> AuditEvent:
    """Append one audit event for `actor` doing `action` on `target`; call inside the
    transaction of the action so the record and the change commit together."""
    return AuditEvent.objects.create(
        tenant=tenant, actor_user=actor.user, actor_key=actor.api_key, actor_label=actor.label,
        via=actor.via, action=action, target=target[:200], details=details or {}, ip=actor.ip,
        user_agent=(actor.user_agent or "")[:300])


def user_login_audit(*, user: User, succeeded: bool, ip: str | None, user_agent: str,
                     reason: str = "") -> int:
    """Audit a sign-in (or a failed one, with the step that failed) in every tenant of `user`;
    returns the rows written. An account in no tenant leaves nothing to audit."""
    action = "login.success" if succeeded else "login.failure"
    return user_audit(user=user, action=action, ip=ip, user_agent=user_agent,
                      details={} if succeeded else {"reason": reason})


def user_audit(*, user: User, action: str, ip: str | None = None, user_agent: str = "",
               details: dict[str, Any] | None = None) -> int:
    """Audit an event of the account itself (sign-in, second factor) in every tenant of
    `user`, since each tenant's admins answer for who can act in it; returns the rows written."""
    written = 0
    memberships = Membership.objects.all_tenants(reason="an account event reaches each of its "
                                                        "workspaces")
    for membership in memberships.filter(user=user).select_related("tenant", "user"):
        actor = Actor.for_member(membership, via="web", ip=ip, user_agent=user_agent)
        audit_record(tenant=membership.tenant, actor=actor, action=action, target=user.email,
                     details=details)
        written += 1
    return written


def _check_password(password: str, user: User | None = None) -> None:
    try:
        validate_password(password, user)
    except DjangoValidationError as exc:
        raise ValidationFailed(" ".join(exc.messages), field="password") from None


def _unique_slug(name: str) -> str:
    base = slugify(name)[:50] or "workspace"
    slug, counter = base, 1
    while Tenant.objects.filter(slug=slug).exists():
        counter += 1
        slug = f"{base}-{counter}"
    return slug


@transaction.atomic
def tenant_create(*, name: str, owner: User, slug: str | None = None,
                  plan: str = Plan.FREE) -> Tenant:
    """Create a tenant with `owner` as its owner member."""
    if plan not in Plan.values:
        raise ValidationFailed(f"Unknown plan '{plan}'; choose one of {', '.join(Plan.values)}.",
                               field="plan")
    name = name.strip()
    if not name:
        raise ValidationFailed("A workspace needs a name.", field="name")
    if slug is not None and (slugify(slug) != slug or not slug):
        raise ValidationFailed("A slug may hold only lowercase letters, digits and hyphens.",
                               field="slug")
    if slug and Tenant.objects.filter(slug=slug).exists():
        raise Conflict(f"The slug '{slug}' is taken.")
    tenant = Tenant.objects.create(name=name, slug=slug or _unique_slug(name), plan=plan)
    membership = Membership.objects.create(tenant=tenant, user=owner, role=Role.OWNER)
    audit_record(tenant=tenant, actor=Actor.for_member(membership), action="tenant.create",
                 target=tenant.slug)
    return tenant


@transaction.atomic
def user_sign_up(*, email: str, password: str, workspace_name: str,
                 full_name: str = "") -> tuple[User, Tenant]:
    """Create a user, their first tenant, and make them its owner."""
    email = email.strip().lower()
    if User.objects.filter(email=email).exists():
        raise Conflict("An account with this e-mail address exists; sign in instead.")
    _check_password(password, User(email=email, full_name=full_name))
    try:
        user = User.objects.create_user(email, password, full_name=full_name.strip())
    except IntegrityError:
        raise Conflict("An account with this e-mail address exists; sign in instead.") from None
    tenant = tenant_create(name=workspace_name or f"{email.split('@')[0]}'s workspace",
                           owner=user)
    # Imported here: billing builds on this module (audit_record), not the other way round.
    from tenants.billing.services import billing_trial_start

    billing_trial_start(tenant=tenant)
    tenant.refresh_from_db(fields=["plan"])
    return user, tenant


SIGNUP_LINK_MAX_AGE = timedelta(days=2)
_SIGNUP_SALT = "tenants.signup"


@dataclass(frozen=True)
class SignUpIntent:
    """What a sign-up link carries: who signs up, and the workspace they asked for."""

    email: str
    full_name: str
    workspace_name: str


def signup_request(*, email: str, workspace_name: str, full_name: str = "",
                   site_url: str) -> None:
    """Start a sign-up. The page answers the same whether or not the address has an account
    (no enumeration); the e-mail says the rest: a link that finishes the sign-up, or that the
    address already has an account. The password is chosen at the link, so only whoever reads
    the mailbox can set it (nobody can plant an account with a password they know)."""
    email = email.strip().lower()
    if User.objects.filter(email=email).exists():
        mail.send_account_email(to=email, template="signup_exists", context={
            "login_url": site_url + reverse("login"),
            "reset_url": site_url + reverse("password_reset")})
        return
    token = signing.dumps({"e": email, "n": full_name.strip()[:150],
                           "w": workspace_name.strip()[:120]}, salt=_SIGNUP_SALT, compress=True)
    mail.send_account_email(to=email, template="signup_link", context={
        "link": site_url + reverse("signup_confirm", args=[token]),
        "workspace_name": workspace_name.strip(), "days": SIGNUP_LINK_MAX_AGE.days})


def signup_intent(*, token: str) -> SignUpIntent:
    """The sign-up a link carries; NotFound when it is forged or expired, Conflict once used."""
    try:
        data = signing.loads(token, salt=_SIGNUP_SALT, max_age=SIGNUP_LINK_MAX_AGE)
        intent = SignUpIntent(email=data["e"], full_name=data["n"], workspace_name=data["w"])
    except (signing.BadSignature, KeyError, TypeError):
        raise NotFound("This sign-up link is invalid or has expired; sign up again.") from None
    if User.objects.filter(email=intent.email).exists():
        raise Conflict("This address already has an account; sign in instead.")
    return intent


def signup_complete(*, token: str, password: str) -> tuple[User, Tenant]:
    """Finish a sign-up from its e-mailed link: the account, its workspace, its owner."""
    intent = signup_intent(token=token)
    return user_sign_up(email=intent.email, password=password, full_name=intent.full_name,
                        workspace_name=intent.workspace_name)


@transaction.atomic
def api_key_issue(*, tenant: Tenant, actor: Actor, name: str, scopes: list[str],
                  days: int | None = None) -> tuple[ApiKey, str]:
    """Mint a key; returns the row and the full key, which is never retrievable again."""
    actor.require_role(Role.ADMIN)
    scopes = _validate_scopes(scopes)
    days = settings.AITRADER_API_KEY_DEFAULT_DAYS if days is None else days
    if not 1 <= days <= settings.AITRADER_API_KEY_MAX_DAYS:
        raise ValidationFailed(
            f"Expiry must be between 1 and {settings.AITRADER_API_KEY_MAX_DAYS} days.",
            field="days")
    name = (name or "").strip()[:80] or "API key"
    material = keys.generate_key()
    api_key = ApiKey.objects.create(
        tenant=tenant, name=name, prefix=material.prefix, key_hash=material.key_hash,
        pepper_version=material.pepper_version, scopes=scopes, created_by=actor.user,
        expires_at=timezone.now() + timedelta(days=days))
    audit_record(tenant=tenant, actor=actor, action="api_key.issue", target=api_key.prefix,
                 details={"scopes": scopes, "days": days})
    return api_key, material.full_key


def _validate_scopes(scopes: list[str]) -> list[str]:
    cleaned = sorted({s.strip() for s in scopes if s and s.strip()})
    unknown = [s for s in cleaned if s not in Scope.values]
    if unknown:
        raise ValidationFailed(f"Unknown scope(s) {', '.join(unknown)}; choose from "
                               f"{', '.join(Scope.values)}.", field="scopes")
    if not cleaned:
        raise ValidationFailed("Choose at least one scope.", field="scopes")
    return cleaned


@transaction.atomic
def api_key_revoke(*, tenant: Tenant, actor: Actor, key_id: int) -> ApiKey:
    """Revoke a key; the next request that presents it gets 401."""
    actor.require_role(Role.ADMIN)
    api_key = ApiKey.objects.locked_for_tenant(tenant, key_id, message="No such API key.")
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
        audit_record(tenant=tenant, actor=actor, action="api_key.revoke", target=api_key.prefix)
        _announce_access_change(tenant, key_id=api_key.pk)
    return api_key


def _announce_access_change(tenant: Tenant, **who: int) -> None:
    """Once committed, tell the surfaces that hold live grants (the /ws/live sockets)."""
    transaction.on_commit(lambda: access_changed.send(sender=Tenant, tenant_id=tenant.pk, **who))


def _revoke_keys_created_by(tenant: Tenant, actor: Actor, user: User) -> None:
    """A member who leaves takes the keys they minted with them (audited, one row a key)."""
    now = timezone.now()
    for api_key in ApiKey.objects.for_tenant(tenant).select_for_update().filter(
            created_by=user, revoked_at__isnull=True):
        api_key.revoked_at = now
        api_key.save(update_fields=["revoked_at"])
        audit_record(tenant=tenant, actor=actor, action="api_key.revoke", target=api_key.prefix,
                     details={"reason": f"its creator {user.email} was removed"})


def api_key_authenticate(full_key: str) -> ApiKey | None:
    """The usable key matching `full_key`, or None; touches last_used_at at most once a minute.

    The key comes with `creator_role`, its creator's current role (read in the same query),
    which caps what the key may do."""
    prefix = keys.parse_prefix(full_key)
    if prefix is None:
        return None
    api_key = (ApiKey.objects.all_tenants(reason="a presented key names its tenant by prefix")
               .select_related("tenant").filter(prefix=prefix)
               .annotate(creator_role=key_creator_role_subquery()).first())
    if api_key is None or not keys.key_matches(full_key, api_key.key_hash, api_key.pepper_version):
        return None
    now = timezone.now()
    if not api_key.is_usable(now) or not api_key.tenant.is_active:
        return None
    _touch_key(api_key, now)
    return api_key


def _touch_key(api_key: ApiKey, now) -> None:
    # One conditional UPDATE at most per interval instead of a write per request.
    threshold = now - timedelta(seconds=settings.AITRADER_API_KEY_TOUCH_SECONDS)
    if api_key.last_used_at is None or api_key.last_used_at <= threshold:
        ApiKey.objects.for_tenant(api_key.tenant_id).filter(pk=api_key.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lte=threshold)
        ).update(last_used_at=now)
        api_key.last_used_at = now


@transaction.atomic
def membership_invite(*, tenant: Tenant, actor: Actor, email: str, role: str = Role.VIEWER,
                      site_url: str | None = None) -> tuple[Invitation, str]:
    """Invite an e-mail address to the tenant; returns the invitation and its one-time token.

    With `site_url` (the web page passes its own), the link is e-mailed once committed; a mail
    server that fails is logged and the invitation stands (the inviter sees the link too).
    """
    actor.require(Scope.ADMIN)  # a signed-in admin+, or a key with the admin scope
    _check_assignable_role(actor, role)
    email = email.strip().lower()
    if Membership.objects.for_tenant(tenant).filter(user__email=email).exists():
        raise Conflict(f"{email} is already a member.")
    pending = Invitation.objects.for_tenant(tenant).filter(accepted_at__isnull=True,
                                                           expires_at__gt=timezone.now())
    plan_check_count(tenant.plan, "max_members",
                     Membership.objects.for_tenant(tenant).count() + pending.count())
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        tenant=tenant, email=email, role=role, token_hash=Invitation.hash_token(token),
        invited_by=actor.user, expires_at=timezone.now() + timedelta(days=INVITATION_DAYS))
    audit_record(tenant=tenant, actor=actor, action="member.invite", target=email,
                 details={"role": role})
    if site_url is not None:
        context = {"link": site_url + reverse("accept_invitation", args=[token]),
                   "tenant_name": tenant.name, "role": Role(role).label,
                   "inviter": actor.label, "days": INVITATION_DAYS}
        transaction.on_commit(lambda: mail.send_account_email(
            to=email, template="invitation", context=context), robust=True)
    return invitation, token


@transaction.atomic
def invitation_accept(*, token: str, user: User) -> Membership:
    """Join the inviting tenant with the invited role; the token works once."""
    invitation = (Invitation.objects.all_tenants(reason="the token alone names the invitation")
                  .select_for_update().select_related("tenant")
                  .filter(token_hash=Invitation.hash_token(token)).first())
    if invitation is None or invitation.accepted_at or invitation.expires_at <= timezone.now():
        raise NotFound("This invitation is invalid or has expired; ask for a new one.")
    if invitation.email != user.email:
        raise Forbidden(f"This invitation was sent to {invitation.email}; sign in as that user.")
    membership, _ = Membership.objects.for_tenant(invitation.tenant).get_or_create(
        tenant=invitation.tenant, user=user, defaults={"role": invitation.role})
    invitation.accepted_at = timezone.now()
    invitation.save(update_fields=["accepted_at"])
    audit_record(tenant=invitation.tenant, actor=Actor.for_member(membership),
                 action="member.join", target=user.email, details={"role": membership.role})
    return membership


def _check_assignable_role(actor: Actor, role: str) -> None:
    if role not in Role.values:
        raise ValidationFailed(f"Unknown role '{role}'; choose from {', '.join(Role.values)}.",
                               field="role")
    if role == Role.OWNER and not actor.has_role(Role.OWNER):
        raise Forbidden("Only an owner can make someone an owner.")


def _locked_member(tenant: Tenant, membership_id: int) -> Membership:
    return Membership.objects.locked_for_tenant(tenant, membership_id, message="No such member.")


def _ensure_another_owner(tenant: Tenant, membership: Membership) -> None:
    owners = Membership.objects.for_tenant(tenant).filter(role=Role.OWNER)
    if membership.role == Role.OWNER and owners.count() <= 1:
        raise Conflict("A workspace needs at least one owner; make someone else owner first.")


@transaction.atomic
def membership_change_role(*, tenant: Tenant, actor: Actor, membership_id: int,
                           role: str) -> Membership:
    """Change a member's role (admin+; only owners touch owners)."""
    actor.require(Scope.ADMIN)
    _check_assignable_role(actor, role)
    membership = _locked_member(tenant, membership_id)
    if membership.role == Role.OWNER and not actor.has_role(Role.OWNER):
        raise Forbidden("Only an owner can change another owner's role.")
    if role != Role.OWNER:
        _ensure_another_owner(tenant, membership)
    old_role, membership.role = membership.role, role
    membership.save(update_fields=["role"])
    audit_record(tenant=tenant, actor=actor, action="member.role_change",
                 target=membership.user.email, details={"from": old_role, "to": role})
    if old_role != role:
        _announce_access_change(tenant, user_id=membership.user_id)
    return membership


@transaction.atomic
def membership_remove(*, tenant: Tenant, actor: Actor, membership_id: int) -> None:
    """Remove a member from the tenant (admin+; only owners remove owners); the keys they
    minted are revoked and their open live sockets closed."""
    actor.require(Scope.ADMIN)
    membership = _locked_member(tenant, membership_id)
    if membership.role == Role.OWNER and not actor.has_role(Role.OWNER):
        raise Forbidden("Only an owner can remove an owner.")
    _ensure_another_owner(tenant, membership)
    user = membership.user
    membership.delete()
    audit_record(tenant=tenant, actor=actor, action="member.remove", target=user.email)
    _revoke_keys_created_by(tenant, actor, user)
    _announce_access_change(tenant, user_id=user.pk)


def totp_begin(*, user: User) -> str:
    """Start TOTP enrolment: store a new secret (not yet enabled) and return it."""
    if user.totp_enabled:
        # Re-enrolling would switch the second factor off without a code.
        raise Conflict("Two-factor authentication is already on; turn it off first.")
    seed = pyotp.random_base32()
    user.totp_secret = vault.seal_user_secret(user.pk, vault.TOTP_PURPOSE, seed)
    user.totp_last_step = None
    user.save(update_fields=["totp_secret", "totp_enabled", "totp_last_step"])
    return seed


def totp_seed(*, user: User) -> str:
    """The user's TOTP seed in clear (enrolment shows it once), or "" when none is set."""
    if not user.totp_secret:
        return ""
    return vault.open_user_secret(user.pk, vault.TOTP_PURPOSE, user.totp_secret)


def totp_verify(*, user: User, code: str) -> bool:
    """Whether `code` is the user's current TOTP (one step of clock drift allowed) and was
    not accepted before: each code works once, so one seen over a shoulder or in a proxy
    log cannot be replayed within its 90 seconds."""
    seed = totp_seed(user=user)
    step = _totp_step(seed, (code or "").strip()) if seed else None
    if step is None:
        return False
    # The conditional UPDATE is the lock: of two requests with one code, one wins.
    spent = User.objects.filter(pk=user.pk).filter(
        Q(totp_last_step__isnull=True) | Q(totp_last_step__lt=step)).update(totp_last_step=step)
    user.totp_last_step = step if spent else user.totp_last_step
    return bool(spent)


def _totp_step(seed: str, code: str) -> int | None:
    """The time step `code` belongs to, within one step of now, or None."""
    totp, now = pyotp.TOTP(seed), timezone.now()
    for drift in (0, -1, 1):
        moment = now + timedelta(seconds=drift * totp.interval)
        if secrets.compare_digest(totp.at(moment), code):
            return totp.timecode(moment)
    return None


TOTP_ISSUER = "aitrader"


def totp_provisioning_uri(*, user: User) -> str:
    """The otpauth:// URI of the user's seed (what the set-up QR code holds), or ""."""
    seed = totp_seed(user=user)
    if not seed:
        return ""
    return pyotp.TOTP(seed).provisioning_uri(name=user.email, issuer_name=TOTP_ISSUER)


@transaction.atomic
def totp_confirm(*, user: User, code: str, ip: str | None = None,
                 user_agent: str = "") -> list[str]:
    """Enable TOTP once the user proves they hold the secret; returns the first recovery
    codes, which are shown this once."""
    if not totp_verify(user=user, code=code):
        raise ValidationFailed("That code is not valid; check the time on your device.",
                               field="code")
    user.totp_enabled = True
    user.save(update_fields=["totp_enabled"])
    user_audit(user=user, action="two_factor.enable", ip=ip, user_agent=user_agent)
    return recovery_codes_issue(user=user, ip=ip, user_agent=user_agent)


@transaction.atomic
def totp_disable(*, user: User, code: str, ip: str | None = None, user_agent: str = "") -> None:
    """Turn TOTP off, recovery codes with it; needs a current code so a stolen session
    cannot do it."""
    if not totp_verify(user=user, code=code):
        raise ValidationFailed("That code is not valid.", field="code")
    user.totp_secret = ""
    user.totp_enabled = False
    user.save(update_fields=["totp_secret", "totp_enabled"])
    RecoveryCode.objects.filter(user=user).delete()
    user_audit(user=user, action="two_factor.disable", ip=ip, user_agent=user_agent)


# --- Recovery codes: the second step when the authenticator is lost ----------------------------

RECOVERY_CODE_COUNT = 10
# 32 letters and digits without 0/o and 1/l, which read alike: 10 of them carry 50 bits.
_RECOVERY_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"
_RECOVERY_LENGTH = 10


def _recovery_hash(user_id: int, code: str, pepper_version: str) -> str:
    # Keyed (a stolen table cannot be checked offline) and bound to the user (a row copied
    # to another account does not match there).
    return keys.hash_key(f"recovery-code:{user_id}:{code}", pepper_version)


def _normalized_recovery_code(code: str) -> str:
    """What the user typed, without spaces or hyphens and in lower case."""
    return re.sub(r"[\s-]", "", code or "").lower()


@transaction.atomic
def recovery_codes_issue(*, user: User, ip: str | None = None,
                         user_agent: str = "") -> list[str]:
    """Replace the user's recovery codes with new ones and return them for showing once;
    only keyed hashes are stored."""
    RecoveryCode.objects.filter(user=user).delete()
    version = keys.current_pepper_version()
    codes = ["".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_LENGTH))
             for _ in range(RECOVERY_CODE_COUNT)]
    RecoveryCode.objects.bulk_create([
        RecoveryCode(user=user, code_hash=_recovery_hash(user.pk, code, version),
                     pepper_version=version) for code in codes])
    user_audit(user=user, action="two_factor.recovery_codes_issue", ip=ip,
               user_agent=user_agent, details={"count": RECOVERY_CODE_COUNT})
    return [f"{code[:5]}-{code[5:]}" for code in codes]


def recovery_codes_regenerate(*, user: User, code: str, ip: str | None = None,
                              user_agent: str = "") -> list[str]:
    """New recovery codes (the old ones stop working); needs a current authenticator code, so
    a stolen session cannot mint itself a second factor."""
    if not user.totp_enabled:
        raise Conflict("Turn two-factor authentication on first.")
    if not totp_verify(user=user, code=code):
        raise ValidationFailed("That code is not valid; check the time on your device.",
                               field="code")
    return recovery_codes_issue(user=user, ip=ip, user_agent=user_agent)


def recovery_codes_left(*, user: User) -> int:
    """How many of the user's recovery codes are unused."""
    return RecoveryCode.objects.filter(user=user, used_at__isnull=True).count()


@transaction.atomic
def recovery_code_use(*, user: User, code: str, ip: str | None = None,
                      user_agent: str = "") -> int | None:
    """Spend one unused recovery code of `user`; returns how many are left, or None when
    `code` is not one of them. The conditional UPDATE decides between two requests."""
    code = _normalized_recovery_code(code)
    if len(code) != _RECOVERY_LENGTH:
        return None
    unused = RecoveryCode.objects.filter(user=user, used_at__isnull=True)
    versions = set(unused.values_list("pepper_version", flat=True))
    hashes = [_recovery_hash(user.pk, code, version) for version in versions]
    if not unused.filter(code_hash__in=hashes).update(used_at=timezone.now()):
        return None
    left = recovery_codes_left(user=user)
    user_audit(user=user, action="two_factor.recovery_code_use", ip=ip, user_agent=user_agent,
               details={"left": left})
    return left


@dataclass(frozen=True)
class SecondStep:
    """How the sign-in's second step went; `recovery_codes_left` is set when a recovery code
    was spent."""

    verified: bool
    recovery_codes_left: int | None = None


def second_step_verify(*, user: User, code: str, ip: str | None = None,
                       user_agent: str = "") -> SecondStep:
    """The second sign-in step: a current 6-digit TOTP code, or an unused recovery code."""
    code = (code or "").strip()
    if len(code) == 6 and code.isdigit():
        return SecondStep(verified=totp_verify(user=user, code=code))
    left = recovery_code_use(user=user, code=code, ip=ip, user_agent=user_agent)
    return SecondStep(verified=left is not None, recovery_codes_left=left)
