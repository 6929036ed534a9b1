"""2FA set-up: a QR code under the strict CSP, and one-time recovery codes.

The clock is frozen for every test, so codes computed here are the ones the server checks.
"""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

import pyotp
import pytest
import segno
import time_machine
from django.conf import settings
from django.test import Client

from tenants.models import AuditEvent, RecoveryCode, User
from tenants.services import totp_provisioning_uri, totp_seed
from tests.base import PASSWORD

NOW = datetime(2030, 6, 1, 12, 0, 10, tzinfo=UTC)
TWO_FACTOR = "/accounts/2fa/"
LOGIN = "/accounts/login/"
LOGIN_2FA = "/accounts/login/2fa/"
ME = "/api/v1/me/"
CODE_RE = re.compile(r'<li class="recovery-code"><code>([a-z0-9-]+)</code></li>')


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def _code(secret: str, steps: int = 0) -> str:
    return pyotp.TOTP(secret).at(NOW + timedelta(seconds=30 * steps))


def _begin(client: Client, user: User) -> str:
    client.post(TWO_FACTOR, {"action": "begin"})
    user.refresh_from_db()
    return totp_seed(user=user)


@pytest.fixture
def enrolled(world):
    """alice confirmed TOTP in her browser; returns (client, secret, recovery codes shown)."""
    client = Client()
    client.force_login(world.alice)
    secret = _begin(client, world.alice)
    response = client.post(TWO_FACTOR, {"action": "confirm", "code": _code(secret, -1)})
    assert response.status_code == 200
    return client, secret, CODE_RE.findall(response.content.decode())


def _second_step(code: str) -> Client:
    client = Client()
    client.post(LOGIN, {"email": "alice@example.com", "password": PASSWORD})
    client.post(LOGIN_2FA, {"code": code})
    return client


# --- The QR code ------------------------------------------------------------------------------

def _modules_of(svg: str) -> set[tuple[int, int]]:
    """The dark modules an inline SVG from segno draws: its stroked path is runs of `h` lines,
    moved between with `M`/`m`, each at the middle of a module row."""
    path = re.search(r'<path[^>]*\sstroke="[^"]+"[^>]*\sd="([^"]+)"', svg).group(1)
    dark, x, y = set(), 0.0, 0.0
    for op, args in re.findall(r"([Mmh])([-\d. ]+)", path):
        numbers = [float(n) for n in args.split()]
        if op == "M":
            x, y = numbers
        elif op == "m":
            x, y = x + numbers[0], y + numbers[1]
        else:
            dark |= {(int(x) + i, int(y)) for i in range(int(numbers[0]))}
            x += numbers[0]
    return dark


def test_the_setup_page_shows_the_otpauth_uri_as_an_inline_svg_qr_code(world, client):
    client.force_login(world.alice)
    secret = _begin(client, world.alice)
    page = client.get(TWO_FACTOR)
    html = page.content.decode()
    svg = re.search(r"<svg\b.*?</svg>", html, re.S).group(0)
    assert "<script" not in svg and "style" not in svg  # nothing the CSP would refuse
    uri = totp_provisioning_uri(user=world.alice)
    parsed = urlparse(uri)
    assert parsed.scheme == "otpauth" and unquote(parsed.path) == "/aitrader:alice@example.com"
    assert parse_qs(parsed.query)["secret"] == [secret]
    # The picture is the URI: its dark modules are those of a QR code of that URI.
    border = min(x for x, _ in _modules_of(svg))
    expected = {(x + border, y + border) for y, row in enumerate(segno.make(uri).matrix)
                for x, bit in enumerate(row) if bit}
    assert _modules_of(svg) == expected
    assert "'unsafe-inline'" not in page["Content-Security-Policy"]


def test_the_otpauth_link_wraps_inside_its_card(world, client):
    client.force_login(world.alice)
    _begin(client, world.alice)
    html = client.get(TWO_FACTOR).content.decode()
    css = (Path(settings.BASE_DIR) / "static" / "css" / "app.css").read_text()
    assert re.search(r'<code class="otpauth-uri">otpauth://', html)
    assert re.search(r"code\.otpauth-uri\s*\{[^}]*overflow-wrap:\s*anywhere", css)


# --- Recovery codes: issued once, stored hashed -----------------------------------------------

def test_confirming_2fa_shows_ten_recovery_codes_once(enrolled, world):
    client, _secret, codes = enrolled
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(re.fullmatch(r"[a-z0-9]{5}-[a-z0-9]{5}", code) for code in codes)
    page = client.get(TWO_FACTOR).content.decode()
    assert not any(code in page for code in codes)


def test_recovery_codes_are_stored_only_as_keyed_hashes(enrolled, world):
    _client, _secret, codes = enrolled
    rows = list(RecoveryCode.objects.filter(user=world.alice).values())
    assert len(rows) == 10
    stored = repr(rows)
    for code in codes:
        assert code not in stored and code.replace("-", "") not in stored


def test_a_recovery_code_signs_in_at_the_second_step_once(enrolled, world):
    _client, _secret, codes = enrolled
    first = _second_step(codes[0])
    assert first.get(ME).status_code == 200
    again = _second_step(codes[0])
    assert again.get(ME).status_code == 401
    assert RecoveryCode.objects.filter(user=world.alice, used_at__isnull=True).count() == 9


def test_a_recovery_code_may_be_typed_in_capitals_and_without_the_hyphen(enrolled):
    _client, _secret, codes = enrolled
    assert _second_step(f" {codes[1].upper().replace('-', '')} ").get(ME).status_code == 200


def test_a_made_up_or_another_users_code_is_refused(enrolled, world):
    _client, _secret, codes = enrolled
    assert _second_step("aaaaa-aaaaa").get(ME).status_code == 401
    bob_client = Client()
    bob_client.force_login(world.bob)
    bob_secret = _begin(bob_client, world.bob)
    bob_client.post(TWO_FACTOR, {"action": "confirm", "code": _code(bob_secret, -1)})
    bob_login = Client()
    bob_login.post(LOGIN, {"email": "bob@example.com", "password": PASSWORD})
    bob_login.post(LOGIN_2FA, {"code": codes[2]})
    assert bob_login.get(ME).status_code == 401


def test_using_a_recovery_code_is_audited_and_says_how_many_are_left(enrolled, world):
    _client, _secret, codes = enrolled
    client = Client()
    client.post(LOGIN, {"email": "alice@example.com", "password": PASSWORD})
    page = client.post(LOGIN_2FA, {"code": codes[3]}, follow=True)
    assert b"9 recovery codes left" in page.content
    event = AuditEvent.objects.for_tenant(world.tenant_a).get(
        action="two_factor.recovery_code_use")
    assert event.actor_user == world.alice and event.details == {"left": 9}
    assert codes[3] not in repr(event.details)


def test_regenerating_needs_a_current_code_and_replaces_every_old_code(enrolled, world):
    client, secret, old = enrolled
    refused = client.post(TWO_FACTOR, {"action": "recovery", "code": "000000"})
    assert not CODE_RE.findall(refused.content.decode())
    assert b"That code is not valid" in refused.content
    fresh = CODE_RE.findall(client.post(TWO_FACTOR, {"action": "recovery",
                                                     "code": _code(secret)}).content.decode())
    assert len(fresh) == 10 and not set(fresh) & set(old)
    assert _second_step(old[0]).get(ME).status_code == 401
    assert _second_step(fresh[0]).get(ME).status_code == 200
    issued = AuditEvent.objects.for_tenant(world.tenant_a).filter(
        action="two_factor.recovery_codes_issue")
    assert issued.count() == 2  # at confirmation, and now


def test_the_setup_page_offers_regeneration_once_2fa_is_on(enrolled):
    client, _secret, _codes = enrolled
    page = client.get(TWO_FACTOR).content.decode()
    assert 'name="action" value="recovery"' in page
    assert "10 of 10 recovery codes unused" in page


def test_turning_2fa_off_deletes_the_recovery_codes(enrolled, world):
    client, secret, codes = enrolled
    client.post(TWO_FACTOR, {"action": "disable", "code": _code(secret)})
    assert not RecoveryCode.objects.filter(user=world.alice).exists()
