"""The fill rules of `reference.simulate_reference`, as a loop numba compiles.

The loop is the reference loop with its state in local variables and trades in a preallocated
array; the risk and fill functions are the very ones in trading/core/risk.py and fills.py,
compiled as they are. Floating-point operations happen in the same order as in the reference (no
fastmath), so the results are bit-for-bit equal; tests/trading/test_backtest_fast.py holds it.
`fast.simulate_fast` runs it: compiled ahead of time by aot.py when that build is current,
else by numba's JIT on the first call in a process (about a second, then cached on disk in
__pycache__).
"""
from __future__ import annotations

import numba
import numpy as np

from trading.core import risk
from trading.core.backtest import fills
from trading.core.backtest.simulation import DUST_FRACTION

_compile = numba.njit(cache=True, nogil=True)
_position_units = _compile(risk.position_units)
_affordable_units = _compile(risk.affordable_units)
_stop_loss_price = _compile(risk.stop_loss_price)
_take_profit_price = _compile(risk.take_profit_price)
_protective_exit = _compile(risk.protective_exit)
_drawdown_breached = _compile(risk.drawdown_breached)
_daily_loss_breached = _compile(risk.daily_loss_breached)
_cooldown_active = _compile(risk.cooldown_active)
_buy_fill_price = _compile(fills.buy_fill_price)
_sell_fill_price = _compile(fills.sell_fill_price)
_trading_fee = _compile(fills.trading_fee)

EXIT_NONE, EXIT_SIGNAL = risk.EXIT_NONE, risk.EXIT_SIGNAL
EXIT_STOP_LOSS, EXIT_MAX_DRAWDOWN = risk.EXIT_STOP_LOSS, risk.EXIT_MAX_DRAWDOWN
# Trade rows are float64 (indices < 2**53 are exact); columns follow TradeLog's fields.
TRADE_COLUMNS = 11


@_compile
def _write_trade(trades, row, entry_index, exit_index, entries, units, cost, entry_fees,
                 exit_price, exit_fee, pnl, reason, is_open):
    trades[row, 0] = entry_index
    trades[row, 1] = exit_index
    trades[row, 2] = entries
    trades[row, 3] = units
    trades[row, 4] = cost / units
    trades[row, 5] = exit_price
    trades[row, 6] = cost + entry_fees
    trades[row, 7] = entry_fees + exit_fee
    trades[row, 8] = pnl
    trades[row, 9] = reason
    trades[row, 10] = is_open


@_compile
def _sell(trades, row, index, quote, reason, units, cost, entry_fees, entries, entry_index,
          slippage, fee_rate):
    """Close the whole position at `quote`; writes the trade row, returns the cash received."""
    price = _sell_fill_price(quote, slippage)
    proceeds = units * price
    fee = _trading_fee(proceeds, fee_rate)
    net = proceeds - fee
    pnl = net - cost - entry_fees
    _write_trade(trades, row, entry_index, index, entries, units, cost, entry_fees, price, fee,
                 pnl, reason, 0.0)
    return net


@_compile
def simulate_loop(open_, high, low, close, days, signals, cash, fee_rate, slippage,
                  entry_stake, entry_limit, stop_loss_pct, take_profit_pct, max_drawdown_pct,
                  daily_loss_limit_pct, cooldown_candles, capacity):
    """The reference loop flattened: one function with local state, because numba compiles
    locals to registers while objects or many returned tuples would cost the speed we are
    here for. Read reference._ReferenceLoop for the rules; the steps follow it in order."""
    count = close.shape[0]
    equity_curve = np.zeros(count)
    trades = np.zeros((capacity, TRADE_COLUMNS))
    rows = 0
    units = cost = entry_fees = 0.0
    entries, entry_index = 0, -1
    stop_price, target_price = -np.inf, np.inf
    peak, paused, pause_index, close_out = cash, False, -1, False
    stop_loss_index, exposure = -1, 0
    day, day_start_equity, blocked, blocked_day = 0, cash, False, 0
    for index in range(count):
        if index > 0 and days[index] != day:
            day_start_equity = equity_curve[index - 1]
        day = days[index]
        if index > 0:
            decision = signals[index - 1]
            quote = open_[index]
            if units > 0.0 and (close_out or decision == -1):
                reason = EXIT_MAX_DRAWDOWN if close_out else EXIT_SIGNAL
                cash += _sell(trades, rows, index, quote, reason, units, cost, entry_fees,
                              entries, entry_index, slippage, fee_rate)
                rows += 1
                units = cost = entry_fees = 0.0
                entries, entry_index = 0, -1
                stop_price, target_price = -np.inf, np.inf
                close_out = False
            elif (decision == 1 and quote > 0.0 and not paused
                  and not (blocked and blocked_day == day)
                  and not _cooldown_active(index, stop_loss_index, cooldown_candles)
                  and entries < entry_limit):
                price = _buy_fill_price(quote, slippage)
                equity = cash + units * quote
                bought = min(_position_units(equity, entry_stake, price, fee_rate),
                             _affordable_units(cash, price, fee_rate))
                notional = bought * price
                if notional > equity * DUST_FRACTION:
                    fee = _trading_fee(notional, fee_rate)
                    cash = max(cash - notional - fee, 0.0)
                    if entries == 0:
                        entry_index = index
                    units += bought
                    cost += notional
                    entry_fees += fee
                    entries += 1
                    average = cost / units
                    stop_price = _stop_loss_price(average, stop_loss_pct)
                    target_price = _take_profit_price(average, take_profit_pct)
        if units > 0.0:
            reason, quote = _protective_exit(open_[index], high[index], low[index], stop_price,
                                             target_price)
            if reason != EXIT_NONE:
                cash += _sell(trades, rows, index, quote, reason, units, cost, entry_fees,
                              entries, entry_index, slippage, fee_rate)
                rows += 1
                units = cost = entry_fees = 0.0
                entries, entry_index = 0, -1
                stop_price, target_price = -np.inf, np.inf
                if reason == EXIT_STOP_LOSS:
                    stop_loss_index = index
        equity = cash + units * close[index]
        equity_curve[index] = equity
        if units > 0.0:
            exposure += 1
        peak = max(peak, equity)
        if not paused and _drawdown_breached(peak, equity, max_drawdown_pct):
            paused, pause_index = True, index
            close_out = units > 0.0
        if _daily_loss_breached(day_start_equity, equity, daily_loss_limit_pct):
            blocked, blocked_day = True, day
    if units > 0.0:
        last = count - 1
        price = close[last]
        pnl = units * price - cost - entry_fees
        _write_trade(trades, rows, entry_index, last, entries, units, cost, entry_fees, price,
                     0.0, pnl, EXIT_NONE, 1.0)
        rows += 1
    return equity_curve, trades[:rows], exposure, pause_index
