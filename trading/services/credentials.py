"""Saving and removing an exchange account's API credentials.

Customers hand us keys that can move their money, so saving them asks a signed-in member for
their current password again (a program proves itself with an `admin` key instead, and an
operator's CLI with shell access), proves the keys at the exchange, refuses keys that can
withdraw, and keeps them only in the vault. No message, log line or audit row carries a key or
a secret.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.db import transaction

from aitrader.errors import Forbidden, ServiceError, ValidationFailed
from tenants.actors import Actor
from tenants.models import Scope, Tenant
from tenants.plans import plan_require_feature
from tenants.services import audit_record
from tenants.throttle import login_attempt_check, login_failure_count
from tenants.vault import delete_secret, store_secret
from trading import selectors
from trading.exchanges.base import (
    AccountPermissions,
    AuthenticationError,
    ExchangeError,
    TemporaryExchangeError,
)
from trading.exchanges.live_clients import (
    API_KEY_FIELD,
    SECRET_FIELD,
    credential_ref_for,
    live_exchange_for_keys,
)
from trading.models import ExchangeAccount

logger = logging.getLogger(__name__)

MAX_CREDENTIAL_LENGTH = 512


class ExchangeUnavailable(ServiceError):
    """The exchange could not be asked about the keys just now; nothing was saved."""

    status_code = 503
    code = "exchange_unavailable"


@dataclass(frozen=True)
class CredentialsSaved:
    """The account with its new credentials, what the exchange reported, and warnings."""

    account: ExchangeAccount
    permissions: AccountPermissions
    warnings: list[str] = field(default_factory=list)


def exchange_credentials_save(*, tenant: Tenant, actor: Actor, account_id: int, api_key: str,
                              secret: str, password: str = "") -> CredentialsSaved:
    """Verify and store an account's API key and secret (a signed-in admin+ who re-enters
    their password, or a key with the `admin` scope, or the CLI).

    Needs a plan with live trading. The keys are proven at the exchange first, outside any
    transaction so no row lock is held across the network round trip; keys that can withdraw
    (where the exchange says so) or cannot trade are refused. A key without an IP restriction
    is saved with a warning. Replaces credentials saved before.
    """
    actor.require(Scope.ADMIN)
    if actor.user is not None:  # a key or the CLI has no password; the key is the proof
        _reauthenticate(actor, password)
    plan_require_feature(tenant.plan, "live_trading")
    account = selectors.exchange_account_get(tenant=tenant, account_id=account_id)
    api_key = _cleaned(api_key, API_KEY_FIELD, "API key")
    secret = _cleaned(secret, SECRET_FIELD, "secret")
    permissions = _verified_permissions(account.exchange_id, api_key, secret)
    warnings = _warnings(account.exchange_id, permissions)
    account = _store_credentials(tenant=tenant, actor=actor, account_id=account.pk,
                                 api_key=api_key, secret=secret,
                                 permissions=permissions, warnings=warnings)
    return CredentialsSaved(account=account, permissions=permissions, warnings=warnings)


@transaction.atomic
def exchange_credentials_remove(*, tenant: Tenant, actor: Actor,
                                account_id: int) -> ExchangeAccount:
    """Delete an account's credentials from the vault (admin+, or a key with the `admin`
    scope); harmless when there are none.

    No password and no plan check: removing a key that may have leaked must stay one step,
    also for a workspace whose plan no longer includes live trading.
    """
    actor.require(Scope.ADMIN)
    account = ExchangeAccount.objects.locked_for_tenant(tenant, account_id)
    if not account.credential_ref:
        return account
    delete_secret(tenant, account.credential_ref)
    account.credential_ref = ""
    account.save(update_fields=["credential_ref"])
    audit_record(tenant=tenant, actor=actor, action="exchange_account.credentials_removed",
                 target=account.label, details={"exchange": account.exchange_id})
    return account


@transaction.atomic
def _store_credentials(*, tenant: Tenant, actor: Actor, account_id: int, api_key: str,
                       secret: str, permissions: AccountPermissions,
                       warnings: list[str]) -> ExchangeAccount:
    # It may have gone while the exchange answered.
    account = ExchangeAccount.objects.locked_for_tenant(tenant, account_id)
    reference = account.credential_ref or credential_ref_for(account)
    store_secret(tenant, reference, api_key, field=API_KEY_FIELD)
    store_secret(tenant, reference, secret, field=SECRET_FIELD)
    if account.credential_ref != reference:
        account.credential_ref = reference
        account.save(update_fields=["credential_ref"])
    audit_record(tenant=tenant, actor=actor, action="exchange_account.credentials_set",
                 target=account.label, details={
                     "exchange": account.exchange_id, "api_key_hint": _hint(api_key),
                     "can_trade": permissions.can_trade,
                     "can_withdraw": permissions.can_withdraw,
                     "ip_restricted": permissions.ip_restricted, "warnings": warnings})
    return account


def _reauthenticate(actor: Actor, password: str) -> None:
    """A signed-in member confirms their current password."""
    # Guessing the password here counts against the same budget as guessing it at sign-in.
    login_attempt_check(username=actor.user.email, ip=actor.ip)
    if not password or not actor.user.check_password(password):
        login_failure_count(username=actor.user.email, ip=actor.ip)
        logger.warning("exchange credentials refused for %s: password not confirmed",
                       actor.label)
        raise Forbidden("Your current password was not confirmed; enter it to change exchange "
                        "credentials.", field="password")


def _cleaned(value: str, field_name: str, label: str) -> str:
    # The messages never echo the value: it is the credential.
    value = value.strip() if isinstance(value, str) else ""
    if not value:
        raise ValidationFailed(f"Enter the {label}.", field=field_name)
    if len(value) > MAX_CREDENTIAL_LENGTH or not value.isprintable() or " " in value:
        raise ValidationFailed(f"That {label} is malformed: it should be a single line of at "
                               f"most {MAX_CREDENTIAL_LENGTH} characters without spaces.",
                               field=field_name)
    return value


def _verified_permissions(exchange_id: str, api_key: str, secret: str) -> AccountPermissions:
    """What the keys may do, as the exchange reports it; refuses keys that must not be kept."""
    exchange = live_exchange_for_keys(exchange_id, api_key, secret)
    try:
        permissions = exchange.verify_credentials()
    except AuthenticationError:
        raise ValidationFailed(f"{exchange_id} refused these API keys; check the key, the "
                               f"secret and the key's IP allowlist.", field=API_KEY_FIELD) from None
    except TemporaryExchangeError:
        raise ExchangeUnavailable(f"{exchange_id} did not answer while checking these keys; "
                                  f"nothing was saved, try again shortly.") from None
    except ExchangeError as exc:
        raise ValidationFailed(f"{exchange_id} could not check these keys "
                               f"({type(exc).__name__}); nothing was saved.",
                               field=API_KEY_FIELD) from None
    finally:
        exchange.close()
    _refuse_dangerous(exchange_id, permissions)
    return permissions


def _refuse_dangerous(exchange_id: str, permissions: AccountPermissions) -> None:
    if permissions.can_withdraw:
        raise ValidationFailed(
            f"These API keys can withdraw funds from {exchange_id}. Create a key with "
            f"withdrawals disabled (trading only) and save that one instead.",
            field=API_KEY_FIELD)
    if permissions.can_trade is False:
        raise ValidationFailed(f"These API keys cannot trade spot on {exchange_id}; enable "
                               f"spot trading for the key and try again.", field=API_KEY_FIELD)


def _warnings(exchange_id: str, permissions: AccountPermissions) -> list[str]:
    warnings = []
    if not permissions.ip_restricted:
        warnings.append(f"{exchange_id} reports no IP restriction for this key. Restrict it to "
                        f"aitrader's IP addresses so that it is useless anywhere else.")
    if permissions.can_withdraw is None:
        warnings.append(f"{exchange_id} does not report whether this key can withdraw; make "
                        f"sure withdrawals are disabled for it.")
    return warnings


def _hint(api_key: str) -> str:
    """The last four characters, enough to tell keys apart in the audit log."""
    return f"…{api_key[-4:]}" if len(api_key) > 8 else "…"
