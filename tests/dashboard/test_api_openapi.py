"""/api/v1/schema/ is a valid OpenAPI 3 document of every endpoint; /api/v1/docs/ renders from
local static files only, in a way the strict CSP lets run."""
from __future__ import annotations

import re

import pytest
from django.contrib.staticfiles import finders
from rest_framework.schemas.generators import EndpointEnumerator
from rest_framework.test import APIClient

SCHEMA = "/api/v1/schema/"
DOCS = "/api/v1/docs/"
NOT_DOCUMENTED = {"/api/v1/schema/", "/api/v1/docs/"}
# What the product promises; the enumeration below also catches anything added later.
PROMISED = {
    ("get", "/api/v1/bots/"), ("post", "/api/v1/bots/"), ("get", "/api/v1/bots/{id}/"),
    ("patch", "/api/v1/bots/{id}/"), ("post", "/api/v1/bots/{id}/pause/"),
    ("post", "/api/v1/bots/{id}/resume/"), ("post", "/api/v1/bots/{id}/close_all/"),
    ("get", "/api/v1/orders/"), ("get", "/api/v1/fills/"), ("get", "/api/v1/trades/"),
    ("get", "/api/v1/positions/"), ("get", "/api/v1/thoughts/"), ("get", "/api/v1/equity/"),
    ("get", "/api/v1/equity/portfolio/"), ("get", "/api/v1/backtests/"),
    ("post", "/api/v1/backtests/"), ("get", "/api/v1/backtests/{id}/"),
    ("get", "/api/v1/exchange-accounts/"), ("post", "/api/v1/exchange-accounts/"),
    ("get", "/api/v1/api-keys/"), ("post", "/api/v1/api-keys/"),
    ("post", "/api/v1/api-keys/{id}/revoke/"), ("get", "/api/v1/strategies/"),
    ("get", "/api/v1/export/trades.csv"), ("get", "/api/v1/me/"),
}
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


@pytest.fixture(scope="module")
def schema(django_db_blocker) -> dict:
    with django_db_blocker.unblock():
        response = APIClient().get(SCHEMA, {"format": "json"})
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("application/vnd.oai.openapi+json")
    return response.json()


def _routed_operations() -> set[tuple[str, str]]:
    operations = set()
    for path, method, _callback in EndpointEnumerator().get_api_endpoints():
        if path.startswith("/api/") and path not in NOT_DOCUMENTED:
            operations.add((method.lower(), path.replace("{pk}", "{id}")))
    return operations


def _documented_operations(schema: dict) -> set[tuple[str, str]]:
    return {(method, path) for path, item in schema["paths"].items()
            for method in item if method in HTTP_METHODS}


def test_it_is_a_valid_openapi_3_document(schema):
    try:
        from openapi_spec_validator import validate
    except ImportError:
        validate = None
    if validate is not None:
        validate(schema)
    assert re.match(r"^3\.\d+\.\d+$", schema["openapi"])
    assert schema["info"]["title"] == "aitrader API" and schema["info"]["version"]
    for path, item in schema["paths"].items():
        assert path.startswith("/api/v1/")
        for method, operation in item.items():
            if method in HTTP_METHODS:
                assert operation["responses"], (method, path)
                assert operation["operationId"]


def test_every_reference_resolves(schema):
    text = repr(schema)
    for name in set(re.findall(r"#/components/schemas/([A-Za-z0-9_.-]+)", text)):
        assert name in schema["components"]["schemas"], name


def test_operation_ids_are_unique(schema):
    ids = [operation["operationId"] for item in schema["paths"].values()
           for method, operation in item.items() if method in HTTP_METHODS]
    assert len(ids) == len(set(ids))


def test_it_lists_every_routed_endpoint_and_nothing_else(schema):
    assert _documented_operations(schema) == _routed_operations()


def test_it_lists_every_endpoint_the_product_promises(schema):
    assert PROMISED <= _documented_operations(schema)


def test_it_describes_both_key_headers_and_the_session(schema):
    schemes = schema["components"]["securitySchemes"]
    assert {"type": "http", "scheme": "bearer"}.items() <= schemes["bearerKey"].items()
    assert (schemes["headerKey"]["in"], schemes["headerKey"]["name"]) == ("header", "X-API-Key")
    assert schemes["session"]["in"] == "cookie"
    bots = schema["paths"]["/api/v1/bots/"]["get"]
    # Requirement objects are alternatives: either key header alone is enough.
    assert bots["security"] == [{"bearerKey": []}, {"headerKey": []}, {"session": []}]


def test_lists_document_their_filters_and_pagination(schema):
    params = {p["name"] for p in schema["paths"]["/api/v1/trades/"]["get"]["parameters"]}
    assert {"bot", "symbol", "status", "since", "until", "ordering", "limit", "offset"} <= params


# Components that carry a new secret, answered only when it is made (and never again).
SHOWN_ONCE = {"SignalHookCreated"}


def test_the_schema_never_mentions_a_hash_or_secret_field(schema):
    for name, component in schema["components"]["schemas"].items():
        properties = component.get("properties", {})
        assert not set(properties) & {"key_hash", "pepper_version", "credential_ref"}, name
        # A secret may only be sent (exchange credentials), never returned; the one exception
        # is the answer that creates it (a signal hook's secret, like a new API key), once.
        if name in SHOWN_ONCE:
            continue
        for field in set(properties) & {"secret", "api_key", "password"}:
            assert properties[field].get("writeOnly") is True, f"{name}.{field}"


def test_a_secret_shown_once_is_only_in_a_creation_answer(schema):
    answers = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for status, response in operation.get("responses", {}).items():
                refs = str(response.get("content", {}))
                if any(f"/{name}'" in refs for name in SHOWN_ONCE):
                    answers.append((path, method, status))
    assert answers  # the hook's creation answer is documented
    assert all((method, status) == ("post", "201") for _path, method, status in answers), answers
    created = schema["components"]["schemas"]["ApiKeyCreated"]["properties"]
    assert created["key"]["readOnly"] is True


# --- the docs page -----------------------------------------------------------------------------

@pytest.fixture
def docs(db):
    response = APIClient().get(DOCS)
    assert response.status_code == 200
    return response


def test_the_docs_page_renders_swagger_ui_pointing_at_the_schema(docs):
    html = docs.content.decode()
    assert "swagger-ui" in html
    assert SCHEMA in html or "?script" in html


def test_the_docs_page_loads_nothing_from_another_site(docs):
    html = docs.content.decode()
    assert not re.search(r"https?://", html), re.findall(r"https?://[^\"' ]+", html)
    assert not re.search(r"""(src|href)=["']//""", html)


def test_the_docs_assets_are_our_own_static_files(docs):
    html = docs.content.decode()
    assets = re.findall(r"""(?:src|href)=["']/static/([^"']+)["']""", html)
    assert any(asset.endswith(".js") for asset in assets)
    for asset in assets:
        assert finders.find(asset), asset


def test_the_docs_page_runs_under_the_strict_csp(docs):
    """script-src is 'self' + nonce: an inline script without the nonce would never run."""
    html = docs.content.decode()
    policy = docs["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", policy)
    for attributes, body in re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S):
        if body.strip():
            assert nonce and f'nonce="{nonce.group(1)}"' in attributes, attributes
        else:
            assert re.search(r"""src=["'](/|\?)""", attributes), attributes


def test_the_docs_script_is_served_as_javascript(docs):
    html = docs.content.decode()
    sources = [src for src in re.findall(r"""<script[^>]*src=["']([^"']+)["']""", html)
               if not src.startswith("/static/")]
    for src in sources:
        response = APIClient().get(src.replace("&amp;", "&"))
        assert response.status_code == 200
        assert "javascript" in response["Content-Type"]
        assert "SwaggerUIBundle" in response.content.decode()


# --- error responses and enums (schemathesis checks answers against these) --------------------

def _operations(schema: dict):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield method, path, operation


def test_every_operation_documents_its_error_responses_in_the_error_shape(schema):
    for method, path, operation in _operations(schema):
        expected = {"400", "401", "403", "429"} | ({"404"} if "{id}" in path else set())
        documented = operation["responses"]
        assert expected <= set(documented), (method, path, expected - set(documented))
        for status in expected:
            content = documented[status]["content"]["application/json"]
            assert content["schema"] == {"$ref": "#/components/schemas/Error"}, (method, path)
    error = schema["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    assert set(error["properties"]["error"]["required"]) == {"code", "message"}


def _enum_values(schema: dict, node: dict) -> set:
    """Every value an enum-typed property may take, through $ref / allOf / oneOf / anyOf."""
    if "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    values = set(node.get("enum", []))
    for key in ("allOf", "oneOf", "anyOf"):
        for part in node.get(key, []):
            values |= _enum_values(schema, part)
    return values


def test_reconcile_status_lists_every_value_the_api_returns(schema):
    from trading.models import ReconcileStatus

    prop = schema["components"]["schemas"]["ExchangeAccount"]["properties"]["reconcile_status"]
    # Every outcome of a reconciliation, and "" for an account never reconciled.
    assert _enum_values(schema, prop) == {*ReconcileStatus.values, ""}
    assert "ReconcileStatusEnum" in schema["components"]["schemas"]
