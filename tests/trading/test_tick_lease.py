"""A dead worker costs at most one tick interval: the tick lease is as long as the tick
interval, renewed while a batch runs, and a claim makes the bot due again when its lease
lapses. Every time is an explicit `now` (no sleeping)."""
from __future__ import annotations

from datetime import timedelta

import time_machine
from django.conf import settings
from django.utils import timezone

from tests.trading.conftest import make_paper_bot
from trading import engine, selectors, tasks
from trading.engine import batch as engine_batch
from trading.engine import run as engine_run
from trading.models import Bot, Order
from trading.services import bots as bot_services
from trading.services.bots import bot_claim_ticks, bot_finish_ticks, bot_renew_ticks


def _interval() -> timedelta:
    return timedelta(seconds=settings.AITRADER_ENGINE_TICK_SECONDS)


def _due(bot, now) -> bool:
    return (bot.tenant_id, bot.pk) in selectors.bots_due(now=now)


def test_a_dead_workers_bot_ticks_again_within_one_tick_interval(paper_bot, market):
    t0 = timezone.now()
    bot_claim_ticks(tenant_id=paper_bot.tenant_id, bot_ids=[paper_bot.pk], now=t0)
    # ... and the worker died holding the lease.
    market.step()
    later = t0 + _interval()
    assert _due(paper_bot, later)
    outcome = engine.run_tick(tenant_id=paper_bot.tenant_id, bot_id=paper_bot.pk, now=later)
    assert outcome.status == "ticked"


def test_a_held_lease_keeps_the_bot_from_being_scheduled_twice(paper_bot, market):
    t0 = timezone.now()
    bot_claim_ticks(tenant_id=paper_bot.tenant_id, bot_ids=[paper_bot.pk], now=t0)
    assert not _due(paper_bot, t0 + timedelta(milliseconds=1))
    market.step()
    outcome = engine.run_tick(tenant_id=paper_bot.tenant_id, bot_id=paper_bot.pk,
                              now=t0 + timedelta(milliseconds=1))
    assert outcome.status == "skipped"


def test_a_tick_task_lost_with_its_worker_is_queued_again_within_one_interval(
        paper_bot, market, monkeypatch):
    lost = []
    monkeypatch.setattr(tasks.tick_bots, "delay", lambda *args: lost.append(args))
    t0 = timezone.now()
    with time_machine.travel(t0, tick=False):
        assert tasks.schedule_due_bots() == 1
    assert lost == [(paper_bot.tenant_id, [paper_bot.pk])]
    assert not _due(paper_bot, t0 + timedelta(milliseconds=1))  # queued once, not twice
    assert _due(paper_bot, t0 + _interval())


def test_a_renewed_lease_keeps_other_workers_out(paper_bot):
    t0 = timezone.now()
    lease = bot_claim_ticks(tenant_id=paper_bot.tenant_id, bot_ids=[paper_bot.pk], now=t0)
    assert lease <= t0 + _interval()  # expires within one tick interval
    half = t0 + _interval() / 2
    renewed, held = bot_renew_ticks(tenant_id=paper_bot.tenant_id, lease=lease,
                                    bot_ids=[paper_bot.pk], now=half)
    assert held == {paper_bot.pk} and renewed > lease
    past_first = lease + timedelta(milliseconds=1)
    assert bot_claim_ticks(tenant_id=paper_bot.tenant_id, bot_ids=[paper_bot.pk],
                           now=past_first) not in _leases(paper_bot)
    assert not _due(paper_bot, past_first)
    assert bot_finish_ticks(tenant_id=paper_bot.tenant_id, lease=renewed,
                            states={paper_bot.pk: {"next_tick_at": half}}) == 1


def test_a_lease_that_lapsed_and_was_taken_cannot_be_renewed(paper_bot):
    t0 = timezone.now()
    lease = bot_claim_ticks(tenant_id=paper_bot.tenant_id, bot_ids=[paper_bot.pk], now=t0)
    theirs = bot_claim_ticks(tenant_id=paper_bot.tenant_id, bot_ids=[paper_bot.pk],
                             now=t0 + _interval())
    _renewed, held = bot_renew_ticks(tenant_id=paper_bot.tenant_id, lease=lease,
                                     bot_ids=[paper_bot.pk], now=t0 + _interval())
    assert held == set() and _leases(paper_bot) == [theirs]


def _leases(bot) -> list:
    return list(Bot.objects.filter(pk=bot.pk).values_list("tick_lease_until", flat=True))


# --- In the engine: a long batch renews its lease; a bot whose lease was lost is left alone --


class SteppingClock:
    """time.monotonic for the engine: each reading is `step` seconds after the last."""

    def __init__(self, step: float) -> None:
        self.value, self.step = 0.0, step

    def __call__(self) -> float:
        self.value += self.step
        return self.value


def test_a_long_batch_renews_its_lease_as_it_goes(world, market, monkeypatch):
    bots = [make_paper_bot(world.tenant_a, name=f"b{i}") for i in range(3)]
    clock = SteppingClock(0.0)  # each bot's tick takes 0.4 of an interval (see `tick`)
    monkeypatch.setattr(engine_batch, "_monotonic", clock)
    t0 = timezone.now()
    seen = []
    real = engine_run._guarded_tick

    def tick(bot, batch):
        clock.value += _interval().total_seconds() * 0.4
        # Another worker looks for free bots at the time this batch has reached.
        seen.append(bot_claim_ticks(tenant_id=bot.tenant_id, bot_ids=[b.pk for b in bots],
                                    now=t0 + timedelta(seconds=clock.value)))
        return real(bot, batch)

    monkeypatch.setattr(engine_run, "_guarded_tick", tick)
    market.step()
    outcomes = engine.run_ticks(tenant_id=bots[0].tenant_id, bot_ids=[b.pk for b in bots],
                                now=t0)
    assert clock.value > _interval().total_seconds()  # the batch outran its first lease
    assert [o.status for o in outcomes] == ["ticked"] * 3
    assert not Bot.objects.filter(pk__in=[b.pk for b in bots], tick_lease_until__in=seen)


def test_a_bot_whose_lease_was_taken_mid_batch_is_not_ticked_twice(world, market, monkeypatch):
    bots = [make_paper_bot(world.tenant_a, name=f"b{i}") for i in range(2)]
    interval = _interval().total_seconds()
    monkeypatch.setattr(engine_batch, "_monotonic", SteppingClock(interval * 1.5))
    t0 = timezone.now()
    real = engine_run._guarded_tick

    def tick(bot, batch):
        if bot.pk == bots[0].pk:  # meanwhile bot 1's lease lapsed and another worker took it
            Bot.objects.filter(pk=bots[1].pk).update(tick_lease_until=t0 + 10 * _interval())
        return real(bot, batch)

    monkeypatch.setattr(engine_run, "_guarded_tick", tick)
    market.step()
    outcomes = engine.run_ticks(tenant_id=bots[0].tenant_id, bot_ids=[b.pk for b in bots],
                                now=t0)
    assert outcomes[1].status == "skipped"
    assert not Order.objects.filter(bot=bots[1]).exists()
    assert Bot.objects.get(pk=bots[1].pk).last_candle_ts is None


def test_each_batch_of_a_long_scheduler_pass_claims_its_bots_when_it_starts(
        world, market, monkeypatch):
    bots = [make_paper_bot(world.tenant_a, name="a"), make_paper_bot(world.tenant_b, name="b")]
    claims = []
    real_claim, real_run = bot_services.bot_claim_ticks, engine_run.run_ticks
    t0 = timezone.now()
    with time_machine.travel(t0, tick=False) as traveller:
        def claim(**kwargs):
            lease = real_claim(**kwargs)
            claims.append((kwargs["now"], lease))
            return lease

        def run(**kwargs):
            outcomes = real_run(**kwargs)
            traveller.shift(3 * _interval())  # this batch took three tick intervals
            return outcomes

        monkeypatch.setattr(bot_services, "bot_claim_ticks", claim)
        monkeypatch.setattr(engine_run, "run_ticks", run)
        market.step()
        outcomes = engine.run_due_ticks()
    assert len(outcomes) == len(bots) == len(claims)
    second_claimed_at, second_lease = claims[1]
    assert second_claimed_at == t0 + 3 * _interval()
    assert second_lease > second_claimed_at  # not a lease that lapsed before it was taken


def test_a_bot_set_to_tick_just_after_the_schedulers_next_pass_is_due_on_that_pass(
        paper_bot, market):
    # The scheduler passes every interval; a tick that ran a little after a pass (the
    # queue's latency) sets its next tick an interval after itself, i.e. just after the next
    # pass. That pass must take it, or the bot ticks every other interval.
    t0 = timezone.now()
    engine.run_tick(tenant_id=paper_bot.tenant_id, bot_id=paper_bot.pk,
                    now=t0 + timedelta(milliseconds=300))
    next_pass = t0 + _interval()
    assert Bot.objects.get(pk=paper_bot.pk).next_tick_at > next_pass
    assert _due(paper_bot, next_pass)
    assert not _due(paper_bot, t0 + timedelta(milliseconds=301))  # but not straight away
