"""Schemathesis against /api/v1/schema/ on a live server, with both tenants' keys.

Every operation of the OpenAPI document gets generated requests, valid and invalid, as
tenant A (on A's own objects) and as tenant B (aimed at A's objects): no request may end in a
server error, and no request with B's key may succeed on, or list, anything of A's.
Bounded: a few examples per operation and mode, so the whole run takes well under a minute.
"""
from __future__ import annotations

import os

import pytest
import schemathesis
from django.urls import resolve
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from tenants.services import api_key_issue
from tests.base import owner_actor
from tests.factories import make
from tests.test_isolation import LIST_URLS, OBJECT_URLS

# A deeper run: AITRADER_FUZZ_EXAMPLES=200 (and AITRADER_FUZZ_SEED to vary the examples).
EXAMPLES_PER_MODE = int(os.environ.get("AITRADER_FUZZ_EXAMPLES", "8"))
FUZZ_SEED = os.environ.get("AITRADER_FUZZ_SEED")
ALL_SCOPES = ["admin", "read", "control", "export"]
# Strings only tenant A's data holds: B's answers must never contain them.
MARKERS_OF_A = (b"tenant-a", b"alice@example.com", b"bob@example.com")
pytestmark = pytest.mark.django_db(transaction=True)  # the live server must see the rows


def _route_of(operation) -> str:
    """The URL name of an operation (its path template with a sample id)."""
    return resolve(operation.path.replace("{id}", "1")).view_name


@pytest.fixture
def fuzz_world(world):
    """Two objects of every tenant-owned kind in A, and an all-scopes key per tenant."""
    models = {entry[0] for entry in OBJECT_URLS.values()} | set(LIST_URLS.values())
    ids_of_a = {model: [make(model, world.tenant_a).pk for _ in range(2)] for model in models}
    keys = {tenant.slug: api_key_issue(tenant=tenant, actor=owner_actor(tenant), name="fuzz",
                                       scopes=ALL_SCOPES)[1]
            for tenant in (world.tenant_a, world.tenant_b)}
    return ids_of_a, keys


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _cross_tenant_success(case, response, route: str, ids_of_a: dict) -> str | None:
    """Why B's answer reveals or touches A's data, or None."""
    if any(marker in response.content for marker in MARKERS_OF_A):
        return "tenant A's data in tenant B's answer"
    model = OBJECT_URLS.get(route, (None,))[0]
    target = case.path_parameters.get("id") if case.path_parameters else None
    if model is not None and target in ids_of_a[model] and 200 <= response.status_code < 300:
        return f"tenant B got {response.status_code} on tenant A's {model.__name__} {target}"
    listed = LIST_URLS.get(route)
    if listed is not None and response.status_code == 200 and case.method == "GET":
        rows = response.json()
        rows = rows.get("results", []) if isinstance(rows, dict) else rows
        if {row.get("id") for row in rows if isinstance(row, dict)} & set(ids_of_a[listed]):
            return f"tenant B's list shows tenant A's {listed.__name__}"
    return None


def _fuzz(operation, mode, ids_of_a, keys) -> None:
    route = _route_of(operation)
    model = OBJECT_URLS.get(route, (None,))[0]

    @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
    @settings(max_examples=EXAMPLES_PER_MODE, deadline=None, derandomize=FUZZ_SEED is None,
              database=None,
              phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck))
    def run(case, data):
        if model is not None and case.path_parameters and data.draw(st.booleans()):
            case.path_parameters["id"] = data.draw(st.sampled_from(ids_of_a[model]))
        as_a = case.call(headers=_bearer(keys["tenant-a"]))
        assert as_a.status_code < 500, f"{case.method} {case.formatted_path}: {as_a.text[:300]}"
        as_b = case.call(headers=_bearer(keys["tenant-b"]))
        assert as_b.status_code < 500, f"{case.method} {case.formatted_path}: {as_b.text[:300]}"
        leak = _cross_tenant_success(case, as_b, route, ids_of_a)
        assert leak is None, f"{case.method} {case.formatted_path}: {leak}"

    if FUZZ_SEED is not None:
        run = seed(int(FUZZ_SEED))(run)
    run()


def test_no_server_errors_and_no_cross_tenant_success(live_server, fuzz_world):
    ids_of_a, keys = fuzz_world
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/v1/schema/")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20, "the whole API is documented and fuzzed"
    for operation in operations:
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            _fuzz(operation, mode, ids_of_a, keys)
