"""MTurk's commission: 20% of each reward or bonus, 40% for HITs with 10 or more
assignments, and at least $0.01 per assignment or bonus."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")


def commission(amount: Decimal, max_assignments: int = 1) -> Decimal:
    """The fee MTurk adds to one assignment's reward (or to a bonus: max_assignments=1)."""
    rate = Decimal("0.40") if max_assignments >= 10 else Decimal("0.20")
    return max(CENT, (amount * rate).quantize(CENT, rounding=ROUND_HALF_UP))


def hit_cost(reward: Decimal, max_assignments: int) -> Decimal:
    """What a HIT costs when every assignment is approved: rewards plus commission."""
    return (reward + commission(reward, max_assignments)) * max_assignments


def format_amount(amount: Decimal) -> str:
    """Money as MTurk's API writes it: a string with two decimals."""
    return str(amount.quantize(CENT))
