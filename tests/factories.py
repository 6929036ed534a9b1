"""One factory per tenant-owned model, used by the isolation meta-test and other tests.

The isolation test fails when a TenantScopedModel has no factory here, so every model a
later change adds is covered by the cross-tenant checks as soon as it exists.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import timedelta

from django.db import models
from django.utils import timezone

from tenants.actors import Actor
from tenants.models import (
    ApiKey,
    AuditEvent,
    Invitation,
    Membership,
    RecoveryCode,
    Role,
    StripeEvent,
    Subscription,
    Tenant,
    TenantDataKey,
    User,
    VaultEntry,
)
from tenants.services import api_key_issue, recovery_codes_issue
from tenants.vault import store_secret

Factory = Callable[[Tenant], models.Model]
MODEL_FACTORIES: dict[type[models.Model], Factory] = {}
_counter = itertools.count(1)


def factory(model: type[models.Model]) -> Callable[[Factory], Factory]:
    """Register `function(tenant) -> instance` as the factory of `model`."""

    def register(function: Factory) -> Factory:
        MODEL_FACTORIES[model] = function
        return function

    return register


def make(model: type[models.Model], tenant: Tenant) -> models.Model:
    """A saved instance of `model` owned by `tenant`."""
    return MODEL_FACTORIES[model](tenant)


@factory(Membership)
def make_membership(tenant: Tenant) -> Membership:
    user = User.objects.create_user(f"member{next(_counter)}@example.com", "x" * 12)
    return Membership.objects.create(tenant=tenant, user=user, role=Role.TRADER)


@factory(ApiKey)
def make_api_key(tenant: Tenant) -> ApiKey:
    return api_key_issue(tenant=tenant, actor=Actor.system(tenant), name="factory",
                         scopes=["read"])[0]


@factory(Invitation)
def make_invitation(tenant: Tenant) -> Invitation:
    return Invitation.objects.create(
        tenant=tenant, email=f"invitee{next(_counter)}@example.com", role=Role.VIEWER,
        token_hash=f"{next(_counter):064d}", expires_at=timezone.now() + timedelta(days=1))


@factory(RecoveryCode)
def make_recovery_code(tenant: Tenant) -> RecoveryCode:
    owner = Membership.objects.for_tenant(tenant).filter(role=Role.OWNER).first().user
    recovery_codes_issue(user=owner)
    return RecoveryCode.objects.filter(user=owner).first()


@factory(AuditEvent)
def make_audit_event(tenant: Tenant) -> AuditEvent:
    return AuditEvent.objects.create(tenant=tenant, actor_label="factory", via="test",
                                     action="factory.make")


@factory(VaultEntry)
def make_vault_entry(tenant: Tenant) -> VaultEntry:
    return store_secret(tenant, f"factory-{next(_counter)}", "factory-secret")


@factory(TenantDataKey)
def make_tenant_data_key(tenant: Tenant) -> TenantDataKey:
    make_vault_entry(tenant)  # the vault makes a tenant's data key on its first secret
    return TenantDataKey.objects.for_tenant(tenant).get()


@factory(Subscription)
def make_subscription(tenant: Tenant) -> Subscription:
    return Subscription.objects.create(tenant=tenant, plan="pro", status="active",
                                       stripe_customer_id=f"cus_factory_{next(_counter)}")


@factory(StripeEvent)
def make_stripe_event(tenant: Tenant) -> StripeEvent:
    # Platform-level (not tenant-owned): the tenant only lands in `tenant_id_seen`.
    return StripeEvent.objects.create(event_id=f"evt_factory_{next(_counter)}",
                                      type="invoice.paid", tenant_id_seen=tenant.pk)


# --- trading --------------------------------------------------------------------------------
from decimal import Decimal  # noqa: E402

from trading.models import (  # noqa: E402
    BacktestRun,
    BacktestSweep,
    Bot,
    EquitySnapshot,
    ExchangeAccount,
    Fill,
    ManualOrder,
    Order,
    PaperBalance,
    Position,
    SignalAlert,
    SignalHook,
    Thought,
    Trade,
)


@factory(ExchangeAccount)
def make_exchange_account(tenant: Tenant) -> ExchangeAccount:
    return ExchangeAccount.objects.create(tenant=tenant, label=f"paper-{next(_counter)}")


@factory(PaperBalance)
def make_paper_balance(tenant: Tenant) -> PaperBalance:
    return PaperBalance.objects.create(tenant=tenant, account=make_exchange_account(tenant),
                                       currency="USDT", free=Decimal("1000"))


@factory(Bot)
def make_bot(tenant: Tenant) -> Bot:
    return Bot.objects.create(tenant=tenant, name=f"bot-{next(_counter)}",
                              account=make_exchange_account(tenant), symbol="BTC/USDT",
                              timeframe="1m", strategy="sma_cross",
                              parameters={"fast": 5, "slow": 20})


@factory(ManualOrder)
def make_manual_order(tenant: Tenant) -> ManualOrder:
    return ManualOrder.objects.create(tenant=tenant, bot=make_bot(tenant), action="exit",
                                      requested_by="factory", status="done")


@factory(Order)
def make_order(tenant: Tenant) -> Order:
    bot = make_bot(tenant)
    return Order.objects.create(tenant=tenant, bot=bot, account=bot.account,
                                client_order_id=f"test-{next(_counter)}", symbol=bot.symbol,
                                side="buy", amount=Decimal("0.01"), candle_ts=1)


@factory(Fill)
def make_fill(tenant: Tenant) -> Fill:
    order = make_order(tenant)
    return Fill.objects.create(tenant=tenant, order=order, bot=order.bot,
                               account=order.account, trade_id=f"t-{next(_counter)}",
                               symbol=order.symbol, side="buy", amount=Decimal("0.01"),
                               price=Decimal("30000"), timestamp_ms=1)


@factory(Trade)
def make_trade(tenant: Tenant) -> Trade:
    return Trade.objects.create(tenant=tenant, bot=make_bot(tenant), symbol="BTC/USDT",
                                amount=Decimal("0.01"), entry_price=Decimal("30000"),
                                entry_time=timezone.now())


@factory(Position)
def make_position(tenant: Tenant) -> Position:
    return Position.objects.create(tenant=tenant, bot=make_bot(tenant), symbol="BTC/USDT",
                                   amount=Decimal("0.01"), average_price=Decimal("30000"))


@factory(Thought)
def make_thought(tenant: Tenant) -> Thought:
    return Thought.objects.create(tenant=tenant, bot=make_bot(tenant), summary="thinking")


@factory(EquitySnapshot)
def make_equity_snapshot(tenant: Tenant) -> EquitySnapshot:
    return EquitySnapshot.objects.create(tenant=tenant, bot=make_bot(tenant), candle_ts=1,
                                         equity=Decimal("1000"), cash=Decimal("1000"))


@factory(BacktestRun)
def make_backtest_run(tenant: Tenant) -> BacktestRun:
    return BacktestRun.objects.create(tenant=tenant, strategy="sma_cross", symbol="BTC/USDT",
                                      timeframe="1h")


@factory(BacktestSweep)
def make_backtest_sweep(tenant: Tenant) -> BacktestSweep:
    return BacktestSweep.objects.create(tenant=tenant, strategy="sma_cross", symbol="BTC/USDT",
                                        timeframe="1h", grid={"fast": [5, 10]}, combinations=2)


@factory(SignalHook)
def make_signal_hook(tenant: Tenant) -> SignalHook:
    return SignalHook.objects.create(tenant=tenant, bot=make_bot(tenant),
                                     token=f"factory-token-{next(_counter)}",
                                     secret_hash=f"{next(_counter):064x}")


@factory(SignalAlert)
def make_signal_alert(tenant: Tenant) -> SignalAlert:
    return SignalAlert.objects.create(tenant=tenant, bot=make_bot(tenant),
                                      alert_id=f"factory-{next(_counter)}", action="enter",
                                      outcome="queued: enter now")


# --- notifications ----------------------------------------------------------------------------
from notifications.models import (  # noqa: E402
    ChannelDelivery,
    NotificationChannel,
    NotificationSettings,
    TelegramDelivery,
    TelegramLink,
    TelegramLinkCode,
)


def _owner_of(tenant: Tenant) -> User:
    return Membership.objects.for_tenant(tenant).select_related("user").order_by("id")[0].user


@factory(TelegramLink)
def make_telegram_link(tenant: Tenant) -> TelegramLink:
    chat_id = 10_000_000 + next(_counter)
    return TelegramLink.objects.create(tenant=tenant, chat_id=chat_id, user=_owner_of(tenant),
                                       telegram_user_id=chat_id)


@factory(TelegramLinkCode)
def make_telegram_link_code(tenant: Tenant) -> TelegramLinkCode:
    return TelegramLinkCode.objects.create(
        tenant=tenant, code_hash=f"{next(_counter):064x}", user=_owner_of(tenant),
        expires_at=timezone.now() + timedelta(minutes=10))


@factory(NotificationSettings)
def make_notification_settings(tenant: Tenant) -> NotificationSettings:
    return NotificationSettings.objects.get_or_create(tenant=tenant)[0]


@factory(TelegramDelivery)
def make_telegram_delivery(tenant: Tenant) -> TelegramDelivery:
    link = make_telegram_link(tenant)
    return TelegramDelivery.objects.create(tenant=tenant, link=link, kind="checkin",
                                           dedup_key=f"factory:{next(_counter)}", text="hello")


@factory(NotificationChannel)
def make_notification_channel(tenant: Tenant) -> NotificationChannel:
    return NotificationChannel.objects.create(tenant=tenant, kind="email",
                                              target=f"channel{next(_counter)}@example.com")


@factory(ChannelDelivery)
def make_channel_delivery(tenant: Tenant) -> ChannelDelivery:
    channel = make_notification_channel(tenant)
    return ChannelDelivery.objects.create(tenant=tenant, channel=channel, event="alert",
                                          dedup_key=f"factory:{next(_counter)}",
                                          subject="hello", text="hello")


# --- mlmodels -------------------------------------------------------------------------------
from mlmodels.models import MLModel  # noqa: E402


@factory(MLModel)
def make_mlmodel(tenant: Tenant) -> MLModel:
    return MLModel.objects.create(tenant=tenant, symbol="BTC/USDT", timeframe="1h",
                                  version=next(_counter), feature_set="ohlcv_v1",
                                  status=MLModel.Status.READY, trained_at=timezone.now())
