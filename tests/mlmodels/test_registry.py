"""The model registry: versions, one active model per market, lifecycle rules, roles, tenant
isolation, audit, schedules and the sweep of vanished runs."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from aitrader.errors import Conflict, Forbidden, NotFound, ValidationFailed
from mlmodels import selectors
from mlmodels.models import MLModel
from mlmodels.services import (
    mlmodel_fail_stuck,
    mlmodel_promote,
    mlmodel_retire,
    mlmodel_schedule,
    mlmodel_train,
)
from tenants.actors import Actor
from tenants.models import AuditEvent, Membership
from tests.base import owner_actor
from tests.factories import make
from tests.mlmodels.conftest import quick_options

Status = MLModel.Status


def ready(tenant, **fields) -> MLModel:
    model = make(MLModel, tenant)
    if fields:
        MLModel.objects.filter(pk=model.pk).update(**fields)
        model.refresh_from_db()
    return model


def bob_actor(world) -> Actor:
    return Actor.for_member(Membership.objects.get(user=world.bob, tenant=world.tenant_a))


def test_each_training_of_a_market_gets_the_next_version(world, candles):
    actor = owner_actor(world.tenant_a)
    train = dict(tenant=world.tenant_a, actor=actor, timeframe="1h", candles=candles,
                 options=quick_options(), queue=False)
    first = mlmodel_train(symbol="BTC/USDT", **train)
    second = mlmodel_train(symbol="btc/usdt", **train)
    other_market = mlmodel_train(symbol="ETH/USDT", **train)
    assert (first.version, second.version, other_market.version) == (1, 2, 1)
    assert first.status == Status.TRAINING and second.symbol == "BTC/USDT"
    assert first.splits["train"][0] < first.splits["validation"][0] < first.splits["test"][0]
    assert first.normalization["fit_on"] == "train"
    balance = first.dataset["class_balance"]["train"]  # the flat band is fitted on train
    assert abs(sum(balance.values()) - 1) < 1e-9 and 0.32 < balance["flat"] < 0.35
    assert first.created_by == world.alice


def test_training_is_refused_before_anything_is_stored(world, candles):
    actor = owner_actor(world.tenant_a)
    with pytest.raises(ValidationFailed, match="Too few candles"):
        mlmodel_train(tenant=world.tenant_a, actor=actor, symbol="BTC/USDT", timeframe="1h",
                      candles=candles[:300], queue=False)
    with pytest.raises(ValidationFailed, match="epochs"):
        mlmodel_train(tenant=world.tenant_a, actor=actor, symbol="BTC/USDT", timeframe="1h",
                      candles=candles, options={"epochs": 0}, queue=False)
    with pytest.raises(ValidationFailed, match="Symbol"):
        mlmodel_train(tenant=world.tenant_a, actor=actor, symbol="BTCUSDT", timeframe="1h",
                      candles=candles, queue=False)
    assert not MLModel.objects.exists()


def test_a_viewer_cannot_train_promote_or_retire(world, candles):
    model = ready(world.tenant_a)
    actor = bob_actor(world)
    with pytest.raises(Forbidden):
        mlmodel_train(tenant=world.tenant_a, actor=actor, symbol="BTC/USDT", timeframe="1h",
                      candles=candles, queue=False)
    for service in (mlmodel_promote, mlmodel_retire):
        with pytest.raises(Forbidden):
            service(tenant=world.tenant_a, actor=actor, model_id=model.pk)
    assert MLModel.objects.get(pk=model.pk).status == Status.READY


def test_promoting_makes_one_active_model_per_market(world):
    actor = owner_actor(world.tenant_a)
    first, second = ready(world.tenant_a), ready(world.tenant_a)
    eth = ready(world.tenant_a, symbol="ETH/USDT")
    mlmodel_promote(tenant=world.tenant_a, actor=actor, model_id=first.pk)
    mlmodel_promote(tenant=world.tenant_a, actor=actor, model_id=eth.pk)
    mlmodel_promote(tenant=world.tenant_a, actor=actor, model_id=second.pk)
    statuses = dict(MLModel.objects.values_list("pk", "status"))
    assert statuses == {first.pk: Status.READY, second.pk: Status.ACTIVE, eth.pk: Status.ACTIVE}
    active = selectors.mlmodel_get_active(tenant=world.tenant_a, symbol="BTC/USDT",
                                          timeframe="1h")
    assert active.pk == second.pk
    # rolling back is promoting the previous one again
    mlmodel_promote(tenant=world.tenant_a, actor=actor, model_id=first.pk)
    assert MLModel.objects.get(pk=second.pk).status == Status.READY


def test_the_database_refuses_a_second_active_model(world):
    first, second = ready(world.tenant_a), ready(world.tenant_a)
    MLModel.objects.filter(pk=first.pk).update(status=Status.ACTIVE)
    with pytest.raises(IntegrityError), transaction.atomic():
        MLModel.objects.filter(pk=second.pk).update(status=Status.ACTIVE)


def test_each_tenant_has_its_own_active_model(world):
    mine, theirs = ready(world.tenant_a), ready(world.tenant_b)
    mlmodel_promote(tenant=world.tenant_a, actor=owner_actor(world.tenant_a), model_id=mine.pk)
    mlmodel_promote(tenant=world.tenant_b, actor=owner_actor(world.tenant_b),
                    model_id=theirs.pk)
    assert MLModel.objects.filter(status=Status.ACTIVE).count() == 2


@pytest.mark.parametrize("status", [Status.TRAINING, Status.FAILED, Status.RETIRED])
def test_only_a_ready_model_can_be_promoted(world, status):
    model = ready(world.tenant_a, status=status)
    with pytest.raises(Conflict, match=f"this one is {status}"):
        mlmodel_promote(tenant=world.tenant_a, actor=owner_actor(world.tenant_a),
                        model_id=model.pk)


def test_a_stale_model_cannot_be_promoted(world):
    model = ready(world.tenant_a, trained_at=timezone.now() - timedelta(days=31))
    with pytest.raises(Conflict, match="staleness limit"):
        mlmodel_promote(tenant=world.tenant_a, actor=owner_actor(world.tenant_a),
                        model_id=model.pk)


def test_retiring_the_active_model_leaves_its_market_without_one(world):
    actor = owner_actor(world.tenant_a)
    model = ready(world.tenant_a)
    mlmodel_promote(tenant=world.tenant_a, actor=actor, model_id=model.pk)
    retired = mlmodel_retire(tenant=world.tenant_a, actor=actor, model_id=model.pk)
    assert retired.status == Status.RETIRED and retired.retired_at is not None
    assert selectors.mlmodel_get_active(tenant=world.tenant_a, symbol="BTC/USDT",
                                        timeframe="1h") is None
    with pytest.raises(Conflict):
        mlmodel_promote(tenant=world.tenant_a, actor=actor, model_id=model.pk)


def test_another_tenants_model_is_not_found(world):
    theirs = ready(world.tenant_b)
    actor = owner_actor(world.tenant_a)
    with pytest.raises(NotFound) as foreign:
        selectors.mlmodel_get(tenant=world.tenant_a, model_id=theirs.pk)
    with pytest.raises(NotFound) as missing:
        selectors.mlmodel_get(tenant=world.tenant_a, model_id=theirs.pk + 1000)
    assert str(foreign.value).replace(str(theirs.pk), "N") == \
        str(missing.value).replace(str(theirs.pk + 1000), "N")
    for service in (mlmodel_promote, mlmodel_retire):
        with pytest.raises(NotFound):
            service(tenant=world.tenant_a, actor=actor, model_id=theirs.pk)
    assert MLModel.objects.get(pk=theirs.pk).status == Status.READY
    assert theirs.pk not in {m.pk for m in selectors.mlmodel_list(tenant=world.tenant_a)}


def test_lifecycle_changes_are_audited_and_published(world, monkeypatch):
    published = []
    monkeypatch.setattr("mlmodels.services.publish_on_commit",
                        lambda tenant_id, kind, bot, data: published.append((tenant_id, kind,
                                                                              data)))
    actor = owner_actor(world.tenant_a)
    model = ready(world.tenant_a)
    mlmodel_promote(tenant=world.tenant_a, actor=actor, model_id=model.pk)
    mlmodel_retire(tenant=world.tenant_a, actor=actor, model_id=model.pk)
    actions = list(AuditEvent.objects.for_tenant(world.tenant_a)
                   .filter(action__startswith="mlmodel.").values_list("action", flat=True))
    assert sorted(actions) == ["mlmodel.promote", "mlmodel.retire"]
    assert [(t, k, d["status"]) for t, k, d in published] == [
        (world.tenant_a.pk, "training", "active"), (world.tenant_a.pk, "training", "retired")]


def test_a_schedule_sets_retraining_and_the_staleness_limit(world):
    model = ready(world.tenant_a)
    updated = mlmodel_schedule(tenant=world.tenant_a, actor=owner_actor(world.tenant_a),
                               model_id=model.pk, retrain_every=timedelta(days=7),
                               max_age=timedelta(days=14), auto_promote=True)
    assert (updated.retrain_every, updated.max_age, updated.retrain_auto_promote) == (
        timedelta(days=7), timedelta(days=14), True)
    with pytest.raises(ValidationFailed, match="retrain_every"):
        mlmodel_schedule(tenant=world.tenant_a, actor=owner_actor(world.tenant_a),
                         model_id=model.pk, retrain_every=timedelta(minutes=5), max_age=None)


def test_the_sweep_fails_runs_whose_worker_vanished(world):
    now = timezone.now()
    lost = ready(world.tenant_a, status=Status.TRAINING, started_at=now - timedelta(days=2))
    running = ready(world.tenant_a, status=Status.TRAINING, started_at=now)
    never = ready(world.tenant_b, status=Status.TRAINING, created_at=now - timedelta(days=3))
    assert mlmodel_fail_stuck(now=now) == 2
    statuses = dict(MLModel.objects.values_list("pk", "status"))
    assert statuses == {lost.pk: Status.FAILED, running.pk: Status.TRAINING,
                        never.pk: Status.FAILED}
    assert "stopped before finishing" in MLModel.objects.get(pk=lost.pk).failure_reason
