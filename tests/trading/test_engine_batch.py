"""Batched ticks: many bots of one tenant per run_ticks call, the same trading as one by one."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tenants.models import Tenant
from tests.trading.conftest import make_paper_bot
from trading import engine, tasks
from trading.engine import run as engine_run
from trading.engine import run_tick, run_ticks, tick_batches
from trading.engine import tick as engine_tick
from trading.models import Bot, EquitySnapshot, Fill, Order, Thought, Trade
from trading.services.bots import (
    bot_claim_tick,
    bot_claim_ticks,
    bot_finish_ticks,
    tick_lease_seconds,
)

# Different strategies and risk settings, so the batch mixes entries, exits and stops.
CONFIGS = [
    {"name": "fast", "parameters": {"fast": 3, "slow": 8}, "preset": "aggressive"},
    {"name": "slow", "parameters": {"fast": 5, "slow": 13}, "preset": "conservative"},
    {"name": "bands", "strategy": "bollinger_breakout", "parameters": {"period": 10},
     "preset": "balanced"},
]


def _bots(tenant: Tenant) -> list[Bot]:
    return [make_paper_bot(tenant, **config) for config in CONFIGS]


def _ids(bots: list[Bot]) -> list[int]:
    return [bot.pk for bot in bots]


def _history(bot: Bot) -> dict[str, list[tuple]]:
    """Everything a tick leaves behind for `bot`, without ids that differ between bots."""
    return {
        "orders": list(Order.objects.filter(bot=bot).order_by("id").values_list(
            "side", "amount", "reason", "candle_ts", "status", "filled", "average", "fee")),
        "fills": list(Fill.objects.filter(bot=bot).order_by("id").values_list(
            "side", "amount", "price", "fee", "timestamp_ms")),
        "trades": list(Trade.objects.filter(bot=bot).order_by("id").values_list(
            "status", "amount", "entry_price", "exit_price", "pnl", "exit_reason")),
        "thoughts": list(Thought.objects.filter(bot=bot).order_by("created_at", "id")
                         .values_list("kind", "summary", "candle_ts")),
        "equity": list(EquitySnapshot.objects.filter(bot=bot).order_by("candle_ts")
                       .values_list("candle_ts", "equity", "cash", "position_value")),
    }


def test_a_batch_trades_exactly_like_ticking_the_bots_one_by_one(world, market):
    batched, single = _bots(world.tenant_a), _bots(world.tenant_b)
    for _ in range(300):
        market.step()
        run_ticks(tenant_id=world.tenant_a.pk, bot_ids=_ids(batched))
        for bot in single:
            run_tick(tenant_id=bot.tenant_id, bot_id=bot.pk)
    assert Fill.objects.filter(bot__in=batched).count() >= 8  # the market gave reasons to trade
    for mine, theirs in zip(batched, single, strict=True):
        assert _history(mine) == _history(theirs), mine.name


def test_a_paused_bot_in_a_batch_places_nothing(world, market):
    bots = _bots(world.tenant_a)
    Bot.objects.filter(pk=bots[0].pk).update(status=Bot.Status.PAUSED)
    for _ in range(200):
        market.step()
        run_ticks(tenant_id=world.tenant_a.pk, bot_ids=_ids(bots))
    assert not Order.objects.filter(bot=bots[0]).exists()
    assert not Thought.objects.filter(bot=bots[0], kind="decision").exists()
    assert Order.objects.filter(bot__in=bots[1:]).exists()


def test_a_bot_whose_lease_is_held_is_skipped(world, market):
    bots = _bots(world.tenant_a)
    assert bot_claim_tick(bot_id=bots[1].pk, now=timezone.now())
    held_until = Bot.objects.get(pk=bots[1].pk).tick_lease_until
    market.step()
    outcomes = run_ticks(tenant_id=world.tenant_a.pk, bot_ids=_ids(bots))
    assert [o.status for o in outcomes] == ["ticked", "skipped", "ticked"]
    assert not Thought.objects.filter(bot=bots[1]).exists()
    assert Bot.objects.get(pk=bots[1].pk).tick_lease_until == held_until
    assert Thought.objects.filter(bot__in=[bots[0], bots[2]]).count() == 2


def test_it_skips_bots_of_another_tenant(world, market):
    theirs = make_paper_bot(world.tenant_b, name="theirs")
    market.step()
    outcome, = run_ticks(tenant_id=world.tenant_a.pk, bot_ids=[theirs.pk])
    assert outcome.status == "skipped"
    theirs.refresh_from_db()
    assert theirs.tick_lease_until is None and theirs.last_candle_ts is None
    assert not Thought.objects.filter(bot=theirs).exists()


def _failing_for(monkeypatch, bot: Bot, error: BaseException) -> None:
    """Make the tick of `bot` raise `error` halfway (after its decision inputs are read)."""
    real = engine_tick._bot_view

    def bot_view(each, market, position):
        if each.pk == bot.pk:
            raise error
        return real(each, market, position)

    monkeypatch.setattr(engine_tick, "_bot_view", bot_view)


@pytest.mark.django_db(transaction=True)
def test_a_crash_of_one_bot_keeps_the_others_and_releases_its_lease(world, market,
                                                                   monkeypatch):
    bots = _bots(world.tenant_a)
    _failing_for(monkeypatch, bots[1], RuntimeError("boom"))
    market.step()
    outcomes = run_ticks(tenant_id=world.tenant_a.pk, bot_ids=_ids(bots))
    assert [o.status for o in outcomes] == ["ticked", "error", "ticked"]
    failed = Bot.objects.get(pk=bots[1].pk)
    assert failed.tick_lease_until is None and failed.last_candle_ts is None
    assert not Thought.objects.filter(bot=failed).exists()
    for bot in (bots[0], bots[2]):
        assert Thought.objects.filter(bot=bot, kind="decision").count() == 1
        assert EquitySnapshot.objects.filter(bot=bot).count() == 1
    monkeypatch.undo()  # the retry of the same candle now succeeds
    assert run_tick(tenant_id=world.tenant_a.pk, bot_id=failed.pk).status == "ticked"


class WorkerKilled(BaseException):
    """Stands in for SystemExit / KeyboardInterrupt: not an Exception a tick may swallow."""


@pytest.mark.django_db(transaction=True)
def test_a_batch_killed_midway_writes_what_ticked_and_frees_every_lease(world, market,
                                                                        monkeypatch):
    bots = _bots(world.tenant_a)
    _failing_for(monkeypatch, bots[1], WorkerKilled())
    market.step()
    with pytest.raises(WorkerKilled):
        run_ticks(tenant_id=world.tenant_a.pk, bot_ids=_ids(bots))
    assert Thought.objects.filter(bot=bots[0], kind="decision").count() == 1
    assert not Thought.objects.filter(bot__in=bots[1:]).exists()
    assert not Bot.objects.filter(pk__in=_ids(bots), tick_lease_until__isnull=False).exists()


def test_a_rerun_of_the_same_candle_places_no_second_order(world, market):
    bots = _bots(world.tenant_a)
    for _ in range(300):
        market.step()
        run_ticks(tenant_id=world.tenant_a.pk, bot_ids=_ids(bots))
        orders = Order.objects.filter(bot__in=bots).count()
        Bot.objects.filter(pk__in=_ids(bots)).update(last_candle_ts=None)  # as if unrecorded
        run_ticks(tenant_id=world.tenant_a.pk, bot_ids=_ids(bots))
        assert Order.objects.filter(bot__in=bots).count() == orders
    assert orders > 0


def test_tick_batches_groups_by_tenant_in_chunks():
    due = [(1, 10), (2, 20), (1, 11), (1, 12), (2, 21)]
    assert tick_batches(due, size=2) == [(1, [10, 11]), (1, [12]), (2, [20, 21])]


def test_the_beat_task_queues_one_batch_per_tenant(world, market, monkeypatch):
    mine, theirs = _bots(world.tenant_a), [make_paper_bot(world.tenant_b, name="b")]
    queued = []
    real_delay = tasks.tick_bots.delay
    monkeypatch.setattr(tasks.tick_bots, "delay",
                        lambda *args: queued.append(args) or real_delay(*args))
    market.step()
    assert tasks.schedule_due_bots() == 4
    assert sorted(queued) == sorted([(world.tenant_a.pk, _ids(mine)),
                                     (world.tenant_b.pk, _ids(theirs))])
    assert Thought.objects.filter(bot__in=mine + theirs, kind="decision").count() == 4


def test_the_embedded_scheduler_ticks_due_bots_in_batches(world, market, monkeypatch):
    bots = _bots(world.tenant_a)
    batches = []
    real = engine_run.run_ticks
    monkeypatch.setattr(engine_run, "run_ticks",
                        lambda **kw: batches.append(kw["bot_ids"]) or real(**kw))
    market.step()
    outcomes = engine.run_due_ticks()
    assert batches == [_ids(bots)]
    assert [o.status for o in outcomes] == ["ticked"] * 3


def test_finishing_a_batch_keeps_what_a_resume_reset_meanwhile(world, market):
    bot = make_paper_bot(world.tenant_a)
    Bot.objects.filter(pk=bot.pk).update(exchange_errors=3, stale_checks=2)
    now = timezone.now()
    lease = bot_claim_ticks(tenant_id=bot.tenant_id, bot_ids=[bot.pk], now=now)
    Bot.objects.filter(pk=bot.pk).update(exchange_errors=0, stale_checks=0)  # bot_resume
    written = bot_finish_ticks(tenant_id=bot.tenant_id, lease=lease,
                               states={bot.pk: {"next_tick_at": now, "last_candle_ts": 42}})
    bot.refresh_from_db()
    assert written == 1 and bot.tick_lease_until is None and bot.last_candle_ts == 42
    assert (bot.exchange_errors, bot.stale_checks) == (0, 0)


def test_a_batch_that_outlived_its_lease_writes_no_state(world, market):
    bot = make_paper_bot(world.tenant_a)
    now = timezone.now()
    stale = bot_claim_ticks(tenant_id=bot.tenant_id, bot_ids=[bot.pk], now=now)
    later = now + timedelta(seconds=tick_lease_seconds() + 2)  # the first lease expired
    fresh = bot_claim_ticks(tenant_id=bot.tenant_id, bot_ids=[bot.pk], now=later)
    written = bot_finish_ticks(tenant_id=bot.tenant_id, lease=stale,
                               states={bot.pk: {"next_tick_at": now, "last_candle_ts": 42}})
    bot.refresh_from_db()
    assert written == 0 and bot.tick_lease_until == fresh and bot.last_candle_ts is None


def test_finishing_refuses_fields_a_tick_does_not_own(world, market):
    bot = make_paper_bot(world.tenant_a)
    lease = bot_claim_ticks(tenant_id=bot.tenant_id, bot_ids=[bot.pk], now=timezone.now())
    with pytest.raises(ValueError, match="status"):
        bot_finish_ticks(tenant_id=bot.tenant_id, lease=lease,
                         states={bot.pk: {"status": Bot.Status.RUNNING}})
