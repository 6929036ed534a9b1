"""The vault: AES-256-GCM round trips, bindings, tamper detection, failures that alert."""
from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys

import pytest
from django.conf import settings as django_settings

from notifications.receivers import wait_for_background
from tenants.models import TenantDataKey, VaultEntry
from tenants.signals import vault_failure
from tenants.vault import (
    NONCE_BYTES,
    PBKDF2_ITERATIONS,
    TAG_BYTES,
    VaultError,
    VaultSecretMissing,
    delete_secret,
    derive_key_from_passphrase,
    load_secret,
    secret_exists,
    store_secret,
)
from tenants.vault_keys import VaultKeyError, encode_key, parse_master_keys

SECRET = "s3cr3t-exchange-secret-value-0123456789"

pytestmark = pytest.mark.django_db


def key_entry(kid: str) -> str:
    """A fresh AITRADER_VAULT_KEYS entry."""
    return f"{kid}:{encode_key(os.urandom(32))}"


@pytest.fixture
def alerts():
    """The vault_failure signals sent during the test."""
    sent: list[dict] = []

    def receiver(sender, **kwargs):
        sent.append(kwargs)

    vault_failure.connect(receiver, weak=False)
    yield sent
    vault_failure.disconnect(receiver)
    # The Telegram alert of a refusal inside a transaction is written by a thread with its
    # own connection: it must end while the test may still use the database.
    wait_for_background()


def entry_of(tenant, name, field="value") -> VaultEntry:
    return VaultEntry.objects.for_tenant(tenant).get(name=name, field=field)


def assert_refused(tenant, name, alerts, *, field="value"):
    with pytest.raises(VaultError) as caught:
        load_secret(tenant, name, field=field)
    assert SECRET not in str(caught.value)
    assert alerts and alerts[-1]["tenant_id"] == tenant.pk
    assert all(SECRET not in str(alert) for alert in alerts)
    return caught.value


# --- Round trip -----------------------------------------------------------------------------


def test_it_round_trips_a_secret(world):
    store_secret(world.tenant_a, "exchange", SECRET)
    assert load_secret(world.tenant_a, "exchange") == SECRET


def test_it_stores_only_ciphertext_with_a_96_bit_nonce_and_a_tag(world):
    store_secret(world.tenant_a, "exchange", SECRET)
    row = entry_of(world.tenant_a, "exchange")
    assert len(bytes(row.nonce)) == NONCE_BYTES == 12
    assert len(bytes(row.tag)) == TAG_BYTES
    assert SECRET.encode() not in bytes(row.ciphertext)
    assert len(bytes(row.ciphertext)) == len(SECRET.encode())  # GCM: no padding


def test_it_draws_a_fresh_nonce_for_every_seal(world):
    store_secret(world.tenant_a, "one", SECRET)
    store_secret(world.tenant_a, "two", SECRET)
    one, two = entry_of(world.tenant_a, "one"), entry_of(world.tenant_a, "two")
    assert bytes(one.nonce) != bytes(two.nonce)
    assert bytes(one.ciphertext) != bytes(two.ciphertext)


def test_it_replaces_a_secret_stored_again(world):
    store_secret(world.tenant_a, "exchange", "first-value")
    store_secret(world.tenant_a, "exchange", SECRET)
    assert load_secret(world.tenant_a, "exchange") == SECRET
    assert VaultEntry.objects.for_tenant(world.tenant_a).filter(name="exchange").count() == 1


def test_it_keeps_fields_of_one_entry_apart(world):
    store_secret(world.tenant_a, "exchange", "the-key", field="api_key")
    store_secret(world.tenant_a, "exchange", SECRET, field="secret")
    assert load_secret(world.tenant_a, "exchange", field="api_key") == "the-key"
    assert load_secret(world.tenant_a, "exchange", field="secret") == SECRET


def test_it_wraps_one_data_key_per_tenant_under_the_current_master_key(world):
    store_secret(world.tenant_a, "one", SECRET)
    store_secret(world.tenant_a, "two", SECRET)
    store_secret(world.tenant_b, "one", SECRET)
    rows = TenantDataKey.objects.filter(tenant__in=[world.tenant_a, world.tenant_b])
    assert rows.count() == 2
    current = parse_master_keys(django_settings.AITRADER_VAULT_KEYS)[0]
    for row in rows:
        assert row.kid == current.kid
        assert len(bytes(row.wrapped_key)) == 32 and len(bytes(row.tag)) == TAG_BYTES


def test_it_does_not_depend_on_secret_key(world, settings):
    store_secret(world.tenant_a, "exchange", SECRET)
    settings.SECRET_KEY = "a-completely-different-secret-key-" + "x" * 30
    assert load_secret(world.tenant_a, "exchange") == SECRET


def test_it_deletes_every_field_of_an_entry_and_only_that_tenants(world):
    for field in ("api_key", "secret"):
        store_secret(world.tenant_a, "exchange", SECRET, field=field)
    store_secret(world.tenant_b, "exchange", SECRET, field="secret")
    assert delete_secret(world.tenant_a, "exchange") == 2
    assert not secret_exists(world.tenant_a, "exchange", field="secret")
    assert load_secret(world.tenant_b, "exchange", field="secret") == SECRET


def test_it_reports_a_missing_secret_as_not_found_without_alerting(world, alerts):
    store_secret(world.tenant_a, "exchange", SECRET)
    with pytest.raises(VaultSecretMissing):
        load_secret(world.tenant_b, "exchange")  # another tenant's name is simply not there
    assert alerts == []


@pytest.mark.parametrize("value", ["", None, b"bytes", "x" * 8193])
def test_it_refuses_to_store_what_is_not_a_reasonable_secret(world, value):
    with pytest.raises(Exception) as caught:  # noqa: B017
        store_secret(world.tenant_a, "exchange", value)
    assert getattr(caught.value, "field", None) == "value"
    assert not secret_exists(world.tenant_a, "exchange")


# --- Bindings: associated data ------------------------------------------------------------


def _copy_sealed(source: VaultEntry, target: VaultEntry) -> None:
    VaultEntry.objects.filter(pk=target.pk).update(
        nonce=bytes(source.nonce), ciphertext=bytes(source.ciphertext), tag=bytes(source.tag))


def test_a_ciphertext_copied_into_another_tenants_row_fails(world, alerts):
    store_secret(world.tenant_a, "exchange", SECRET)
    store_secret(world.tenant_b, "exchange", "tenant-b-own-value")
    _copy_sealed(entry_of(world.tenant_a, "exchange"), entry_of(world.tenant_b, "exchange"))
    assert_refused(world.tenant_b, "exchange", alerts)
    assert alerts[-1]["name"] == "exchange"


def test_a_tenants_whole_vault_copied_to_another_tenant_fails(world, alerts):
    """Even with A's wrapped data key copied too, the tenant id in the AAD stops it."""
    store_secret(world.tenant_a, "exchange", SECRET)
    store_secret(world.tenant_b, "exchange", "tenant-b-own-value")
    key_a = TenantDataKey.objects.for_tenant(world.tenant_a).get()
    TenantDataKey.objects.for_tenant(world.tenant_b).update(
        kid=key_a.kid, nonce=bytes(key_a.nonce), wrapped_key=bytes(key_a.wrapped_key),
        tag=bytes(key_a.tag))
    _copy_sealed(entry_of(world.tenant_a, "exchange"), entry_of(world.tenant_b, "exchange"))
    error = assert_refused(world.tenant_b, "exchange", alerts)
    assert "data key" in error.message


def test_a_ciphertext_moved_to_another_entry_or_field_fails(world, alerts):
    store_secret(world.tenant_a, "exchange", SECRET, field="secret")
    store_secret(world.tenant_a, "exchange", "visible-key", field="api_key")
    store_secret(world.tenant_a, "other", "other-value", field="secret")
    source = entry_of(world.tenant_a, "exchange", "secret")
    _copy_sealed(source, entry_of(world.tenant_a, "exchange", "api_key"))
    _copy_sealed(source, entry_of(world.tenant_a, "other", "secret"))
    assert_refused(world.tenant_a, "exchange", alerts, field="api_key")
    assert_refused(world.tenant_a, "other", alerts, field="secret")
    assert len(alerts) == 2


# --- Tampering and failures -------------------------------------------------------------------


def _flip(data: bytes, index: int = 0) -> bytes:
    changed = bytearray(data)
    changed[index] ^= 0x01
    return bytes(changed)


@pytest.mark.parametrize("column", ["ciphertext", "tag", "nonce"])
def test_a_tampered_entry_fails_loudly_and_alerts(world, alerts, caplog, column):
    store_secret(world.tenant_a, "exchange", SECRET)
    row = entry_of(world.tenant_a, "exchange")
    VaultEntry.objects.filter(pk=row.pk).update(**{column: _flip(bytes(getattr(row, column)))})
    with caplog.at_level(logging.ERROR, logger="tenants.vault"):
        error = assert_refused(world.tenant_a, "exchange", alerts)
    assert "integrity check" in error.message and "'exchange'" in error.message
    assert alerts == [{"signal": vault_failure, "tenant_id": world.tenant_a.pk,
                       "name": "exchange", "field": "value", "reason": alerts[0]["reason"]}]
    assert any("cannot open secret 'exchange'" in r.getMessage() for r in caplog.records)


def test_a_tampered_data_key_fails_and_alerts(world, alerts):
    store_secret(world.tenant_a, "exchange", SECRET)
    row = TenantDataKey.objects.for_tenant(world.tenant_a).get()
    TenantDataKey.objects.filter(pk=row.pk).update(wrapped_key=_flip(bytes(row.wrapped_key), 5))
    assert_refused(world.tenant_a, "exchange", alerts)
    with pytest.raises(VaultError):  # storing needs the data key too: no new key is minted
        store_secret(world.tenant_a, "another", SECRET)


def test_it_never_falls_back_to_stored_plaintext(world, alerts):
    """A row holding plaintext (say, written by a bad migration) is refused, not returned."""
    store_secret(world.tenant_a, "exchange", "placeholder")
    row = entry_of(world.tenant_a, "exchange")
    VaultEntry.objects.filter(pk=row.pk).update(ciphertext=SECRET.encode(), tag=b"",
                                                nonce=b"")
    assert_refused(world.tenant_a, "exchange", alerts)


def test_it_stores_nothing_when_the_master_keys_are_broken(world, settings):
    settings.AITRADER_VAULT_KEYS = ["broken-entry"]
    with pytest.raises(VaultError) as caught:
        store_secret(world.tenant_a, "exchange", SECRET)
    assert "misconfigured" in caught.value.message
    assert not VaultEntry.objects.for_tenant(world.tenant_a).exists()
    assert not TenantDataKey.objects.for_tenant(world.tenant_a).exists()


def test_a_removed_master_key_fails_with_a_hint_to_rotate(world, settings, alerts):
    old = key_entry("old")
    settings.AITRADER_VAULT_KEYS = [old]
    store_secret(world.tenant_a, "exchange", SECRET)
    settings.AITRADER_VAULT_KEYS = [key_entry("new")]
    error = assert_refused(world.tenant_a, "exchange", alerts)
    assert "master key 'old' is not configured" in error.message
    assert "rotate_vault_keys" in error.message


def test_a_wrong_key_under_the_same_kid_fails(world, settings, alerts):
    settings.AITRADER_VAULT_KEYS = [key_entry("k1")]
    store_secret(world.tenant_a, "exchange", SECRET)
    settings.AITRADER_VAULT_KEYS = [key_entry("k1")]
    assert_refused(world.tenant_a, "exchange", alerts)


def test_a_broken_alert_receiver_does_not_mask_the_refusal(world):
    def broken(sender, **kwargs):
        raise RuntimeError("notifications are down")

    store_secret(world.tenant_a, "exchange", SECRET)
    row = entry_of(world.tenant_a, "exchange")
    VaultEntry.objects.filter(pk=row.pk).update(tag=_flip(bytes(row.tag)))
    vault_failure.connect(broken, weak=False)
    try:
        with pytest.raises(VaultError):
            load_secret(world.tenant_a, "exchange")
    finally:
        vault_failure.disconnect(broken)


# --- Master keys --------------------------------------------------------------------------------


@pytest.mark.parametrize("entries, message", [
    ([], "lists no key"),
    (["no-separator"], "entry 1 must read"),
    (["bad kid!:" + "a" * 43], "entry 1 must read"),
    (["k1:not base64!!"], "not valid base64"),
    (["k1:" + encode_key(b"short")], "decodes to 5 bytes"),
    ([key_entry("k1"), key_entry("k1")], "repeats a key id"),
])
def test_malformed_master_keys_are_refused_without_echoing_them(entries, message):
    with pytest.raises(VaultKeyError) as caught:
        parse_master_keys(entries)
    assert message in str(caught.value)
    for entry in entries:
        material = entry.partition(":")[2]
        assert not material or material not in str(caught.value)


def test_both_base64_alphabets_are_accepted():
    key = bytes(range(250, 256)) * 5 + b"\xfb\xff"
    standard = encode_key(key)
    urlsafe = standard.translate(str.maketrans("+/", "-_")).rstrip("=")
    assert parse_master_keys([f"a:{standard}"])[0].key == key
    assert parse_master_keys([f"b:{urlsafe}"])[0].key == key
    assert "key=" not in repr(parse_master_keys([f"a:{standard}"])[0])


def test_the_process_refuses_to_start_with_malformed_vault_keys(tmp_path):
    env = {"PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "aitrader.settings.test",
           "AITRADER_VAR_DIR": str(tmp_path), "AITRADER_VAULT_KEYS": "k1:tooshort"}
    result = subprocess.run([sys.executable, "-c", "import django; django.setup()"],
                            cwd=django_settings.BASE_DIR, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode != 0
    # VaultKeyError is an ImproperlyConfigured.
    assert "AITRADER_VAULT_KEYS" in result.stderr and "VaultKeyError" in result.stderr
    assert "tooshort" not in result.stderr


def test_embedded_mode_keeps_a_generated_master_key_under_var():
    path = django_settings.VAR_DIR / "vault_master_key"
    assert path.exists() and path.stat().st_mode & 0o077 == 0
    (kid, _), = [entry.split(":", 1) for entry in django_settings.AITRADER_VAULT_KEYS]
    assert parse_master_keys(django_settings.AITRADER_VAULT_KEYS)[0].kid == kid == "local1"


# --- PBKDF2 -------------------------------------------------------------------------------------


def test_pbkdf2_uses_600k_iterations_and_a_16_byte_random_salt():
    assert PBKDF2_ITERATIONS >= 600_000
    key, salt = derive_key_from_passphrase("correct horse battery staple")
    again, other_salt = derive_key_from_passphrase("correct horse battery staple")
    assert len(key) == 32 and len(salt) == 16
    assert salt != other_salt and key != again
    expected = hashlib.pbkdf2_hmac("sha256", b"correct horse battery staple", salt, 600_000, 32)
    assert key == expected


def test_pbkdf2_derives_the_same_key_from_the_same_salt():
    key, salt = derive_key_from_passphrase("passphrase")
    assert derive_key_from_passphrase("passphrase", salt) == (key, salt)


@pytest.mark.parametrize("kwargs", [{"iterations": 100_000}, {"salt": b"short"},
                                    {"passphrase": ""}])
def test_pbkdf2_refuses_weak_parameters(kwargs):
    arguments = {"passphrase": "passphrase", **kwargs}
    with pytest.raises(ValueError):
        derive_key_from_passphrase(**arguments)
