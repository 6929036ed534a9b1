"""The restore drill: back up a platform with tenants, bots, trades and vault entries, restore
it into a fresh database, and read the API, the vault and the ledger back identically; a
restore with the wrong keys refuses and names what is missing. On PostgreSQL in CI
(pg_dump / pg_restore), on SQLite in a plain `make test`."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection

from tenants.backups import BACKUP_SUFFIX, backup_create, backup_prune
from tenants.vault import store_secret
from tests.base import database_url
from tests.factories import make
from trading.models import Trade

pytestmark = pytest.mark.django_db(transaction=True)  # pg_dump must see the rows

SECRET = "exchange-key-1234567890"
# What a restored server is asked, in a process of its own on the restored database.
READ_BACK = """
import json, django
django.setup()
from django.db.models import Sum
from django.test import Client
from tenants.models import Tenant
from tenants.vault import load_secret
from trading.models import Trade

client = Client(HTTP_AUTHORIZATION="Bearer " + {key!r})
out = {{"bots": client.get("/api/v1/bots/").json(), "trades": client.get("/api/v1/trades/").json()}}
tenant = Tenant.objects.get(slug={slug!r})
out["secret"] = load_secret(tenant, "exchange")
out["ledger"] = str(Trade.objects.for_tenant(tenant).aggregate(total=Sum("amount"))["total"])
print(json.dumps(out))
"""


@pytest.fixture
def backup_key(settings) -> str:
    settings.AITRADER_BACKUP_KEY = Fernet.generate_key().decode()
    return settings.AITRADER_BACKUP_KEY


@pytest.fixture
def fresh_database(tmp_path):
    """An empty database beside the test one: its DATABASE_URL."""
    if connection.vendor != "postgresql":
        yield database_url(str(tmp_path / "restored.sqlite3"))
        return
    name = f"aitrader_restore_drill_{os.getpid()}"
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cursor.execute(f'CREATE DATABASE "{name}"')
    yield database_url(name)
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _server_env(tmp_path: Path, url: str, backup_key: str, **changes: str) -> dict[str, str]:
    env = {"PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "aitrader.settings.test",
           "DATABASE_URL": url, "AITRADER_VAR_DIR": str(tmp_path / "restored-var"),
           "SECRET_KEY": settings.SECRET_KEY, "AITRADER_BACKUP_KEY": backup_key,
           "AITRADER_VAULT_KEYS": ",".join(settings.AITRADER_VAULT_KEYS),
           "AITRADER_API_KEY_PEPPERS": ",".join(settings.AITRADER_API_KEY_PEPPERS)}
    return {**env, **changes}


def _manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=settings.BASE_DIR, env=env,
                          capture_output=True, text=True, timeout=300)


def _platform(world) -> dict:
    """Bots, trades and a vault entry in tenant A; what the API, vault and ledger say."""
    for _ in range(3):
        make(Trade, world.tenant_a)
    store_secret(world.tenant_a, "exchange", SECRET)
    client = world.client_with_key(world.read_key_a)
    return {"bots": client.get("/api/v1/bots/").json(),
            "trades": client.get("/api/v1/trades/").json(), "secret": SECRET,
            "ledger": str(sum((t.amount for t in Trade.objects.for_tenant(world.tenant_a)),
                              Decimal(0)))}


def test_a_restored_backup_reads_back_identically(world, backup_key, fresh_database, tmp_path):
    before = _platform(world)
    backup = backup_create(directory=tmp_path / "backups")
    assert backup.suffix == BACKUP_SUFFIX and SECRET.encode() not in backup.read_bytes()
    env = _server_env(tmp_path, fresh_database, backup_key)
    restored = _manage(env, "restore", str(backup), "--yes")
    assert restored.returncode == 0, restored.stderr
    assert "workspace vault(s) open" in restored.stdout
    code = READ_BACK.format(key=world.read_key_a, slug=world.tenant_a.slug)
    done = subprocess.run([sys.executable, "-c", code], cwd=settings.BASE_DIR, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    after = json.loads(done.stdout.strip().splitlines()[-1])
    assert after["bots"]["count"] == before["bots"]["count"] >= 3
    assert after == before


def test_a_restore_with_the_wrong_vault_keys_refuses_and_names_them(world, backup_key,
                                                                    fresh_database, tmp_path):
    _platform(world)
    backup = backup_create(directory=tmp_path / "backups")
    kid = settings.AITRADER_VAULT_KEYS[0].partition(":")[0]
    wrong = "other1:" + "b" * 43
    env = _server_env(tmp_path, fresh_database, backup_key, AITRADER_VAULT_KEYS=wrong)
    refused = _manage(env, "restore", str(backup), "--yes")
    assert refused.returncode != 0
    assert f"AITRADER_VAULT_KEYS lacks master key id(s) {kid}" in refused.stderr
    assert "Nothing was restored" in refused.stderr


def test_a_backup_key_that_differs_is_a_clear_error(world, backup_key, tmp_path, settings):
    backup = backup_create(directory=tmp_path / "backups")
    settings.AITRADER_BACKUP_KEY = Fernet.generate_key().decode()
    with pytest.raises(CommandError, match="does not decrypt with AITRADER_BACKUP_KEY"):
        call_command("restore", str(backup), "--yes")


def test_without_a_backup_key_nothing_is_written(world, settings, tmp_path):
    settings.AITRADER_BACKUP_KEY = ""
    with pytest.raises(CommandError, match="Set AITRADER_BACKUP_KEY"):
        call_command("backup", "--dir", str(tmp_path))
    assert not list(tmp_path.iterdir())


def test_retention_keeps_the_newest(world, backup_key, tmp_path):
    made = [backup_create(directory=tmp_path) for _ in range(3)]
    removed = backup_prune(directory=tmp_path, keep=2)
    assert removed == [made[0]]
    assert sorted(tmp_path.iterdir()) == made[1:]
