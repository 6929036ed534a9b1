"""Parsing of the vault's master keys (`AITRADER_VAULT_KEYS`), with no Django model imports.

Settings call `parse_master_keys` at start-up so a malformed value stops the process with a
message naming the variable; the vault calls it again on use (settings may be overridden).
Messages name an entry by its position and key id, never by its key material.
"""
from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.core.exceptions import ImproperlyConfigured

KEY_BYTES = 32  # AES-256
KID_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,32}")
# Accept both base64 alphabets: `secrets.token_urlsafe` (the embedded key) and `openssl rand`.
_URLSAFE_TO_STANDARD = str.maketrans("-_", "+/")


class VaultKeyError(ImproperlyConfigured):
    """AITRADER_VAULT_KEYS is missing, malformed or holds a key of the wrong length."""


@dataclass(frozen=True)
class MasterKey:
    """One master key: its id (stored next to what it wraps) and its 32 bytes."""

    kid: str
    key: bytes = field(repr=False)


def decode_key(text: str) -> bytes:
    """The bytes of a base64 key (standard or URL-safe alphabet, padding optional)."""
    text = text.strip().translate(_URLSAFE_TO_STANDARD)
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def encode_key(key: bytes) -> str:
    """The standard base64 text of a key, as AITRADER_VAULT_KEYS expects it."""
    return base64.b64encode(key).decode()


def parse_master_keys(entries: Sequence[str]) -> list[MasterKey]:
    """`kid:base64` entries as MasterKeys, the current (first) one first."""
    if not entries:
        raise VaultKeyError("AITRADER_VAULT_KEYS lists no key.")
    keys = [_parse_entry(position, entry) for position, entry in enumerate(entries, start=1)]
    kids = [key.kid for key in keys]
    if len(set(kids)) != len(kids):
        raise VaultKeyError("AITRADER_VAULT_KEYS repeats a key id; each kid must be unique.")
    return keys


def _parse_entry(position: int, entry: str) -> MasterKey:
    kid, separator, encoded = entry.strip().partition(":")
    if not separator or not KID_PATTERN.fullmatch(kid):
        raise VaultKeyError(
            f"AITRADER_VAULT_KEYS entry {position} must read 'kid:base64-of-32-bytes' with a "
            f"kid of 1-32 letters, digits, '.', '_' or '-'.")
    try:
        key = decode_key(encoded)
    except (binascii.Error, ValueError):
        raise VaultKeyError(f"AITRADER_VAULT_KEYS key '{kid}' is not valid base64.") from None
    if len(key) != KEY_BYTES:
        raise VaultKeyError(f"AITRADER_VAULT_KEYS key '{kid}' decodes to {len(key)} bytes; "
                            f"it must be {KEY_BYTES} (AES-256).")
    return MasterKey(kid=kid, key=key)
