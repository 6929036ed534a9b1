"""/ws/live: refusals reach the client as close codes, and access ends when the grant does.

Each case is driven through the real ASGI stack (origin check, session/key resolution,
consumer, hub): a socket that was allowed in is closed within seconds of its key being
revoked, its member removed or demoted, or its session logged out.
"""
from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings as django_settings
from django.test import Client

from dashboard.consumers import (
    CLOSE_ACCESS_CHANGED,
    CLOSE_FORBIDDEN,
    CLOSE_NOT_FOUND,
    CLOSE_UNAUTHENTICATED,
    LiveConsumer,
)
from tenants.events import publish_now
from tenants.models import Membership, Role
from tenants.services import api_key_revoke, membership_change_role, membership_remove
from tests.base import owner_actor
from tests.live import WAIT_SECONDS, live_communicator, next_close_code

pytestmark = pytest.mark.django_db(transaction=True)
publish = sync_to_async(publish_now)




def _session_cookie(user) -> tuple[str, Client]:
    client = Client()
    client.force_login(user)
    session = client.session
    session["tenant_id"] = Membership.objects.filter(user=user).first().tenant_id
    session.save()
    name = django_settings.SESSION_COOKIE_NAME
    return f"{name}={client.cookies[name].value}", client


def run(coroutine_function):
    return async_to_sync(coroutine_function)()


@pytest.mark.parametrize("case, expected", [
    ("no credential", CLOSE_UNAUTHENTICATED),
    ("unknown bot", CLOSE_NOT_FOUND),
])
def test_a_refusal_is_accepted_then_closed_with_its_code(world, case, expected):
    """A browser sees the documented code, not an HTTP 403 at the handshake."""
    async def scenario():
        if case == "no credential":
            communicator = live_communicator()
        else:
            communicator = live_communicator(path="/ws/live?bot=999999", key=world.read_key_a)
        connected, _ = await communicator.connect()
        assert connected, "the handshake must be accepted so the close code reaches the client"
        assert await next_close_code(communicator) == expected
    run(scenario)


def test_a_key_without_the_read_scope_is_closed_as_forbidden(world):
    from tenants.services import api_key_issue
    _, export_key = api_key_issue(tenant=world.tenant_a, actor=owner_actor(world.tenant_a),
                                  name="export only", scopes=["export"])

    async def scenario():
        communicator = live_communicator(key=export_key)
        assert (await communicator.connect())[0]
        assert await next_close_code(communicator) == CLOSE_FORBIDDEN
    run(scenario)


def test_revoking_a_key_closes_its_open_socket(world):
    owner, key_id = owner_actor(world.tenant_a), world.key_row(world.read_key_a).pk

    async def scenario():
        communicator = live_communicator(key=world.read_key_a)
        assert (await communicator.connect())[0]
        await sync_to_async(api_key_revoke)(tenant=world.tenant_a, actor=owner, key_id=key_id)
        assert await next_close_code(communicator) == CLOSE_UNAUTHENTICATED
    run(scenario)


def test_removing_a_member_closes_their_sockets(world):
    cookie, _ = _session_cookie(world.bob)
    bob = Membership.objects.get(tenant=world.tenant_a, user=world.bob)
    owner = owner_actor(world.tenant_a)

    async def scenario():
        communicator = live_communicator(cookie=cookie)
        assert (await communicator.connect())[0]
        await sync_to_async(membership_remove)(tenant=world.tenant_a, actor=owner,
                                               membership_id=bob.pk)
        assert await next_close_code(communicator) == CLOSE_UNAUTHENTICATED
    run(scenario)


def test_logging_out_closes_the_sessions_sockets(world):
    cookie, client = _session_cookie(world.bob)

    async def scenario():
        communicator = live_communicator(cookie=cookie)
        assert (await communicator.connect())[0]
        await sync_to_async(client.post)("/accounts/logout/")
        assert await next_close_code(communicator) == CLOSE_UNAUTHENTICATED
    run(scenario)


def test_demoting_a_member_closes_their_socket_so_it_reconnects_with_the_new_role(world):
    cookie, _ = _session_cookie(world.bob)
    bob = Membership.objects.get(tenant=world.tenant_a, user=world.bob)
    Membership.objects.filter(pk=bob.pk).update(role=Role.TRADER)
    owner = owner_actor(world.tenant_a)

    async def scenario():
        communicator = live_communicator(cookie=cookie)
        assert (await communicator.connect())[0]
        await sync_to_async(membership_change_role)(tenant=world.tenant_a, actor=owner,
                                                    membership_id=bob.pk, role=Role.VIEWER)
        assert await next_close_code(communicator) == CLOSE_ACCESS_CHANGED
    run(scenario)


def test_other_sockets_of_the_tenant_stay_open(world):
    owner, key_id = owner_actor(world.tenant_a), world.key_row(world.read_key_a).pk

    async def scenario():
        kept = live_communicator(key=world.control_key_a)
        revoked = live_communicator(key=world.read_key_a)
        assert (await kept.connect())[0] and (await revoked.connect())[0]
        await sync_to_async(api_key_revoke)(tenant=world.tenant_a, actor=owner, key_id=key_id)
        assert await next_close_code(revoked) == CLOSE_UNAUTHENTICATED
        await publish(world.tenant_a.pk, "tick", None, {"still": "here"})
        event = await kept.receive_json_from(timeout=WAIT_SECONDS)
        assert event["data"] == {"still": "here"}
        await kept.disconnect()
    run(scenario)


def test_the_periodic_recheck_closes_a_socket_whose_key_expired(world, settings):
    """Without any push (an expiry, or a lost message), the re-check still ends access."""
    settings.AITRADER_WS_RECHECK_SECONDS = 0.2
    from tenants.models import ApiKey
    expiring = ApiKey.objects.filter(pk=world.key_row(world.read_key_a).pk)

    async def scenario():
        communicator = live_communicator(key=world.read_key_a)
        assert (await communicator.connect())[0]
        await sync_to_async(expiring.update)(expires_at="2020-01-01T00:00Z")
        assert await next_close_code(communicator, timeout=WAIT_SECONDS) == CLOSE_UNAUTHENTICATED
    run(scenario)


def test_a_text_frame_that_is_not_json_gets_an_error_frame_and_frees_nothing_it_holds(world):
    async def scenario():
        communicator = live_communicator(key=world.read_key_a)
        assert (await communicator.connect())[0]
        await communicator.send_to(text_data="this is not json")
        reply = await communicator.receive_json_from(timeout=WAIT_SECONDS)
        assert reply["type"] == "error" and "JSON" in reply["data"]["message"]
        await communicator.send_json_to({"type": "ping"})
        assert (await communicator.receive_json_from(timeout=WAIT_SECONDS))["type"] == "pong"
        await communicator.disconnect()
    run(scenario)


def test_slots_are_released_when_the_consumer_fails(world, settings):
    """A socket that dies on an unexpected error still gives its slot back."""
    settings.AITRADER_WS_MAX_PER_USER = 1

    async def boom(self, content, **kwargs):
        raise RuntimeError("unexpected")

    async def scenario():
        first = live_communicator(key=world.read_key_a)
        assert (await first.connect())[0]
        original = LiveConsumer.receive_json
        LiveConsumer.receive_json = boom
        try:
            await first.send_json_to({"type": "ping"})
            # The consumer dies of it (the server closes the socket with 1011): wait for the
            # application to end, not for an output it will never send.
            with pytest.raises(RuntimeError):
                await first.wait(timeout=WAIT_SECONDS)
        finally:
            LiveConsumer.receive_json = original
        second = live_communicator(key=world.read_key_a)
        assert (await second.connect())[0]
        await second.send_json_to({"type": "ping"})
        assert (await second.receive_json_from(timeout=WAIT_SECONDS))["type"] == "pong"
        await second.disconnect()
    run(scenario)


@pytest.mark.parametrize("origin", [b"http://testserver:9999", b"https://testserver",
                                    b"http://testserver.evil.example"])
def test_the_origin_must_match_scheme_host_and_port(world, origin):
    async def scenario():
        communicator = live_communicator(key=world.read_key_a, origin=(b"origin", origin))
        connected, _ = await communicator.connect()
        assert not connected
    run(scenario)
