"""/ws/live connection limits per user (or key) and per tenant, shared through Redis."""
from __future__ import annotations

import pytest
import redis
import time_machine
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from aitrader.asgi import application
from dashboard.ws_slots import RedisSlots, ws_slot_keys
from tenants.actors import Actor
from tenants.services import api_key_issue
from tests.base import owner_actor
from tests.live import refusal_code
from tests.security.conftest import REDIS_URL, free_port

ORIGIN = (b"origin", b"http://testserver")
pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.services]  # a real Redis: run by .ci/run and with REDIS_URL set


def _communicator(key: str) -> WebsocketCommunicator:
    return WebsocketCommunicator(application, "/ws/live", headers=[
        (b"host", b"testserver"), ORIGIN, (b"authorization", f"Bearer {key}".encode())])


async def _connect(key: str) -> tuple[WebsocketCommunicator, tuple]:
    communicator = _communicator(key)
    return communicator, await communicator.connect()


def run(scenario) -> None:
    """One event loop per scenario: a connection lives inside the loop that opened it."""
    async_to_sync(scenario)()


def _read_key(world, tenant) -> str:
    return api_key_issue(tenant=tenant, actor=owner_actor(tenant), name="feed",
                         scopes=["read"])[1]


def _clear_slots() -> None:
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter("aitrader:ws:*"):
        client.delete(key)


@pytest.fixture
def shared(settings):
    """Slots counted in Redis, as in services mode."""
    settings.REDIS_URL = REDIS_URL
    _clear_slots()
    yield settings
    _clear_slots()


@pytest.mark.parametrize("backend", ["local", "redis"])
def test_a_tenant_gets_at_most_its_connections(world, settings, backend, request):
    if backend == "redis":
        request.getfixturevalue("shared")
    settings.AITRADER_WS_MAX_PER_TENANT = 2
    keys = [_read_key(world, world.tenant_a) for _ in range(3)]

    async def scenario():
        first, second = await _connect(keys[0]), await _connect(keys[1])
        assert first[1][0] and second[1][0]
        assert await refusal_code(_communicator(keys[2])) == 4429
        other_tenant = await _connect(world.read_key_b)
        assert other_tenant[1][0], "another tenant is not affected"
        await first[0].disconnect()
        again = await _connect(keys[2])
        assert again[1][0], "a closed connection frees its slot"
        for communicator, _ in (second, other_tenant, again):
            await communicator.disconnect()
    run(scenario)


def test_a_slot_held_by_another_process_counts(world, shared):
    shared.AITRADER_WS_MAX_PER_USER = 1
    slot_keys = ws_slot_keys(Actor.for_key(world.key_row(world.read_key_a)))
    other_process = RedisSlots(REDIS_URL)
    assert other_process.take(slot_keys, "other-process:1")

    async def scenario():
        assert await refusal_code(_communicator(world.read_key_a)) == 4429
        other_process.release(slot_keys, "other-process:1")
        communicator, result = await _connect(world.read_key_a)
        assert result[0]
        await communicator.disconnect()
    run(scenario)


def test_a_crashed_processes_slots_lapse(world, shared):
    shared.AITRADER_WS_MAX_PER_USER = 1
    slot_keys = ws_slot_keys(Actor.for_key(world.key_row(world.read_key_a)))
    with time_machine.travel(timezone.now(), tick=False) as clock:
        RedisSlots(REDIS_URL).take(slot_keys, "crashed:1")

        async def refused():
            assert await refusal_code(_communicator(world.read_key_a)) == 4429
        run(refused)
        clock.shift(3 * shared.AITRADER_WS_HEARTBEAT_SECONDS + 1)  # no heartbeat refreshed it

        async def accepted():
            communicator, result = await _connect(world.read_key_a)
            assert result[0]
            await communicator.disconnect()
        run(accepted)


def test_a_refreshed_slot_does_not_lapse(world, shared):
    keys = ws_slot_keys(Actor.for_key(world.key_row(world.read_key_a)))
    slots = RedisSlots(REDIS_URL)
    shared.AITRADER_WS_MAX_PER_USER = 1
    with time_machine.travel(timezone.now(), tick=False) as clock:
        slots.take(keys, "alive:1")
        for _ in range(5):
            clock.shift(shared.AITRADER_WS_HEARTBEAT_SECONDS)
            slots.refresh(keys, "alive:1")
        assert not slots.take(keys, "newcomer:1")


def test_a_dead_redis_refuses_new_connections(world, settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"

    async def scenario():
        assert await refusal_code(_communicator(world.read_key_a)) == 1013
    run(scenario)
