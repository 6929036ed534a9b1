"""Staff views of trading data; credentials are never shown (only whether they exist)."""
from django.contrib import admin

from trading.models import (
    BacktestRun,
    BacktestSweep,
    Bot,
    EquitySnapshot,
    ExchangeAccount,
    Fill,
    MarketFeed,
    Order,
    PaperBalance,
    Position,
    Thought,
    Trade,
)


@admin.register(ExchangeAccount)
class ExchangeAccountAdmin(admin.ModelAdmin):
    list_display = ["label", "tenant", "exchange_id", "mode", "has_credentials", "created_at"]
    list_filter = ["mode", "exchange_id"]
    search_fields = ["label", "tenant__slug"]
    list_select_related = ["tenant"]
    exclude = ["credential_ref"]

    @admin.display(boolean=True)
    def has_credentials(self, obj: ExchangeAccount) -> bool:
        return obj.has_credentials


@admin.register(Bot)
class BotAdmin(admin.ModelAdmin):
    list_display = ["name", "tenant", "symbol", "timeframe", "strategy", "status",
                    "paused_reason", "updated_at"]
    list_filter = ["status", "strategy", "timeframe"]
    search_fields = ["name", "symbol", "tenant__slug"]
    list_select_related = ["tenant"]
    readonly_fields = ["last_candle_ts", "tick_lease_until", "stale_checks", "exchange_errors",
                       "realized_pnl", "peak_equity", "cooldown_until_ts"]


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["client_order_id", "tenant", "bot", "side", "type", "amount", "status",
                    "filled", "average", "created_at"]
    list_filter = ["status", "side", "type"]
    search_fields = ["client_order_id", "exchange_order_id", "tenant__slug", "bot__name"]
    list_select_related = ["tenant", "bot"]


@admin.register(Fill)
class FillAdmin(admin.ModelAdmin):
    list_display = ["trade_id", "tenant", "bot", "side", "amount", "price", "fee", "created_at"]
    search_fields = ["trade_id", "tenant__slug"]
    list_select_related = ["tenant", "bot"]


@admin.register(Trade)
class TradeAdmin(admin.ModelAdmin):
    list_display = ["id", "tenant", "bot", "symbol", "status", "amount", "entry_price",
                    "exit_price", "pnl", "exit_reason", "entry_time"]
    list_filter = ["status", "exit_reason"]
    search_fields = ["symbol", "tenant__slug", "bot__name"]
    list_select_related = ["tenant", "bot"]


@admin.register(Position)
class PositionAdmin(admin.ModelAdmin):
    list_display = ["bot", "tenant", "symbol", "amount", "average_price", "updated_at"]
    list_select_related = ["tenant", "bot"]


@admin.register(Thought)
class ThoughtAdmin(admin.ModelAdmin):
    list_display = ["created_at", "tenant", "bot", "kind", "summary"]
    list_filter = ["kind"]
    search_fields = ["summary", "tenant__slug", "bot__name"]
    list_select_related = ["tenant", "bot"]


@admin.register(EquitySnapshot)
class EquitySnapshotAdmin(admin.ModelAdmin):
    list_display = ["bot", "tenant", "candle_ts", "equity", "cash", "position_value"]
    list_select_related = ["tenant", "bot"]


@admin.register(PaperBalance)
class PaperBalanceAdmin(admin.ModelAdmin):
    list_display = ["account", "tenant", "currency", "free", "used"]
    list_select_related = ["tenant", "account"]


@admin.register(BacktestRun)
class BacktestRunAdmin(admin.ModelAdmin):
    list_display = ["id", "tenant", "strategy", "symbol", "timeframe", "status", "progress",
                    "created_at"]
    list_filter = ["status", "strategy"]
    list_select_related = ["tenant"]
    exclude = ["report"]


@admin.register(BacktestSweep)
class BacktestSweepAdmin(admin.ModelAdmin):
    list_display = ["id", "tenant", "strategy", "symbol", "timeframe", "combinations", "status",
                    "progress", "created_at"]
    list_filter = ["status", "strategy"]
    list_select_related = ["tenant"]
    exclude = ["result"]


@admin.register(MarketFeed)
class MarketFeedAdmin(admin.ModelAdmin):
    list_display = ["exchange_id", "symbol", "timeframe", "last_fetch_at", "last_candle_ts",
                    "fetch_count", "last_error"]
