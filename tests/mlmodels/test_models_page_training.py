"""Training from the Models page: a form with the API's bounds, the API's background task, live
progress, then the evaluation and Promote. Viewers cannot train; another tenant's model is a
404."""
from __future__ import annotations

import re

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.contrib.messages import get_messages
from django.test import Client

from dashboard.mlmodel_forms import TrainModelForm
from mlmodels import services, tasks
from mlmodels.models import MLModel
from mlmodels.options import BOUNDS
from tests.base import owner_actor
from tests.jobs import drained, events_until, job_pool, worker_busy  # noqa: F401
from tests.live import WAIT_SECONDS, live_communicator

PAGE = "/models/"
TRAIN = "/models/train/"
Status = MLModel.Status
# Tiny on purpose: two epochs on the stored hourly history take a second or two.
FORM = {"symbol": "BTC/USDT", "timeframe": "1h", "architecture": "mlp",
        "feature_set": "ohlcv_v1", "label_kind": "classification", "horizon": "4",
        "epochs": "2"}


def _signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _models(tenant):
    return MLModel.objects.for_tenant(tenant)


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.mark.django_db
def test_it_shows_the_train_form_with_the_bounds_the_api_checks(world):
    html = _signed_in(world.alice).get(PAGE).content.decode()
    form = re.search(r'<form[^>]*id="train-model".*?</form>', html, re.S).group(0)
    low, high = BOUNDS["horizon"]
    assert re.search(rf'name="horizon"[^>]*max="{high}"[^>]*min="{low}"', form) or \
        re.search(rf'name="horizon"[^>]*min="{low}"[^>]*max="{high}"', form)
    assert f'max="{BOUNDS["epochs"][1]}"' in form
    assert 'value="ohlcv_v1"' in form and 'value="lstm"' in form
    assert "manage.py train_model" not in html


@pytest.mark.django_db
def test_the_form_takes_its_bounds_from_the_training_options():
    form = TrainModelForm()
    assert (form.fields["horizon"].min_value, form.fields["horizon"].max_value) == \
        BOUNDS["horizon"]
    assert (form.fields["epochs"].min_value, form.fields["epochs"].max_value) == \
        BOUNDS["epochs"]


@pytest.mark.django_db
def test_it_hides_the_form_from_a_viewer(world):
    html = _signed_in(world.bob).get(PAGE).content.decode()
    assert 'id="train-model"' not in html


@pytest.mark.django_db
def test_a_viewer_cannot_train(world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = _signed_in(world.bob).post(TRAIN, FORM)
    assert response.status_code == 302 and response.url == PAGE
    assert any("cannot do this" in text for text in _messages(response))
    assert not _models(world.tenant_a).exists() and not callbacks


@pytest.mark.django_db
@pytest.mark.parametrize("field,value", [("horizon", "0"), ("horizon", "501"),
                                         ("epochs", "0"), ("epochs", "1001"),
                                         ("architecture", "transformer"),
                                         ("feature_set", "secret_sauce")])
def test_it_refuses_out_of_bounds_input_on_the_form(world, field, value):
    response = _signed_in(world.alice).post(TRAIN, {**FORM, field: value})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="train-model"' in html and 'class="error"' in html
    assert not _models(world.tenant_a).exists()


@pytest.mark.django_db
def test_a_get_of_the_train_url_lands_on_the_page(world):
    response = _signed_in(world.alice).get(TRAIN)
    assert response.status_code == 302 and response.url == PAGE


@pytest.mark.django_db
def test_it_queues_the_apis_training_task(world, monkeypatch,
                                          django_capture_on_commit_callbacks):
    queued = []
    monkeypatch.setattr(tasks.train_model_task, "delay", lambda *args: queued.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        response = _signed_in(world.alice).post(TRAIN, {**FORM, "horizon": "6"})
    model = _models(world.tenant_a).get()
    assert response.status_code == 302 and response.url == f"{PAGE}?model={model.pk}"
    assert queued == [(world.tenant_a.pk, model.pk)]
    assert (model.status, model.symbol, model.timeframe) == (Status.TRAINING, "BTC/USDT", "1h")
    assert model.label["horizon"] == 6 and model.options["epochs"] == 2
    assert model.data_source == "stored:BTC/USDT:1h"
    html = _signed_in(world.alice).get(response.url).content.decode()
    assert 'data-training-card' in html and "<progress" in html


@pytest.mark.django_db
def test_it_shows_a_training_models_epochs_as_a_progress_bar(world):
    model = MLModel.objects.create(tenant=world.tenant_a, symbol="BTC/USDT", timeframe="1h",
                                   version=1, feature_set="ohlcv_v1", status=Status.TRAINING,
                                   progress={"stage": "epoch", "epoch": 2, "epochs": 5})
    html = _signed_in(world.alice).get(f"{PAGE}?model={model.pk}").content.decode()
    assert re.search(r'<progress[^>]*max="5"[^>]*value="2"', html)
    assert "epoch 2 of 5" in html


@pytest.mark.django_db
def test_it_trains_then_shows_the_evaluation_and_promotes(world,
                                                          django_capture_on_commit_callbacks):
    alice = _signed_in(world.alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = alice.post(TRAIN, FORM)
    model = _models(world.tenant_a).get()
    assert model.status == Status.READY, model.failure_reason
    html = alice.get(response.url).content.decode()
    card = re.search(r"<section[^>]*data-training-card.*?</section>", html, re.S).group(0)
    assert "Accuracy" in card and "baseline" in card and "Backtest on the test split" in card
    assert f"{model.metrics['test']['accuracy']:.3f}" in card
    promote = f"/models/{model.pk}/promote/"
    assert f'action="{promote}"' in card
    promoted = alice.post(promote)
    assert promoted.status_code == 302 and promoted.url == f"{PAGE}?model={model.pk}"
    model.refresh_from_db()
    assert model.status == Status.ACTIVE


@pytest.mark.django_db
def test_a_page_trained_model_retrains_from_the_same_stored_market(world, monkeypatch,
                                                                   django_capture_on_commit_callbacks):
    monkeypatch.setattr(tasks.train_model_task, "delay", lambda *args: None)
    with django_capture_on_commit_callbacks(execute=True):
        _signed_in(world.alice).post(TRAIN, FORM)
    source = _models(world.tenant_a).get()
    stored_end = source.data_end_ts
    # Its stored history reads back; with no newer candle the attempt says the feed stopped.
    attempt = services.mlmodel_retrain(tenant=world.tenant_a, actor=owner_actor(world.tenant_a),
                                       model_id=source.pk, queue=False)
    assert attempt.status == Status.FAILED
    assert "data feed has stopped" in attempt.failure_reason, attempt.failure_reason
    _models(world.tenant_a).filter(pk=source.pk).update(data_end_ts=stored_end - 3_600_000)
    retrain = services.mlmodel_retrain(tenant=world.tenant_a, actor=owner_actor(world.tenant_a),
                                       model_id=source.pk, queue=False)
    assert retrain.status == Status.TRAINING and retrain.data_source == "stored:BTC/USDT:1h"
    assert retrain.data_end_ts == stored_end


@pytest.mark.django_db
def test_another_tenants_model_is_a_404(world):
    theirs = MLModel.objects.create(tenant=world.tenant_b, symbol="BTC/USDT", timeframe="1h",
                                    version=1, feature_set="ohlcv_v1", status=Status.READY)
    alice = _signed_in(world.alice)
    assert alice.get(f"{PAGE}?model={theirs.pk}").status_code == 404
    assert alice.post(f"/models/{theirs.pk}/promote/").status_code == 404
    assert alice.get(f"{PAGE}?model=nonsense").status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == Status.READY


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("job_pool")
def test_the_training_streams_its_progress_on_the_live_feed(world):
    alice = _signed_in(world.alice)
    post = sync_to_async(alice.post)

    async def scenario():
        communicator = live_communicator(key=world.read_key_a)
        assert (await communicator.connect(WAIT_SECONDS))[0]
        with worker_busy():
            response = await post(TRAIN, FORM)
            assert response.status_code == 302
        events = await events_until(communicator, "training",
                                    lambda event: event["data"]["status"] != "training")
        await communicator.disconnect()
        return events

    events = async_to_sync(scenario)()
    model = _models(world.tenant_a).get()
    assert events[-1]["data"]["status"] == Status.READY, events[-1]
    epochs = [event["data"] for event in events if event["data"].get("event") == "epoch"]
    assert [event["epoch"] for event in epochs] == [1, 2]
    assert {event["model_id"] for event in epochs} == {model.pk}
    assert drained()
