"""Telegram fixtures: the Bot API stand-in, a cast with every role, linked chats, a sender.

Tenant A: alice (owner), adam (admin), tina (trader), bob (viewer). Tenant B: charlie (owner).
Each member's private chat id is fixed so tests read naturally (`CHATS["tina"]`).
"""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from notifications import handlers, services
from notifications.models import TelegramLink
from tenants.actors import Actor
from tenants.models import Membership, Role, Tenant, User
from tests.base import World, make_user
from tests.fakes.telegram import FakeTelegram, fake_telegram, fake_telegram_server  # noqa: F401

CHATS = {"alice": 1001, "adam": 1002, "tina": 1003, "bob": 1004, "charlie": 2001}


@dataclass
class Cast:
    """The shared World plus an admin and a trader in tenant A."""

    world: World
    adam: User
    tina: User

    @property
    def tenant_a(self) -> Tenant:
        return self.world.tenant_a

    @property
    def tenant_b(self) -> Tenant:
        return self.world.tenant_b

    def user(self, name: str) -> User:
        return getattr(self, name, None) or getattr(self.world, name)

    def tenant_of(self, name: str) -> Tenant:
        return self.tenant_b if name == "charlie" else self.tenant_a


def build_cast(world: World) -> Cast:
    adam, tina = make_user("adam@example.com"), make_user("tina@example.com")
    Membership.objects.create(tenant=world.tenant_a, user=adam, role=Role.ADMIN)
    Membership.objects.create(tenant=world.tenant_a, user=tina, role=Role.TRADER)
    return Cast(world=world, adam=adam, tina=tina)


@pytest.fixture
def cast(world) -> Cast:
    return build_cast(world)


@pytest.fixture
def linked(cast, fake_telegram) -> Cast:  # noqa: F811
    """Every member of A and charlie of B has a linked private chat."""
    for name in CHATS:
        link_chat(cast, name)
    return cast


def issue_code(tenant: Tenant, user: User) -> str:
    """A fresh link code for `user` in `tenant`, minted like the CLI does."""
    return services.link_code_issue(tenant=tenant, actor=Actor.system(tenant, via="test"),
                                    user=user)[1]


def link_chat(cast: Cast, name: str, chat_id: int | None = None) -> TelegramLink:
    """Link `name`'s private chat through the real redeem service."""
    chat_id = chat_id or CHATS[name]
    code = issue_code(cast.tenant_of(name), cast.user(name))
    return services.link_redeem(code=code, chat=services.ChatInfo(
        chat_id=chat_id, telegram_user_id=chat_id, telegram_username=name))


def send(fake: FakeTelegram, update: dict) -> None:
    """Deliver one update to the bot the way the webhook does (real PTB, fresh Application)."""
    handlers.process_update(update)


def ask(fake: FakeTelegram, chat_id: int, text: str, **kwargs) -> str:
    """Send a command from `chat_id` and return the bot's reply text (exactly one reply)."""
    before = len(fake.texts(chat_id))
    send(fake, fake.command(chat_id, text, **kwargs))
    replies = fake.texts(chat_id)[before:]
    assert len(replies) == 1, f"expected one reply to {text!r}, got {replies}"
    return replies[0]
