"""API key material: generation, parsing and peppered HMAC hashing.

A key reads `ait_<prefix>_<secret>`: `ait_` tells scanners and people it is ours, the prefix
(public, unique) finds the row, the secret carries 256 random bits. The database stores only
HMAC-SHA256(pepper, key) under a versioned pepper that is not SECRET_KEY, so rotating
SECRET_KEY leaves keys valid and a stolen table cannot be checked offline without the pepper.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

KEY_PREFIX = "ait_"
_KEY_RE = re.compile(r"^ait_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class NewKey:
    full_key: str
    prefix: str
    key_hash: str
    pepper_version: str


def _peppers() -> dict[str, bytes]:
    peppers: dict[str, bytes] = {}
    for entry in settings.AITRADER_API_KEY_PEPPERS:
        version, sep, secret = entry.partition(":")
        if not sep or not version or len(secret) < 32:
            raise ImproperlyConfigured(
                "AITRADER_API_KEY_PEPPERS entries must read 'version:secret' with a secret of "
                "at least 32 characters."
            )
        peppers[version] = secret.encode()
    return peppers


def configured_pepper_versions() -> set[str]:
    """The versions of AITRADER_API_KEY_PEPPERS (a restore checks the data's are there)."""
    return set(_peppers())


def current_pepper_version() -> str:
    return settings.AITRADER_API_KEY_PEPPERS[0].partition(":")[0]


def hash_key(full_key: str, pepper_version: str) -> str:
    """HMAC-SHA256 of the full key under the given pepper version (hex)."""
    pepper = _peppers().get(pepper_version)
    if pepper is None:
        # A key minted under a pepper that is no longer configured can never match.
        return ""
    return hmac.new(pepper, full_key.encode(), hashlib.sha256).hexdigest()


def generate_key() -> NewKey:
    """A fresh key: 12-character lookup prefix plus a 256-bit secret."""
    prefix = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(12))
    secret = secrets.token_urlsafe(32)  # 32 bytes = 256 bits, 43 characters
    full_key = f"{KEY_PREFIX}{prefix}_{secret}"
    version = current_pepper_version()
    return NewKey(full_key, prefix, hash_key(full_key, version), version)


def parse_prefix(full_key: str) -> str | None:
    """The lookup prefix of a well-formed key, else None."""
    match = _KEY_RE.match(full_key.strip())
    return match.group(1) if match else None


def key_matches(full_key: str, key_hash: str, pepper_version: str) -> bool:
    """Constant-time comparison of a presented key with a stored hash."""
    candidate = hash_key(full_key.strip(), pepper_version)
    return bool(candidate) and hmac.compare_digest(candidate, key_hash)
