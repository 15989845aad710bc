"""Plausibility bounds on values from files: how late a transaction, how old a ticket, how large an
amount may be before the row is quarantined instead of loaded.

One implausible value (a canteen row dated 1950, a purchase of 9,999,999,999.99 yuan) must never
create partitions and KPIs for a century nobody asked about, or overflow a sum for every feed: it
is quarantined under a named rule. Every bound is a setting (settings.py, group "bounds") with a
default that no real file of this campus comes near (docs/bad-inputs.md lists them).
"""

from __future__ import annotations

from decimal import Decimal

from .settings import current


def late_window_days() -> int:
    """Days before its file's day a canteen transaction may be dated (a late transaction)."""
    return current().late_window_days


def max_ticket_age_days() -> int:
    """Days before its file's day a work order's earliest time may lie."""
    return current().max_ticket_age_days


def survey_window_days() -> int:
    """Days a survey answer may be submitted before or after its wave's date."""
    return current().survey_window_days


def max_canteen_amount() -> Decimal:
    """Largest amount (yuan, absolute) of one canteen transaction."""
    return current().max_canteen_amount


def max_ledger_amount() -> Decimal:
    """Largest amount (yuan) of one ledger line."""
    return current().max_ledger_amount


def max_staff_cost() -> Decimal:
    """Largest monthly cost (yuan) of one person."""
    return current().max_staff_cost


def max_meter_reading() -> Decimal:
    """Largest register reading of a meter (register units, before the multiplier)."""
    return current().max_meter_reading
