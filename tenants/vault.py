"""The vault: tenant secrets (exchange API keys and the like) encrypted at rest.

Envelope encryption with AES-256-GCM throughout:

* master keys come from `AITRADER_VAULT_KEYS` (`kid:base64`, the first is current), never
  from SECRET_KEY, and never touch the database;
* each tenant has one random data key (`TenantDataKey`), stored wrapped by a master key and
  labelled with its kid, so `rotate_master_keys` re-wraps one small row per tenant;
* each field of a secret (`VaultEntry`) is sealed under the tenant's data key with a fresh
  96-bit nonce; the stored 128-bit tag is verified on every load.

A few secrets belong to a user rather than a workspace (the TOTP seed of two-factor sign-in):
`seal_user_secret` seals those straight under the current master key, and the row keeps the
kid with the ciphertext, so `rotate_master_keys` re-seals them too.

The associated data of every seal names the tenant, the entry and the field (or, for a data
key, the tenant and the kid; for a user secret, the user, its purpose and the kid), so a
ciphertext copied into another tenant's row, another entry or another field fails to open.
Every failure raises `VaultError` (whose message names the entry, never its contents), logs,
sends `tenants.signals.vault_failure` (a workspace's secrets), and never hands back stored
bytes as if they were plaintext.
"""
from __future__ import annotations

import base64
import binascii
import json
import logging
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from aitrader.errors import NotFound, ServiceError, ValidationFailed
from tenants.models import Tenant, TenantDataKey, User, VaultEntry
from tenants.signals import vault_failure
from tenants.vault_keys import KEY_BYTES, MasterKey, VaultKeyError, parse_master_keys

logger = logging.getLogger(__name__)

NONCE_BYTES = 12  # 96 bits: GCM's native nonce size; random per seal
TAG_BYTES = 16
DEFAULT_FIELD = "value"
MAX_SECRET_BYTES = 8192
PBKDF2_ITERATIONS = 600_000  # OWASP's 2023 floor for PBKDF2-HMAC-SHA256
PBKDF2_SALT_BYTES = 16
_ENTRY_CONTEXT = "aitrader.vault.entry.v1"
_DATA_KEY_CONTEXT = "aitrader.vault.data-key.v1"
_USER_SECRET_CONTEXT = "aitrader.vault.user-secret.v1"  # noqa: S105  (a label, not a secret)
USER_SECRET_PREFIX = "v1:"  # noqa: S105  (the format tag of 'v1:<kid>:<base64 sealed>')


class VaultError(ServiceError):
    """The vault cannot encrypt or decrypt; the message names the entry, never its contents."""

    status_code = 500
    code = "vault_error"


class VaultSecretMissing(NotFound):
    """No secret of that name (and field) is stored for the tenant."""


# --- Public API ------------------------------------------------------------------------------


@transaction.atomic
def store_secret(tenant: Tenant | int, name: str, value: str, *,
                 field: str = DEFAULT_FIELD) -> VaultEntry:
    """Encrypt `value` and store it as `field` of the tenant's secret `name` (replacing it)."""
    tenant_id = _tenant_id(tenant)
    _check_label(name, "name", 120)
    _check_label(field, "field", 40)
    plaintext = _check_value(value)
    data_key = _data_key(tenant_id, create=True)
    nonce, ciphertext, tag = _seal(data_key, plaintext, _entry_aad(tenant_id, name, field))
    entry, _created = VaultEntry.objects.update_or_create(
        tenant_id=tenant_id, name=name, field=field,
        defaults={"nonce": nonce, "ciphertext": ciphertext, "tag": tag})
    return entry


def load_secret(tenant: Tenant | int, name: str, *, field: str = DEFAULT_FIELD) -> str:
    """The plaintext of `field` of the tenant's secret `name`.

    Raises VaultSecretMissing when nothing is stored, VaultError when the stored row does not
    authenticate (tampered, copied from elsewhere, or its master key is gone).
    """
    tenant_id = _tenant_id(tenant)
    entry = VaultEntry.objects.for_tenant(tenant_id).filter(name=name, field=field).first()
    if entry is None:
        raise VaultSecretMissing(f"The vault holds no '{field}' of secret '{name}' for this "
                                 f"workspace.")
    data_key = _data_key(tenant_id, create=False)
    if data_key is None:
        raise _failure(tenant_id, "the workspace's data key is missing", name, field)
    try:
        plaintext = _open(data_key, entry.nonce, entry.ciphertext, entry.tag,
                          _entry_aad(tenant_id, name, field))
        return plaintext.decode("utf-8")
    except (InvalidTag, ValueError, TypeError):
        raise _failure(tenant_id, "the stored ciphertext failed its integrity check", name,
                       field) from None


@transaction.atomic
def delete_secret(tenant: Tenant | int, name: str) -> int:
    """Delete every field of the tenant's secret `name`; returns how many were stored."""
    deleted, _by_model = VaultEntry.objects.for_tenant(_tenant_id(tenant)).filter(
        name=name).delete()
    return deleted


def secret_exists(tenant: Tenant | int, name: str, *, field: str = DEFAULT_FIELD) -> bool:
    """Whether the tenant stores `field` of secret `name` (nothing is decrypted)."""
    return VaultEntry.objects.for_tenant(_tenant_id(tenant)).filter(name=name,
                                                                    field=field).exists()


def derive_key_from_passphrase(passphrase: str, salt: bytes | None = None, *,
                               iterations: int = PBKDF2_ITERATIONS) -> tuple[bytes, bytes]:
    """A 32-byte key from a passphrase (PBKDF2-HMAC-SHA256); returns (key, salt).

    A new random 16-byte salt is drawn unless one is given (to derive the same key again).
    """
    if iterations < PBKDF2_ITERATIONS:
        raise ValueError(f"PBKDF2 needs at least {PBKDF2_ITERATIONS} iterations.")
    if not passphrase:
        raise ValueError("An empty passphrase derives no key.")
    salt = os.urandom(PBKDF2_SALT_BYTES) if salt is None else salt
    if len(salt) != PBKDF2_SALT_BYTES:
        raise ValueError(f"The salt must be {PBKDF2_SALT_BYTES} bytes.")
    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=salt,
                     iterations=iterations)
    return kdf.derive(passphrase.encode("utf-8")), salt


# --- Master keys and rotation ------------------------------------------------------------------


def master_keys() -> list[MasterKey]:
    """The configured master keys, current first; VaultError when the setting is malformed."""
    try:
        return parse_master_keys(settings.AITRADER_VAULT_KEYS)
    except VaultKeyError as exc:
        raise VaultError(f"The vault is misconfigured: {exc}") from None


def _master_key(kid: str) -> MasterKey | None:
    """The configured master key with this id, if it is still configured."""
    return next((key for key in master_keys() if key.kid == kid), None)


def current_master_key() -> MasterKey:
    """The master key new and re-wrapped data keys are wrapped with."""
    return master_keys()[0]


@dataclass
class RotationReport:
    """What one run of `rotate_master_keys` did."""

    kid: str
    rewrapped: int = 0
    failed: list[int] = field(default_factory=list)  # tenant ids whose data key did not open
    resealed_user_secrets: int = 0
    failed_users: list[int] = field(default_factory=list)  # users whose secret did not open


def data_keys_by_kid() -> dict[str, int]:
    """How many tenants' data keys each master key wraps (what rotation has left to do)."""
    return dict(Counter(TenantDataKey.objects.values_list("kid", flat=True)))


def master_key_ids_in_use() -> set[str]:
    """The master key ids the stored data needs: tenants' data keys and users' sealed
    secrets (what a backup's restore needs in AITRADER_VAULT_KEYS)."""
    return set(data_keys_by_kid()) | set(user_secrets_by_kid())


def data_keys_failing() -> list[int]:
    """Tenants whose data key does not open with the configured master keys (after a
    restore, a wrong AITRADER_VAULT_KEYS shows here), each reported like any refusal."""
    failing = []
    for row in TenantDataKey.objects.order_by("tenant_id").iterator():
        try:
            _unwrap(row)
        except VaultError:
            failing.append(row.tenant_id)
    return failing


def user_secrets_by_kid() -> dict[str, int]:
    """How many users' sealed secrets (TOTP seeds) each master key seals."""
    sealed = User.objects.filter(totp_secret__startswith=USER_SECRET_PREFIX).values_list(
        "totp_secret", flat=True)
    return dict(Counter(text.removeprefix(USER_SECRET_PREFIX).partition(":")[0]
                        for text in sealed.iterator()))


def rotate_master_keys(*, on_rewrapped: Callable[[int], None] | None = None) -> RotationReport:
    """Re-wrap every data key, and re-seal every user secret, not under the current master key.

    Each row is re-wrapped and committed on its own, so an interrupted run keeps its progress
    and the next run carries on; rows already under the current key are skipped, so running
    it again is harmless. `on_rewrapped(tenant_id)` is called after each commit.
    """
    master = current_master_key()
    report = RotationReport(kid=master.kid)
    pending = (TenantDataKey.objects.exclude(kid=master.kid).order_by("pk")
               .values_list("pk", flat=True))
    for pk in list(pending):
        try:
            tenant_id = _rewrap(pk, master)
        except VaultError:
            report.failed.append(_tenant_of_data_key(pk))
            continue
        if tenant_id is not None:
            report.rewrapped += 1
            if on_rewrapped is not None:
                on_rewrapped(tenant_id)
    _reseal_user_secrets(master, report)
    return report


def _reseal_user_secrets(master: MasterKey, report: RotationReport) -> None:
    """Re-seal the users' TOTP seeds that are not under `master`, one commit each."""
    current = f"{USER_SECRET_PREFIX}{master.kid}:"
    pending = (User.objects.filter(totp_secret__startswith=USER_SECRET_PREFIX)
               .exclude(totp_secret__startswith=current).order_by("pk")
               .values_list("pk", flat=True))
    for pk in list(pending):
        try:
            with transaction.atomic():
                user = User.objects.select_for_update().get(pk=pk)
                if user.totp_secret.startswith(current):
                    continue  # another run got there first
                seed = open_user_secret(user.pk, TOTP_PURPOSE, user.totp_secret)
                user.totp_secret = seal_user_secret(user.pk, TOTP_PURPOSE, seed)
                user.save(update_fields=["totp_secret"])
        except VaultError:
            report.failed_users.append(pk)
            continue
        report.resealed_user_secrets += 1


@transaction.atomic
def _rewrap(pk: int, master: MasterKey) -> int | None:
    """Re-wrap one data key under `master`; its tenant id, or None if there was nothing to do."""
    row = TenantDataKey.objects.select_for_update().filter(pk=pk).first()
    if row is None or row.kid == master.kid:  # deleted, or another run got there first
        return None
    data_key = _unwrap(row)
    row.nonce, row.wrapped_key, row.tag = _seal(master.key, data_key,
                                                _data_key_aad(row.tenant_id, master.kid))
    row.kid, row.rewrapped_at = master.kid, timezone.now()
    row.save(update_fields=["kid", "nonce", "wrapped_key", "tag", "rewrapped_at"])
    return row.tenant_id


def _tenant_of_data_key(pk: int) -> int:
    return TenantDataKey.objects.filter(pk=pk).values_list("tenant_id", flat=True).first()


# --- Secrets of a user -------------------------------------------------------------------------

TOTP_PURPOSE = "totp"


def seal_user_secret(user_id: int, purpose: str, value: str) -> str:
    """`value` sealed under the current master key for one user and purpose, as the text the
    user row stores ('v1:<kid>:<base64>')."""
    master = current_master_key()
    nonce, ciphertext, tag = _seal(master.key, _check_value(value),
                                   _user_secret_aad(user_id, purpose, master.kid))
    blob = base64.urlsafe_b64encode(nonce + ciphertext + tag).decode()
    return f"{USER_SECRET_PREFIX}{master.kid}:{blob}"


def open_user_secret(user_id: int, purpose: str, sealed: str) -> str:
    """The plaintext of a `seal_user_secret` text; VaultError when it does not open."""
    kid, _, blob = sealed.removeprefix(USER_SECRET_PREFIX).partition(":")
    master = _master_key(kid)
    if not sealed.startswith(USER_SECRET_PREFIX) or master is None:
        raise _user_failure(user_id, purpose, f"it is not sealed under a configured master "
                                               f"key ('{kid}'); keep that key in "
                                               f"AITRADER_VAULT_KEYS until rotate_vault_keys "
                                               f"has run")
    try:
        raw = base64.urlsafe_b64decode(blob.encode())
        return _open(master.key, raw[:NONCE_BYTES], raw[NONCE_BYTES:-TAG_BYTES],
                     raw[-TAG_BYTES:], _user_secret_aad(user_id, purpose, kid)).decode("utf-8")
    except (InvalidTag, ValueError, TypeError, binascii.Error):
        raise _user_failure(user_id, purpose, "it failed its integrity check") from None


def _user_failure(user_id: int, purpose: str, reason: str) -> VaultError:
    """Log a refused decryption; returns the error for the caller to raise."""
    logger.error("vault: cannot open the %s secret of user %s: %s", purpose, user_id, reason)
    return VaultError(f"The vault could not open this account's {purpose} secret, so it cannot "
                      f"be checked now; operators can see why in the logs.")


def _user_secret_aad(user_id: int, purpose: str, kid: str) -> bytes:
    return json.dumps([_USER_SECRET_CONTEXT, user_id, purpose, kid]).encode()


# --- Data keys ---------------------------------------------------------------------------------


def _data_key(tenant_id: int, *, create: bool) -> bytes | None:
    """The tenant's plaintext data key (made on first use when `create`), or None."""
    row = TenantDataKey.objects.for_tenant(tenant_id).first()
    if row is not None:
        return _unwrap(row)
    return _data_key_create(tenant_id) if create else None


def _data_key_create(tenant_id: int) -> bytes:
    master = current_master_key()
    data_key = AESGCM.generate_key(bit_length=KEY_BYTES * 8)
    nonce, wrapped, tag = _seal(master.key, data_key, _data_key_aad(tenant_id, master.kid))
    try:
        with transaction.atomic():  # a savepoint: a concurrent first store may win the race
            TenantDataKey.objects.create(tenant_id=tenant_id, kid=master.kid, nonce=nonce,
                                         wrapped_key=wrapped, tag=tag)
    except IntegrityError:
        return _unwrap(TenantDataKey.objects.for_tenant(tenant_id).get())
    return data_key


def _unwrap(row: TenantDataKey) -> bytes:
    """The plaintext of a wrapped data key; VaultError when it does not authenticate."""
    master = _master_key(row.kid)
    if master is None:
        raise _failure(row.tenant_id, f"master key '{row.kid}' is not configured; keep it in "
                                      f"AITRADER_VAULT_KEYS until rotate_vault_keys has run")
    try:
        data_key = _open(master.key, row.nonce, row.wrapped_key, row.tag,
                         _data_key_aad(row.tenant_id, row.kid))
    except (InvalidTag, ValueError, TypeError):
        data_key = b""
    if len(data_key) != KEY_BYTES:
        raise _failure(row.tenant_id, "the workspace's data key failed its integrity check")
    return data_key


# --- AES-GCM -----------------------------------------------------------------------------------


def _seal(key: bytes, plaintext: bytes, aad: bytes) -> tuple[bytes, bytes, bytes]:
    """(nonce, ciphertext, tag) of `plaintext` under `key`, bound to `aad`."""
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(key).encrypt(nonce, plaintext, aad)
    return nonce, sealed[:-TAG_BYTES], sealed[-TAG_BYTES:]


def _open(key: bytes, nonce: bytes, ciphertext: bytes, tag: bytes, aad: bytes) -> bytes:
    """The plaintext, after the tag has been checked against ciphertext, nonce and `aad`."""
    nonce, ciphertext, tag = bytes(nonce), bytes(ciphertext), bytes(tag)  # memoryview on PG
    if len(nonce) != NONCE_BYTES or len(tag) != TAG_BYTES:
        raise InvalidTag()
    return AESGCM(key).decrypt(nonce, ciphertext + tag, aad)


def _entry_aad(tenant_id: int, name: str, field: str) -> bytes:
    # JSON keeps the parts unambiguous: no name/field split can collide with another.
    return json.dumps([_ENTRY_CONTEXT, tenant_id, name, field]).encode()


def _data_key_aad(tenant_id: int, kid: str) -> bytes:
    return json.dumps([_DATA_KEY_CONTEXT, tenant_id, kid]).encode()


# --- Checks and failures -----------------------------------------------------------------------


def _tenant_id(tenant: Tenant | int) -> int:
    tenant_id = tenant if isinstance(tenant, int) else getattr(tenant, "pk", None)
    if tenant_id is None:
        raise ValueError("The vault needs a saved tenant.")
    return tenant_id


def _check_label(label: str, what: str, max_length: int) -> None:
    if not isinstance(label, str) or not label.strip() or len(label) > max_length:
        raise ValidationFailed(f"A vault {what} must be 1-{max_length} characters.", field=what)


def _check_value(value: str) -> bytes:
    # The message never echoes the value: it is the secret.
    if not isinstance(value, str) or not value:
        raise ValidationFailed("A secret must be a non-empty string.", field="value")
    plaintext = value.encode("utf-8")
    if len(plaintext) > MAX_SECRET_BYTES:
        raise ValidationFailed(f"A secret may hold at most {MAX_SECRET_BYTES} bytes.",
                               field="value")
    return plaintext


def _failure(tenant_id: int, reason: str, name: str | None = None,
             field: str | None = None) -> VaultError:
    """Log and alert a refused decryption; returns the error for the caller to raise."""
    where = f"secret '{name}' ({field})" if name else "the data key"
    logger.error("vault: cannot open %s of tenant %s: %s", where, tenant_id, reason)
    # send_robust: a broken alert receiver must not turn this refusal into another error.
    vault_failure.send_robust(sender=VaultEntry, tenant_id=tenant_id, name=name, field=field,
                              reason=reason)
    return VaultError(f"The vault could not open {where}: {reason}. Nothing was decrypted; "
                      f"operators have been alerted.")
