"""python manage.py rotate_vault_keys [--check] [--new-key KID [--passphrase-stdin [--salt B64]]]

Rotation, step by step: put a new key first in AITRADER_VAULT_KEYS (keep the old ones after
it), restart, run this command until it reports every data key under the new kid (it is
resumable and safe to re-run), then drop the old keys from the environment.

--check reports which master keys wrap data keys and exits 1 while any is not the current one.
--new-key prints a fresh `KID:base64` entry to paste into AITRADER_VAULT_KEYS (random, or
derived from a passphrase read on stdin with PBKDF2-SHA256; the salt is printed on stderr so
the same key can be derived again). Neither touches the database.
"""
from __future__ import annotations

import binascii
import os
import sys
from typing import TextIO

from django.core.management.base import BaseCommand, CommandError

from tenants.vault import (
    VaultError,
    current_master_key,
    data_keys_by_kid,
    derive_key_from_passphrase,
    rotate_master_keys,
    user_secrets_by_kid,
)
from tenants.vault_keys import KEY_BYTES, KID_PATTERN, decode_key, encode_key


class Command(BaseCommand):
    help = "Re-wrap every tenant data key under the current (first) vault master key."
    stealth_options = ("stdin",)  # tests hand the passphrase in, like createsuperuser

    def add_arguments(self, parser) -> None:
        parser.add_argument("--check", action="store_true",
                            help="Only report; exit 1 while old master keys are still in use.")
        parser.add_argument("--new-key", metavar="KID",
                            help="Print a new AITRADER_VAULT_KEYS entry with this key id.")
        parser.add_argument("--passphrase-stdin", action="store_true",
                            help="With --new-key: derive the key from a passphrase on stdin.")
        parser.add_argument("--salt", help="With --passphrase-stdin: the base64 salt printed "
                                           "when the key was first derived.")

    def handle(self, *args, **options) -> None:
        try:
            if options["new_key"]:
                self._new_key(options)
            elif options["check"]:
                self._check()
            else:
                self._rotate(verbose=options["verbosity"] >= 2)
        except VaultError as exc:
            raise CommandError(exc.message) from None

    def _rotate(self, *, verbose: bool) -> None:
        def rewrapped(tenant_id: int) -> None:
            if verbose:
                self.stdout.write(f"re-wrapped the data key of tenant {tenant_id}")

        report = rotate_master_keys(on_rewrapped=rewrapped)
        self.stdout.write(f"Re-wrapped {report.rewrapped} data key(s) and re-sealed "
                          f"{report.resealed_user_secrets} two-factor seed(s) under "
                          f"'{report.kid}'.")
        if report.failed:
            raise CommandError(f"{len(report.failed)} data key(s) could not be opened (tenants "
                               f"{', '.join(map(str, report.failed))}); see the logs.")
        if report.failed_users:
            raise CommandError(f"{len(report.failed_users)} two-factor seed(s) could not be "
                               f"opened (users {', '.join(map(str, report.failed_users))}); "
                               f"see the logs.")
        self._check()

    def _check(self) -> None:
        current = current_master_key().kid
        keys, seeds = data_keys_by_kid(), user_secrets_by_kid()
        for kid in sorted(set(keys) | set(seeds)):
            marker = " (current)" if kid == current else ""
            self.stdout.write(f"{kid}{marker}: {keys.get(kid, 0)} data key(s), "
                              f"{seeds.get(kid, 0)} two-factor seed(s)")
        stale = sum(count for counts in (keys, seeds) for kid, count in counts.items()
                    if kid != current)
        if stale:
            raise CommandError(f"{stale} data key(s) or seed(s) are not under '{current}' yet; "
                               f"run rotate_vault_keys before removing their master keys.")
        self.stdout.write(f"Every data key and two-factor seed is sealed by '{current}'.")

    def _new_key(self, options) -> None:
        kid = options["new_key"]
        if not KID_PATTERN.fullmatch(kid):
            raise CommandError("A kid has 1-32 letters, digits, '.', '_' or '-'.")
        if options["passphrase_stdin"]:
            key = self._derived_key(options["salt"], options.get("stdin") or sys.stdin)
        else:
            key = os.urandom(KEY_BYTES)
        self.stdout.write(f"{kid}:{encode_key(key)}")

    def _derived_key(self, salt_text: str | None, stdin: TextIO) -> bytes:
        passphrase = stdin.readline().rstrip("\r\n")
        try:
            salt = decode_key(salt_text) if salt_text else None
            key, salt = derive_key_from_passphrase(passphrase, salt)
        except (ValueError, binascii.Error) as exc:
            raise CommandError(str(exc)) from None
        self.stderr.write(f"salt (keep it to derive this key again): {encode_key(salt)}")
        return key
