"""/ws/live through the real ASGI stack: origin check, auth, tenant isolation, resume."""
from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings as django_settings

from tenants.events import publish_now
from tests.factories import make
from tests.live import live_communicator, refusal_code
from trading.models import Bot

pytestmark = pytest.mark.django_db(transaction=True)




publish = sync_to_async(publish_now)


def run(coroutine_function):
    return async_to_sync(coroutine_function)()


def test_it_refuses_a_connection_without_credentials(world):
    async def scenario():
        communicator = live_communicator()
        assert await refusal_code(communicator) == 4401
    run(scenario)


def test_it_refuses_a_foreign_origin(world):
    async def scenario():
        communicator = live_communicator(key=world.read_key_a,
                                     origin=(b"origin", b"http://evil.example"))
        connected, _ = await communicator.connect()
        assert not connected
    run(scenario)


def test_it_refuses_a_key_in_the_query_string(world):
    async def scenario():
        communicator = live_communicator(path=f"/ws/live?key={world.read_key_a}")
        assert await refusal_code(communicator) == 4401
    run(scenario)


def test_a_key_receives_its_tenants_events_and_never_another_tenants(world):
    async def scenario():
        communicator = live_communicator(key=world.read_key_a)
        assert (await communicator.connect())[0]
        await publish(world.tenant_b.pk, "tick", None, {"secret": "of B"})
        await publish(world.tenant_a.pk, "tick", None, {"hello": "A"})
        event = await communicator.receive_json_from(timeout=2)
        assert event["data"] == {"hello": "A"} and event["type"] == "tick"
        assert {"type", "ts", "bot", "data", "seq"} <= set(event)
        assert await communicator.receive_nothing(timeout=0.2)
        await communicator.disconnect()
    run(scenario)


def test_a_session_cookie_authenticates_a_browser(world, client):
    client.force_login(world.alice)
    name = django_settings.SESSION_COOKIE_NAME
    cookie = f"{name}={client.cookies[name].value}"

    async def scenario():
        communicator = live_communicator(cookie=cookie)
        assert (await communicator.connect())[0]
        await publish(world.tenant_a.pk, "status", None, {"ok": True})
        assert (await communicator.receive_json_from(timeout=2))["data"] == {"ok": True}
        await communicator.disconnect()
    run(scenario)


def test_the_bot_filter_passes_only_that_bot_and_tenant_wide_events(world):
    bot = make(Bot, world.tenant_a)
    other = make(Bot, world.tenant_a)

    async def scenario():
        communicator = live_communicator(path=f"/ws/live?bot={bot.pk}", key=world.read_key_a)
        assert (await communicator.connect())[0]
        await publish(world.tenant_a.pk, "tick", other.pk, {"n": 1})
        await publish(world.tenant_a.pk, "tick", bot.pk, {"n": 2})
        assert (await communicator.receive_json_from(timeout=2))["data"] == {"n": 2}
        await communicator.disconnect()
    run(scenario)


def test_another_tenants_bot_filter_is_refused_as_not_found(world):
    foreign = make(Bot, world.tenant_b)

    async def scenario():
        communicator = live_communicator(path=f"/ws/live?bot={foreign.pk}", key=world.read_key_a)
        assert await refusal_code(communicator) == 4404
    run(scenario)


def test_a_dropped_client_resumes_from_its_last_sequence_number(world):
    publish_now(world.tenant_a.pk, "tick", None, {"n": 1})
    publish_now(world.tenant_a.pk, "tick", None, {"n": 2})
    publish_now(world.tenant_a.pk, "tick", None, {"n": 3})

    async def scenario():
        communicator = live_communicator(key=world.read_key_a)
        assert (await communicator.connect())[0]
        await communicator.send_json_to({"type": "resume", "since": 1})
        first = await communicator.receive_json_from(timeout=2)
        second = await communicator.receive_json_from(timeout=2)
        assert [first["data"]["n"], second["data"]["n"]] == [2, 3]
        assert second["seq"] == first["seq"] + 1
        await communicator.disconnect()
    run(scenario)


def test_connections_beyond_the_per_user_limit_are_refused(world, settings):
    settings.AITRADER_WS_MAX_PER_USER = 1

    async def scenario():
        first = live_communicator(key=world.read_key_a)
        assert (await first.connect())[0]
        second = live_communicator(key=world.read_key_a)
        assert await refusal_code(second) == 4429
        await first.disconnect()
        third = live_communicator(key=world.read_key_a)
        assert (await third.connect())[0]
        await third.disconnect()
    run(scenario)


def test_it_answers_a_ping(world):
    async def scenario():
        communicator = live_communicator(key=world.read_key_a)
        assert (await communicator.connect())[0]
        await communicator.send_json_to({"type": "ping"})
        assert (await communicator.receive_json_from(timeout=2))["type"] == "pong"
        await communicator.disconnect()
    run(scenario)



def test_a_tenants_clients_share_one_layer_channel_and_leave_no_task_behind(world, monkeypatch):
    """Clients take no channel of their own (the hub reads one per tenant), and once the last
    one leaves, the hub's reader ends: nothing keeps polling the layer."""
    layer = get_channel_layer()
    opened = []
    new_channel = layer.new_channel

    async def counted_new_channel(*args, **kwargs):
        opened.append(await new_channel(*args, **kwargs))
        return opened[-1]

    monkeypatch.setattr(layer, "new_channel", counted_new_channel)

    async def scenario():
        clients = [live_communicator(key=world.read_key_a) for _ in range(3)]
        for client in clients:
            assert (await client.connect())[0]
        assert len(opened) == 1
        await publish(world.tenant_a.pk, "tick", None, {"n": 1})
        for client in clients:
            assert (await client.receive_json_from(timeout=2))["data"] == {"n": 1}
            await client.disconnect()
        async with asyncio.timeout(3):
            while [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]:
                await asyncio.sleep(0.01)
    run(scenario)
