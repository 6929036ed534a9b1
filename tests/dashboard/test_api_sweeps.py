"""/api/v1/sweeps/: create validates and queues a sweep (run in the caller, and once on the job
pool with its progress on /ws/live); list and detail report it; bad input is a 400 naming the
field, never a 500."""
from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from rest_framework.test import APIClient

from tests.jobs import drained, events_until, job_pool, worker_busy  # noqa: F401
from tests.live import WAIT_SECONDS, live_communicator
from trading.core.backtest import walk_forward
from trading.models import BacktestSweep

SWEEPS = "/api/v1/sweeps/"
BODY = {"strategy": "sma_cross", "symbol": "BTC/USDT", "timeframe": "1h",
        "grid": {"fast": [4, 8], "slow": {"min": 20, "max": 30, "step": 10}},
        "out_of_sample_pct": 25}


@pytest.fixture
def reader(world):
    return world.client_with_key(world.read_key_a)


@pytest.fixture
def run_now(django_capture_on_commit_callbacks):
    """POST a sweep and let its Celery task run (eagerly) when the request commits."""
    def post(client, body):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(SWEEPS, body, format="json")
    return post


def test_a_sweep_answers_202_with_its_url_and_runs_to_done(world, reader, run_now):
    created = run_now(reader, BODY)
    assert created.status_code == 202, created.content
    body = created.json()
    url = f"http://testserver{SWEEPS}{body['id']}/"
    assert created["Location"] == body["url"] == url
    assert (body["status"], body["combinations"], body["out_of_sample_pct"]) == ("queued", 4, 25)
    detail = reader.get(url).json()
    assert (detail["status"], detail["progress"], detail["error"]) == ("done", 100, "")
    rows = detail["result"]["rows"]
    assert len(rows) == 4 and [row["rank"] for row in rows] == [1, 2, 3, 4]
    assert set(rows[0]["in_sample"]) == set(walk_forward.ROW_METRICS)
    assert detail["result"]["split"]["out_of_sample_pct"] == 25
    assert BacktestSweep.objects.get(pk=body["id"]).tenant_id == world.tenant_a.pk


def test_the_list_shows_sweeps_without_their_results(reader, run_now):
    run_now(reader, BODY)
    (row,) = reader.get(SWEEPS).json()["results"]
    assert row["status"] == "done" and "result" not in row
    assert reader.get(SWEEPS, {"status": "queued"}).json()["results"] == []


def test_a_viewer_session_may_sweep(world, run_now):
    assert run_now(world.client_for(world.bob), BODY).status_code == 202


def test_another_tenants_sweep_is_a_404(world, reader, run_now):
    sweep_id = run_now(reader, BODY).json()["id"]
    other = world.client_with_key(world.read_key_b)
    assert other.get(f"{SWEEPS}{sweep_id}/").status_code == 404
    assert other.get(SWEEPS).json()["results"] == []


def test_creating_a_sweep_needs_a_credential(db):
    response = APIClient().post(SWEEPS, BODY, format="json")
    assert response.status_code == 401
    assert not BacktestSweep.objects.exists()


@pytest.mark.parametrize(("change", "field"), [
    ({"strategy": "moonshot"}, "strategy"),
    ({"strategy": "ml_signal"}, "strategy"),
    ({"grid": {}}, "grid"),
    ({"grid": "fast=5"}, "grid"),
    ({"grid": {"fast": "5,6"}}, "fast"),
    ({"grid": {"fast": {"min": 1, "max": 1e308, "step": 1e-308}}}, "fast"),
    ({"grid": {"fast": {"min": "a", "max": 3}}}, "fast"),
    ({"grid": {"fast": [[1]]}}, "fast"),
    ({"grid": {"fast": {"min": 1, "max": 30}, "slow": {"min": 31, "max": 50}}}, "grid"),
    ({"grid": {"fast": [40, 50], "slow": [20, 30]}}, "grid"),
    ({"parameters": {"fast": 5}}, "fast"),
    ({"parameters": "fast"}, "parameters"),
    ({"out_of_sample_pct": 90}, "out_of_sample_pct"),
    ({"out_of_sample_pct": "x"}, "out_of_sample_pct"),
    ({"config": {"cash": "lots"}}, "cash"),
    ({"config": {"risk": "tight"}}, "risk"),
    ({"config": {"risk": {"stop_loss_pct": "abc"}}}, "stop_loss_pct"),
    ({"config": {"start_ms": [1]}}, "start_ms"),
    ({"timeframe": "2x"}, "timeframe"),
    ({"symbol": "DOGE/USDT"}, "symbol"),
])
def test_a_bad_request_is_a_400_naming_the_field_and_queues_nothing(reader, change, field):
    response = reader.post(SWEEPS, BODY | change, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert field in error["fields"], error
    assert not BacktestSweep.objects.exists()


def test_the_schema_documents_the_sweep_endpoints(db):
    schema = APIClient().get("/api/v1/schema/", {"format": "json"}).json()
    paths = schema["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/sweeps/"])
    assert "get" in paths["/api/v1/sweeps/{id}/"]
    post = paths["/api/v1/sweeps/"]["post"]
    assert "202" in post["responses"] and "Location" in post["responses"]["202"]["headers"]
    body = schema["components"]["schemas"]["SweepCreate"]["properties"]
    assert body["out_of_sample_pct"]["minimum"] == walk_forward.OUT_OF_SAMPLE_PCT_MIN
    assert body["out_of_sample_pct"]["maximum"] == walk_forward.OUT_OF_SAMPLE_PCT_MAX
    assert str(walk_forward.MAX_COMBINATIONS) in body["grid"]["description"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("job_pool")
def test_on_the_job_pool_it_answers_at_once_and_streams_its_progress(world):
    reader = world.client_with_key(world.read_key_a)
    post = sync_to_async(reader.post)

    async def scenario():
        communicator = live_communicator(key=world.read_key_a)
        assert (await communicator.connect(WAIT_SECONDS))[0]
        with worker_busy():
            response = await post(SWEEPS, BODY, format="json")
            assert response.status_code == 202, response.content
            assert response.json()["status"] == "queued"
        events = await events_until(communicator, "sweep",
                                    lambda event: event["data"]["status"] == "done")
        await communicator.disconnect()
        return response.json()["id"], events

    sweep_id, events = async_to_sync(scenario)()
    assert {event["data"]["id"] for event in events} == {sweep_id}
    progress = [event["data"]["progress"] for event in events]
    assert progress[0] == 0 and progress[-1] == 100 and progress == sorted(progress)
    assert drained()
    assert reader.get(f"{SWEEPS}{sweep_id}/").json()["result"]["rows"]
