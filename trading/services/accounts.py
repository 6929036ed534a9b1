"""Exchange accounts: paper accounts with simulated balances, live accounts with credentials."""
from __future__ import annotations

from decimal import Decimal

from django.db import IntegrityError, transaction

from aitrader.errors import Conflict, ValidationFailed
from tenants.actors import Actor
from tenants.models import Scope, Tenant
from tenants.plans import plan_require_feature
from tenants.services import audit_record
from trading import selectors
from trading.core.money import PAPER_BALANCE
from trading.core.symbols import clean_currency
from trading.models import ExchangeAccount, PaperBalance, TradingMode

SUPPORTED_EXCHANGES = ("binance", "kraken", "coinbase", "bybit", "okx", "kucoin")


@transaction.atomic
def exchange_account_create(*, tenant: Tenant, actor: Actor, label: str, exchange_id: str,
                            mode: str = TradingMode.PAPER,
                            paper_starting_balance: Decimal = Decimal("10000"),
                            quote_currency: str = "USDT") -> ExchangeAccount:
    """Add an exchange account (a signed-in admin, or a key with the `admin` scope). Live
    accounts need a plan with live trading; their credentials are set by a signed-in admin."""
    actor.require(Scope.ADMIN)
    if exchange_id not in SUPPORTED_EXCHANGES:
        raise ValidationFailed(f"Unsupported exchange '{exchange_id}'; choose one of "
                               f"{', '.join(SUPPORTED_EXCHANGES)}.", field="exchange_id")
    if mode not in TradingMode.values:
        raise ValidationFailed("Mode must be 'paper' or 'live'.", field="mode")
    if mode == TradingMode.LIVE:
        plan_require_feature(tenant.plan, "live_trading")
    paper_starting_balance = PAPER_BALANCE.check(paper_starting_balance,
                                                 field="paper_starting_balance")
    quote_currency = clean_currency(quote_currency)
    try:
        with transaction.atomic():
            account = ExchangeAccount.objects.create(
                tenant=tenant, label=label.strip() or exchange_id, exchange_id=exchange_id,
                mode=mode, paper_starting_balance=paper_starting_balance,
                quote_currency=quote_currency)
    except IntegrityError:
        raise Conflict(f"An account labelled '{label}' exists already.") from None
    if mode == TradingMode.PAPER:
        PaperBalance.objects.create(tenant=tenant, account=account,
                                    currency=account.quote_currency,
                                    free=account.paper_starting_balance)
    audit_record(tenant=tenant, actor=actor, action="exchange_account.create",
                 target=account.label, details={"exchange": exchange_id, "mode": mode})
    return account


def paper_account_free_label(*, tenant: Tenant) -> str:
    """The first of "Paper", "Paper 2", "Paper 3", ... no account of the tenant uses: the
    label a paper account made on the user's behalf gets (labels are unique per tenant)."""
    taken = set(selectors.exchange_account_list(tenant=tenant).values_list("label", flat=True))
    label, number = "Paper", 1
    while label in taken:
        number += 1
        label = f"Paper {number}"
    return label

