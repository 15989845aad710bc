"""The ledger feed (the centre's monthly second-level ledger) and the books KPIs, on hand-made files.

The lines (``tests/fixtures_monthly.py``: ledger_jan / ledger_feb / ledger_mar), amounts in yuan:

  January   catering   revenue     50,000.00 centre      February  catering   revenue     60,000.00
            catering   cost        30,000.00 centre                catering   cost        45,000.00
            catering   cost        12,000.50 centre                apartments capital_in 400,000.00 school
            utilities  revenue     20,000.00 school                catering   capital_in  50,000.00 social
            utilities  cost        15,000.00 centre                utilities  revenue     10,000.00 school
            catering   capital_in 1,000,000.00 school
            laundry    capital_in 100,000.00 social      March     catering   revenue     55,000.00
            laundry    capex       90,000.00 social                catering   cost        40,000 centre
            utilities  cost        15,000.00 centre                laundry    capital_in  20,000.00 centre
              (the same line twice: both are kept)                 property   revenue      8,000.00 centre
"""

from __future__ import annotations

import pytest

from campus_logistics.errors import FeedRunFailed
from campus_logistics.pipeline import raise_for_rejections
from tests.fixtures_monthly import (kpis, ledger_feb, ledger_jan, ledger_mar, ledger_path, load, reconciliation,
                                    rejected, snapshot, write_ledger, write_monthly_ref)

BOOKS = ["centre_revenue_yuan", "centre_cost_yuan", "centre_surplus_yuan", "social_capital_in_yuan",
         "social_capital_share", "capex_yuan"]
FLOWS = ["centre_revenue_yuan", "centre_cost_yuan", "centre_surplus_yuan", "social_capital_in_yuan", "capex_yuan"]
JAN, FEB, MAR, Y = "2001-01-01", "2001-02-01", "2001-03-01", "2001-01-01"
SHARE = "social_capital_share"


def _three_months(landing):
    write_monthly_ref(landing)
    write_ledger(landing, "2001-01", ledger_jan())
    write_ledger(landing, "2001-02", ledger_feb())
    write_ledger(landing, "2001-03", ledger_mar())


def _flows(v, unit, grain, period):
    """(revenue, cost, surplus, social capital in, capex) of a unit and period, or None when absent."""
    got = tuple(v.get((code, unit, grain, period)) for code in FLOWS)
    return None if got == (None,) * 5 else got


def _shares(v, grain, period):
    return {u: val for (c, u, g, p), val in v.items() if c == SHARE and g == grain and p == period}


# ---------------------------------------------------------------------------------------------- KPIs
def test_books_kpis_by_hand(landing, warehouse, sql):
    _three_months(landing)
    result = load("ledger", landing, "2001-01-01", "2001-03-31")
    assert result.rejected == []
    # identical lines are NOT collapsed for the ledger: January reads 9 and loads 9
    assert reconciliation(sql, "ledger") == {
        "ledger_200101.csv": (9, 9, 0, 0), "ledger_200102.csv": (5, 5, 0, 0), "ledger_200103.csv": (4, 4, 0, 0)}
    v = kpis(sql, BOOKS)
    m = "month"
    # (revenue, cost, revenue − cost, Σ social capital_in, capex)
    # January: catering cost 30000.00 + 12000.50 = 42000.50 → surplus 50000 − 42000.50 = 7999.50;
    # utilities cost 15000 + 15000 (the identical line counts twice) = 30000 → surplus 20000 − 30000 = −10000
    assert _flows(v, "catering", m, JAN) == ("50000.00", "42000.50", "7999.50", "0.00", "0.00")
    assert _flows(v, "utilities", m, JAN) == ("20000.00", "30000.00", "-10000.00", "0.00", "0.00")
    assert _flows(v, "laundry", m, JAN) == ("0.00", "0.00", "0.00", "100000.00", "90000.00")
    # campus: revenue 50000 + 20000 = 70000; cost 42000.50 + 30000 = 72000.50; surplus −2000.50
    assert _flows(v, "campus", m, JAN) == ("70000.00", "72000.50", "-2000.50", "100000.00", "90000.00")
    assert _flows(v, "apartments", m, JAN) is None  # no line of apartments in January
    # February: catering 60000 − 45000 = 15000, social 50000; utilities 10000 − 0
    assert _flows(v, "catering", m, FEB) == ("60000.00", "45000.00", "15000.00", "50000.00", "0.00")
    assert _flows(v, "apartments", m, FEB) == ("0.00", "0.00", "0.00", "0.00", "0.00")  # school capital only
    assert _flows(v, "utilities", m, FEB) == ("10000.00", "0.00", "10000.00", "0.00", "0.00")
    assert _flows(v, "campus", m, FEB) == ("70000.00", "45000.00", "25000.00", "50000.00", "0.00")
    # March: catering 55000 − 40000 = 15000; property 8000; laundry capital from the centre is not social
    assert _flows(v, "catering", m, MAR) == ("55000.00", "40000.00", "15000.00", "0.00", "0.00")
    assert _flows(v, "property", m, MAR) == ("8000.00", "0.00", "8000.00", "0.00", "0.00")
    assert _flows(v, "laundry", m, MAR) == ("0.00", "0.00", "0.00", "0.00", "0.00")
    assert _flows(v, "campus", m, MAR) == ("63000.00", "40000.00", "23000.00", "0.00", "0.00")
    # the year sums the months: revenue 70000 + 70000 + 63000 = 203000; cost 72000.50 + 45000 + 40000
    # = 157000.50; surplus −2000.50 + 25000 + 23000 = 45999.50; social 100000 + 50000 = 150000; capex 90000
    assert _flows(v, "campus", "year", Y) == ("203000.00", "157000.50", "45999.50", "150000.00", "90000.00")
    # catering: 165000 revenue; 42000.50 + 45000 + 40000 = 127000.50 cost; 37999.50 surplus; 50000 social
    assert _flows(v, "catering", "year", Y) == ("165000.00", "127000.50", "37999.50", "50000.00", "0.00")
    assert _flows(v, "utilities", "year", Y) == ("30000.00", "30000.00", "0.00", "0.00", "0.00")
    # social capital share, CUMULATIVE since the first month loaded:
    # Jan campus 100000 / (1000000 + 100000) = 0.0909090… → 0.090909; catering 0 / 1000000 = 0;
    # laundry 100000 / 100000 = 1; utilities never had capital_in → absent
    assert _shares(v, m, JAN) == {"campus": "0.090909", "catering": "0", "laundry": "1"}
    # Feb campus (100000 + 50000) / (1100000 + 400000 + 50000) = 150000 / 1550000 = 0.0967741… → 0.096774
    # (the month alone would be 50000 / 450000 = 0.111111); catering 50000 / 1050000 = 0.0476190… → 0.047619;
    # apartments 0 / 400000 = 0; laundry still 100000 / 100000 = 1 (cumulative, no laundry line in Feb)
    assert _shares(v, m, FEB) == {"campus": "0.096774", "catering": "0.047619", "apartments": "0", "laundry": "1"}
    # Mar campus 150000 / (1550000 + 20000) = 0.0955414… → 0.095541; laundry 100000 / 120000 = 0.833333
    assert _shares(v, m, MAR) == {"campus": "0.095541", "catering": "0.047619", "apartments": "0",
                                  "laundry": "0.833333"}
    # the annual share is the cumulative share at the year's end (= March, the last month loaded)
    assert _shares(v, "year", Y) == {"campus": "0.095541", "catering": "0.047619", "apartments": "0",
                                     "laundry": "0.833333"}
    units = dict(sql("SELECT DISTINCT kpi_code, unit FROM mart.kpi_value WHERE kpi_code = ANY(%s)", (BOOKS,)))
    assert units == {**{c: "yuan" for c in FLOWS}, SHARE: "rate"}
    # identical lines both stored, with their own line numbers
    assert sql("""SELECT source_line FROM core.ledger_line WHERE month = %s AND unit_code = 'utilities'
                  AND entry_type = 'cost' ORDER BY 1""", (JAN,)) == [(6,), (10,)]


def test_share_is_absent_without_capital(landing, warehouse, sql):
    write_monthly_ref(landing)
    write_ledger(landing, "2001-01", [("2001-01", "catering", "revenue", "meal_sales", "100.00", "centre", "")])
    load("ledger", landing, "2001-01-01", "2001-01-31")
    v = kpis(sql, BOOKS)
    assert _flows(v, "campus", "month", JAN) == ("100.00", "0.00", "100.00", "0.00", "0.00")
    assert _shares(v, "month", JAN) == {} and _shares(v, "year", Y) == {}


def test_cumulative_share_follows_loads_in_any_order(landing, warehouse, sql):
    """Loading month M changes the share of every later loaded month: affected_days carries them."""
    _three_months(landing)
    r = load("ledger", landing, "2001-03-01", "2001-03-31")
    assert r.affected_days == [MAR]
    # March alone: 0 social / 20000 capital_in = 0
    assert _shares(kpis(sql, [SHARE]), "month", MAR) == {"campus": "0", "laundry": "0"}
    r = load("ledger", landing, "2001-02-01", "2001-02-28")
    assert r.affected_days == [FEB, MAR]
    v = kpis(sql, [SHARE])
    # Feb: 50000 / 450000 = 0.111111; Mar: 50000 / (450000 + 20000) = 0.1063829… → 0.106383
    assert (_shares(v, "month", FEB)["campus"], _shares(v, "month", MAR)["campus"]) == ("0.111111", "0.106383")
    assert _shares(v, "year", Y)["campus"] == "0.106383"
    r = load("ledger", landing, "2001-01-01", "2001-01-31")
    assert r.affected_days == [JAN, FEB, MAR]
    v = kpis(sql, [SHARE])
    # now as in test_books_kpis_by_hand: 0.090909, 0.096774, 0.095541
    assert [_shares(v, "month", p)["campus"] for p in (JAN, FEB, MAR)] == ["0.090909", "0.096774", "0.095541"]
    assert _shares(v, "year", Y)["campus"] == "0.095541"


def test_cumulative_share_runs_across_years(landing, warehouse, sql):
    write_monthly_ref(landing)
    write_ledger(landing, "2001-01", ledger_jan())
    write_ledger(landing, "2000-12", [
        ("2000-12", "catering", "capital_in", "investment", "30000.00", "social", "社会资金"),
        ("2000-12", "catering", "capital_in", "asset_transfer", "70000.00", "school", "资产划转"),
    ])
    load("ledger", landing, "2001-01-01", "2001-01-31")
    r = load("ledger", landing, "2000-12-01", "2000-12-31")  # an earlier month arrives late
    assert r.affected_days == ["2000-12-01", JAN]
    v = kpis(sql, [SHARE, "social_capital_in_yuan"])
    # 2000: 30000 / (30000 + 70000) = 0.3, month and year
    assert _shares(v, "month", "2000-12-01")["campus"] == "0.3" and _shares(v, "year", "2000-01-01")["campus"] == "0.3"
    # Jan 2001: (30000 + 100000) / (100000 + 1100000) = 130000 / 1200000 = 0.1083333… → 0.108333
    assert _shares(v, "month", JAN)["campus"] == "0.108333" and _shares(v, "year", Y)["campus"] == "0.108333"
    # catering: (30000 + 0) / (100000 + 1000000) = 0.0272727… → 0.027273
    assert _shares(v, "month", JAN)["catering"] == "0.027273"
    # the flows stay in their own year
    assert v[("social_capital_in_yuan", "campus", "year", "2000-01-01")] == "30000.00"
    assert v[("social_capital_in_yuan", "campus", "year", Y)] == "100000.00"


def test_text_fields_are_optional_and_variants_parse(landing, warehouse, sql):
    write_monthly_ref(landing)
    path = write_ledger(landing, "2001-01", [
        ("2001-01-15", " Catering ", "Revenue", "", "12.5", "CENTRE", ""),
        ("2001/01", "office", "cost", "travel", "7", "school", "差旅, 市内"),
    ], bom=True)
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    load("ledger", landing, "2001-01-01", "2001-01-31")
    assert reconciliation(sql, "ledger") == {"ledger_200101.csv": (2, 2, 0, 0)}
    assert sql("""SELECT unit_code, entry_type, category, amount_yuan::text, funding_source, memo
                  FROM core.ledger_line ORDER BY source_line""") == [
        ("catering", "revenue", None, "12.50", "centre", None),
        ("office", "cost", "travel", "7.00", "school", "差旅, 市内")]
    v = kpis(sql, BOOKS)
    # campus = every ledger line, the office's included: 12.50 − 7.00 = 5.50
    assert _flows(v, "campus", "month", JAN) == ("12.50", "7.00", "5.50", "0.00", "0.00")


# ------------------------------------------------------------------------------------ bad input: rows
def _line(**kw):
    base = {"month": "2001-01", "unit_code": "catering", "entry_type": "cost", "category": "materials",
            "amount_yuan": "10.00", "funding_source": "centre", "memo": "坏行"}
    base.update(kw)
    return tuple(base.values())


BAD_ROWS = {
    "month_of_another_month": (_line(month="2001-02"), "month_matches_file"),
    "month_unparseable": (_line(month="Jan 2001"), "month_parseable"),
    "month_empty": (_line(month=""), "month_parseable"),
    "unit_unknown": (_line(unit_code="clinic"), "unit_known"),
    "entry_type_unknown": (_line(entry_type="expense"), "entry_type_known"),
    "funding_source_unknown": (_line(funding_source="bank"), "funding_source_known"),
    "funding_source_empty": (_line(funding_source=""), "funding_source_known"),
    "amount_zero": (_line(amount_yuan="0.00"), "amount_positive"),
    "amount_negative": (_line(amount_yuan="-10.00"), "amount_positive"),
    "amount_three_decimals": (_line(amount_yuan="10.001"), "amount_max_2_decimals"),
    "amount_thousands_separator": (_line(amount_yuan="1,000.00"), "amount_parseable"),
    "amount_full_width_digits": (_line(amount_yuan="１０.00"), "amount_parseable"),
    "amount_in_brackets": (_line(amount_yuan="(10.00)"), "amount_parseable"),
    "amount_empty": (_line(amount_yuan=""), "amount_parseable"),
    "several_rules": (_line(unit_code="clinic", amount_yuan="0"), "unit_known, amount_positive"),
}


@pytest.mark.parametrize("kind", list(BAD_ROWS))
def test_bad_line_is_quarantined(kind, landing, warehouse, sql):
    row, rule = BAD_ROWS[kind]
    write_monthly_ref(landing)
    good = ledger_jan()
    write_ledger(landing, "2001-01", good[:5] + [row] + good[5:])  # the bad line is line 7 (header = line 1)
    result = load("ledger", landing, "2001-01-01", "2001-01-31", recompute_kpis=False)
    assert result.rejected == []
    # read 10 = loaded 9 + quarantined 1 + duplicates 0
    assert reconciliation(sql, "ledger") == {"ledger_200101.csv": (10, 9, 1, 0)}
    [(file, line, got_rule, record)] = rejected(sql, "ledger")
    assert (file, line, got_rule) == ("ledger_200101.csv", 7, rule)
    assert record["memo"] == "坏行"
    assert sql("SELECT count(*) FROM core.ledger_line") == [(9,)]


def test_malformed_line_is_quarantined(landing, warehouse, sql):
    write_monthly_ref(landing)
    path = write_ledger(landing, "2001-01", ledger_jan())
    path.write_bytes(path.read_bytes() + "2001-01,catering,cost,materials,10.00\n".encode())
    load("ledger", landing, "2001-01-01", "2001-01-31", recompute_kpis=False)
    assert reconciliation(sql, "ledger") == {"ledger_200101.csv": (10, 9, 1, 0)}  # 10 = 9 + 1 + 0
    [(_, line, rule, record)] = rejected(sql, "ledger")
    assert (line, rule, record["field_count"]) == (11, "malformed_row", 5)


# ------------------------------------------------------------------------------------ bad input: files
HEADER = "month,unit_code,entry_type,category,amount_yuan,funding_source,memo"


def _spoil(kind, path):
    text = path.read_bytes().decode("utf-8")
    lines = text.splitlines()
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "header_only":
        path.write_text(HEADER + "\n", encoding="utf-8")
    elif kind == "missing_column":
        path.write_text("\n".join(line.rsplit(",", 1)[0] for line in lines) + "\n", encoding="utf-8")
    elif kind == "renamed_column":
        path.write_text(text.replace("amount_yuan", "amount", 1), encoding="utf-8")
    elif kind == "extra_column":
        path.write_text("\n".join(line + ",x" for line in lines) + "\n", encoding="utf-8")
    elif kind == "wrong_encoding":
        path.write_bytes(text.encode("gb18030"))  # the memos are Chinese: not valid UTF-8
    elif kind == "truncated":
        path.write_bytes(text.encode() + b"2001-02,catering,rev")


BAD_FILES = {"empty": "not_empty", "header_only": "not_empty", "missing_column": "header",
             "renamed_column": "header", "extra_column": "header", "wrong_encoding": "encoding",
             "truncated": "truncated"}


@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_bad_file_fails_and_loads_nothing(kind, landing, warehouse, sql):
    rule = BAD_FILES[kind]
    write_monthly_ref(landing)
    write_ledger(landing, "2001-01", ledger_jan())
    write_ledger(landing, "2001-02", ledger_feb())
    _spoil(kind, ledger_path(landing, "2001-02"))
    result = load("ledger", landing, "2001-01-01", "2001-02-28")
    assert [(r["file"], r["rule"]) for r in result.rejected] == [("ledger_200102.csv", rule)]
    assert reconciliation(sql, "ledger") == {"ledger_200101.csv": (9, 9, 0, 0)}
    assert sql("SELECT DISTINCT month::text FROM core.ledger_line") == [("2001-01-01",)]
    with pytest.raises(FeedRunFailed, match=f"ledger_200102.csv.*{rule}"):
        raise_for_rejections(result.as_dict())


# ----------------------------------------------------------------------------------------- idempotency
def test_same_range_twice_and_overlapping_ranges_are_idempotent(landing, warehouse, sql):
    _three_months(landing)
    write_ledger(landing, "2001-02", ledger_feb() + [_line(month="2001-02", amount_yuan="-1")])
    load("ledger", landing, "2001-01-01", "2001-03-31", run_id="r1")
    first = snapshot(sql)
    assert first["quality.rejected_rows"] and first["mart.kpi_value"]
    load("ledger", landing, "2001-01-01", "2001-03-31", run_id="r2")
    assert snapshot(sql) == first
    load("ledger", landing, "2001-02-01", "2001-03-31", run_id="r3")
    load("ledger", landing, "2001-01-01", "2001-02-28", run_id="r4")
    assert snapshot(sql) == first


def test_redelivered_month_changes_later_cumulative_shares(landing, warehouse, sql):
    _three_months(landing)
    load("ledger", landing, "2001-01-01", "2001-03-31")
    # corrected January: laundry's social investment was 200,000.00, not 100,000.00; catering revenue line gone
    jan = [r for r in ledger_jan(laundry_social="200000.00") if r[2] != "revenue" or r[1] != "catering"]
    write_ledger(landing, "2001-01", jan)
    result = load("ledger", landing, "2001-01-01", "2001-01-31", run_id="redelivery")
    assert result.affected_days == [JAN, FEB, MAR]  # the later months' cumulative share moves
    assert reconciliation(sql, "ledger")["ledger_200101.csv"] == (8, 8, 0, 0)
    v = kpis(sql, BOOKS)
    # January: revenue 20000 (utilities only); cost 72000.50; surplus −52000.50; social 200000
    assert _flows(v, "campus", "month", JAN) == ("20000.00", "72000.50", "-52000.50", "200000.00", "90000.00")
    # shares: Jan 200000 / 1200000 = 0.1666666… → 0.166667; Feb 250000 / 1650000 = 0.1515151… → 0.151515;
    # Mar 250000 / 1670000 = 0.1497005… → 0.149701; laundry Mar 200000 / 220000 = 0.9090909… → 0.909091
    assert [_shares(v, "month", p)["campus"] for p in (JAN, FEB, MAR)] == ["0.166667", "0.151515", "0.149701"]
    assert _shares(v, "month", MAR)["laundry"] == "0.909091"
    assert _shares(v, "year", Y)["campus"] == "0.149701"
    # the year's flows: revenue 20000 + 70000 + 63000 = 153000; surplus −52000.50 + 25000 + 23000 = −4000.50;
    # social 200000 + 50000 = 250000
    assert _flows(v, "campus", "year", Y) == ("153000.00", "157000.50", "-4000.50", "250000.00", "90000.00")
