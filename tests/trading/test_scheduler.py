"""The embedded scheduler runs bot ticks and the rest of the beat schedule in-process."""
from __future__ import annotations

import trading.scheduler as scheduler_module
from tests.trading.conftest import make_paper_bot
from trading.models import Thought
from trading.scheduler import EmbeddedScheduler, beat_jobs


def test_it_runs_every_beat_job_except_the_tick_scheduler():
    names = {name for name, _task, _every in beat_jobs()}
    assert "send-due-checkins" in names and "schedule-due-bots" not in names


def test_a_pass_ticks_due_bots_and_runs_due_jobs_once_per_interval(world, market, monkeypatch):
    bot = make_paper_bot(world.tenant_a)
    calls = []
    monkeypatch.setattr(scheduler_module, "beat_jobs", lambda: [("job", "x.y", 60.0)])
    monkeypatch.setattr(scheduler_module, "symbol_by_name",
                        lambda path: lambda: calls.append(path))
    scheduler = EmbeddedScheduler()
    market.step()
    assert scheduler.run_once() == 1
    scheduler.run_once()
    assert calls == ["x.y"]  # due at once, then not again within its 60 s
    assert Thought.objects.filter(bot=bot, kind="decision").count() == 1


def test_a_failing_job_does_not_stop_the_ticks(world, market, monkeypatch):
    bot = make_paper_bot(world.tenant_a)

    def broken():
        raise RuntimeError("boom")

    monkeypatch.setattr(scheduler_module, "beat_jobs", lambda: [("broken", "x.y", 1.0)])
    monkeypatch.setattr(scheduler_module, "symbol_by_name", lambda path: broken)
    market.step()
    assert EmbeddedScheduler().run_once() == 1
    assert Thought.objects.filter(bot=bot).exists()


def test_refreshing_market_data_fetches_each_active_feed_once(world, market):
    from trading.tasks import refresh_market_data

    make_paper_bot(world.tenant_a, name="a")
    make_paper_bot(world.tenant_b, name="b")
    market.step()
    assert refresh_market_data() == 1
    assert refresh_market_data() == 1
    assert market.fetches == 1  # two tenants, one feed, one fetch this candle
