"""Every response carries the baseline security headers; API answers are never cached."""
from __future__ import annotations

import pytest
from django.test import Client

from tests.base import PASSWORD

BASELINE = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
# Pages, API answers (ok, refused, missing, CSV, schema) and a static file.
ANONYMOUS_PATHS = ["/accounts/login/", "/api/v1/bots/", "/api/v1/schema/", "/api/v1/docs/",
                   "/no/such/page/", "/healthz", "/admin/login/", "/static/css/app.css"]


def _assert_baseline(response, where: str) -> None:
    for name, value in BASELINE.items():
        assert response.headers.get(name) == value, f"{name} on {where}"


@pytest.mark.django_db
@pytest.mark.parametrize("path", ANONYMOUS_PATHS)
def test_it_sends_the_baseline_headers_on_every_response(path):
    response = Client().get(path)
    _assert_baseline(response, path)


def test_it_sends_them_on_signed_in_pages_api_answers_and_exports(world):
    session = world.client_for(world.alice)
    key = world.client_with_key(world.control_key_a)
    for client, path in [(session, "/"), (session, "/settings/"), (key, "/api/v1/bots/"),
                         (key, "/api/v1/export/trades.csv"), (key, "/api/v1/bots/999/")]:
        _assert_baseline(client.get(path), path)


@pytest.mark.parametrize("path", ["/api/v1/bots/", "/api/v1/bots/999/", "/api/v1/me/",
                                  "/api/v1/export/trades.csv", "/api/v1/schema/"])
def test_it_forbids_caching_every_api_response(world, path):
    for client in (world.client_with_key(world.control_key_a), Client()):
        assert client.get(path)["Cache-Control"] == "no-store", path


def test_it_forbids_caching_a_refused_api_write(world):
    response = world.client_with_key(world.read_key_a).post("/api/v1/bots/1/pause/")
    assert response.status_code in (403, 404)
    assert response["Cache-Control"] == "no-store"


def test_signed_in_pages_are_not_stored_by_shared_caches(world):
    response = world.client_for(world.alice).get("/")
    assert "no-store" in response["Cache-Control"]


def test_hsts_is_sent_over_https_with_the_production_values(world, settings):
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True
    response = world.client_with_key(world.read_key_a).get("/api/v1/bots/", secure=True)
    assert response["Strict-Transport-Security"] == (
        "max-age=31536000; includeSubDomains; preload")


@pytest.mark.django_db
def test_the_login_page_sets_no_cookie_the_browser_could_read(client):
    client.get("/accounts/login/")
    csrf = client.cookies.get("csrftoken")
    assert csrf is not None and csrf["httponly"] and csrf["samesite"] == "Lax"


@pytest.mark.django_db
def test_a_login_sets_an_httponly_samesite_session_cookie(client, world):
    response = client.post("/accounts/login/", {"email": "alice@example.com",
                                                "password": PASSWORD})
    cookie = response.cookies["sessionid"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == "/"
