"""The Content-Security-Policy: nonce-based scripts, nothing inline, admin and docs under it."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

REQUIRED = {
    "default-src": {"'self'"},
    "object-src": {"'none'"},
    "base-uri": {"'none'"},
    "frame-ancestors": {"'none'"},
    "form-action": {"'self'"},
}
UNSAFE = ("'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'", "*", "data:", "http:",
          "https:")


def policy_of(response) -> dict[str, list[str]]:
    """The CSP header as directive -> sources."""
    policy = {}
    for part in response["Content-Security-Policy"].split(";"):
        name, *sources = part.split()
        policy[name] = sources
    return policy


def _nonce(policy: dict[str, list[str]]) -> str:
    nonces = [s for s in policy["script-src"] if s.startswith("'nonce-")]
    assert len(nonces) == 1, policy["script-src"]
    return nonces[0][len("'nonce-"):-1]


@pytest.fixture
def page(world):
    return world.client_for(world.alice).get("/")


def test_it_sends_the_strict_directives(page):
    policy = policy_of(page)
    for directive, sources in REQUIRED.items():
        assert set(policy[directive]) == sources, directive


def test_pages_run_only_scripts_with_the_nonce_and_nothing_unsafe(page):
    sources = policy_of(page)["script-src"]
    assert "'self'" not in sources, "a same-origin file without the nonce must not run"
    assert [s for s in sources if s.startswith("'nonce-")] == sources
    assert not [s for s in sources if s in UNSAFE], sources


@pytest.mark.django_db
def test_only_the_admin_also_allows_its_own_static_scripts():
    sources = policy_of(Client().get("/admin/login/"))["script-src"]
    assert "'self'" in sources
    assert not [s for s in sources if s in UNSAFE], sources
    assert "'self'" not in policy_of(Client().get("/accounts/login/"))["script-src"]


def test_every_script_tag_carries_this_responses_nonce(page):
    nonce = _nonce(policy_of(page))
    tags = re.findall(r"<script\b[^>]*>", page.content.decode())
    # json_script data blocks are never executed, so they need no nonce.
    code = [tag for tag in tags if 'type="application/json"' not in tag]
    assert code
    for tag in code:
        assert f'nonce="{nonce}"' in tag, tag
        assert "src=" in tag, f"inline script: {tag}"


def test_the_nonce_is_new_on_every_response(world):
    client = world.client_for(world.alice)
    nonces = {_nonce(policy_of(client.get("/"))) for _ in range(3)}
    assert len(nonces) == 3
    assert all(len(n) >= 22 for n in nonces), "128 random bits"


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/accounts/login/", "/api/v1/docs/", "/admin/login/",
                                  "/no/such/page/"])
def test_every_page_gets_the_policy(path):
    policy = policy_of(Client().get(path))
    for directive, sources in REQUIRED.items():
        assert set(policy[directive]) == sources, (path, directive)


@pytest.mark.django_db
def test_the_docs_page_has_no_inline_style_or_script():
    html = Client().get("/api/v1/docs/").content.decode()
    assert "<style" not in html
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in tag, tag


def test_the_policy_uses_django_csp_4s_nonce_sentinel():
    # The string "'nonce'" would be sent literally: an invalid source, so no nonce at all.
    from csp.constants import NONCE

    assert NONCE in settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]["script-src"]


TEMPLATE_DIRS = [Path(settings.BASE_DIR) / "templates"]
INLINE_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.IGNORECASE)
INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
JS_URL = re.compile(r"""(href|src|action)\s*=\s*["']\s*javascript:""", re.IGNORECASE)


def _templates():
    for directory in TEMPLATE_DIRS:
        yield from directory.rglob("*.html")


@pytest.mark.parametrize("check", [INLINE_HANDLER, INLINE_SCRIPT, JS_URL],
                         ids=["on-handlers", "inline-script", "javascript-urls"])
def test_no_template_has_inline_script(check):
    offenders = [f"{path.relative_to(settings.BASE_DIR)}: {match.group(0)[:80]}"
                 for path in _templates() for match in check.finditer(path.read_text())]
    assert not offenders, "\n".join(offenders)
