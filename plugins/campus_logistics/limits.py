"""Plausibility bounds on values from files: how late a transaction, how old a ticket, how large an
amount may be before the row is quarantined instead of loaded.

One implausible value (a canteen row dated 1950, a purchase of 9,999,999,999.99 yuan) must never
create partitions and KPIs for a century nobody asked about, or overflow a sum for every feed: it
is quarantined under a named rule. Every bound is an environment setting with a default that no
real file of this campus comes near (docs/bad-inputs.md lists them).
"""

from __future__ import annotations

import os
from decimal import Decimal, InvalidOperation

ENV_PREFIX = "CAMPUS_LOGISTICS_"


def _setting(name: str, default, parse):
    raw = os.environ.get(ENV_PREFIX + name, "").strip()
    if not raw:
        return default
    try:
        value = parse(raw)
    except (ValueError, InvalidOperation):
        raise ValueError(f"setting {ENV_PREFIX + name} must be a positive number, not {raw!r}") from None
    if not value > 0:
        raise ValueError(f"setting {ENV_PREFIX + name} must be a positive number, not {raw!r}")
    return value


def _days(raw: str) -> int:
    if not raw.isascii() or not raw.isdigit():
        raise ValueError(raw)
    return int(raw)


def _amount(raw: str) -> Decimal:
    if not raw.isascii():
        raise ValueError(raw)
    d = Decimal(raw)
    if not d.is_finite():
        raise ValueError(raw)
    return d


def late_window_days() -> int:
    """Days before its file's day a canteen transaction may be dated (a late transaction)."""
    return _setting("LATE_WINDOW_DAYS", 31, _days)


def max_ticket_age_days() -> int:
    """Days before its file's day a work order's earliest time may lie."""
    return _setting("MAX_TICKET_AGE_DAYS", 366, _days)


def survey_window_days() -> int:
    """Days a survey answer may be submitted before or after its wave's date."""
    return _setting("SURVEY_WINDOW_DAYS", 92, _days)


def max_canteen_amount() -> Decimal:
    """Largest amount (yuan, absolute) of one canteen transaction."""
    return _setting("MAX_CANTEEN_AMOUNT_YUAN", Decimal("10000.00"), _amount)


def max_ledger_amount() -> Decimal:
    """Largest amount (yuan) of one ledger line."""
    return _setting("MAX_LEDGER_AMOUNT_YUAN", Decimal("1000000000.00"), _amount)


def max_staff_cost() -> Decimal:
    """Largest monthly cost (yuan) of one person."""
    return _setting("MAX_STAFF_MONTHLY_COST_YUAN", Decimal("1000000.00"), _amount)


def max_meter_reading() -> Decimal:
    """Largest register reading of a meter (register units, before the multiplier)."""
    return _setting("MAX_METER_READING", Decimal("1000000000"), _amount)
