"""Management commands: seed_demo, create_tenant, create_api_key."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from tenants.models import ApiKey, Membership, Role, Tenant, User
from tenants.services import tenant_create
from tests.base import PASSWORD, database_url, make_user

KEY_SHAPE = re.compile(r"^ait_[a-z0-9]{12}_[A-Za-z0-9_-]{43}$")
ME = "/api/v1/me/"
STRONG = "granite-harbour-puzzle-8"


def _run(*args: str, capsys) -> str:
    call_command(*args)
    return capsys.readouterr().out


def _manage(*args: str, env_extra: dict[str, str], tmp_path) -> subprocess.CompletedProcess:
    """Run manage.py in a fresh process, as an operator would."""
    env = {"PATH": os.environ["PATH"], "AITRADER_VAR_DIR": str(tmp_path),
           "DJANGO_SETTINGS_MODULE": "aitrader.settings.local", **env_extra}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=settings.BASE_DIR, env=env,
                          capture_output=True, text=True, timeout=60)


# --- seed_demo ------------------------------------------------------------------------------

@pytest.fixture
def demo_env(settings, tmp_path):
    """No configured demo password: it is generated under a throw-away var/."""
    settings.AITRADER_DEMO_PASSWORD = ""
    settings.VAR_DIR = tmp_path


def test_it_seeds_the_demo_tenant_and_prints_the_login(db, demo_env, capsys):
    out = _run("seed_demo", capsys=capsys)
    password = re.search(r"Password: (\S+)", out).group(1)
    assert "Login: demo@example.com" in out
    assert "Demo tenant: demo" in out
    user = User.objects.get(email="demo@example.com")
    assert user.check_password(password)
    membership = Membership.objects.get(user=user)
    assert membership.tenant.slug == "demo"
    assert membership.role == Role.OWNER


def test_it_is_idempotent(db, demo_env, capsys):
    first = _run("seed_demo", capsys=capsys)
    second = _run("seed_demo", capsys=capsys)
    assert first == second
    assert Tenant.objects.filter(slug="demo").count() == 1
    assert User.objects.filter(email="demo@example.com").count() == 1
    assert Membership.objects.filter(tenant__slug="demo").count() == 1


def test_it_uses_the_configured_demo_password_and_restores_it(db, settings, capsys):
    settings.AITRADER_DEMO_PASSWORD = "demo-pass-phrase-1"
    _run("seed_demo", capsys=capsys)
    user = User.objects.get(email="demo@example.com")
    user.set_password("changed-by-someone-9")
    user.save()
    out = _run("seed_demo", capsys=capsys)
    assert "Password: demo-pass-phrase-1" in out
    user.refresh_from_db()
    assert user.check_password("demo-pass-phrase-1")


def test_it_lets_the_demo_login_sign_in(db, demo_env, capsys, client):
    password = re.search(r"Password: (\S+)", _run("seed_demo", capsys=capsys)).group(1)
    response = client.post("/accounts/login/", {"email": "demo@example.com",
                                                "password": password})
    assert response.status_code == 302
    assert client.get(ME).json()["tenant"]["slug"] == "demo"


# --- create_tenant ----------------------------------------------------------------------------

def test_it_creates_a_tenant_with_a_new_owner(db, capsys):
    out = _run("create_tenant", "--slug", "acme", "--owner-email", "Owner@Acme.io",
               "--password", STRONG, "--plan", "team", capsys=capsys)
    assert out.strip() == "Created tenant acme (team) owned by owner@acme.io"
    tenant = Tenant.objects.get(slug="acme")
    assert tenant.plan == "team"
    owner = User.objects.get(email="owner@acme.io")
    assert owner.check_password(STRONG)
    assert Membership.objects.get(tenant=tenant).user == owner
    assert Membership.objects.get(tenant=tenant).role == Role.OWNER


def test_it_defaults_to_the_free_plan(db, capsys):
    _run("create_tenant", "--slug", "acme", "--owner-email", "o@acme.io", "--password", STRONG,
         capsys=capsys)
    assert Tenant.objects.get(slug="acme").plan == "free"


def test_it_makes_an_existing_user_owner_without_touching_their_password(world, capsys):
    _run("create_tenant", "--slug", "alices-second", "--owner-email", "alice@example.com",
         "--password", "ignored-password-1", capsys=capsys)
    tenant = Tenant.objects.get(slug="alices-second")
    assert Membership.objects.get(tenant=tenant).user == world.alice
    world.alice.refresh_from_db()
    assert world.alice.check_password(PASSWORD)


def test_it_refuses_an_unknown_plan(db):
    with pytest.raises(CommandError) as refused:
        call_command("create_tenant", "--slug", "acme", "--owner-email", "o@acme.io",
                     "--password", STRONG, "--plan", "gold")
    assert "gold" in str(refused.value)
    assert not Tenant.objects.exists()
    assert not User.objects.exists()


def test_it_refuses_a_taken_slug_and_creates_no_user(world):
    with pytest.raises(CommandError) as refused:
        call_command("create_tenant", "--slug", "tenant-a", "--owner-email", "new@acme.io",
                     "--password", STRONG)
    assert "taken" in str(refused.value)
    assert not User.objects.filter(email="new@acme.io").exists()
    assert Tenant.objects.get(slug="tenant-a").name == "Tenant A"


@pytest.mark.parametrize("slug", ["Not A Slug", "UPPER", "dots.in.it", "-"])
def test_it_refuses_a_malformed_slug(db, slug):
    with pytest.raises(CommandError) as refused:
        call_command("create_tenant", "--slug", slug, "--owner-email", "o@acme.io",
                     "--password", STRONG)
    assert "slug" in str(refused.value)
    assert not Tenant.objects.exists()


def test_it_reports_a_bad_plan_on_the_command_line_without_a_traceback(tmp_path):
    result = _manage("create_tenant", "--slug", "acme", "--owner-email", "o@acme.io",
                     "--password", STRONG, "--plan", "gold", env_extra={}, tmp_path=tmp_path)
    assert result.returncode != 0
    assert "gold" in result.stderr
    assert "Traceback" not in result.stderr


# --- create_api_key -----------------------------------------------------------------------------

def test_it_prints_the_key_alone_and_it_authenticates(world, capsys):
    out = _run("create_api_key", "--tenant", "tenant-a", "--scopes", "read,control",
               "--name", "deploy bot", "--days", "30", capsys=capsys)
    full_key = out.strip()
    assert out == full_key + "\n"
    assert KEY_SHAPE.match(full_key)
    row = ApiKey.objects.get(prefix=full_key.split("_")[1])
    assert row.name == "deploy bot"
    assert row.tenant == world.tenant_a
    assert abs(row.expires_at - row.created_at - timedelta(days=30)) < timedelta(seconds=5)
    response = APIClient(HTTP_AUTHORIZATION=f"Bearer {full_key}").get(ME)
    assert response.status_code == 200
    assert response.json() == {"tenant": {"slug": "tenant-a", "name": "Tenant A", "plan": "pro"},
                               "scopes": ["control", "read"]}


def test_it_refuses_an_unknown_tenant(db):
    with pytest.raises(CommandError) as refused:
        call_command("create_api_key", "--tenant", "nope", "--scopes", "read")
    assert "nope" in str(refused.value)
    assert not ApiKey.objects.exists()


@pytest.mark.parametrize("args,word", [
    (["--scopes", "read,withdraw"], "withdraw"),
    (["--scopes", ","], "scope"),
    (["--scopes", "read", "--days", "366"], "365"),
])
def test_it_refuses_bad_scopes_or_expiry(world, args, word):
    before = ApiKey.objects.count()
    with pytest.raises(CommandError) as refused:
        call_command("create_api_key", "--tenant", "tenant-a", *args)
    assert word in str(refused.value)
    assert ApiKey.objects.count() == before


@pytest.mark.django_db(transaction=True)
def test_it_prints_only_the_key_from_a_real_process(tmp_path):
    owner = make_user("ops@example.com")
    tenant_create(name="Ops", slug="ops", owner=owner, plan="pro")
    env = {"DATABASE_URL": database_url(),
           "AITRADER_API_KEY_PEPPERS": ",".join(settings.AITRADER_API_KEY_PEPPERS)}
    result = _manage("create_api_key", "--tenant", "ops", "--scopes", "read",
                     env_extra=env, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert KEY_SHAPE.match(result.stdout.rstrip("\n"))
    assert result.stdout.count("\n") == 1
    response = APIClient(HTTP_X_API_KEY=result.stdout.strip()).get(ME)
    assert response.json()["tenant"]["slug"] == "ops"

    missing = _manage("create_api_key", "--tenant", "nope", "--scopes", "read",
                      env_extra=env, tmp_path=tmp_path)
    assert missing.returncode == 1
    assert "No tenant with slug 'nope'" in missing.stderr
    assert "Traceback" not in missing.stderr
    assert missing.stdout == ""
