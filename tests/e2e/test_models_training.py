"""Train a model from the Models page, watch it finish over the live feed, promote it, and run
an ml_signal backtest on it, in a real browser against a live server."""
from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from mlmodels.models import MLModel
from tenants.models import Tenant
from tests.e2e.test_dashboard_flow import Tab, sign_up

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

TRAINING_TIMEOUT_MS = 90_000  # two epochs take seconds; the trainer subprocess loads torch first


def _training_frames(page) -> list[dict]:
    """The "training" events the page's /ws/live socket receives, across reloads."""
    frames: list[dict] = []

    def watch(socket) -> None:
        def received(payload) -> None:
            event = json.loads(payload) if isinstance(payload, str) else {}
            if event.get("type") == "training":
                frames.append(event["data"])
        socket.on("framereceived", received)

    page.on("websocket", watch)
    return frames


def test_a_model_trains_from_the_page_and_is_promoted_then_backtested(app_server, browser,
                                                                      screenshot):
    tab = Tab(browser, app_server.url)
    page = tab.page
    sign_up(tab, "mona@example.com", "Mona Quant")
    frames = _training_frames(page)

    page.click("nav >> text=Models")
    expect(page.get_by_text("No models yet. Train one with the form above.")).to_be_visible()
    expect(page.get_by_text("manage.py train_model")).to_have_count(0)
    form = page.locator("#train-model")
    form.locator("select[name=symbol]").select_option("BTC/USDT")
    form.locator("select[name=timeframe]").select_option("1h")
    form.locator("select[name=architecture]").select_option("mlp")
    form.locator("input[name=horizon]").fill("4")
    form.locator("input[name=epochs]").fill("2")
    screenshot(page, "20-models-train-form")
    form.locator("button[type=submit]").click()

    expect(page).to_have_url(re.compile(r"/models/\?model=\d+$"))
    model = MLModel.objects.for_tenant(Tenant.objects.get(name="Mona Quant")).get()
    card = page.locator(f"[data-training-card][data-model-id='{model.pk}']")
    expect(card).to_be_visible()
    # The card follows the live feed (with polling behind it) and reloads when training ends.
    expect(card).to_have_attribute("data-status", "ready", timeout=TRAINING_TIMEOUT_MS)
    expect(card.locator("#model-evaluation")).to_contain_text("Accuracy")
    expect(card.locator("#model-backtest")).to_contain_text("Return")
    assert any(frame["model_id"] == model.pk and frame["status"] == "ready"
               for frame in frames), frames
    model.refresh_from_db()
    assert model.status == MLModel.Status.READY and model.progress["stage"] == "done"
    screenshot(page, "21-models-trained")

    card.get_by_role("button", name="Promote").click()
    page.locator("#confirm-dialog-ok").click()  # the page's own confirmation dialog
    expect(card).to_have_attribute("data-status", "active")
    expect(card.locator("[data-field=status]")).to_have_text("Active")
    model.refresh_from_db()
    assert model.status == MLModel.Status.ACTIVE

    # ml_signal backtests run on the active model.
    page.click("nav >> text=Backtests")
    page.select_option("select[name=strategy]", "ml_signal")
    page.select_option("select[name=symbol]", "BTC/USDT")
    page.select_option("select[name=timeframe]", "1h")
    page.click("text=Run backtest")
    expect(page.locator("h1 [data-field=status]")).to_have_text("Done", timeout=60_000)
    expect(page.locator("#metrics-table")).to_contain_text("Profit factor")
    expect(page.locator("[data-field=ml-model]")).to_contain_text(f"model #{model.pk}")
    # The run covers the candles the model learned from: the report says it is in-sample.
    expect(page.locator("[data-field=in-sample]")).to_be_visible()
    screenshot(page, "22-ml-signal-backtest")
    tab.assert_healthy()
