"""The KPI dependencies the catalog declares (``KPI.inputs``, read by the audit trail) and the audit
trail's reading of a period: pure functions, no warehouse."""

from __future__ import annotations

from datetime import date

import pytest

from campus_logistics.kpis import catalog
from campus_logistics.kpis.explain import ExplainError, _check, parse_period, period_text


def test_every_declared_input_is_another_kpi_of_the_catalog():
    codes = catalog.by_code()
    declared = [(k, op, code) for k in catalog.all_kpis() for op, code in k.inputs]
    assert declared, "the catalog declares no input at all"
    for k, op, code in declared:
        assert code in codes, f"{k.code} declares an input {code!r} that is not in the catalog"
        assert code != k.code and op in catalog.INPUT_OPS
        if op != "of":  # arithmetic: the input exists wherever the KPI does, in the KPI's own measure or a count
            assert set(k.grains) <= set(codes[code].grains), (k.code, code)


def test_the_arithmetic_kpis_declare_their_formula():
    inputs = {k.code: k.inputs for k in catalog.all_kpis()}
    assert inputs["admin_posts_saved"] == (("+", "admin_norm_headcount"), ("-", "admin_headcount"))
    assert inputs["personnel_cost_saved_yuan"] == (("+", "personnel_cost_saved_transfer_yuan"),
                                                   ("+", "personnel_cost_saved_cooks_yuan"))
    assert inputs["utilities_saved_total_yuan"] == (("+", "utilities_conservation_saved_yuan"),
                                                    ("+", "utilities_recovered_yuan"))
    assert inputs["centre_surplus_yuan"] == (("+", "centre_revenue_yuan"), ("-", "centre_cost_yuan"))
    assert inputs["canteen_avg_ticket_yuan"] == (("+", "canteen_revenue_yuan"), ("/", "canteen_transactions"))


def test_an_unknown_op_is_refused_by_the_catalog():
    with pytest.raises(AssertionError):
        catalog.kpi("g", (), "x", "x", "x", "yuan", "flow", ("month",), "x", (("*", "y"),))


@pytest.mark.parametrize("code, text, grain, expected", [
    ("canteen_revenue_yuan", "2001", None, ("year", date(2001, 1, 1))),
    ("canteen_revenue_yuan", "2001-03", None, ("month", date(2001, 3, 1))),
    ("canteen_revenue_yuan", "2001-03-05", None, ("day", date(2001, 3, 5))),
    ("satisfaction_rate", "2001-03-16", None, ("wave", date(2001, 3, 16))),  # no daily values: a date is a wave
    ("satisfaction_rate", " 2001 ", "year", ("year", date(2001, 1, 1))),
])
def test_a_period_and_its_default_grain(code, text, grain, expected):
    assert parse_period(text, grain, catalog.by_code()[code]) == expected
    assert period_text(*expected) == text.strip()


@pytest.mark.parametrize("text, grain, message", [
    ("2001-3", None, "is not YYYY, YYYY-MM or YYYY-MM-DD"),
    ("２００１", None, "is not YYYY"),  # full-width digits are not a year
    ("2001-02-29", None, "not a date in the calendar"),
    ("2101", None, "from 1990 to 2100"),
    ("2001-03", "day", "does not name a day"),
    ("2001-03-01", "wave", "not stored per wave"),
    ("<script>", None, "is not YYYY"),
])
def test_a_malformed_period_is_refused(text, grain, message):
    with pytest.raises(ExplainError, match=message):
        parse_period(text, grain, catalog.by_code()["canteen_revenue_yuan"])


def test_the_recomputation_rounds_as_the_value_is_stored():
    k = catalog.by_code()["canteen_avg_ticket_yuan"]
    inputs = [{"op": "+", "value": "31.50"}, {"op": "/", "value": "4"}]
    # 31.50 ÷ 4 = 7.875 → 7.88 (half up, to the cent)
    assert _check(k, inputs, "7.88") == {"expression": "31.50 ÷ 4", "recomputed": "7.88", "matches": True}
    assert _check(k, inputs, "7.87")["matches"] is False
    assert _check(k, [{"op": "+", "value": None}, {"op": "/", "value": "4"}], "7.88") is None  # an input absent
    assert _check(k, [{"op": "+", "value": "1"}, {"op": "/", "value": "0"}], "1") is None


def test_text_from_files_cannot_drive_the_terminal():
    from campus_logistics.kpis.explain import clean

    # an ANSI escape, a bidi override and a newline from a file: shown as '?', never interpreted
    assert clean("a\x1b[31mb\u202ec\nd") == "a?[31mb?c?d"
    assert clean(None) == "" and clean("营业额 <b>") == "营业额 <b>"
