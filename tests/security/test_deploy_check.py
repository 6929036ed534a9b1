"""Production settings pass Django's deployment checklist and set strict cookies and HSTS."""
from __future__ import annotations

import json
import subprocess
import sys

from django.conf import settings

from tests.security.conftest import production_env

SHOW = ("import django, json; django.setup(); from django.conf import settings as s; "
        "print(json.dumps({{n: getattr(s, n) for n in {names!r}}}))")
COOKIE_SETTINGS = ["SESSION_COOKIE_SECURE", "SESSION_COOKIE_HTTPONLY", "SESSION_COOKIE_SAMESITE",
                   "SESSION_COOKIE_NAME", "CSRF_COOKIE_SECURE", "CSRF_COOKIE_HTTPONLY",
                   "CSRF_COOKIE_SAMESITE", "CSRF_COOKIE_NAME", "SESSION_COOKIE_DOMAIN",
                   "CSRF_COOKIE_DOMAIN", "SESSION_COOKIE_PATH", "CSRF_COOKIE_PATH",
                   "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD",
                   "SECURE_SSL_REDIRECT", "X_FRAME_OPTIONS", "SECURE_CONTENT_TYPE_NOSNIFF",
                   "SECURE_REFERRER_POLICY", "SECURE_CROSS_ORIGIN_OPENER_POLICY"]


def _run(tmp_path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=settings.BASE_DIR,
                          env=production_env(tmp_path), capture_output=True, text=True,
                          timeout=120)


def test_the_deploy_check_finds_nothing_at_warning_level(tmp_path):
    result = _run(tmp_path, "manage.py", "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def _production(tmp_path) -> dict:
    result = _run(tmp_path, "-c", SHOW.format(names=COOKIE_SETTINGS))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_production_cookies_are_secure_httponly_samesite_and_host_prefixed(tmp_path):
    shown = _production(tmp_path)
    for cookie in ("SESSION", "CSRF"):
        assert shown[f"{cookie}_COOKIE_SECURE"] is True
        assert shown[f"{cookie}_COOKIE_HTTPONLY"] is True
        assert shown[f"{cookie}_COOKIE_SAMESITE"] in ("Lax", "Strict")
        # __Host- cookies must be Secure, Path=/ and carry no Domain, or browsers drop them.
        assert shown[f"{cookie}_COOKIE_NAME"].startswith("__Host-")
        assert shown[f"{cookie}_COOKIE_DOMAIN"] is None
        assert shown[f"{cookie}_COOKIE_PATH"] == "/"


def test_production_sends_hsts_for_a_year_with_subdomains_and_preload(tmp_path):
    shown = _production(tmp_path)
    assert shown["SECURE_HSTS_SECONDS"] >= 365 * 24 * 3600
    assert shown["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert shown["SECURE_HSTS_PRELOAD"] is True
    assert shown["SECURE_SSL_REDIRECT"] is True


def test_production_keeps_the_header_settings(tmp_path):
    shown = _production(tmp_path)
    assert shown["X_FRAME_OPTIONS"] == "DENY"
    assert shown["SECURE_CONTENT_TYPE_NOSNIFF"] is True
    assert shown["SECURE_REFERRER_POLICY"] in ("strict-origin-when-cross-origin",
                                               "same-origin", "no-referrer", "strict-origin")
    assert shown["SECURE_CROSS_ORIGIN_OPENER_POLICY"] == "same-origin"


def test_a_production_login_sets_host_prefixed_secure_cookies(world, settings):
    """The cookie attributes as a browser receives them, with the production values."""
    from django.test import Client

    from tests.base import PASSWORD

    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True
    settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME = "__Host-sessionid", "__Host-csrftoken"
    client = Client()
    client.get("/accounts/login/", secure=True)
    response = client.post("/accounts/login/", {"email": "alice@example.com",
                                                "password": PASSWORD}, secure=True)
    session = response.cookies["__Host-sessionid"]
    assert session["secure"] and session["httponly"] and session["samesite"] == "Lax"
    assert session["path"] == "/" and not session["domain"]
    assert client.cookies["__Host-csrftoken"]["secure"]
