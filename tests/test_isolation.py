"""Tenant isolation, proven for every URL and every tenant-owned model.

New URLs with an object id and new TenantScopedModels are picked up automatically: a model
without a factory (tests/factories.py) or an id URL missing from OBJECT_URLS fails here, so
nothing reaches main without its cross-tenant check.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from django.apps import apps
from django.forms.models import model_to_dict
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse

from mlmodels.models import MLModel
from notifications.models import NotificationChannel, TelegramLink
from tenants.models import ApiKey, Invitation, Membership, Scope
from tenants.scoping import TenantScopedModel
from tenants.services import api_key_issue
from tests.base import owner_actor
from tests.factories import MODEL_FACTORIES, make
from trading.models import (
    BacktestRun,
    BacktestSweep,
    Bot,
    EquitySnapshot,
    ExchangeAccount,
    Fill,
    Order,
    Position,
    Thought,
    Trade,
)

# url name -> (model whose pk fills the id, the URL kwarg, HTTP methods, a valid body)
OBJECT_URLS: dict[str, tuple[type, str, tuple[str, ...], dict]] = {
    "member_role": (Membership, "membership_id", ("POST",), {"role": "viewer"}),
    "member_remove": (Membership, "membership_id", ("POST",), {}),
    "api:bot-detail": (Bot, "pk", ("GET", "PATCH", "DELETE"), {"name": "stolen"}),
    "api:bot-duplicate": (Bot, "pk", ("POST",), {"name": "stolen"}),
    "api:bot-stop": (Bot, "pk", ("POST",), {}),
    "api:bot-archive": (Bot, "pk", ("POST",), {}),
    "api:bot-unarchive": (Bot, "pk", ("POST",), {}),
    "api:bot-manual": (Bot, "pk", ("POST",), {"action": "enter"}),
    "api:bot-manual-orders": (Bot, "pk", ("GET",), {}),
    "api:bot-signal-hook": (Bot, "pk", ("GET", "POST", "DELETE"), {}),
    "api:bot-pnl": (Bot, "pk", ("GET",), {}),
    "api:bot-pause": (Bot, "pk", ("POST",), {}),
    "api:bot-resume": (Bot, "pk", ("POST",), {}),
    "api:bot-close-all": (Bot, "pk", ("POST",), {}),
    "api:bot-candles": (Bot, "pk", ("GET",), {}),
    "api:order-detail": (Order, "pk", ("GET",), {}),
    "api:fill-detail": (Fill, "pk", ("GET",), {}),
    "api:trade-detail": (Trade, "pk", ("GET",), {}),
    "api:position-detail": (Position, "pk", ("GET",), {}),
    "api:thought-detail": (Thought, "pk", ("GET",), {}),
    "api:equity-detail": (EquitySnapshot, "pk", ("GET",), {}),
    "api:backtest-detail": (BacktestRun, "pk", ("GET",), {}),
    "api:sweep-detail": (BacktestSweep, "pk", ("GET",), {}),
    "api:exchange-account-detail": (ExchangeAccount, "pk", ("GET",), {}),
    "api:exchange-account-credentials": (ExchangeAccount, "pk", ("POST", "DELETE"),
                                         {"api_key": "k", "secret": "s", "password": "p"}),
    "api:api-key-revoke": (ApiKey, "pk", ("POST",), {}),
    "api:mlmodel-detail": (MLModel, "pk", ("GET",), {}),
    "dashboard:model_promote": (MLModel, "model_id", ("POST",), {}),
    "dashboard:model_retire": (MLModel, "model_id", ("POST",), {}),
    "api:mlmodel-promote": (MLModel, "pk", ("POST",), {}),
    "api:mlmodel-retire": (MLModel, "pk", ("POST",), {}),
    "dashboard:bot_detail": (Bot, "bot_id", ("GET",), {}),
    "dashboard:bot_pause": (Bot, "bot_id", ("POST",), {}),
    "dashboard:bot_resume": (Bot, "bot_id", ("POST",), {}),
    "dashboard:bot_close_all": (Bot, "bot_id", ("POST",), {}),
    "dashboard:bot_edit": (Bot, "bot_id", ("POST",), {"name": "stolen"}),
    "dashboard:bot_duplicate": (Bot, "bot_id", ("POST",), {}),
    "dashboard:bot_stop": (Bot, "bot_id", ("POST",), {}),
    "dashboard:bot_archive": (Bot, "bot_id", ("POST",), {}),
    "dashboard:bot_unarchive": (Bot, "bot_id", ("POST",), {}),
    "dashboard:bot_delete": (Bot, "bot_id", ("POST",), {}),
    "dashboard:bot_manual": (Bot, "bot_id", ("POST",), {"action": "enter"}),
    "dashboard:bot_signal_hook_enable": (Bot, "bot_id", ("POST",), {}),
    "dashboard:bot_signal_hook_disable": (Bot, "bot_id", ("POST",), {}),
    "dashboard:backtest_detail": (BacktestRun, "run_id", ("GET",), {}),
    "dashboard:sweep_detail": (BacktestSweep, "sweep_id", ("GET",), {}),
    "dashboard:api_key_revoke": (ApiKey, "key_id", ("POST",), {}),
    "dashboard:credentials_save": (ExchangeAccount, "account_id", ("POST",),
                                   {"api_key": "k", "secret": "s", "password": "p"}),
    "dashboard:credentials_remove": (ExchangeAccount, "account_id", ("POST",), {}),
    "notifications:telegram_unlink": (TelegramLink, "link_id", ("POST",), {}),
    "api:member-detail": (Membership, "pk", ("GET", "PATCH", "DELETE"), {"role": "viewer"}),
    "api:telegram-link-unlink": (TelegramLink, "pk", ("POST",), {}),
    "notifications:channel_update": (NotificationChannel, "channel_id", ("POST",), {}),
    "notifications:channel_remove": (NotificationChannel, "channel_id", ("POST",), {}),
    "api:notification-channel-detail": (NotificationChannel, "pk", ("GET", "PATCH", "DELETE"),
                                        {"entry": False}),
}
# id-carrying URLs that are not tenant objects, with the reason.
EXEMPT_OBJECT_URLS = {
    "accept_invitation": "a one-time token bound to an e-mail; tested in test_members",
    "signup_confirm": "a signed sign-up token, not a tenant object (test_signup_enumeration)",
    "password_reset_confirm": "Django's signed reset token, not a tenant object",
    "notifications:telegram_webhook": "a secret path segment, checked with a header secret",
    "signal_webhook": "a hook's public token proven by its secret, not an id; unknown token "
                      "and wrong secret answer alike in tests/dashboard/"
                      "test_signal_webhook_view.py",
    "dashboard:backtest_upload_detail": "a status file under the tenant's own directory, not "
                                        "a row; another tenant's id is a 404 in "
                                        "tests/dashboard/test_backtest_upload.py",
    "dashboard:history_download_detail": "a status file under the tenant's own directory; "
                                         "another tenant's id is a 404 in tests/dashboard/"
                                         "test_history_download_page.py",
    "api:history-download-detail": "a status file under the tenant's own directory; another "
                                   "tenant's id is a 404 in tests/dashboard/test_api_history.py",
    "api:history-upload-detail": "a status file under the tenant's own directory; another "
                                 "tenant's id is a 404 in tests/dashboard/test_api_history.py",
}
# /api/v1/ list endpoints -> the model they list.
LIST_URLS: dict[str, type] = {
    "api:bot-list": Bot,
    "api:order-list": Order,
    "api:fill-list": Fill,
    "api:trade-list": Trade,
    "api:position-list": Position,
    "api:thought-list": Thought,
    "api:equity-list": EquitySnapshot,
    "api:backtest-list": BacktestRun,
    "api:sweep-list": BacktestSweep,
    "api:exchange-account-list": ExchangeAccount,
    "api:api-key-list": ApiKey,
    "api:mlmodel-list": MLModel,
    "api:member-list": Membership,
    "api:invitation-list": Invitation,
    "api:telegram-link-list": TelegramLink,
    "api:notification-channel-list": NotificationChannel,
}
EXEMPT_LIST_URLS = {
    "api:me": "describes the caller's own tenant",
    "api:strategies": "the global strategy registry, no tenant rows",
    "api:markets": "the shared market catalogue, no tenant rows",
    "api:export-trades": "CSV; cross-tenant rows checked in tests/dashboard/test_api_export.py",
    "api:audit-export": "CSV; cross-tenant rows checked in tests/security/test_audit_export.py",
    "api:equity-portfolio": "aggregate; cross-tenant sums checked in test_api_equity.py",
    "api:backtest-compare": "takes ?runs= ids (400 without); another tenant's id is a 404 in "
                            "tests/dashboard/test_api_backtest_compare.py",
    "api:history-downloads": "POST only: queues a download into the shared store",
    "api:history-uploads": "POST only: an upload into the caller's own store",
    "api:schema": "static OpenAPI document",
    "api:docs": "static docs page",
    "api:telegram-link-codes": "POST only; names a member by e-mail, checked against the "
                               "caller's tenant in tests/dashboard/test_api_admin_setup.py",
}

PROJECT_ROOT = Path(__file__).resolve().parent.parent
APP_DIRS = ["aitrader", "tenants", "trading", "dashboard", "notifications", "mlmodels"]
# Modules allowed to touch `Model.objects` of tenant-owned models directly (tenants/vault.py
# is the only reader and writer of the vault's rows: its service layer).
QUERY_MODULES = re.compile(r"(^|/)(services|selectors|admin|migrations|vault)(/|\.py$|_)")
# Within those, services and selectors still scope every query on a tenant-owned model's
# manager explicitly. Exempt: admin (the platform's staff see every tenant by design),
# migrations (they run before any tenant exists) and tenants/vault.py (it scopes its rows by
# the tenant's data key and is tested in tests/security).
SCOPED_QUERY_MODULES = re.compile(r"(^|/)(services|selectors)(/|\.py$|_)")
# How such a query may start; `all_tenants` only with a non-empty literal `reason=`.
SCOPED_ENTRIES = {"for_tenant", "locked_for_tenant", "all_tenants"}
# Inserts are not reads: each names its row's tenant in its own arguments.
INSERTS = {"create", "bulk_create"}


def _walk(patterns, prefix="", namespace=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner_ns = namespace
            if entry.namespace:
                inner_ns = f"{namespace}{entry.namespace}:"
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), inner_ns)
        elif isinstance(entry, URLPattern) and entry.name:
            yield f"{namespace}{entry.name}", prefix + str(entry.pattern), _kwargs(entry)


def _kwargs(entry: URLPattern) -> set[str]:
    pattern = entry.pattern
    names = set(getattr(pattern, "converters", {}) or {})
    names |= set(pattern.regex.groupindex)
    return names - {"format"}


def _project_urls():
    return [u for u in _walk(get_resolver().url_patterns) if not u[0].startswith("admin:")]


def _tenant_models():
    return [m for m in apps.get_models() if issubclass(m, TenantScopedModel)]


def test_every_tenant_owned_model_has_a_factory():
    missing = [m.__name__ for m in _tenant_models() if m not in MODEL_FACTORIES]
    assert not missing, f"add factories in tests/factories.py for: {missing}"


def test_every_url_with_an_object_id_is_covered():
    uncovered = sorted(name for name, _route, kwargs in _project_urls()
                       if kwargs and name not in OBJECT_URLS and name not in EXEMPT_OBJECT_URLS)
    assert not uncovered, f"add these URLs to OBJECT_URLS (or exempt them): {uncovered}"


def test_every_api_list_url_is_covered():
    lists = [name for name, _route, kwargs in _project_urls()
             if name.startswith("api:") and not kwargs]
    uncovered = sorted(n for n in lists if n not in LIST_URLS and n not in EXEMPT_LIST_URLS)
    assert not uncovered, f"add these list URLs to LIST_URLS (or exempt them): {uncovered}"


def _other_tenant_clients(world, url_name: str, url: str, *, read_key: bool = False):
    """Tenant B's callers: its owner's session, and for API URLs its control key (and, when
    asked, its read key) too, unless the endpoint refuses keys outright, which reveals
    nothing either."""
    clients = {"charlie's session": world.client_for(world.charlie)}
    view = getattr(resolve(url).func, "cls", None)
    if url_name.startswith("api:") and not getattr(view, "session_only", False):
        if Scope.ADMIN in getattr(view, "scope_map", {}).values():
            # A control key's 403 would prove nothing about the object: B's admin key.
            _row, admin_key_b = api_key_issue(tenant=world.tenant_b, name="admin-b",
                                              actor=owner_actor(world.tenant_b),
                                              scopes=["admin"])
            clients["tenant B's admin key"] = world.client_with_key(admin_key_b)
        else:
            clients["tenant B's control key"] = world.client_with_key(world.control_key_b)
        if read_key:
            clients["tenant B's read key"] = world.client_with_key(world.read_key_b)
    return clients


@pytest.mark.django_db
@pytest.mark.parametrize("url_name", sorted(OBJECT_URLS))
def test_other_tenant_gets_404_for_every_object_url(world, url_name):
    model, kwarg, methods, body = OBJECT_URLS[url_name]
    obj = make(model, world.tenant_a)
    url = reverse(url_name, kwargs={kwarg: obj.pk})
    for label, client in _other_tenant_clients(world, url_name, url).items():
        for method in methods:
            body_format = "json" if url_name.startswith("api:") else "multipart"
            response = getattr(client, method.lower())(url, body, format=body_format)
            assert response.status_code == 404, f"{method} {url} as {label}"
    assert model.objects.filter(pk=obj.pk).exists(), "a refused request must change nothing"


# BOLA: every method, not only the ones a URL serves; an id no row has is the yardstick.
ALL_METHODS = ("GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE")
MISSING_ID = 2_000_000_000


def _call(client, url_name: str, url: str, method: str, body: dict):
    if method in ("GET", "HEAD", "OPTIONS"):
        return getattr(client, method.lower())(url)
    body_format = "json" if url_name.startswith("api:") else "multipart"
    return getattr(client, method.lower())(url, body, format=body_format)


def _answer(response) -> tuple[int, bytes]:
    """Status and error body, which must not tell a foreign object from a missing one
    either (less the per-response CSP nonce and CSRF token of an HTML page)."""
    if response.status_code < 300:
        return response.status_code, b""
    return response.status_code, re.sub(rb'(nonce|value)="[^"]*"', b"", response.content)


@pytest.mark.django_db
@pytest.mark.parametrize("url_name", sorted(OBJECT_URLS))
def test_another_tenants_object_answers_like_a_missing_one_to_every_method(world, url_name):
    """Sessions, read keys and control keys of tenant B, every HTTP method: the answer for
    tenant A's object is the answer for an id that does not exist, and nothing changes."""
    model, kwarg, _methods, body = OBJECT_URLS[url_name]
    obj = make(model, world.tenant_a)
    before = model_to_dict(model.objects.get(pk=obj.pk))
    url = reverse(url_name, kwargs={kwarg: obj.pk})
    missing_url = reverse(url_name, kwargs={kwarg: MISSING_ID})
    for label, client in _other_tenant_clients(world, url_name, url, read_key=True).items():
        for method in ALL_METHODS:
            foreign = _call(client, url_name, url, method, body)
            missing = _call(client, url_name, missing_url, method, body)
            where = f"{method} {url} as {label}"
            assert _answer(foreign) == _answer(missing), where
            # OPTIONS describes the endpoint (the same for any id), anything else must fail.
            assert method == "OPTIONS" or not 200 <= foreign.status_code < 300, where
    assert model_to_dict(model.objects.get(pk=obj.pk)) == before, "a refused request changed it"


@pytest.mark.django_db
@pytest.mark.parametrize("url_name", sorted(LIST_URLS))
def test_lists_never_show_another_tenants_rows(world, url_name):
    model = LIST_URLS[url_name]
    foreign_ids = {make(model, world.tenant_a).pk for _ in range(2)}
    url = reverse(url_name)
    for label, client in _other_tenant_clients(world, url_name, url, read_key=True).items():
        response = client.get(url)
        if label == "tenant B's read key" and response.status_code == 403:
            continue  # an admin-scoped list refuses a read key outright: nothing shown
        assert response.status_code == 200, label
        body = response.json()
        rows = body["results"] if isinstance(body, dict) else body
        assert not foreign_ids & {row.get("id") for row in rows}, label


@pytest.mark.django_db
@pytest.mark.parametrize("model", _tenant_models(), ids=lambda m: m.__name__)
def test_for_tenant_returns_only_the_tenants_rows(world, model):
    mine = make(model, world.tenant_a)
    theirs = make(model, world.tenant_b)
    scoped = set(model.objects.for_tenant(world.tenant_b).values_list("pk", flat=True))
    assert theirs.pk in scoped and mine.pk not in scoped


def test_tenant_owned_models_are_queried_only_through_services_and_selectors():
    names = "|".join(m.__name__ for m in _tenant_models())
    direct_query = re.compile(rf"\b({names})\.objects\b")
    offenders = []
    for app_dir in APP_DIRS:
        for path in (PROJECT_ROOT / app_dir).rglob("*.py"):
            relative = path.relative_to(PROJECT_ROOT).as_posix()
            if QUERY_MODULES.search(relative):
                continue
            for number, line in enumerate(path.read_text().splitlines(), start=1):
                if direct_query.search(line):
                    offenders.append(f"{relative}:{number}: {line.strip()}")
    assert not offenders, "query through a selector or service instead:\n" + "\n".join(offenders)


def test_the_query_check_catches_a_direct_query():
    names = "|".join(m.__name__ for m in _tenant_models())
    assert re.search(rf"\b({names})\.objects\b", "rows = Membership.objects.all()")


def _has_reason(call: ast.AST) -> bool:
    """`call` is `all_tenants(reason="...")` with a literal, non-blank reason."""
    return isinstance(call, ast.Call) and any(
        keyword.arg == "reason" and isinstance(keyword.value, ast.Constant)
        and isinstance(keyword.value.value, str) and keyword.value.value.strip()
        for keyword in call.keywords)


def _unscoped_queries(source: str, names: set[str]) -> list[int]:
    """Lines where `<tenant model>.objects` is followed by anything but a scoped entry."""
    tree = ast.parse(source)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    lines = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and node.attr == "objects"
                and isinstance(node.value, ast.Name) and node.value.id in names):
            continue
        entry = parents.get(node)
        method = entry.attr if isinstance(entry, ast.Attribute) else None
        if method in INSERTS or method in {"for_tenant", "locked_for_tenant"}:
            continue
        if method == "all_tenants" and _has_reason(parents.get(entry)):
            continue
        lines.append(node.lineno)
    return sorted(lines)


def test_services_and_selectors_scope_every_tenant_owned_query():
    names = {m.__name__ for m in _tenant_models()}
    offenders = []
    for app_dir in APP_DIRS:
        for path in (PROJECT_ROOT / app_dir).rglob("*.py"):
            relative = path.relative_to(PROJECT_ROOT).as_posix()
            if not SCOPED_QUERY_MODULES.search(relative):
                continue
            source = path.read_text()
            offenders += [f"{relative}:{number}: {source.splitlines()[number - 1].strip()}"
                          for number in _unscoped_queries(source, names)]
    assert not offenders, ("start with .for_tenant(tenant), .locked_for_tenant(tenant, pk) or "
                           ".all_tenants(reason=\"why\"):\n" + "\n".join(offenders))


def test_the_scoping_check_catches_a_direct_query_in_a_service():
    assert SCOPED_QUERY_MODULES.search("trading/services/bots.py")
    direct = "def bot_pause(*, tenant, bot_id):\n    return Bot.objects.filter(pk=bot_id).get()\n"
    assert _unscoped_queries(direct, {"Bot"}) == [2]
    unreasoned = "rows = Bot.objects.all_tenants(reason='  ')\n"
    assert _unscoped_queries(unreasoned, {"Bot"}) == [1]
    scoped = ("a = Bot.objects.for_tenant(tenant).filter(pk=bot_id)\n"
              "b = Bot.objects.locked_for_tenant(tenant, bot_id)\n"
              "c = Bot.objects.all_tenants(reason='the scheduler ticks every tenant')\n"
              "d = Bot.objects.create(tenant=tenant, name='x')\n")
    assert _unscoped_queries(scoped, {"Bot"}) == []
