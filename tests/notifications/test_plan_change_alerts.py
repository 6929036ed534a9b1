"""A plan change (billing, a trial ending, staff) is announced to the tenant's linked chats."""
from __future__ import annotations

import pytest

from notifications.models import NotificationSettings
from tenants.billing.services import plan_change
from tests.notifications.conftest import CHATS, link_chat


@pytest.fixture
def linked(cast, fake_telegram):
    for name in CHATS:
        link_chat(cast, name)
    return cast


def _plan_alerts(fake, chat_id: int) -> list[str]:
    return [t for t in fake.texts(chat_id) if t.startswith("💳")]


@pytest.mark.django_db
def test_a_downgrade_is_announced_once_to_every_linked_chat_of_the_tenant(
        linked, fake_telegram, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        plan_change(tenant=linked.tenant_a, plan="free", reason="subscription cancelled")
    [text] = _plan_alerts(fake_telegram, CHATS["alice"])
    assert "from the Pro plan to the Free plan (subscription cancelled)" in text
    assert "nothing was sold" in text
    assert _plan_alerts(fake_telegram, CHATS["charlie"]) == []


@pytest.mark.django_db
def test_plan_alerts_can_be_switched_off(linked, fake_telegram,
                                         django_capture_on_commit_callbacks):
    NotificationSettings.objects.for_tenant(linked.tenant_a).update_or_create(
        tenant=linked.tenant_a, defaults={"billing": False})
    with django_capture_on_commit_callbacks(execute=True):
        plan_change(tenant=linked.tenant_a, plan="free", reason="trial ended")
    assert _plan_alerts(fake_telegram, CHATS["alice"]) == []
