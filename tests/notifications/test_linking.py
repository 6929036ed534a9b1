"""Linking a chat with a one-time code: /start <code>, expiry, reuse, other tenants."""
from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from aitrader.errors import Forbidden, ValidationFailed
from notifications import services
from notifications.models import TelegramLink, TelegramLinkCode
from tenants.actors import Actor
from tenants.models import AuditEvent, Membership
from tests.notifications.conftest import CHATS, ask, issue_code, link_chat

pytestmark = pytest.mark.django_db


def test_it_links_a_chat_to_the_codes_tenant_and_member(cast, fake_telegram):
    code = issue_code(cast.tenant_a, cast.tina)
    reply = ask(fake_telegram, CHATS["tina"], f"/start {code}")
    assert "Linked to Tenant A as tina@example.com" in reply
    link = TelegramLink.objects.get(chat_id=CHATS["tina"], active=True)
    assert (link.tenant_id, link.user_id) == (cast.tenant_a.pk, cast.tina.pk)
    assert link.telegram_user_id == CHATS["tina"]
    assert AuditEvent.objects.filter(tenant=cast.tenant_a, action="telegram.link",
                                     via="telegram", actor_user=cast.tina).exists()


def test_it_stores_only_a_hash_of_a_code_of_at_least_128_bits(cast):
    row, code = services.link_code_issue(tenant=cast.tenant_a,
                                         actor=Actor.system(cast.tenant_a), user=cast.tina)
    assert len(code) >= 22  # 160 random bits, URL-safe base64
    assert code not in row.code_hash and len(row.code_hash) == 64
    assert row.expires_at - row.created_at == timedelta(minutes=10)


def test_it_refuses_an_expired_code(cast, fake_telegram):
    code = issue_code(cast.tenant_a, cast.tina)
    with time_machine.travel(timezone.now() + timedelta(minutes=10, seconds=1)):
        reply = ask(fake_telegram, CHATS["tina"], f"/start {code}")
    assert "not valid" in reply
    assert not TelegramLink.objects.filter(chat_id=CHATS["tina"]).exists()


def test_it_accepts_a_code_just_before_it_expires(cast, fake_telegram):
    code = issue_code(cast.tenant_a, cast.tina)
    with time_machine.travel(timezone.now() + timedelta(minutes=9, seconds=50)):
        assert "Linked to Tenant A" in ask(fake_telegram, CHATS["tina"], f"/start {code}")


def test_a_code_works_once(cast, fake_telegram):
    code = issue_code(cast.tenant_a, cast.tina)
    ask(fake_telegram, CHATS["tina"], f"/start {code}")
    reply = ask(fake_telegram, 5555, f"/start {code}")
    assert "not valid" in reply
    assert not TelegramLink.objects.filter(chat_id=5555).exists()
    assert TelegramLinkCode.objects.get().used_by_chat_id == CHATS["tina"]


def test_an_unknown_code_gets_the_same_answer_as_an_expired_one(cast, fake_telegram):
    reply = ask(fake_telegram, 5555, "/start not-a-real-code")
    assert "not valid" in reply
    assert TelegramLink.objects.count() == 0


def test_a_code_never_links_a_chat_to_another_tenant(cast, fake_telegram):
    # Tina's chat is linked to A; charlie's code for B cannot move it or add B to it.
    link_chat(cast, "tina")
    code_b = issue_code(cast.tenant_b, cast.world.charlie)
    reply = ask(fake_telegram, CHATS["tina"], f"/start {code_b}")
    assert "already linked to another workspace" in reply
    assert list(TelegramLink.objects.filter(chat_id=CHATS["tina"], active=True)
                .values_list("tenant_id", flat=True)) == [cast.tenant_a.pk]
    # The refused code is still good for a chat of B's own.
    assert "Linked to Tenant B" in ask(fake_telegram, CHATS["charlie"], f"/start {code_b}")


def test_a_code_links_only_to_the_tenant_it_was_made_in(cast, fake_telegram):
    code_b = issue_code(cast.tenant_b, cast.world.charlie)
    ask(fake_telegram, 7777, f"/start {code_b}")
    link = TelegramLink.objects.get(chat_id=7777)
    assert link.tenant_id == cast.tenant_b.pk
    assert "Tenant B" in ask(fake_telegram, 7777, "/status")


def test_an_admin_cannot_mint_a_code_for_someone_outside_the_tenant(cast):
    adam = Membership.objects.get(user=cast.adam)
    with pytest.raises(ValidationFailed, match="not a member"):
        services.link_code_issue(tenant=cast.tenant_a, actor=Actor.for_member(adam),
                                 user=cast.world.charlie)


@pytest.mark.parametrize("name", ["bob", "tina"])
def test_only_admins_and_owners_mint_codes(cast, name):
    membership = Membership.objects.get(user=cast.user(name))
    with pytest.raises(Forbidden):
        services.link_code_issue(tenant=cast.tenant_a, actor=Actor.for_member(membership))


def test_a_code_of_a_member_removed_since_is_refused(cast, fake_telegram):
    code = issue_code(cast.tenant_a, cast.tina)
    Membership.objects.filter(user=cast.tina).delete()
    assert "can no longer use this workspace" in ask(fake_telegram, CHATS["tina"],
                                                     f"/start {code}")


def test_start_in_a_linked_chat_says_so(cast, fake_telegram):
    link_chat(cast, "tina")
    code = issue_code(cast.tenant_a, cast.tina)
    assert "already linked to this workspace" in ask(fake_telegram, CHATS["tina"],
                                                     f"/start {code}")


def test_it_links_a_group_and_names_it(cast, fake_telegram):
    code = issue_code(cast.tenant_a, cast.adam)
    ask(fake_telegram, -100500, f"/start@aitrader_test_bot {code}", user_id=CHATS["adam"],
        chat_type="supergroup", title="Desk")
    link = TelegramLink.objects.get(chat_id=-100500)
    assert (link.chat_title, link.chat_type, link.telegram_user_id) == (
        "Desk", "supergroup", CHATS["adam"])


def test_an_admin_unlinks_a_chat_and_it_stops_answering(cast, fake_telegram):
    link = link_chat(cast, "tina")
    adam = Membership.objects.get(user=cast.adam)
    services.link_unlink(tenant=cast.tenant_a, actor=Actor.for_member(adam), link_id=link.pk)
    assert "not linked" in ask(fake_telegram, CHATS["tina"], "/status")
    assert AuditEvent.objects.filter(action="telegram.unlink", actor_user=cast.adam).exists()


def test_removing_a_member_deactivates_their_chats(cast):
    link = link_chat(cast, "tina")
    Membership.objects.filter(user=cast.tina).delete()
    link.refresh_from_db()
    assert not link.active and link.deactivated_reason == "member left the workspace"


def test_after_unlinking_the_chat_can_be_linked_again(cast, fake_telegram):
    link = link_chat(cast, "tina")
    services.link_unlink(tenant=cast.tenant_a, actor=Actor.system(cast.tenant_a),
                         link_id=link.pk)
    code = issue_code(cast.tenant_a, cast.tina)
    assert "Linked to" in ask(fake_telegram, CHATS["tina"], f"/start {code}")



@pytest.mark.django_db(transaction=True)
def test_two_chats_racing_with_one_code_link_only_one(fake_telegram):
    import threading

    from django.db import connection

    from aitrader.errors import ServiceError
    from tests.base import build_world
    from tests.notifications.conftest import build_cast

    cast = build_cast(build_world())
    code = issue_code(cast.tenant_a, cast.tina)
    barrier, outcomes = threading.Barrier(2), []

    def redeem(chat_id: int) -> None:
        barrier.wait()
        try:
            services.link_redeem(code=code, chat=services.ChatInfo(chat_id=chat_id))
            outcomes.append("linked")
        except ServiceError:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=redeem, args=(chat,)) for chat in (61, 62)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(outcomes) == ["linked", "refused"]
    assert TelegramLink.objects.count() == 1
