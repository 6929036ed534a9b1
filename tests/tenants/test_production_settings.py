"""Production settings refuse to start without their services and secrets."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings

REQUIRED = {
    "SECRET_KEY": "prod-secret-key-that-is-long-enough-0123456789abcdef",
    "ALLOWED_HOSTS": "trade.example.com",
    "DATABASE_URL": "postgres://aitrader:pw@db.internal:5432/aitrader",
    "REDIS_URL": "redis://redis.internal:6379/0",
    "AITRADER_API_KEY_PEPPERS": "2:" + "k" * 40,
    "AITRADER_VAULT_KEYS": "prod1:" + "a" * 43,  # base64 of 32 bytes
}
SHOW = ("import django, json; django.setup(); from django.conf import settings as s; "
        "print(json.dumps({n: getattr(s, n) for n in ['DEBUG', 'ALLOWED_HOSTS', "
        "'SECURE_SSL_REDIRECT', 'SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE', "
        "'SECURE_HSTS_SECONDS', 'SESSION_COOKIE_HTTPONLY', 'AITRADER_API_KEY_PEPPERS', "
        "'CELERY_BROKER_URL', 'CELERY_TASK_ALWAYS_EAGER']}))")


def _start(tmp_path, code: str = "import django; django.setup()", **env_overrides):
    env = {"PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "aitrader.settings.production",
           "AITRADER_VAR_DIR": str(tmp_path), **REQUIRED, **env_overrides}
    env = {name: value for name, value in env.items() if value is not None}
    return subprocess.run([sys.executable, "-c", code], cwd=settings.BASE_DIR, env=env,
                          capture_output=True, text=True, timeout=60)


def test_it_starts_with_every_required_value(tmp_path):
    result = _start(tmp_path, SHOW)
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["DEBUG"] is False
    assert shown["ALLOWED_HOSTS"] == ["trade.example.com"]
    assert shown["SECURE_SSL_REDIRECT"] is True
    assert shown["SESSION_COOKIE_SECURE"] is True
    assert shown["CSRF_COOKIE_SECURE"] is True
    assert shown["SESSION_COOKIE_HTTPONLY"] is True
    assert shown["SECURE_HSTS_SECONDS"] >= 31536000
    assert shown["AITRADER_API_KEY_PEPPERS"] == [REQUIRED["AITRADER_API_KEY_PEPPERS"]]
    assert shown["CELERY_BROKER_URL"] == REQUIRED["REDIS_URL"]
    assert shown["CELERY_TASK_ALWAYS_EAGER"] is False


def test_it_ignores_debug_in_the_environment(tmp_path):
    result = _start(tmp_path, SHOW, DEBUG="true")
    assert json.loads(result.stdout)["DEBUG"] is False


@pytest.mark.parametrize("name", list(REQUIRED))
def test_it_refuses_to_start_without_a_required_value(tmp_path, name):
    result = _start(tmp_path, **{name: None})
    assert result.returncode != 0
    assert name in result.stderr
    assert "ImproperlyConfigured" in result.stderr


def test_it_treats_an_empty_required_value_as_missing(tmp_path):
    # One process is enough: every required name goes through the same env_str check.
    name = "SECRET_KEY"
    result = _start(tmp_path, **{name: ""})
    assert result.returncode != 0
    assert name in result.stderr


def test_it_refuses_a_list_of_only_blank_hosts(tmp_path):
    result = _start(tmp_path, ALLOWED_HOSTS=" , ")
    assert result.returncode != 0
    assert "ALLOWED_HOSTS" in result.stderr


@pytest.mark.parametrize("peppers", ["no-version-and-short", "1:short", ":" + "k" * 40,
                                     "2:" + "k" * 40 + ",1:short"])
def test_it_refuses_to_start_with_a_malformed_pepper(tmp_path, peppers):
    result = _start(tmp_path, AITRADER_API_KEY_PEPPERS=peppers)
    assert result.returncode != 0
    assert "AITRADER_API_KEY_PEPPERS" in result.stderr


@pytest.mark.parametrize("name,raw", [("DEBUG", "maybe"), ("SECURE_HSTS_SECONDS", "-1"),
                                      ("AITRADER_API_KEY_TOUCH_SECONDS", "soon")])
def test_it_refuses_a_bad_optional_value_naming_it(tmp_path, name, raw):
    result = _start(tmp_path, **{name: raw})
    assert result.returncode != 0
    assert name in result.stderr
