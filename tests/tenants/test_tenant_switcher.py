"""The tenant switcher: users in several tenants choose which one they act in."""
from __future__ import annotations

import pytest

from tenants.models import Membership, Role, Tenant
from tenants.services import tenant_create

SWITCH = "/accounts/switch/"
ME = "/api/v1/me/"


@pytest.fixture
def alice_in_two(world):
    """alice owns A and is a trader in B; charlie also owns tenant C, where alice is not."""
    Membership.objects.create(tenant=world.tenant_b, user=world.alice, role=Role.TRADER)
    tenant_c = tenant_create(name="Tenant C", slug="tenant-c", owner=world.charlie)
    client = world.client_for(world.alice)
    return client, tenant_c


def test_it_switches_to_another_tenant_of_the_user(world, alice_in_two):
    client, _tenant_c = alice_in_two
    assert client.get(ME).json()["tenant"]["slug"] == "tenant-a"
    response = client.post(SWITCH, {"tenant": world.tenant_b.pk})
    assert response.status_code == 302
    me = client.get(ME).json()
    assert me["tenant"]["slug"] == "tenant-b"
    assert me["role"] == "trader"


def test_it_ignores_a_tenant_the_user_does_not_belong_to(world, alice_in_two):
    client, tenant_c = alice_in_two
    client.post(SWITCH, {"tenant": world.tenant_b.pk})
    client.post(SWITCH, {"tenant": tenant_c.pk})
    assert client.get(ME).json()["tenant"]["slug"] == "tenant-b"


@pytest.mark.parametrize("value", ["", "abc", "999999", "-1"])
def test_it_ignores_a_bad_tenant_value(world, alice_in_two, value):
    client, _tenant_c = alice_in_two
    client.post(SWITCH, {"tenant": world.tenant_b.pk})
    response = client.post(SWITCH, {"tenant": value})
    assert response.status_code == 302
    assert client.get(ME).json()["tenant"]["slug"] == "tenant-b"


def test_it_never_lets_a_single_tenant_user_into_another_tenant(world):
    client = world.client_for(world.bob)
    client.post(SWITCH, {"tenant": world.tenant_b.pk})
    me = client.get(ME).json()
    assert me["tenant"]["slug"] == "tenant-a"
    assert me["role"] == "viewer"


def test_it_falls_back_when_the_chosen_tenant_is_suspended(world, alice_in_two):
    client, _tenant_c = alice_in_two
    client.post(SWITCH, {"tenant": world.tenant_b.pk})
    Tenant.objects.filter(pk=world.tenant_b.pk).update(status=Tenant.Status.SUSPENDED)
    assert client.get(ME).json()["tenant"]["slug"] == "tenant-a"


def test_it_lists_only_the_users_tenants_in_the_switcher(world, alice_in_two):
    client, _tenant_c = alice_in_two
    page = client.get("/").content.decode()
    assert f'value="{world.tenant_a.pk}"' in page
    assert f'value="{world.tenant_b.pk}"' in page
    assert "Tenant C" not in page


def test_a_switch_by_get_changes_nothing_and_leads_to_the_overview(world, alice_in_two):
    client, _tenant_c = alice_in_two
    response = client.get(SWITCH, {"tenant": world.tenant_b.pk})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get(ME).json()["tenant"]["slug"] == "tenant-a"


def test_it_requires_sign_in_to_switch(world, client):
    response = client.post(SWITCH, {"tenant": world.tenant_b.pk})
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
