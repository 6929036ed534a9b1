"""Forms of the dashboard pages. They parse input; the services apply the rules.

Strategy parameters are not form fields: the page builds one input per declared parameter
(named `param_<name>`) from the strategy's schema, and `strategy_parameters` collects them.
A browser without JavaScript sends none, and the strategy's defaults apply.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django import forms
from django.http import QueryDict
from django.utils.html import format_html, format_html_join

from tenants.models import Scope
from trading.core import money
from trading.core.backtest.config import BACKTEST_LIMITS as LIMITS
from trading.core.backtest.config import BacktestConfig, as_percent
from trading.core.strategies import STRATEGIES
from trading.core.strategies.presets import PRESETS
from trading.core.symbols import MAX_PAIRS
from trading.core.timeframes import SUPPORTED as SUPPORTED_TIMEFRAMES
from trading.models import TradingMode
from trading.selectors import bot_pairs
from trading.services.accounts import SUPPORTED_EXCHANGES
from trading.services.backtests import DATA_SET_LABELS
from trading.services.candle_history import DOWNLOAD_EARLIEST

PARAM_PREFIX = "param_"
NEW_PAPER_ACCOUNT = "new-paper"
SYMBOLS = ("BTC/USDT", "ETH/USDT")
DEFAULT_SYMBOL = "BTC/USDT"
BACKTEST_TIMEFRAMES = ("1m", "1h")  # the stored sample histories


class DatalistInput(forms.TextInput):
    """A text input suggesting `options` (an exchange lists thousands of markets: a select
    would be a wall; any other text is still sent, and the service names what is wrong)."""

    def __init__(self, options: Sequence[str] = (), attrs: dict | None = None) -> None:
        super().__init__(attrs)
        self.options = list(options)

    def render(self, name: str, value: Any, attrs: dict | None = None,
               renderer: Any = None) -> str:
        list_id = f"{(attrs or {}).get('id') or name}-options"
        field = super().render(name, value, {**(attrs or {}), "list": list_id}, renderer)
        options = format_html_join("", '<option value="{}">', ((o,) for o in self.options))
        return format_html('{}<datalist id="{}">{}</datalist>', field, list_id, options)


class MarketFields(forms.Form):
    """Market and candle fields offered from the catalogue of the tenant's exchanges
    (trading.services.market.market_offer); the bot service checks the chosen pair against
    the account's own exchange, on every surface."""

    symbol = forms.CharField(max_length=30, label="Market", widget=DatalistInput())
    timeframe = forms.ChoiceField(label="Candle")
    # Checked by the bot service (trading.core.symbols.clean_pair_list), as on every surface.
    pairs = forms.CharField(
        required=False, max_length=MAX_PAIRS * 31, label="More pairs",
        help_text=f"Optional: trade up to {MAX_PAIRS - 1} more markets with the same settings, "
                  "separated by commas (e.g. ETH/USDT, SOL/USDT). Each pair has the capital "
                  "of its own; the risk preset's max open positions holds across them.")

    def offer_markets(self, offer: tuple[list[str], list[str]], *,
                      current_timeframe: str | None = None) -> None:
        """Suggest `offer`'s symbols and choose among its timeframes (a bot's own
        timeframe stays choosable even if the catalogue no longer lists it)."""
        symbols, timeframes = offer
        self.fields["symbol"].widget.options = symbols
        if current_timeframe and current_timeframe not in timeframes:
            timeframes = [current_timeframe, *timeframes]
        self.fields["timeframe"].choices = [(t, t) for t in timeframes]


def _strategy_choices() -> list[tuple[str, str]]:
    return [(key, STRATEGIES[key].name) for key in sorted(STRATEGIES)]


def _preset_choices() -> list[tuple[str, str]]:
    return [(name, name.capitalize()) for name in PRESETS]


def strategy_parameters(data: QueryDict, strategy: str) -> dict[str, str]:
    """The submitted `param_<name>` values of `strategy`'s declared parameters.

    Blank inputs are left out so the strategy's default applies; the service validates and
    coerces the rest, naming the parameter in its error.
    """
    strategy_class = STRATEGIES.get(strategy)
    if strategy_class is None:
        return {}
    values = {}
    for param in strategy_class.params:
        raw = data.get(PARAM_PREFIX + param.name)
        if param.type == "bool":
            values[param.name] = "true" if raw in ("on", "true", "1") else "false"
        elif raw not in (None, ""):
            values[param.name] = raw.strip()
    return values


class BotForm(MarketFields):
    """A new bot: paper by default, on an existing account or a new paper account."""

    name = forms.CharField(max_length=80, label="Bot name")
    account = forms.ChoiceField(label="Exchange account")
    strategy = forms.ChoiceField(choices=_strategy_choices, initial="sma_cross")
    preset = forms.ChoiceField(choices=_preset_choices, initial="balanced", label="Risk preset")
    capital = forms.DecimalField(**money.CAPITAL.field_kwargs(), initial=Decimal("1000"),
                                 label="Capital (quote currency, per pair)",
                                 help_text=money.CAPITAL.describe().capitalize() + ".")

    field_order = ("name", "account", "symbol", "pairs", "timeframe", "strategy", "preset",
                   "capital")

    def __init__(self, *args: Any, accounts=(), can_add_account: bool = False,
                 offer: tuple[list[str], list[str]] = ([], ["1m"]), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.offer_markets(offer)
        symbols = offer[0]
        # BTC/USDT unless the catalogue lacks it (with no catalogue known, it is a fair guess).
        self.fields["symbol"].initial = (DEFAULT_SYMBOL if not symbols or DEFAULT_SYMBOL in symbols
                                         else symbols[0])
        self.fields["timeframe"].initial = "1m"
        # Paper accounts first, and only ever a paper one chosen for the user: a live account
        # is used because someone picked it, never because its label sorts first.
        accounts = sorted(accounts, key=lambda a: a.mode != TradingMode.PAPER)
        choices = [(str(a.pk), f"{a.label} · {a.get_mode_display()}") for a in accounts]
        if can_add_account:
            choices.append((NEW_PAPER_ACCOUNT, "New paper account"))
        paper = [str(a.pk) for a in accounts if a.mode == TradingMode.PAPER]
        # The page asks for a confirmation before a bot trades real money on one of these.
        self.live_accounts = [str(a.pk) for a in accounts if a.mode == TradingMode.LIVE]
        if can_add_account:
            paper.append(NEW_PAPER_ACCOUNT)
        default = paper[0] if paper else ""
        if choices and not default:  # only live accounts to offer: the user must pick one
            choices.insert(0, ("", "Choose an account"))
        self.fields["account"].choices = choices
        self.fields["account"].initial = default


def _percent(fraction: float) -> Decimal:
    return Decimal(repr(fraction)) * 100


def _day_ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


def _ms_day(epoch_ms: int) -> date:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).date()


class BacktestSettingsForm(forms.Form):
    """What a backtest and a sweep share: a market's data set, a range of it, and the money
    and frictions.

    Fee, slippage and stake are asked in percent; their bounds are the backtest config's own
    (BACKTEST_LIMITS), converted, so the page, the API and the service refuse the same values.
    A blank setting takes the backtest's default. Dates are UTC days; the end day is included.
    """

    symbol = forms.ChoiceField(choices=[(s, s) for s in SYMBOLS], initial="BTC/USDT",
                               label="Market")
    timeframe = forms.ChoiceField(choices=[(t, t) for t in BACKTEST_TIMEFRAMES], initial="1h",
                                  label="Candle")
    data = forms.ChoiceField(required=False, label="Data set",
                             choices=[("", "Stored history if any, else the sample"),
                                      *DATA_SET_LABELS.items()])
    start = forms.DateField(required=False, label="From (UTC)",
                            widget=forms.DateInput(attrs={"type": "date"}),
                            help_text="Blank: from the first candle.")
    end = forms.DateField(required=False, label="To (UTC, included)",
                          widget=forms.DateInput(attrs={"type": "date"}),
                          help_text="Blank: to the last candle.")
    preset = forms.ChoiceField(required=False, label="Risk preset",
                               choices=lambda: [("", "None (strategy alone)"),
                                                *_preset_choices()])
    cash = forms.DecimalField(**LIMITS["cash"].field_kwargs(),
                              initial=Decimal(str(BacktestConfig.cash)), label="Starting cash",
                              help_text=LIMITS["cash"].describe().capitalize() + ".")
    fee = forms.DecimalField(required=False, **as_percent(LIMITS["fee"]).field_kwargs(),
                             initial=_percent(BacktestConfig.fee), label="Fee per fill (%)",
                             help_text=as_percent(LIMITS["fee"]).describe().capitalize() + ".")
    slippage = forms.DecimalField(
        required=False, **as_percent(LIMITS["slippage"]).field_kwargs(),
        initial=_percent(BacktestConfig.slippage), label="Slippage per fill (%)",
        help_text=as_percent(LIMITS["slippage"]).describe().capitalize() + ".")
    stake = forms.DecimalField(
        required=False, **as_percent(LIMITS["stake"]).field_kwargs(),
        label="Stake (% of equity)",
        help_text="Blank: the preset's, else 100. " + as_percent(
            LIMITS["stake"]).describe().capitalize() + ".")

    def __init__(self, *args: Any, markets: Sequence[tuple[str, str]] = (),
                 **kwargs: Any) -> None:
        """`markets`: (symbol, timeframe) pairs with stored or uploaded history, offered
        beside the sample's."""
        super().__init__(*args, **kwargs)
        symbols = dict.fromkeys([*SYMBOLS, *(symbol for symbol, _ in markets)])
        timeframes = {*BACKTEST_TIMEFRAMES, *(timeframe for _, timeframe in markets)}
        self.fields["symbol"].choices = [(s, s) for s in symbols]
        self.fields["timeframe"].choices = [(t, t) for t in SUPPORTED_TIMEFRAMES
                                            if t in timeframes]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("start") and data.get("end") and data["start"] > data["end"]:
            self.add_error("end", "The end date must be on or after the start date.")
        return data

    def config(self) -> dict[str, Any]:
        """The `config` the backtest service takes: fractions, epoch ms, JSON-safe numbers."""
        data = self.cleaned_data
        config: dict[str, Any] = {"cash": float(data["cash"])}
        for name in ("preset", "data"):
            if data.get(name):
                config[name] = data[name]
        for name in ("fee", "slippage", "stake"):
            if data.get(name) is not None:
                config[name] = float(data[name] / 100)
        if data.get("start"):
            config["start_ms"] = _day_ms(data["start"])
        if data.get("end"):  # the whole end day: up to its last millisecond
            config["end_ms"] = _day_ms(data["end"] + timedelta(days=1)) - 1
        return config

    @staticmethod
    def inputs_for(config: dict[str, Any]) -> list[tuple[str, Any]]:
        """The form's inputs that give `config` back (the inverse of `config()`), for a
        "backtest this" button."""
        inputs = [(name, config[name]) for name in ("cash", "preset", "data") if name in config]
        inputs += [(name, _percent(config[name])) for name in ("fee", "slippage", "stake")
                   if config.get(name) is not None]
        if config.get("start_ms") is not None:
            inputs.append(("start", _ms_day(config["start_ms"]).isoformat()))
        if config.get("end_ms") is not None:  # the included end day holds its last ms
            inputs.append(("end", _ms_day(config["end_ms"]).isoformat()))
        return inputs

    # The service names range errors by their config keys; they belong to these inputs.
    SERVICE_FIELDS = {"start_ms": "start", "end_ms": "end"}


class BacktestForm(BacktestSettingsForm):
    """A backtest of one strategy over the settings' data set and range."""

    strategy = forms.ChoiceField(choices=_strategy_choices, initial="sma_cross")

    field_order = ("strategy",)


class CandleUploadForm(forms.Form):
    """A candle CSV for one market of the tenant's own stored history."""

    file = forms.FileField(label="Candle CSV", max_length=200,
                           help_text="timestamp,open,high,low,close,volume; timestamps in "
                                     "epoch ms or ISO-8601 (UTC).")
    exchange = forms.CharField(max_length=32, initial="binance")
    symbol = forms.CharField(max_length=30, initial="BTC/USDT", label="Market")
    timeframe = forms.ChoiceField(choices=[(t, t) for t in SUPPORTED_TIMEFRAMES], initial="1m",
                                  label="Candle")


class HistoryDownloadForm(forms.Form):
    """A market's real history to download from its exchange into the shared store."""

    exchange = forms.ChoiceField(choices=[(e, e.capitalize()) for e in SUPPORTED_EXCHANGES],
                                 initial="binance")
    # Suggests the exchanges' own markets where their lists are cached (whatever this
    # server's feed replays); any other well-formed symbol may be typed.
    symbol = forms.CharField(max_length=30, initial="BTC/USDT", label="Market",
                             widget=DatalistInput())
    timeframe = forms.ChoiceField(choices=[(t, t) for t in SUPPORTED_TIMEFRAMES], initial="1h",
                                  label="Candle")
    since = forms.DateField(label="Since (UTC)", widget=forms.DateInput(attrs={
        "type": "date", "min": DOWNLOAD_EARLIEST.date().isoformat()}),
        help_text="The first day to download; up to now.")

    def offer_symbols(self, symbols: Sequence[str]) -> None:
        """Suggest these markets (trading.services.market.exchange_market_offer)."""
        self.fields["symbol"].widget.options = list(symbols)

    def since_ms(self) -> int:
        """The chosen day's first millisecond (UTC); the service checks its bounds."""
        day = self.cleaned_data["since"]
        return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


class ApiKeyForm(forms.Form):
    """A new API key: a name, its scopes and how long it lives."""

    name = forms.CharField(max_length=80)
    scopes = forms.MultipleChoiceField(choices=Scope.choices, initial=[Scope.READ],
                                       widget=forms.CheckboxSelectMultiple)
    days = forms.IntegerField(min_value=1, max_value=365, initial=90, label="Expires after (days)")


class LiveAccountForm(forms.Form):
    """A live exchange account; its keys are set on its row once it exists."""

    label = forms.CharField(max_length=80, initial="Live")
    exchange_id = forms.ChoiceField(choices=[(e, e.capitalize()) for e in SUPPORTED_EXCHANGES],
                                    initial="binance", label="Exchange")


class CredentialsForm(forms.Form):
    """An account's exchange keys, with the member's own password re-entered."""

    # Keys are never rendered back, not even into a form that is shown again.
    api_key = forms.CharField(max_length=200, label="API key",
                              widget=forms.PasswordInput(attrs={"autocomplete": "off"}))
    secret = forms.CharField(max_length=200, label="Secret",
                             widget=forms.PasswordInput(attrs={"autocomplete": "off"}))
    password = forms.CharField(max_length=200, strip=False, label="Your aitrader password",
                               widget=forms.PasswordInput(
                                   attrs={"autocomplete": "current-password"}))


class PaperAccountForm(forms.Form):
    """A simulated exchange account with a starting balance."""

    label = forms.CharField(max_length=80, initial="Paper")
    exchange_id = forms.ChoiceField(choices=[(e, e.capitalize()) for e in SUPPORTED_EXCHANGES],
                                    initial="binance", label="Exchange")
    paper_starting_balance = forms.DecimalField(
        **money.PAPER_BALANCE.field_kwargs(), initial=Decimal("10000"), label="Starting balance",
        help_text=money.PAPER_BALANCE.describe().capitalize() + ".")
    quote_currency = forms.CharField(max_length=10, initial="USDT", label="Quote currency")


class BotEditForm(MarketFields):
    """Change a bot: name, risk preset and capital at any time; market and candle only while
    it is flat (the service refuses otherwise, with the reason). Strategy parameters come as
    `param_<name>` inputs and are validated by the strategy."""

    name = forms.CharField(max_length=80, label="Bot name")
    preset = forms.ChoiceField(choices=_preset_choices, label="Risk preset")
    capital = forms.DecimalField(**money.CAPITAL.field_kwargs(),
                                 label="Capital (quote currency, per pair)",
                                 help_text=money.CAPITAL.describe().capitalize() + ".")

    field_order = ("name", "symbol", "pairs", "timeframe", "preset", "capital")

    @classmethod
    def for_bot(cls, bot, offer: tuple[list[str], list[str]],
                data=None) -> BotEditForm:
        """The form filled with the bot's current settings (or bound to `data`), offering
        the markets of `offer`."""
        form = cls(data, initial={"name": bot.name, "symbol": bot.symbol,
                                  "pairs": ", ".join(bot_pairs(bot=bot)[1:]),
                                  "timeframe": bot.timeframe, "preset": bot.preset,
                                  # As typed, not as stored: the column's 18 places would
                                  # fail the 8-place check on a save that changed nothing.
                                  "capital": f"{bot.capital.normalize():f}"})
        form.offer_markets(offer, current_timeframe=bot.timeframe)
        return form
