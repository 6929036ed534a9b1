"""Check-ins: exactly one per link per interval, whatever the workers, passes or restarts.

The concurrency tests run real threads against a committed database (SQLite here, PostgreSQL
with DATABASE_URL): two workers race every minute of a simulated hour.
"""
from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection

from notifications import services
from notifications.models import TelegramDelivery, TelegramLink
from tenants.models import Membership
from tests.base import build_world
from tests.notifications.conftest import CHATS, build_cast, link_chat
from tests.trading.conftest import make_paper_bot

START = datetime(2026, 3, 2, 9, 0, 10, tzinfo=UTC)


def _checkins(fake, chat_id: int) -> list[str]:
    return [t for t in fake.texts(chat_id) if t.startswith("Check-in")]


def _run_pass(capture=None) -> int:
    if capture is None:
        return services.checkin_send_due()
    with capture(execute=True):
        return services.checkin_send_due()


@pytest.mark.django_db
def test_a_link_that_never_had_a_checkin_is_due_at_once(cast, fake_telegram,
                                                       django_capture_on_commit_callbacks):
    make_paper_bot(cast.tenant_a, name="sma")
    link_chat(cast, "tina")
    assert _run_pass(django_capture_on_commit_callbacks) == 1
    [text] = _checkins(fake_telegram, CHATS["tina"])
    assert "Tenant A" in text and "sma · BTC/USDT · running" in text
    assert "Next check-in in 30 min" in text
    link = TelegramLink.objects.get(chat_id=CHATS["tina"])
    assert link.next_checkin_at - link.last_checkin_at == timedelta(minutes=30)
    assert TelegramDelivery.objects.get().status == TelegramDelivery.Status.SENT


@pytest.mark.django_db
def test_one_worker_sends_one_checkin_per_interval_over_an_hour(cast, fake_telegram,
                                                                django_capture_on_commit_callbacks):
    with time_machine.travel(START, tick=False) as clock:
        link_chat(cast, "tina")
        for _minute in range(61):  # 09:00 ... 10:00 inclusive
            _run_pass(django_capture_on_commit_callbacks)
            _run_pass(django_capture_on_commit_callbacks)  # a second pass in the same minute
            clock.shift(timedelta(minutes=1))
    sent = _checkins(fake_telegram, CHATS["tina"])
    assert [t.split(" UTC")[0] for t in sent] == ["Check-in 09:00", "Check-in 09:30",
                                                  "Check-in 10:00"]


@pytest.mark.django_db
def test_a_per_link_interval_is_honoured(cast, fake_telegram, django_capture_on_commit_callbacks):
    with time_machine.travel(START, tick=False) as clock:
        link = link_chat(cast, "tina")
        services.link_set_checkins(tenant=cast.tenant_a, actor=services.Actor.system(
            cast.tenant_a), link_id=link.pk, interval_minutes=15)
        for _minute in range(60):
            _run_pass(django_capture_on_commit_callbacks)
            clock.shift(timedelta(minutes=1))
    assert len(_checkins(fake_telegram, CHATS["tina"])) == 4  # :00 :15 :30 :45


@pytest.mark.django_db
def test_checkins_off_sends_nothing_but_the_link_stays(cast, fake_telegram,
                                                      django_capture_on_commit_callbacks):
    link = link_chat(cast, "tina")
    services.link_set_checkins(tenant=cast.tenant_a, actor=services.Actor.system(cast.tenant_a),
                               link_id=link.pk, enabled=False)
    assert _run_pass(django_capture_on_commit_callbacks) == 0
    assert fake_telegram.calls("sendMessage") == []


@pytest.mark.django_db
def test_the_platform_switch_turns_every_checkin_off(cast, fake_telegram, settings,
                                                    django_capture_on_commit_callbacks):
    link_chat(cast, "tina")
    settings.AITRADER_TELEGRAM_SEND_CHECKINS = False
    assert _run_pass(django_capture_on_commit_callbacks) == 0
    assert fake_telegram.calls("sendMessage") == []


@pytest.mark.django_db
def test_after_an_outage_a_chat_gets_one_checkin_not_a_burst(cast, fake_telegram,
                                                            django_capture_on_commit_callbacks):
    with time_machine.travel(START, tick=False) as clock:
        link_chat(cast, "tina")
        _run_pass(django_capture_on_commit_callbacks)
        clock.shift(timedelta(hours=3, minutes=7))  # beat was down for three hours
        _run_pass(django_capture_on_commit_callbacks)
        _run_pass(django_capture_on_commit_callbacks)
        link = TelegramLink.objects.get(chat_id=CHATS["tina"])
        assert link.next_checkin_at == START + timedelta(hours=3, minutes=37)
    assert len(_checkins(fake_telegram, CHATS["tina"])) == 2


@pytest.mark.django_db
def test_a_removed_members_chat_gets_no_checkin(cast, fake_telegram,
                                               django_capture_on_commit_callbacks):
    link = link_chat(cast, "tina")
    # Bypass the delete signal, as if the membership vanished some other way.
    Membership.objects.filter(user=cast.tina)._raw_delete(Membership.objects.db)
    assert _run_pass(django_capture_on_commit_callbacks) == 0
    link.refresh_from_db()
    assert not link.active and fake_telegram.calls("sendMessage") == []


@pytest.mark.django_db
def test_a_suspended_tenant_gets_no_checkins(cast, fake_telegram,
                                            django_capture_on_commit_callbacks):
    link_chat(cast, "tina")
    cast.tenant_a.status = "suspended"
    cast.tenant_a.save()
    assert _run_pass(django_capture_on_commit_callbacks) == 0


# --- concurrency: two workers racing the claim ---------------------------------------------------


def _worker(rounds: int, start: threading.Barrier, done: threading.Barrier,
            errors: list[BaseException]) -> None:
    try:
        for _ in range(rounds):
            start.wait()
            try:
                services.checkin_send_due()
            except BaseException as exc:  # reported to the test thread
                errors.append(exc)
            done.wait()
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
def test_two_workers_racing_every_minute_send_exactly_one_checkin_per_interval(fake_telegram):
    cast = build_cast(build_world())
    names = ["alice", "adam", "tina", "bob", "charlie"]
    minutes = 61  # 09:00 ... 10:00 inclusive: slots at :00, :30 and 10:00
    with time_machine.travel(START, tick=False) as clock:
        for name in names:
            link_chat(cast, name)
        start, done = threading.Barrier(3), threading.Barrier(3)
        errors: list[BaseException] = []
        workers = [threading.Thread(target=_worker, args=(minutes, start, done, errors))
                   for _ in range(2)]
        for worker in workers:
            worker.start()
        for _minute in range(minutes):
            start.wait()   # both workers run their pass at the same simulated minute
            done.wait()
            clock.shift(timedelta(minutes=1))
        for worker in workers:
            worker.join(30)
    assert not errors, errors
    for name in names:
        sent = _checkins(fake_telegram, CHATS[name])
        assert [t.split(" UTC")[0].split(" · ")[0] for t in sent] == [
            "Check-in 09:00", "Check-in 09:30", "Check-in 10:00"], name
    per_link = Counter(TelegramDelivery.objects.values_list("link_id", flat=True))
    assert sorted(per_link.values()) == [3] * len(names)
    assert set(TelegramDelivery.objects.values_list("status", flat=True)) == {"sent"}


@pytest.mark.django_db(transaction=True)
def test_a_restarted_beat_does_not_resend_the_slot(fake_telegram):
    # Nothing is remembered in the process: a "restart" is just another pass, and the
    # claimed slot in the database keeps it from sending again.
    cast = build_cast(build_world())
    with time_machine.travel(START, tick=False) as clock:
        link_chat(cast, "tina")
        assert services.checkin_send_due() == 1
        clock.shift(timedelta(seconds=50))
        assert services.checkin_send_due() == 0
    assert len(_checkins(fake_telegram, CHATS["tina"])) == 1
