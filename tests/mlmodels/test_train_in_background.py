"""POST /api/v1/models/ in the embedded default: 202 at once, training on the job pool with
its epochs on /ws/live, the model ready at the end."""
from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync, sync_to_async

from mlmodels.models import MLModel
from tests.jobs import drained, events_until, job_pool, worker_busy  # noqa: F401
from tests.live import WAIT_SECONDS, live_communicator
from tests.mlmodels.conftest import QUICK

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("job_pool")]

MODELS = "/api/v1/models/"


def _model(model_id: int) -> MLModel:
    return MLModel.objects.get(pk=model_id)


def test_training_answers_202_and_streams_its_epochs_until_ready(world):
    controller = world.client_with_key(world.control_key_a)
    post = sync_to_async(controller.post)

    async def scenario():
        communicator = live_communicator(key=world.read_key_a)
        assert (await communicator.connect(WAIT_SECONDS))[0]
        with worker_busy():
            response = await post(MODELS, {"symbol": "BTC/USDT", "timeframe": "1h",
                                           "options": QUICK}, format="json")
            assert response.status_code == 202, response.content
            model_id = response.json()["id"]
            assert response["Location"] == f"http://testserver{MODELS}{model_id}/"
            queued = await sync_to_async(_model)(model_id)
            assert (queued.status, queued.started_at) == (MLModel.Status.TRAINING, None)
        events = await events_until(communicator, "training",
                                    lambda event: event["data"]["status"] != "training")
        await communicator.disconnect()
        return model_id, events

    model_id, events = async_to_sync(scenario)()
    assert events[-1]["data"]["status"] == MLModel.Status.READY, events[-1]
    epochs = [event["data"] for event in events if event["data"].get("event") == "epoch"]
    assert epochs and {event["model_id"] for event in epochs} == {model_id}
    assert drained()
    assert controller.get(f"{MODELS}{model_id}/").json()["status"] == MLModel.Status.READY


def test_the_models_page_shows_a_training_models_epoch_and_follows_the_feed(world, client):
    MLModel.objects.create(tenant=world.tenant_a, symbol="BTC/USDT", timeframe="1h", version=1,
                           feature_set="ohlcv_v1", status=MLModel.Status.TRAINING,
                           progress={"stage": "epoch", "epoch": 2, "epochs": 5})
    client.force_login(world.alice)
    html = client.get("/models/").content.decode()
    assert 'data-status="training"' in html and "epoch 2 of 5" in html
    assert "js/models.js" in html and "js/live.js" in html
