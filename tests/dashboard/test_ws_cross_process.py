"""/ws/live across processes through channels-redis: a worker publishes, the server delivers.

Needs a real Redis (REDIS_URL; .ci/run sets it): the publishing side is a separate Python
process, as a Celery worker is in services mode.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.conf import settings

from aitrader.asgi import application

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services]
ROOT = Path(__file__).resolve().parents[2]
PUBLISH = ("import django; django.setup(); from tenants.events import publish_now; "
           "import sys; publish_now(int(sys.argv[1]), 'tick', None, {'from': 'worker'})")


def _publish_from_another_process(tenant_id: int) -> None:
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="aitrader.settings.test",
               REDIS_URL=settings.REDIS_URL, PYTHONPATH=str(ROOT))
    subprocess.run([sys.executable, "-c", PUBLISH, str(tenant_id)], env=env, check=True,
                   timeout=60, cwd=ROOT)


def test_an_event_published_by_a_worker_process_reaches_only_its_tenants_clients(world):
    assert settings.REDIS_URL, "this test runs with REDIS_URL set (make test leaves it out)"

    async def scenario():
        mine = WebsocketCommunicator(application, "/ws/live", headers=[
            (b"host", b"testserver"), (b"origin", b"http://testserver"),
            (b"authorization", f"Bearer {world.read_key_a}".encode())])
        theirs = WebsocketCommunicator(application, "/ws/live", headers=[
            (b"host", b"testserver"), (b"origin", b"http://testserver"),
            (b"authorization", f"Bearer {world.read_key_b}".encode())])
        assert (await mine.connect())[0] and (await theirs.connect())[0]
        from asgiref.sync import sync_to_async

        await sync_to_async(_publish_from_another_process)(world.tenant_a.pk)
        event = await mine.receive_json_from(timeout=10)
        assert event["data"] == {"from": "worker"} and event["type"] == "tick"
        assert await theirs.receive_nothing(timeout=0.5)
        await mine.disconnect()
        await theirs.disconnect()

    async_to_sync(scenario)()
