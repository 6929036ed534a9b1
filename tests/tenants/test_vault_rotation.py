"""Master-key rotation: re-wraps every data key, resumable, safe to re-run; the command."""
from __future__ import annotations

import io
import os

import pytest
from django.core.management import CommandError, call_command

from tenants.models import Tenant, TenantDataKey, User, VaultEntry
from tenants.services import tenant_create, totp_begin, totp_seed
from tenants.vault import (
    derive_key_from_passphrase,
    load_secret,
    rotate_master_keys,
    store_secret,
)
from tenants.vault_keys import decode_key, encode_key, parse_master_keys
from tests.base import make_user

OLD, NEW = f"old:{encode_key(os.urandom(32))}", f"new:{encode_key(os.urandom(32))}"


class Interrupted(Exception):
    pass


def make_tenants(count: int) -> list[Tenant]:
    owner = make_user(f"owner{os.urandom(4).hex()}@example.com")
    return [tenant_create(name=f"Rotation {n}", owner=owner) for n in range(count)]


def fill_vault(tenants: list[Tenant]) -> dict[tuple[int, str], str]:
    """Two secrets per tenant under the old key; returns what each should read back."""
    expected = {}
    for tenant in tenants:
        for field in ("api_key", "secret"):
            value = f"{field}-of-{tenant.slug}-{os.urandom(6).hex()}"
            store_secret(tenant, "exchange", value, field=field)
            expected[(tenant.pk, field)] = value
    return expected


def kids(tenants: list[Tenant]) -> list[str]:
    return list(TenantDataKey.objects.filter(tenant__in=tenants).order_by("tenant_id")
                .values_list("kid", flat=True))


def assert_all_readable(expected: dict[tuple[int, str], str]) -> None:
    for (tenant_id, field), value in expected.items():
        assert load_secret(tenant_id, "exchange", field=field) == value


@pytest.mark.django_db
def test_rotation_rewraps_everything_and_the_old_key_can_then_go(settings):
    settings.AITRADER_VAULT_KEYS = [OLD]
    tenants = make_tenants(3)
    expected = fill_vault(tenants)
    ciphertexts = set(VaultEntry.objects.values_list("ciphertext", flat=True))
    settings.AITRADER_VAULT_KEYS = [NEW, OLD]

    report = rotate_master_keys()

    assert (report.kid, report.rewrapped, report.failed) == ("new", 3, [])
    assert kids(tenants) == ["new"] * 3
    # Envelope encryption: the entries themselves are untouched, only data keys re-wrapped.
    assert set(VaultEntry.objects.values_list("ciphertext", flat=True)) == ciphertexts
    settings.AITRADER_VAULT_KEYS = [NEW]
    assert_all_readable(expected)


@pytest.mark.django_db
def test_new_data_keys_are_wrapped_by_the_first_key(settings):
    settings.AITRADER_VAULT_KEYS = [NEW, OLD]
    tenant, = make_tenants(1)
    store_secret(tenant, "exchange", "value")
    assert kids([tenant]) == ["new"]


@pytest.mark.django_db(transaction=True)
def test_rotation_is_resumable_after_an_interruption_and_safe_to_rerun(settings):
    settings.AITRADER_VAULT_KEYS = [OLD]
    tenants = make_tenants(4)
    expected = fill_vault(tenants)
    settings.AITRADER_VAULT_KEYS = [NEW, OLD]
    done: list[int] = []

    def crash_after_two(tenant_id: int) -> None:
        done.append(tenant_id)
        if len(done) == 2:
            raise Interrupted

    with pytest.raises(Interrupted):
        rotate_master_keys(on_rewrapped=crash_after_two)

    # Each row was committed on its own: two are done, two still under the old key, and
    # every secret still opens while both keys are configured.
    assert sorted(kids(tenants)) == ["new", "new", "old", "old"]
    assert_all_readable(expected)
    assert rotate_master_keys().rewrapped == 2
    assert rotate_master_keys().rewrapped == 0
    settings.AITRADER_VAULT_KEYS = [NEW]
    assert_all_readable(expected)


@pytest.mark.django_db
def test_rotation_reports_a_data_key_it_cannot_open_and_carries_on(settings):
    settings.AITRADER_VAULT_KEYS = [OLD]
    tenants = make_tenants(2)
    fill_vault(tenants)
    TenantDataKey.objects.filter(tenant=tenants[0]).update(tag=b"\x00" * 16)
    settings.AITRADER_VAULT_KEYS = [NEW, OLD]
    report = rotate_master_keys()
    assert report.failed == [tenants[0].pk]
    assert report.rewrapped == 1
    assert kids(tenants) == ["old", "new"]


# --- The command -------------------------------------------------------------------------------


def run(*args: str, stdin: str = "") -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("rotate_vault_keys", *args, stdout=out, stderr=err, stdin=io.StringIO(stdin))
    return out.getvalue(), err.getvalue()


@pytest.mark.django_db
def test_the_command_rotates_and_then_checks(settings):
    settings.AITRADER_VAULT_KEYS = [OLD]
    tenants = make_tenants(2)
    expected = fill_vault(tenants)
    enrolled = User.objects.create_user("seed@example.com", "a long enough password 1")
    seed = totp_begin(user=enrolled)
    settings.AITRADER_VAULT_KEYS = [NEW, OLD]
    with pytest.raises(CommandError, match="3 data key"):
        run("--check")  # two data keys and one seed

    out, _ = run("-v", "2")

    assert "Re-wrapped 2 data key(s) and re-sealed 1 two-factor seed(s) under 'new'." in out
    assert f"re-wrapped the data key of tenant {tenants[0].pk}" in out
    assert "Every data key and two-factor seed is sealed by 'new'." in out
    assert "Re-wrapped 0 data key(s) and re-sealed 0" in run()[0]
    settings.AITRADER_VAULT_KEYS = [NEW]
    assert "new (current): 2 data key(s), 1 two-factor seed(s)" in run("--check")[0]
    assert_all_readable(expected)
    assert totp_seed(user=User.objects.get(pk=enrolled.pk)) == seed


@pytest.mark.django_db
def test_the_command_fails_when_a_data_key_cannot_be_opened(settings):
    settings.AITRADER_VAULT_KEYS = [OLD]
    tenant, = make_tenants(1)
    fill_vault([tenant])
    settings.AITRADER_VAULT_KEYS = [NEW]  # the old key was dropped before rotating
    with pytest.raises(CommandError, match=f"could not be opened \\(tenants {tenant.pk}\\)"):
        run()


def test_the_command_prints_a_new_random_key_entry():
    out, _ = run("--new-key", "2025-q1")
    key, = parse_master_keys([out.strip()])
    assert key.kid == "2025-q1" and len(key.key) == 32
    assert run("--new-key", "2025-q1")[0] != out


def test_the_command_derives_a_key_from_a_passphrase_again_from_its_salt():
    out, err = run("--new-key", "pp1", "--passphrase-stdin", stdin="long passphrase here\n")
    salt = err.split(": ")[1].strip()
    again, _ = run("--new-key", "pp1", "--passphrase-stdin", "--salt", salt,
                   stdin="long passphrase here\n")
    assert out == again
    expected, _ = derive_key_from_passphrase("long passphrase here", decode_key(salt))
    assert parse_master_keys([out.strip()])[0].key == expected


def test_the_command_refuses_a_bad_kid():
    with pytest.raises(CommandError, match="kid"):
        run("--new-key", "bad kid")
