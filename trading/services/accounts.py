"""Exchange accounts: paper accounts with simulated balances, live accounts with credentials."""
from __future__ import annotations

from decimal import Decimal

from django.db import IntegrityError, transaction

from aitrader.errors import Conflict, ValidationFailed
from tenants.actors import Actor
from tenants.models import Role, Tenant
from tenants.plans import plan_require_feature
from tenants.services import audit_record
from trading.models import ExchangeAccount, PaperBalance, TradingMode

SUPPORTED_EXCHANGES = ("binance", "kraken", "coinbase", "bybit", "okx", "kucoin")


@transaction.atomic
def exchange_account_create(*, tenant: Tenant, actor: Actor, label: str, exchange_id: str,
                            mode: str = TradingMode.PAPER,
                            paper_starting_balance: Decimal = Decimal("10000"),
                            quote_currency: str = "USDT") -> ExchangeAccount:
    """Add an exchange account (admin+). Live accounts need a plan with live trading."""
    actor.require_role(Role.ADMIN)
    if exchange_id not in SUPPORTED_EXCHANGES:
        raise ValidationFailed(f"Unsupported exchange '{exchange_id}'; choose one of "
                               f"{', '.join(SUPPORTED_EXCHANGES)}.", field="exchange_id")
    if mode not in TradingMode.values:
        raise ValidationFailed("Mode must be 'paper' or 'live'.", field="mode")
    if mode == TradingMode.LIVE:
        plan_require_feature(tenant.plan, "live_trading")
    if Decimal(paper_starting_balance) <= 0:
        raise ValidationFailed("The paper balance must be positive.",
                               field="paper_starting_balance")
    try:
        with transaction.atomic():
            account = ExchangeAccount.objects.create(
                tenant=tenant, label=label.strip() or exchange_id, exchange_id=exchange_id,
                mode=mode, paper_starting_balance=Decimal(paper_starting_balance),
                quote_currency=quote_currency.upper())
    except IntegrityError:
        raise Conflict(f"An account labelled '{label}' exists already.") from None
    if mode == TradingMode.PAPER:
        PaperBalance.objects.create(tenant=tenant, account=account,
                                    currency=account.quote_currency,
                                    free=account.paper_starting_balance)
    audit_record(tenant=tenant, actor=actor, action="exchange_account.create",
                 target=account.label, details={"exchange": exchange_id, "mode": mode})
    return account
