"""Secrets are write-only: a planted key and secret never show up in logs, API responses,
admin pages, audit rows, thoughts or exception text, whatever path they take."""
from __future__ import annotations

import base64
import logging
import traceback

import pytest
from django.urls import reverse

from aitrader.errors import ServiceError
from tenants.models import AuditEvent, User, VaultEntry
from tenants.vault import load_secret, store_secret
from tests.base import PASSWORD, client_past_second_factor, owner_actor
from tests.fakes.binance import binance_markets
from trading.exchanges.live_clients import (
    live_exchange_for_account,
    reset_live_connections,
    set_live_connection,
)
from trading.models import Thought
from trading.services.accounts import exchange_account_create
from trading.services.credentials import exchange_credentials_save

PLANTED_KEY = "PLANTEDKEYq8Zk2Vw7Rt4Yx1Nm6Bc3"
PLANTED_SECRET = "PLANTEDSECRETe5Jh9Lp0Gf2Ds8Aa4Qw7"


def forms_of(secret: str) -> list[str]:
    """The secret as written, and the encodings a careless log line might use."""
    raw = secret.encode()
    return [secret, base64.b64encode(raw).decode(), raw.hex()]


def exception_text(error: BaseException) -> str:
    return "".join(traceback.format_exception(error)) + repr(error)


@pytest.fixture
def planted(world, fake_binance):
    set_live_connection("binance", urls_api=fake_binance.url, markets=binance_markets(),
                        timeout_ms=2000, ccxt_config={"rateLimit": 1, "timeout_on_exit": 0})
    fake_binance.keys[PLANTED_KEY] = PLANTED_SECRET
    yield fake_binance
    reset_live_connections()


def save(tenant, account, *, password=PASSWORD, secret=PLANTED_SECRET):
    return exchange_credentials_save(tenant=tenant, actor=owner_actor(tenant),
                                     account_id=account.pk, api_key=PLANTED_KEY,
                                     secret=secret, password=password)


def failures(tenant, account, fake) -> list[BaseException]:
    """Every refusal on the way, each carrying the planted values as input."""
    errors = []
    attempts = [
        lambda: save(tenant, account, password="wrong-password-123"),
        lambda: save(tenant, account, secret=PLANTED_SECRET + "x"),  # the exchange refuses
        lambda: (fake.set_permissions(enableWithdrawals=True), save(tenant, account)),
    ]
    for attempt in attempts:
        with pytest.raises(ServiceError) as caught:
            attempt()
        errors.append(caught.value)
    fake.set_permissions(enableWithdrawals=False)
    return errors


def tamper_and_load(tenant, reference) -> BaseException:
    entry = VaultEntry.objects.for_tenant(tenant).get(name=reference, field="secret")
    VaultEntry.objects.filter(pk=entry.pk).update(tag=bytes(16))
    with pytest.raises(ServiceError) as caught:
        load_secret(tenant, reference, field="secret")
    return caught.value


def pages(world, account) -> list[str]:
    """What the API and the admin show about the account and its vault rows."""
    api = world.client_for(world.alice)
    admin = client_past_second_factor(User.objects.create_superuser("staff@example.com",
                                                                    PASSWORD))
    entry = VaultEntry.objects.for_tenant(world.tenant_a).first()
    urls = [(api, "/api/v1/exchange-accounts/"),
            (api, f"/api/v1/exchange-accounts/{account.pk}/"),
            (admin, reverse("admin:tenants_vaultentry_changelist")),
            (admin, reverse("admin:tenants_vaultentry_change", args=[entry.pk])),
            (admin, reverse("admin:tenants_tenantdatakey_changelist")),
            (admin, reverse("admin:trading_exchangeaccount_change", args=[account.pk])),
            (admin, reverse("admin:tenants_auditevent_changelist"))]
    bodies = []
    for client, url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        bodies.append(response.content.decode())
    return bodies


@pytest.mark.django_db
def test_a_planted_secret_never_leaks(world, planted, caplog):
    caplog.set_level(logging.DEBUG)  # every logger, every level
    tenant = world.tenant_a
    account = exchange_account_create(tenant=tenant, actor=owner_actor(tenant),
                                      label="live", exchange_id="binance", mode="live")
    errors = failures(tenant, account, planted)
    save(tenant, account)
    account.refresh_from_db()
    assert live_exchange_for_account(account).fetch_balance()  # signed calls went out
    store_secret(tenant, "direct", PLANTED_SECRET)
    assert load_secret(tenant, "direct") == PLANTED_SECRET
    errors.append(tamper_and_load(tenant, account.credential_ref))

    seen = {"logs": caplog.text, "errors": "\n".join(exception_text(e) for e in errors),
            "pages": "\n".join(pages(world, account)),
            "audit": "\n".join(str(e.details) + e.target for e in AuditEvent.objects.all()),
            "thoughts": "\n".join(f"{t.summary} {t.data}" for t in Thought.objects.all())}
    assert "vault: cannot open" in seen["logs"]  # the capture did see the failure
    for where, text in seen.items():
        for value in (PLANTED_KEY, PLANTED_SECRET):
            for form in forms_of(value):
                assert form not in text, f"a planted credential appeared in {where}"
