"""Django admin: every tenants model has working pages, and secrets never show."""
from __future__ import annotations

import pyotp
import pytest
from django.apps import apps
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from tenants.models import ApiKey, AuditEvent, Invitation, Membership, User
from tenants.services import membership_invite, totp_begin
from tests.base import client_past_second_factor, owner_actor
from tests.factories import MODEL_FACTORIES, make

TENANTS_MODELS = list(apps.get_app_config("tenants").get_models())


@pytest.fixture
def staff(world) -> Client:
    """A superuser's browser, with one row of every tenants model in the database."""
    tenant = world.tenant_a
    tenant.plan = "team"
    tenant.save(update_fields=["plan"])
    membership_invite(tenant=tenant, actor=owner_actor(tenant), email="frank@example.com")
    for model in TENANTS_MODELS:  # models added later get their row from the shared factories
        if not model._default_manager.exists() and model in MODEL_FACTORIES:
            make(model, tenant)
    root = User.objects.create_superuser("root@example.com", "root-pass-phrase-1")
    return client_past_second_factor(root)  # admin needs the second factor of staff


def _object_of(model) -> object:
    return model._default_manager.order_by("pk").first()


def test_it_registers_every_tenants_model():
    missing = [m.__name__ for m in TENANTS_MODELS if not admin.site.is_registered(m)]
    assert missing == []


@pytest.mark.parametrize("model", TENANTS_MODELS, ids=lambda m: m.__name__)
def test_it_renders_the_changelist(staff, model):
    url = reverse(f"admin:tenants_{model._meta.model_name}_changelist")
    assert staff.get(url).status_code == 200
    assert staff.get(url, {"q": "example"}).status_code == 200


@pytest.mark.parametrize("model", TENANTS_MODELS, ids=lambda m: m.__name__)
def test_it_renders_the_change_page(staff, model):
    obj = _object_of(model)
    assert obj is not None, f"no {model.__name__} row to show"
    url = reverse(f"admin:tenants_{model._meta.model_name}_change", args=[obj.pk])
    response = staff.get(url)
    assert response.status_code == 200
    assert str(obj.pk) in response.content.decode()


@pytest.mark.parametrize("model", TENANTS_MODELS, ids=lambda m: m.__name__)
def test_it_applies_every_list_filter(staff, model):
    url = reverse(f"admin:tenants_{model._meta.model_name}_changelist")
    response = staff.get(url)
    for spec in response.context["cl"].filter_specs:
        for choice in spec.choices(response.context["cl"]):
            assert staff.get(url + choice["query_string"]).status_code == 200


def test_it_never_shows_api_key_hashes(staff, world):
    rows = list(ApiKey.objects.all())
    pages = [staff.get(reverse("admin:tenants_apikey_changelist")).content.decode()]
    pages += [staff.get(reverse("admin:tenants_apikey_change", args=[row.pk])).content.decode()
              for row in rows]
    for page in pages:
        for row in rows:
            assert row.key_hash not in page
    assert rows[0].prefix in pages[0]
    assert "key_hash" not in pages[1]


def test_it_does_not_let_staff_add_api_keys(staff):
    assert staff.get(reverse("admin:tenants_apikey_add")).status_code == 403


def test_it_keeps_the_key_hash_unchanged_when_staff_edit_a_key(staff, world):
    row = world.key_row(world.read_key_a)
    url = reverse("admin:tenants_apikey_change", args=[row.pk])
    response = staff.post(url, {"name": "renamed", "scopes": '["read"]',
                                "expires_at_0": "2099-01-01", "expires_at_1": "00:00:00",
                                "revoked_at_0": "", "revoked_at_1": ""})
    assert response.status_code == 302
    after = ApiKey.objects.get(pk=row.pk)
    assert after.name == "renamed"
    assert after.key_hash == row.key_hash


def test_it_never_shows_the_totp_secret_or_invitation_token_hash(staff, world):
    secret = totp_begin(user=world.alice)
    assert pyotp.TOTP(secret).now()
    user_page = staff.get(reverse("admin:tenants_user_change", args=[world.alice.pk]))
    assert secret not in user_page.content.decode()
    invitation = Invitation.objects.get()
    for url in (reverse("admin:tenants_invitation_changelist"),
                reverse("admin:tenants_invitation_change", args=[invitation.pk])):
        assert invitation.token_hash not in staff.get(url).content.decode()


def test_it_keeps_the_audit_log_read_only(staff, world):
    event = AuditEvent.objects.for_tenant(world.tenant_a).first()
    url = reverse("admin:tenants_auditevent_change", args=[event.pk])
    response = staff.post(url, {"action": "tampered"})
    assert response.status_code == 403
    assert AuditEvent.objects.get(pk=event.pk).action == event.action
    delete = reverse("admin:tenants_auditevent_delete", args=[event.pk])
    assert staff.post(delete, {"post": "yes"}).status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_it_renders_the_add_user_page(staff):
    assert staff.get(reverse("admin:tenants_user_add")).status_code == 200


def test_it_shows_members_inline_on_the_tenant_page(staff, world):
    page = staff.get(reverse("admin:tenants_tenant_change", args=[world.tenant_a.pk]))
    assert Membership.objects.for_tenant(world.tenant_a).count() == 2
    assert "bob@example.com" in page.content.decode()


def test_it_refuses_non_staff(world):
    client = Client()
    client.force_login(world.alice)
    response = client.get(reverse("admin:tenants_tenant_changelist"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
