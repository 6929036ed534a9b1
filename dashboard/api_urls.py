"""/api/v1/: every API endpoint of the product."""
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import SimpleRouter

from dashboard.apis.accounts import (
    ApiKeyViewSet,
    ExchangeAccountViewSet,
    ExchangeCredentialsApi,
)
from dashboard.apis.audit import AuditExportApi
from dashboard.apis.backtests import BacktestViewSet
from dashboard.apis.bots import BotViewSet
from dashboard.apis.export import TradeExportApi
from dashboard.apis.history import (
    HistoryDownloadDetailApi,
    HistoryDownloadListApi,
    HistoryUploadDetailApi,
    HistoryUploadListApi,
)
from dashboard.apis.ledger import (
    EquityViewSet,
    FillViewSet,
    OrderViewSet,
    PositionViewSet,
    ThoughtViewSet,
    TradeViewSet,
)
from dashboard.apis.markets import MarketCatalogueApi
from dashboard.apis.me import MeApi
from dashboard.apis.members import InvitationViewSet, MemberViewSet
from dashboard.apis.mlmodels import MLModelViewSet
from dashboard.apis.notification_channels import NotificationChannelViewSet
from dashboard.apis.signal_hooks import BotSignalHookApi
from dashboard.apis.strategies import StrategyListApi
from dashboard.apis.sweeps import SweepViewSet
from dashboard.apis.telegram import TelegramLinkCodeApi, TelegramLinkViewSet

app_name = "api"

router = SimpleRouter()
router.register("bots", BotViewSet, basename="bot")
router.register("orders", OrderViewSet, basename="order")
router.register("fills", FillViewSet, basename="fill")
router.register("trades", TradeViewSet, basename="trade")
router.register("positions", PositionViewSet, basename="position")
router.register("thoughts", ThoughtViewSet, basename="thought")
router.register("equity", EquityViewSet, basename="equity")
router.register("backtests", BacktestViewSet, basename="backtest")
router.register("sweeps", SweepViewSet, basename="sweep")
router.register("exchange-accounts", ExchangeAccountViewSet, basename="exchange-account")
router.register("api-keys", ApiKeyViewSet, basename="api-key")
router.register("models", MLModelViewSet, basename="mlmodel")
router.register("members/invitations", InvitationViewSet, basename="invitation")
router.register("members", MemberViewSet, basename="member")
router.register("telegram/links", TelegramLinkViewSet, basename="telegram-link")
router.register("notification-channels", NotificationChannelViewSet,
                basename="notification-channel")

urlpatterns = [
    path("me/", MeApi.as_view(), name="me"),
    path("strategies/", StrategyListApi.as_view(), name="strategies"),
    path("markets/", MarketCatalogueApi.as_view(), name="markets"),
    path("export/trades.csv", TradeExportApi.as_view(), name="export-trades"),
    path("exchange-accounts/<int:pk>/credentials/",
         ExchangeCredentialsApi.as_view({"post": "create", "delete": "destroy"}),
         name="exchange-account-credentials"),
    path("telegram/link-codes/", TelegramLinkCodeApi.as_view(), name="telegram-link-codes"),
    path("bots/<int:pk>/signal-hook/", BotSignalHookApi.as_view(), name="bot-signal-hook"),
    path("audit-events/export.csv", AuditExportApi.as_view(), name="audit-export"),
    path("history/downloads/", HistoryDownloadListApi.as_view(), name="history-downloads"),
    path("history/downloads/<str:download_id>/", HistoryDownloadDetailApi.as_view(),
         name="history-download-detail"),
    path("history/uploads/", HistoryUploadListApi.as_view(), name="history-uploads"),
    path("history/uploads/<str:upload_id>/", HistoryUploadDetailApi.as_view(),
         name="history-upload-detail"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its script as a file (?script): an inline one breaks the CSP.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
    *router.urls,
]
