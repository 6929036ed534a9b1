"""/api/v1/models/: read the registry, promote and retire with control, train on history."""
from __future__ import annotations

from mlmodels.models import MLModel
from tests.mlmodels.conftest import register

MODELS = "/api/v1/models/"


def test_a_read_key_lists_and_reads_its_models(world, trained):
    model = register(world.tenant_a, trained)
    register(world.tenant_b, trained)
    client = world.client_with_key(world.read_key_a)
    listed = client.get(MODELS).json()
    assert [row["id"] for row in listed["results"]] == [model.pk]
    detail = client.get(f"{MODELS}{model.pk}/").json()
    assert detail["id"] == model.pk and detail["status"] == "ready"
    assert detail["symbol"] == "BTC/USDT" and "metrics" in detail


def test_promote_and_retire_need_control(world, trained):
    model = register(world.tenant_a, trained)
    reader = world.client_with_key(world.read_key_a)
    assert reader.post(f"{MODELS}{model.pk}/promote/").status_code == 403
    controller = world.client_with_key(world.control_key_a)
    assert controller.post(f"{MODELS}{model.pk}/promote/").json()["status"] == "active"
    assert controller.post(f"{MODELS}{model.pk}/retire/").json()["status"] == "retired"
    model.refresh_from_db()
    assert model.status == MLModel.Status.RETIRED


def test_promoting_a_second_model_puts_the_first_back_to_ready(world, trained):
    first, second = register(world.tenant_a, trained), register(world.tenant_a, trained)
    controller = world.client_with_key(world.control_key_a)
    controller.post(f"{MODELS}{first.pk}/promote/")
    controller.post(f"{MODELS}{second.pk}/promote/")
    first.refresh_from_db()
    assert first.status == MLModel.Status.READY
    assert MLModel.objects.filter(tenant=world.tenant_a, status="active").count() == 1


def test_training_through_the_api_validates_before_queueing(world):
    controller = world.client_with_key(world.control_key_a)
    response = controller.post(MODELS, {"symbol": "BTC/USDT", "timeframe": "1h",
                                        "options": {"epochs": "many"}}, format="json")
    assert response.status_code == 400
    assert not MLModel.objects.exists()
    unknown = controller.post(MODELS, {"symbol": "DOGE/USDT", "timeframe": "1h"}, format="json")
    assert unknown.status_code == 400 and "DOGE/USDT" in unknown.json()["error"]["message"]


def test_the_models_page_lists_models_and_promotes_for_a_trader(world, trained, client):
    model = register(world.tenant_a, trained)
    client.force_login(world.alice)
    page = client.get("/models/")
    assert page.status_code == 200 and f"v{model.version}" in page.content.decode()
    response = client.post(f"/models/{model.pk}/promote/")
    model.refresh_from_db()
    assert response.status_code == 302 and model.status == MLModel.Status.ACTIVE


def test_a_viewer_cannot_retire_from_the_page(world, trained, client):
    model = register(world.tenant_a, trained)
    client.force_login(world.bob)
    assert b"Promote" not in client.get("/models/").content
    client.post(f"/models/{model.pk}/retire/")
    model.refresh_from_db()
    assert model.status == MLModel.Status.READY
