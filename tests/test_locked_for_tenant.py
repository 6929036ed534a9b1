"""`Model.objects.locked_for_tenant(tenant, pk)`: the one way a service locks a tenant's row.

Another tenant's id answers exactly like a missing one (NotFound, which the API turns into a
404); the tenant's own id returns the row, locked for the rest of the caller's transaction.
"""
from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.forms.models import model_to_dict
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from aitrader.errors import NotFound
from tests.factories import make
from trading.models import Bot

pytestmark = pytest.mark.django_db


def test_own_pk_returns_the_row(world):
    bot = make(Bot, world.tenant_a)
    with transaction.atomic():
        locked = Bot.objects.locked_for_tenant(world.tenant_a, bot.pk)
    assert locked == bot


def test_another_tenants_pk_raises_not_found_like_a_missing_one(world):
    bot = make(Bot, world.tenant_a)
    with transaction.atomic(), pytest.raises(NotFound) as foreign:
        Bot.objects.locked_for_tenant(world.tenant_b, bot.pk)
    with transaction.atomic(), pytest.raises(NotFound) as missing:
        Bot.objects.locked_for_tenant(world.tenant_b, 2_000_000_000)
    assert str(foreign.value) == str(missing.value) == "No such bot."


def test_a_site_may_name_its_own_message_or_accept_a_missing_row(world):
    bot = make(Bot, world.tenant_a)
    with transaction.atomic(), pytest.raises(NotFound, match="That bot is gone."):
        Bot.objects.locked_for_tenant(world.tenant_b, bot.pk, message="That bot is gone.")
    with transaction.atomic():
        assert Bot.objects.locked_for_tenant(world.tenant_b, bot.pk, missing_ok=True) is None


def test_an_unsaved_tenant_is_refused_rather_than_read_as_every_tenant(world):
    bot = make(Bot, world.tenant_a)
    with transaction.atomic(), pytest.raises(ValueError):
        Bot.objects.locked_for_tenant(None, bot.pk)


def test_it_takes_a_row_lock_scoped_to_the_tenant(world):
    bot = make(Bot, world.tenant_a)
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        Bot.objects.locked_for_tenant(world.tenant_a, bot.pk)
    (sql,) = [q["sql"] for q in queries.captured_queries]
    assert '"tenant_id"' in sql
    if connection.features.has_select_for_update:  # PostgreSQL; SQLite has no row locks
        assert "FOR UPDATE" in sql


def test_an_endpoint_that_locks_answers_404_for_another_tenants_row(world):
    """Pausing a bot locks it: tenant B pausing tenant A's bot is a 404 and changes nothing."""
    bot = make(Bot, world.tenant_a)
    before = model_to_dict(bot)
    client = world.client_with_key(world.control_key_b)
    response = client.post(reverse("api:bot-pause", kwargs={"pk": bot.pk}), {}, format="json")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert model_to_dict(Bot.objects.for_tenant(world.tenant_a).get(pk=bot.pk)) == before
