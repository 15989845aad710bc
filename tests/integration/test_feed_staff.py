"""The staff feed (monthly HR roster) and the staffing KPIs, on hand-made files.

Every expected value is worked out by hand in the comments from the rows in
``tests/fixtures_monthly.py`` (staff_jan / staff_feb / staff_mar):

  January (2,100 students)                         February (2,100)      March (1,999)
  JG01 office     management establishment school   same                  same
  JG02 office     management establishment school   same                  same
  ZX01 catering   management transfer      centre   8000.00               same
  ZX02 utilities  technician transfer      centre   7000.50 → 7100.00     7100.00
  ZX03 catering   cook       social_hire   centre   3000.00               same
  ZX04 catering   cook       social_hire   centre   3100 (leaves in Feb)  —
  ZX05 catering   cook       transfer      centre   6000.00               same
  ZX06 catering   cook       establishment school   9000.00               same
  ZX07 property   service    social_hire   centre   2500.00 (twice in Feb: identical → collapsed)
  ZX08 utilities  technician establishment school   12000.00              same
  JG03 office     service    social_hire   centre   — (Feb only, 2000.00) —
  ZX09 catering   cook       social_hire   centre   — (from Feb, 3200.00)
  ZX10 laundry    service    social_hire   centre   — (from Mar, 2200.00)
"""

from __future__ import annotations

import json

import pytest

from campus_logistics.errors import FeedRunFailed
from tests.fixtures_monthly import (baselines, hmac_of, kpis, load, person, reconciliation, rejected, snapshot,
                                    staff_feb, staff_jan, staff_mar, staff_path, write_monthly_ref, write_staff)

STAFFING = ["admin_norm_headcount", "admin_headcount", "admin_posts_saved", "cook_norm_headcount",
            "cooks_borne_by_centre", "jobs_provided", "jobs_school_transfer", "jobs_social_hire",
            "personnel_cost_saved_transfer_yuan", "personnel_cost_saved_cooks_yuan", "personnel_cost_saved_yuan",
            "reform_stage"]
JAN, FEB, MAR, Y = "2001-01-01", "2001-02-01", "2001-03-01", "2001-01-01"


def _three_months(landing):
    write_monthly_ref(landing)
    write_staff(landing, "2001-01", staff_jan())
    write_staff(landing, "2001-02", staff_feb(), newline_at_end=True)
    write_staff(landing, "2001-03", staff_mar())


def _campus(values, code, grain, period):
    return values.get((code, "campus", grain, period))


# ---------------------------------------------------------------------------------------------- KPIs
def test_staffing_kpis_by_hand(landing, warehouse, sql):
    _three_months(landing)
    result = load("staff", landing, "2001-01-01", "2001-03-31")
    assert result.rejected == []
    assert result.affected_days == [JAN, FEB, MAR]
    # January: 10 rows, all good. February: 12 rows, ZX07's identical repeat collapsed. March: 11 rows.
    assert reconciliation(sql, "staff") == {
        "staff_200101.csv": (10, 10, 0, 0),
        "staff_200102.csv": (12, 11, 0, 1),
        "staff_200103.csv": (11, 11, 0, 0),
    }
    v = kpis(sql, STAFFING)
    m = "month"
    expected_campus = {
        # admin norm: 17 × ⌊2100/1000⌋ = 17 × 2 = 34 (Jan, Feb); March 17 × ⌊1999/1000⌋ = 17 × 1 = 17
        ("admin_norm_headcount", JAN): "34", ("admin_norm_headcount", FEB): "34", ("admin_norm_headcount", MAR): "17",
        # management, any unit incl. office: JG01, JG02 (office) + ZX01 (catering) = 3 every month
        ("admin_headcount", JAN): "3", ("admin_headcount", FEB): "3", ("admin_headcount", MAR): "3",
        # 34 − 3 = 31; 34 − 3 = 31; 17 − 3 = 14
        ("admin_posts_saved", JAN): "31", ("admin_posts_saved", FEB): "31", ("admin_posts_saved", MAR): "14",
        # ⌊2100/50⌋ = 42; March ⌊1999/50⌋ = 39 (39 × 50 = 1950 ≤ 1999 < 2000)
        ("cook_norm_headcount", JAN): "42", ("cook_norm_headcount", FEB): "42", ("cook_norm_headcount", MAR): "39",
        # cooks paid by the centre: Jan ZX03, ZX04, ZX05 = 3 (ZX06 is paid by the school);
        # Feb/Mar ZX03, ZX05, ZX09 = 3
        ("cooks_borne_by_centre", JAN): "3", ("cooks_borne_by_centre", FEB): "3", ("cooks_borne_by_centre", MAR): "3",
        # not office, payer centre: Jan ZX01 ZX02 ZX03 ZX04 ZX05 ZX07 = 6;
        # Feb ZX01 ZX02 ZX03 ZX05 ZX07 ZX09 = 6 (JG03 is office, ZX07 counted once); Mar + ZX10 = 7
        ("jobs_provided", JAN): "6", ("jobs_provided", FEB): "6", ("jobs_provided", MAR): "7",
        # of those, transfers: ZX01 ZX02 ZX05 = 3 every month
        ("jobs_school_transfer", JAN): "3", ("jobs_school_transfer", FEB): "3", ("jobs_school_transfer", MAR): "3",
        # social hires: Jan ZX03 ZX04 ZX07 = 3; Feb ZX03 ZX07 ZX09 = 3; Mar + ZX10 = 4
        ("jobs_social_hire", JAN): "3", ("jobs_social_hire", FEB): "3", ("jobs_social_hire", MAR): "4",
        # payer centre & transfer: Jan 8000.00 + 7000.50 + 6000.00 = 21000.50; Feb/Mar 8000 + 7100 + 6000 = 21100.00
        ("personnel_cost_saved_transfer_yuan", JAN): "21000.50",
        ("personnel_cost_saved_transfer_yuan", FEB): "21100.00",
        ("personnel_cost_saved_transfer_yuan", MAR): "21100.00",
        # payer centre, cook, not transfer: Jan 3000 + 3100 = 6100.00 (ZX05 is a transfer, ZX06 paid by school);
        # Feb/Mar 3000 + 3200 = 6200.00
        ("personnel_cost_saved_cooks_yuan", JAN): "6100.00",
        ("personnel_cost_saved_cooks_yuan", FEB): "6200.00",
        ("personnel_cost_saved_cooks_yuan", MAR): "6200.00",
        # 21000.50 + 6100 = 27100.50; 21100 + 6200 = 27300.00
        ("personnel_cost_saved_yuan", JAN): "27100.50",
        ("personnel_cost_saved_yuan", FEB): "27300.00",
        ("personnel_cost_saved_yuan", MAR): "27300.00",
    }
    for (code, period), value in expected_campus.items():
        assert _campus(v, code, m, period) == value, (code, period)
    # annual: stocks = March (the last month with data), flows = Σ of the three months
    expected_year = {
        "admin_norm_headcount": "17", "admin_headcount": "3", "admin_posts_saved": "14",
        "cook_norm_headcount": "39", "cooks_borne_by_centre": "3",
        "jobs_provided": "7", "jobs_school_transfer": "3", "jobs_social_hire": "4",
        "personnel_cost_saved_transfer_yuan": "63200.50",  # 21000.50 + 21100.00 + 21100.00
        "personnel_cost_saved_cooks_yuan": "18500.00",     # 6100 + 6200 + 6200
        "personnel_cost_saved_yuan": "81700.50",           # 27100.50 + 27300 + 27300
    }
    for code, value in expected_year.items():
        assert _campus(v, code, "year", Y) == value, code
    # baselines: admin headcount against the admin norm, cooks against the cook norm (annual: March's)
    assert baselines(sql, "admin_headcount") == {("campus", m, JAN): "34", ("campus", m, FEB): "34",
                                                 ("campus", m, MAR): "17", ("campus", "year", Y): "17"}
    assert baselines(sql, "cooks_borne_by_centre") == {("campus", m, JAN): "42", ("campus", m, FEB): "42",
                                                       ("campus", m, MAR): "39", ("campus", "year", Y): "39"}
    # jobs per unit (not office; units of ref/sub_centres.csv): catering ZX01 ZX03 ZX04|ZX09 ZX05 = 4,
    # utilities ZX02 = 1 (ZX08 is paid by the school), property ZX07 = 1, laundry ZX10 from March
    per_unit = {(u, p): val for (c, u, g, p), val in v.items() if c == "jobs_provided" and g == m and u != "campus"}
    assert per_unit == {
        ("catering", JAN): "4", ("catering", FEB): "4", ("catering", MAR): "4",
        ("utilities", JAN): "1", ("utilities", FEB): "1", ("utilities", MAR): "1",
        ("property", JAN): "1", ("property", FEB): "1", ("property", MAR): "1",
        ("laundry", JAN): "0", ("laundry", FEB): "0", ("laundry", MAR): "1",
        ("apartments", JAN): "0", ("apartments", FEB): "0", ("apartments", MAR): "0",
        ("printing", JAN): "0", ("printing", FEB): "0", ("printing", MAR): "0",
    }
    assert v[("jobs_provided", "laundry", "year", Y)] == "1"  # March's stock
    # reform stage on each month's last day: laundry small_entity since 2001-02-15 → 2 from February;
    # printing no_entity since 2001-03-31 (March's last day itself) → 3 in March; the rest big_entity = 1
    stage = {(u, g, p): val for (c, u, g, p), val in v.items() if c == "reform_stage"}
    for unit in ("office", "catering", "utilities", "apartments", "property"):
        assert [stage[(unit, m, p)] for p in (JAN, FEB, MAR)] + [stage[(unit, "year", Y)]] == ["1"] * 4, unit
    assert [stage[("laundry", m, p)] for p in (JAN, FEB, MAR)] + [stage[("laundry", "year", Y)]] == ["1", "2", "2", "2"]
    assert [stage[("printing", m, p)] for p in (JAN, FEB, MAR)] + [stage[("printing", "year", Y)]] == ["1", "1", "3", "3"]
    # reform_stage is computed for the months the roster covers only
    assert {p for (_, g, p) in stage if g == m} == {JAN, FEB, MAR}
    units = dict(sql("SELECT DISTINCT kpi_code, unit FROM mart.kpi_value WHERE kpi_code = ANY(%s)", (STAFFING,)))
    assert units["reform_stage"] == "stage" and units["jobs_provided"] == "persons"
    assert units["personnel_cost_saved_yuan"] == "yuan"


def test_staff_ids_are_pseudonymised_everywhere(landing, warehouse, sql):
    write_monthly_ref(landing)
    write_staff(landing, "2001-01", staff_jan() + [
        person("2001-01", "BAD777", "security", "service", "social_hire", "centre", "100.00"),  # unknown unit
    ])
    load("staff", landing, "2001-01-01", "2001-01-31")
    hashes = {h for (h,) in sql("SELECT staff_hash FROM core.staff_month")}
    assert hashes == {hmac_of(r[1]) for r in staff_jan()}
    [(_, _, rule, record)] = rejected(sql, "staff")
    assert rule == "unit_known" and record["staff_id"] == hmac_of("BAD777")
    everything = json.dumps([sql("SELECT to_jsonb(s)::text FROM core.staff_month s"),
                             sql("SELECT record::text FROM quality.rejected_rows")])
    for raw in ["BAD777"] + [r[1] for r in staff_jan()]:
        assert raw not in everything


def test_year_with_a_month_missing(landing, warehouse, sql):
    """January and March delivered, February missing: stocks = March, flows = January + March."""
    write_monthly_ref(landing)
    write_staff(landing, "2001-01", staff_jan())
    write_staff(landing, "2001-03", staff_mar())
    result = load("staff", landing, "2001-01-01", "2001-03-31")
    assert [(r["file"], r["rule"]) for r in result.rejected] == [("staff_200102.csv", "file_present")]
    v = kpis(sql, STAFFING)
    assert ("jobs_provided", "campus", "month", FEB) not in v
    assert _campus(v, "jobs_provided", "year", Y) == "7"             # March's stock
    assert _campus(v, "cook_norm_headcount", "year", Y) == "39"      # March's stock: ⌊1999/50⌋
    assert _campus(v, "admin_posts_saved", "year", Y) == "14"        # 17 − 3
    assert _campus(v, "personnel_cost_saved_transfer_yuan", "year", Y) == "42100.50"  # 21000.50 + 21100.00
    assert _campus(v, "personnel_cost_saved_cooks_yuan", "year", Y) == "12300.00"     # 6100 + 6200
    assert _campus(v, "personnel_cost_saved_yuan", "year", Y) == "54400.50"           # 27100.50 + 27300.00
    # the last month with data is the stock even when it is not the latest month: drop March
    write_staff(landing, "2001-03", [person("2001-03", "X", "office", "management", "school_establishment",
                                            "school", "-1")])  # its only row is quarantined: no roster for March
    load("staff", landing, "2001-03-01", "2001-03-31")
    v = kpis(sql, STAFFING)
    assert ("jobs_provided", "campus", "month", MAR) not in v
    assert _campus(v, "jobs_provided", "year", Y) == "6"              # January's stock now
    assert _campus(v, "cook_norm_headcount", "year", Y) == "42"       # ⌊2100/50⌋
    assert _campus(v, "personnel_cost_saved_yuan", "year", Y) == "27100.50"  # January only


def test_spreadsheet_variants_parse(landing, warehouse, sql):
    """BOM + CRLF, month as 2001/1 or a date in the month, case and spaces in codes, cost without decimals."""
    write_monthly_ref(landing)
    rows = [
        ("2001/1", "A1", " Catering ", "Cook", "Social_Hire", "CENTRE", "3000"),
        ("2001-01-31", "A2", "office", "management", "school_establishment", "school", "1.5"),
        ("200101", "A3", "utilities", "technician", "school_transfer", "centre", " 0 "),
        ("2001年1月", "A4", "property", "service", "social_hire", "centre", "+2500.25"),
    ]
    path = write_staff(landing, "2001-01", rows)
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    load("staff", landing, "2001-01-01", "2001-01-31")
    assert reconciliation(sql, "staff") == {"staff_200101.csv": (4, 4, 0, 0)}
    got = sql("SELECT month::text, unit_code, role, origin, payer, monthly_cost_yuan::text FROM core.staff_month "
              "ORDER BY source_line")
    assert got == [("2001-01-01", "catering", "cook", "social_hire", "centre", "3000.00"),
                   ("2001-01-01", "office", "management", "school_establishment", "school", "1.50"),
                   ("2001-01-01", "utilities", "technician", "school_transfer", "centre", "0.00"),
                   ("2001-01-01", "property", "service", "social_hire", "centre", "2500.25")]
    v = kpis(sql, STAFFING)
    assert _campus(v, "personnel_cost_saved_yuan", "month", JAN) == "3000.00"  # A1 cook 3000 + A3 transfer 0


# ------------------------------------------------------------------------------------ bad input: rows
BAD_ROWS = {
    # kind: (the bad row, the rule(s) it must be quarantined with)
    "month_of_another_month": (("2001-02", "Z9", "catering", "cook", "social_hire", "centre", "10.00"),
                               "month_matches_file"),
    "month_unparseable": (("2001-13", "Z9", "catering", "cook", "social_hire", "centre", "10.00"), "month_parseable"),
    "month_empty": (("", "Z9", "catering", "cook", "social_hire", "centre", "10.00"), "month_parseable"),
    "staff_id_empty": (("2001-01", " ", "catering", "cook", "social_hire", "centre", "10.00"), "staff_id_present"),
    "unit_unknown": (("2001-01", "Z9", "security", "cook", "social_hire", "centre", "10.00"), "unit_known"),
    "role_unknown": (("2001-01", "Z9", "catering", "chef", "social_hire", "centre", "10.00"), "role_known"),
    "origin_unknown": (("2001-01", "Z9", "catering", "cook", "contract", "centre", "10.00"), "origin_known"),
    "payer_unknown": (("2001-01", "Z9", "catering", "cook", "social_hire", "tenant", "10.00"), "payer_known"),
    "cost_negative": (("2001-01", "Z9", "catering", "cook", "social_hire", "centre", "-10.00"), "cost_not_negative"),
    "cost_three_decimals": (("2001-01", "Z9", "catering", "cook", "social_hire", "centre", "10.005"),
                            "cost_max_2_decimals"),
    "cost_thousands_separator": (("2001-01", "Z9", "catering", "cook", "social_hire", "centre", "1,000.00"),
                                 "cost_parseable"),
    "cost_full_width_digits": (("2001-01", "Z9", "catering", "cook", "social_hire", "centre", "３０００.00"),
                               "cost_parseable"),
    "cost_text": (("2001-01", "Z9", "catering", "cook", "social_hire", "centre", "about 3000"), "cost_parseable"),
    "cost_empty": (("2001-01", "Z9", "catering", "cook", "social_hire", "centre", ""), "cost_parseable"),
    "several_rules": (("2001-01", "Z9", "nowhere", "cook", "social_hire", "centre", "-1"),
                      "unit_known, cost_not_negative"),
}


@pytest.mark.parametrize("kind", list(BAD_ROWS))
def test_bad_row_is_quarantined(kind, landing, warehouse, sql):
    row, rule = BAD_ROWS[kind]
    write_monthly_ref(landing)
    good = staff_jan()
    write_staff(landing, "2001-01", good[:5] + [row] + good[5:])  # the bad row is line 7 (header = line 1)
    result = load("staff", landing, "2001-01-01", "2001-01-31", recompute_kpis=False)
    assert result.rejected == []
    # read 11 = loaded 10 + quarantined 1 + duplicates 0
    assert reconciliation(sql, "staff") == {"staff_200101.csv": (11, 10, 1, 0)}
    [(file, line, got_rule, record)] = rejected(sql, "staff")
    assert (file, line, got_rule) == ("staff_200101.csv", 7, rule)
    assert record["staff_id"] == (hmac_of("Z9") if row[1].strip() else None)
    assert sql("SELECT count(*) FROM core.staff_month")[0][0] == 10


def test_malformed_row_is_quarantined_pseudonymised(landing, warehouse, sql):
    write_monthly_ref(landing)
    path = write_staff(landing, "2001-01", staff_jan())
    text = path.read_bytes().decode("utf-8-sig")
    path.write_bytes(("\ufeff" + text + "2001-01,Z9,catering,cook,social_hire,centre,10.00,extra\n").encode())
    load("staff", landing, "2001-01-01", "2001-01-31", recompute_kpis=False)
    assert reconciliation(sql, "staff") == {"staff_200101.csv": (11, 10, 1, 0)}  # 11 = 10 + 1 + 0
    [(_, line, rule, record)] = rejected(sql, "staff")
    assert (line, rule) == (12, "malformed_row")
    assert record["fields"][1] == hmac_of("Z9") and "Z9" not in json.dumps(record)


def test_identical_repeat_is_collapsed(landing, warehouse, sql):
    write_monthly_ref(landing)
    write_staff(landing, "2001-01", staff_jan() + [staff_jan()[2], staff_jan()[2]])  # ZX01 three times
    load("staff", landing, "2001-01-01", "2001-01-31")
    # read 12 = loaded 10 + quarantined 0 + duplicates 2
    assert reconciliation(sql, "staff") == {"staff_200101.csv": (12, 10, 0, 2)}
    assert rejected(sql, "staff") == []
    assert kpis(sql, ["admin_headcount"])[("admin_headcount", "campus", "month", JAN)] == "3"  # ZX01 once


def test_person_in_two_units_quarantines_all_rows(landing, warehouse, sql):
    write_monthly_ref(landing)
    rows = staff_jan() + [
        person("2001-01", "ZX03", "property", "cook", "social_hire", "centre", "3000.00"),  # ZX03 also in property
        person("2001-01", "ZX03", "catering", "cook", "social_hire", "centre", "3000.00"),  # and ZX03 again
    ]
    write_staff(landing, "2001-01", rows)
    load("staff", landing, "2001-01-01", "2001-01-31")
    # read 12 = loaded 9 + quarantined 3 (all of ZX03's rows, lines 6, 12, 13) + duplicates 0
    assert reconciliation(sql, "staff") == {"staff_200101.csv": (12, 9, 3, 0)}
    got = [(line, rule, rec["staff_id"], rec["unit_code"]) for _, line, rule, rec in rejected(sql, "staff")]
    h = hmac_of("ZX03")
    assert got == [(6, "person_in_two_units", h, "catering"), (12, "person_in_two_units", h, "property"),
                   (13, "person_in_two_units", h, "catering")]
    v = kpis(sql, STAFFING)
    # without ZX03: cooks by centre ZX04, ZX05 = 2; cook savings 3100.00 (ZX04 only)
    assert _campus(v, "cooks_borne_by_centre", "month", JAN) == "2"
    assert _campus(v, "personnel_cost_saved_cooks_yuan", "month", JAN) == "3100.00"


def test_conflicting_rows_of_one_person_are_quarantined(landing, warehouse, sql):
    write_monthly_ref(landing)
    rows = staff_jan() + [person("2001-01", "ZX02", "utilities", "technician", "school_transfer", "centre", "9000.00")]
    write_staff(landing, "2001-01", rows)
    load("staff", landing, "2001-01-01", "2001-01-31")
    # read 11 = loaded 9 + quarantined 2 (ZX02's lines 5 and 12: same unit, different cost) + duplicates 0
    assert reconciliation(sql, "staff") == {"staff_200101.csv": (11, 9, 2, 0)}
    assert [(line, rule) for _, line, rule, _ in rejected(sql, "staff")] == [
        (5, "person_conflicting_rows"), (12, "person_conflicting_rows")]
    v = kpis(sql, STAFFING)
    # transfers without ZX02: 8000.00 + 6000.00 = 14000.00
    assert _campus(v, "personnel_cost_saved_transfer_yuan", "month", JAN) == "14000.00"


# ------------------------------------------------------------------------------------ bad input: files
def _header_only(path):
    path.write_bytes("\ufeffmonth,staff_id,unit_code,role,origin,payer,monthly_cost_yuan\r\n".encode())


def _empty(path):
    path.write_bytes(b"")


def _missing_column(path):
    text = path.read_bytes().decode("utf-8-sig").splitlines()
    path.write_text("\n".join(",".join(line.split(",")[:-1]) for line in text) + "\n", encoding="utf-8")


def _renamed_column(path):
    data = path.read_bytes().decode("utf-8-sig").replace("monthly_cost_yuan", "cost_yuan", 1)
    path.write_text(data, encoding="utf-8")


def _extra_column(path):
    text = path.read_bytes().decode("utf-8-sig").splitlines()
    path.write_text("\n".join(line + ",x" for line in text) + "\n", encoding="utf-8")


def _gbk(path):
    data = path.read_bytes().decode("utf-8-sig") + "2001-01,Z9,食堂,cook,social_hire,centre,10.00\n"
    path.write_bytes(data.encode("gb18030"))


def _truncated(path):
    data = path.read_bytes()
    path.write_bytes(data + b"2001-01,Z9,catering,co")


BAD_FILES = {
    "empty": (_empty, "not_empty"),
    "header_only": (_header_only, "not_empty"),
    "missing_column": (_missing_column, "header"),
    "renamed_column": (_renamed_column, "header"),
    "extra_column": (_extra_column, "header"),
    "wrong_encoding": (_gbk, "encoding"),
    "truncated": (_truncated, "truncated"),
}


@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_bad_file_fails_and_loads_nothing(kind, landing, warehouse, sql):
    spoil, rule = BAD_FILES[kind]
    write_monthly_ref(landing)
    write_staff(landing, "2001-01", staff_jan())
    write_staff(landing, "2001-02", staff_feb())
    spoil(staff_path(landing, "2001-02"))
    result = load("staff", landing, "2001-01-01", "2001-02-28")
    assert [(r["file"], r["rule"]) for r in result.rejected] == [("staff_200102.csv", rule)]
    assert "staff" in result.rejected[0]["message"] and "staff_200102.csv" in result.rejected[0]["message"]
    # nothing of February is loaded; January is
    assert reconciliation(sql, "staff") == {"staff_200101.csv": (10, 10, 0, 0)}
    assert sql("SELECT DISTINCT month::text FROM core.staff_month") == [("2001-01-01",)]
    assert sql("SELECT success FROM quality.validation_result WHERE file = 'staff_200102.csv'") == [(False,)]
    from campus_logistics.pipeline import raise_for_rejections

    with pytest.raises(FeedRunFailed, match=rule):
        raise_for_rejections(result.as_dict())


# ----------------------------------------------------------------------------------------- idempotency
def test_same_range_twice_and_overlapping_ranges_are_idempotent(landing, warehouse, sql):
    _three_months(landing)
    write_staff(landing, "2001-02", staff_feb() + [
        person("2001-02", "Q1", "nowhere", "cook", "social_hire", "centre", "1.00")])  # one quarantined row
    load("staff", landing, "2001-01-01", "2001-03-31", run_id="r1")
    first = snapshot(sql)
    assert first["quality.rejected_rows"] and first["mart.kpi_value"]
    load("staff", landing, "2001-01-01", "2001-03-31", run_id="r2")
    assert snapshot(sql) == first
    load("staff", landing, "2001-02-01", "2001-03-31", run_id="r3")
    load("staff", landing, "2001-01-01", "2001-02-28", run_id="r4")
    assert snapshot(sql) == first
    # the audit trail keeps every run's reconciliation of every file: 3 + 3 + 2 + 2
    assert sql("SELECT count(*) FROM quality.file_reconciliation_history WHERE feed = 'staff'") == [(10,)]


def test_redelivered_month_replaces_the_old_one(landing, warehouse, sql):
    _three_months(landing)
    load("staff", landing, "2001-01-01", "2001-03-31")
    v = kpis(sql, STAFFING)
    assert _campus(v, "personnel_cost_saved_transfer_yuan", "year", Y) == "63200.50"
    # corrected January: ZX02 cost 7000.50 → 7500.00, ZX07 removed, one bad row added
    jan = [r for r in staff_jan() if r[1] != "ZX07"]
    jan = [r if r[1] != "ZX02" else r[:6] + ("7500.00",) for r in jan]
    write_staff(landing, "2001-01", jan + [person("2001-01", "Q1", "catering", "cook", "social_hire", "centre", "x")])
    result = load("staff", landing, "2001-01-01", "2001-01-31", run_id="redelivery")
    assert result.affected_days == [JAN]
    assert reconciliation(sql, "staff")["staff_200101.csv"] == (10, 9, 1, 0)  # 10 = 9 + 1 + 0
    assert sql("SELECT count(*) FROM core.staff_month WHERE month = %s", (JAN,)) == [(9,)]
    v = kpis(sql, STAFFING)
    assert _campus(v, "jobs_provided", "month", JAN) == "5"                     # 6 − ZX07
    assert _campus(v, "jobs_social_hire", "month", JAN) == "2"                  # ZX03, ZX04
    assert _campus(v, "personnel_cost_saved_transfer_yuan", "month", JAN) == "21500.00"  # 8000 + 7500 + 6000
    assert _campus(v, "personnel_cost_saved_yuan", "month", JAN) == "27600.00"           # 21500 + 6100
    # the year's flows follow: 21500.00 + 21100.00 + 21100.00 = 63700.00; stocks stay March's
    assert _campus(v, "personnel_cost_saved_transfer_yuan", "year", Y) == "63700.00"
    assert _campus(v, "personnel_cost_saved_yuan", "year", Y) == "82200.00"    # 27600 + 27300 + 27300
    assert _campus(v, "jobs_provided", "year", Y) == "7"
    assert [(r[2]) for r in rejected(sql, "staff")] == ["cost_parseable"]
