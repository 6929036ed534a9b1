"""In the embedded default long work runs on the job pool: the POST answers 202 with the job's
URL at once, the job row waits or runs, progress streams over /ws/live, the job ends done."""
from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.urls import reverse

from tests.dashboard.conftest import paper_bot, tick
from tests.jobs import drained, events_until, job_pool, worker_busy  # noqa: F401
from tests.live import WAIT_SECONDS, live_communicator
from trading import selectors
from trading.models import BacktestRun, Bot, Order, Thought
from trading.services.backtests import backtest_runs_resume

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("job_pool")]

BACKTESTS = "/api/v1/backtests/"
SMA = {"strategy": "sma_cross", "symbol": "BTC/USDT", "timeframe": "1h",
       "parameters": {"fast": 5, "slow": 20}}


def _status(run_id: int) -> str:
    return BacktestRun.objects.get(pk=run_id).status


def test_a_backtest_answers_202_then_streams_its_progress_until_done(world):
    reader = world.client_with_key(world.read_key_a)
    post, get = sync_to_async(reader.post), sync_to_async(reader.get)

    async def scenario():
        communicator = live_communicator(key=world.read_key_a)
        assert (await communicator.connect(WAIT_SECONDS))[0]
        with worker_busy():
            response = await post(BACKTESTS, SMA, format="json")
            assert response.status_code == 202, response.content
            run_id = response.json()["id"]
            location = f"http://testserver{BACKTESTS}{run_id}/"
            assert response["Location"] == response.json()["url"] == location
            assert (await get(location)).json()["status"] == "queued"
            assert await sync_to_async(_status)(run_id) == BacktestRun.Status.QUEUED
        events = await events_until(communicator, "backtest",
                                    lambda event: event["data"]["status"] == "done")
        await communicator.disconnect()
        return run_id, events

    run_id, events = async_to_sync(scenario)()
    assert {event["data"]["id"] for event in events} == {run_id}
    running = [event["data"]["progress"] for event in events
               if event["data"]["status"] == "running"]
    assert running[0] == 0 and any(0 < progress < 100 for progress in running)
    assert running == sorted(running)
    assert drained()
    body = reader.get(f"{BACKTESTS}{run_id}/").json()
    assert (body["status"], body["progress"]) == ("done", 100)
    assert body["report"]["metrics"]["trades"] > 0


def test_the_backtest_form_opens_the_run_page_which_shows_progress_not_done(world, client):
    client.force_login(world.alice)
    with worker_busy():
        response = client.post(reverse("dashboard:backtests"), {
            "strategy": "sma_cross", "symbol": "BTC/USDT", "timeframe": "1h", "cash": "5000",
            "param_fast": "5", "param_slow": "20"})
        run = BacktestRun.objects.for_tenant(world.tenant_a).get()
        assert response.status_code == 302
        assert response["Location"] == reverse("dashboard:backtest_detail", args=[run.pk])
        html = client.get(response["Location"]).content.decode()
        assert "data-progress-card" in html and 'data-status="queued"' in html
        assert 'id="metrics-table"' not in html
    assert drained()
    html = client.get(response["Location"]).content.decode()
    assert 'id="metrics-table"' in html and "data-progress-card" not in html


def test_close_all_answers_202_with_the_bot_url_and_sells_in_the_background(world, market):
    bot = paper_bot(world.tenant_a)
    for _ in range(300):
        tick(bot, market)
        position = selectors.position_for_bot(bot=bot)
        if position is not None and position.amount > 0:
            break
    else:
        pytest.fail("the bot never bought in 300 candles")
    controller = world.client_with_key(world.control_key_a)
    post = sync_to_async(controller.post)

    async def scenario():
        communicator = live_communicator(key=world.read_key_a)
        assert (await communicator.connect(WAIT_SECONDS))[0]
        with worker_busy():
            response = await post(f"/api/v1/bots/{bot.pk}/close_all/")
            assert response.status_code == 202, response.content
            assert response["Location"] == f"http://testserver/api/v1/bots/{bot.pk}/"
            assert response.json()["status"] == Bot.Status.PAUSED
            assert not await sync_to_async(_close_orders)(bot)  # queued, not sent yet
        orders = await events_until(communicator, "order",
                                    lambda event: event["data"].get("reason") == "close_all")
        await communicator.disconnect()
        return orders

    orders = async_to_sync(scenario)()
    assert orders[-1]["bot"] == bot.pk and orders[-1]["data"]["side"] == "sell"
    assert drained()
    assert _close_orders(bot) == 1
    assert Thought.objects.for_tenant(world.tenant_a).filter(bot=bot).exists()


def _close_orders(bot: Bot) -> int:
    return Order.objects.filter(bot=bot, reason="close_all").count()


def test_backtests_a_stopped_server_left_unfinished_are_queued_again(world):
    def run(tenant, status):
        return BacktestRun.objects.create(tenant=tenant, strategy="sma_cross",
                                          symbol="BTC/USDT", timeframe="1h", status=status)

    queued, running = run(world.tenant_a, "queued"), run(world.tenant_b, "running")
    finished = run(world.tenant_a, "failed")
    assert backtest_runs_resume() == 2
    assert drained()
    assert _status(queued.pk) == _status(running.pk) == BacktestRun.Status.DONE
    assert _status(finished.pk) == BacktestRun.Status.FAILED
    assert BacktestRun.objects.get(pk=running.pk).tenant_id == world.tenant_b.pk
