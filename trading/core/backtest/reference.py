"""The fill rules, and the candle-by-candle reference loop that specifies them.

The fill rules (also the paper exchange's):

- A signal decided on the close of candle i acts at the open of candle i+1. The last candle's
  signal never acts.
- At that open, an exit signal (or a pending max-drawdown close-out) sells the whole position;
  otherwise an entry signal buys if the risk rules allow it: not paused, daily loss limit not
  hit today, no stop-loss cooldown, fewer entries than the strategy's entry limit.
- An entry buys units = equity * stake / (price * (1 + fee)), where equity is cash plus the
  position marked at the open, stake is the preset's stake fraction split evenly across the
  strategy's entry limit, and price includes slippage; never more than the cash pays for.
- Fee = rate × notional on every fill. Slippage moves every fill price against the trader.
- During a candle, a held position is tested against its stop loss and take profit (from
  the average entry price) with the candle's low and high, stop loss first.
- At the close, equity = cash + units × close. If it is max_drawdown_pct below its peak, the
  bot pauses: the position is closed at the next open and no new entry is taken. If it is
  daily_loss_limit_pct below the day's opening equity, entries wait for the next UTC day.
- A position still open after the last candle is marked to market at the last close, with
  no exit fee, and reported as open.

`simulate_reference` is the specification, written for reading; `trading.core.backtest.fast` is the
same loop compiled with numba. A property test holds them bit-for-bit equal.
"""
from __future__ import annotations

import numpy as np

from trading.core import risk
from trading.core.backtest.fills import buy_fill_price, sell_fill_price, trading_fee
from trading.core.backtest.simulation import (
    DAY_MS,
    DUST_FRACTION,
    SimulationResult,
    SimulationSettings,
    TradeLog,
)
from trading.core.candles import Candles


class _ReferenceLoop:
    """The specification of the fill rules, one candle at a time, written to be read."""

    def __init__(self, candles: Candles, signals: np.ndarray,
                 settings: SimulationSettings) -> None:
        self.candles, self.signals, self.settings = candles, signals, settings
        self.cash = settings.cash
        self.equity = np.zeros(len(candles))
        self.trades: list[tuple] = []
        self._flatten()
        self.peak = settings.cash
        self.paused, self.pause_index, self.close_out = False, -1, False
        self.stop_loss_index = -1
        self.day, self.day_start_equity, self.blocked_day = 0, settings.cash, None
        self.exposure = 0

    def _flatten(self) -> None:
        self.units = self.cost = self.entry_fees = 0.0
        self.entries, self.entry_index = 0, -1
        self.stop_price, self.target_price = -np.inf, np.inf

    def run(self) -> SimulationResult:
        """Step through every candle: open, intra-candle protections, close."""
        for index in range(len(self.candles)):
            self._start_day(index)
            if index > 0:
                self._act_at_open(index)
            if self.units > 0.0:
                self._protect(index)
            self._close(index)
        if self.units > 0.0:
            self._record_open_trade()
        return SimulationResult(self.equity, TradeLog.from_rows(self.trades), self.exposure,
                                self.pause_index, self.signals)

    def _start_day(self, index: int) -> None:
        day = int(self.candles.timestamp[index]) // DAY_MS
        if index > 0 and day != self.day:
            self.day_start_equity = float(self.equity[index - 1])
        self.day = day

    def _act_at_open(self, index: int) -> None:
        decision = int(self.signals[index - 1])
        quote = float(self.candles.open[index])
        if self.units > 0.0 and (self.close_out or decision == -1):
            reason = risk.EXIT_MAX_DRAWDOWN if self.close_out else risk.EXIT_SIGNAL
            self._sell(index, quote, reason)
            self.close_out = False
        elif decision == 1 and self._may_enter(index):
            self._buy(index, quote)

    def _may_enter(self, index: int) -> bool:
        settings = self.settings
        return (not self.paused and self.blocked_day != self.day
                and not risk.cooldown_active(index, self.stop_loss_index,
                                             settings.cooldown_candles)
                and self.entries < settings.entry_limit)

    def _buy(self, index: int, quote: float) -> None:
        if quote <= 0.0:
            return  # a zero price in the data: nothing sensible to buy
        settings = self.settings
        price = buy_fill_price(quote, settings.slippage)
        equity = self.cash + self.units * quote
        units = min(risk.position_units(equity, settings.entry_stake, price, settings.fee_rate),
                    risk.affordable_units(self.cash, price, settings.fee_rate))
        notional = units * price
        if notional <= equity * DUST_FRACTION:
            return
        fee = trading_fee(notional, settings.fee_rate)
        self.cash = max(self.cash - notional - fee, 0.0)  # max(): rounding dust only
        if self.entries == 0:
            self.entry_index = index
        self.units += units
        self.cost += notional
        self.entry_fees += fee
        self.entries += 1
        average = self.cost / self.units
        self.stop_price = risk.stop_loss_price(average, settings.stop_loss_pct)
        self.target_price = risk.take_profit_price(average, settings.take_profit_pct)

    def _protect(self, index: int) -> None:
        candles = self.candles
        reason, quote = risk.protective_exit(float(candles.open[index]), float(candles.high[index]),
                                             float(candles.low[index]), self.stop_price,
                                             self.target_price)
        if reason != risk.EXIT_NONE:
            self._sell(index, quote, reason)
            if reason == risk.EXIT_STOP_LOSS:
                self.stop_loss_index = index

    def _sell(self, index: int, quote: float, reason: int) -> None:
        price = sell_fill_price(quote, self.settings.slippage)
        proceeds = self.units * price
        fee = trading_fee(proceeds, self.settings.fee_rate)
        net = proceeds - fee
        self.cash += net
        pnl = net - self.cost - self.entry_fees
        self._record(index, price, fee, pnl, reason, False)
        self._flatten()

    def _record(self, index: int, price: float, exit_fee: float, pnl: float, reason: int,
                is_open: bool) -> None:
        self.trades.append((self.entry_index, index, self.entries, self.units,
                            self.cost / self.units, price, self.cost + self.entry_fees,
                            self.entry_fees + exit_fee, pnl, reason, is_open))

    def _close(self, index: int) -> None:
        equity = self.cash + self.units * float(self.candles.close[index])
        self.equity[index] = equity
        if self.units > 0.0:
            self.exposure += 1
        self.peak = max(self.peak, equity)
        if not self.paused and risk.drawdown_breached(self.peak, equity,
                                                      self.settings.max_drawdown_pct):
            self.paused, self.pause_index = True, index
            self.close_out = self.units > 0.0
        if risk.daily_loss_breached(self.day_start_equity, equity,
                                    self.settings.daily_loss_limit_pct):
            self.blocked_day = self.day

    def _record_open_trade(self) -> None:
        last = len(self.candles) - 1
        price = float(self.candles.close[last])
        pnl = self.units * price - self.cost - self.entry_fees
        self._record(last, price, 0.0, pnl, risk.EXIT_NONE, True)


def simulate_reference(candles: Candles, signals: np.ndarray,
                       settings: SimulationSettings) -> SimulationResult:
    """Run the fill rules candle by candle in plain Python (the specification; slow)."""
    return _ReferenceLoop(candles, np.asarray(signals, dtype=np.int8), settings).run()
