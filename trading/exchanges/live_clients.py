"""Live exchange clients signed with the API credentials an account keeps in the vault.

An account's key and secret live in the vault under `account.credential_ref`, as the fields
`api_key` and `secret`; nothing else in the project holds them. Where each exchange's API is
reached can be redirected per exchange (a sandbox, or the local stand-in in tests) with
`set_live_connection`, the same way `trading.exchanges.factory.set_market_source` chooses a
market-data feed.
"""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from aitrader.errors import ValidationFailed
from tenants.vault import VaultSecretMissing, load_secret
from trading.models import ExchangeAccount

if TYPE_CHECKING:
    from trading.exchanges.live import LiveExchange

API_KEY_FIELD = "api_key"
SECRET_FIELD = "secret"  # noqa: S105  (a field name, not a secret)

_connections: dict[str, dict[str, Any]] = {}
_connections_lock = threading.Lock()


def credential_ref_for(account: ExchangeAccount) -> str:
    """The vault entry name of an account's credentials (stable, unique per tenant)."""
    return f"exchange-account-{account.pk}"


def set_live_connection(exchange_id: str, **options: Any) -> None:
    """Keyword arguments of `LiveExchange` (urls_api, markets, ccxt_config, timeout_ms) for
    every signed client of `exchange_id` made from now on."""
    with _connections_lock:
        _connections[exchange_id] = dict(options)


def reset_live_connections() -> None:
    """Back to every exchange's own API."""
    with _connections_lock:
        _connections.clear()


def _connection(exchange_id: str) -> dict[str, Any]:
    with _connections_lock:
        return dict(_connections.get(exchange_id, {}))


def live_exchange_for_keys(exchange_id: str, api_key: str, secret: str) -> LiveExchange:
    """A new, unshared client for credentials that are not saved yet (to verify them).

    The caller closes it; saved credentials go through `live_exchange_for_account`.
    """
    # ccxt (~65 MB resident) loads when a live client is first made, not in every web process that
    # routes the credentials endpoint.
    from trading.exchanges.live import LiveExchange

    return LiveExchange(exchange_id, api_key, secret, **_connection(exchange_id))


def live_exchange_for_account(account: ExchangeAccount) -> LiveExchange:
    """The account's live exchange, signed with the credentials loaded from the vault.

    The process keeps one client per credentials (its HTTP session and rate limiter outlive a
    tick); new credentials get a new client. VaultError propagates: the vault has alerted.
    """
    from trading.exchanges.live import shared_live_exchange

    api_key, secret = _load_credentials(account)
    return shared_live_exchange(account.exchange_id, api_key, secret,
                                **_connection(account.exchange_id))


def require_credentials(account: ExchangeAccount) -> None:
    """ValidationFailed (field `credentials`) unless the account has API credentials saved:
    a live bot cannot be created, or trade, without them."""
    if not account.has_credentials:
        raise ValidationFailed("This live account has no API credentials; add them in "
                               "settings before running a live bot.", field="credentials")


def _load_credentials(account: ExchangeAccount) -> tuple[str, str]:
    require_credentials(account)
    try:
        return (load_secret(account.tenant_id, account.credential_ref, field=API_KEY_FIELD),
                load_secret(account.tenant_id, account.credential_ref, field=SECRET_FIELD))
    except VaultSecretMissing:
        raise ValidationFailed("This live account's API credentials are missing from the "
                               "vault; save them again in settings.",
                               field="credentials") from None
