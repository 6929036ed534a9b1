"""One working order per bot and side: what a decision does while an order is still working.

An order is *working* from its intent until the exchange reports it final (closed, canceled,
rejected, expired): it may still fill, over many candles when it is large against thin
volume. Placing a second order beside it is how a bot oversells (two exits of the same
position) or overbuys (two entries of one signal), so a tick never does; it follows, cancels
or waits for the working one:

- an exit while an exit is working: follow it (it already sells the position);
- an exit while an entry is working: cancel the rest of the entry, then exit what filled;
- an entry while an entry is working: follow it (it is that entry, still filling);
- an entry while an exit is working: wait for the exit (re-entering would fight it).

Pure: no ORM; the engine gathers the working orders and carries the plan out.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class WorkingOrder:
    """A bot's order that may still fill."""

    client_order_id: str
    side: str
    amount: Decimal
    filled: Decimal
    status: str

    def describe(self) -> str:
        return (f"{self.client_order_id} ({self.status}, filled {self.filled.normalize():f} "
                f"of {self.amount.normalize():f})")


@dataclass(frozen=True)
class WorkingPlan:
    """Which working orders to cancel first, whether to place the new order, and why."""

    cancel: tuple[WorkingOrder, ...] = ()
    place: bool = True
    note: str = ""


def plan_with_working(side: str | None, working: Sequence[WorkingOrder]) -> WorkingPlan:
    """The plan for a decision to place an order on `side` ("buy"/"sell"; None: no order)."""
    if side is None or not working:
        return WorkingPlan(place=side is not None)
    same = [order for order in working if order.side == side]
    other = [order for order in working if order.side != side]
    if same:
        kind = "An exit" if side == "sell" else "An entry"
        return WorkingPlan(place=False, note=(
            f"{kind} is already working: {same[0].describe()}; following it, "
            f"not placing another."))
    if side == "sell":
        return WorkingPlan(cancel=tuple(other), note=(
            "Canceled the rest of the working entry "
            f"{', '.join(order.describe() for order in other)} and exiting what filled."))
    return WorkingPlan(place=False, note=(
        f"An exit is still working: {other[0].describe()}; the entry waits for it."))
