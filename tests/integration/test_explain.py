"""The audit trail of a stored KPI value (kpis/explain.py), from the UI scenario (tests/fixtures_ui.py)
loaded through the real pipeline into real PostgreSQL, plus a canteen day of hostile values:

* canteen_20010307.csv (this module's): H1 — 流水号 ``<script>…``, a raw 16-digit card number, 第一食堂,
  2.00 — loads; H2 — another raw card number at an outlet named ``<img …>`` — is quarantined
  (``outlet_known``, line 3).

Worked out by hand:
* personnel_cost_saved_yuan, campus (fixtures_monthly: staff_jan/feb/mar): transfers (payer centre,
  origin school_transfer) Jan 8,000 + 7,000.50 + 6,000 = 21,000.50, Feb and Mar 8,000 + 7,100 + 6,000 =
  21,100.00; cooks (centre, cook, not transfer) Jan 3,000 + 3,100 = 6,100.00, Feb and Mar 3,000 + 3,200 =
  6,200.00. Months: 27,100.50, 27,300.00, 27,300.00; year 2001 = 81,700.50 (transfers 63,200.50 +
  cooks 18,500.00). staff_200102.csv reads 12 rows: 11 loaded, 1 duplicate collapsed (ZX07 twice).
* canteen_revenue_yuan, campus, March: 5 Mar 5.00 + 8.50 + 12.00 (A4 at 第九食堂 quarantined) = 25.50;
  6 Mar 6.00; 7 Mar 2.00 → 33.50 from 5 transactions; canteen_avg_ticket_yuan = 33.50 ÷ 5 = 6.70.
  canteen_20010305.csv: read 4 = loaded 3 + quarantined 1 (line 5, outlet_known).
* satisfaction_rate, campus, wave of 16 March: 非常满意/满意 in 5 of 7 answered cells = 0.714286 (71.4%).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from campus_logistics.cli import main
from campus_logistics.kpis.explain import ExplainError, explain, to_text

ROOT = Path(__file__).resolve().parents[2]
HOSTILE_ID = "<script>alert('lineage')</script>"
HOSTILE_OUTLET = "<img src=x onerror=alert(1)>"
RAW_CARDS = ("6222020000001234", "6222020000005678")
RAW_STAFF = ("ZX01", "ZX07", "JG01")


def write(root: Path) -> None:
    from tests.fixtures import purchase, write_canteen
    from tests.fixtures_ui import write_scenario

    write_scenario(root)
    write_canteen(root, "2001-03-07", [
        purchase(HOSTILE_ID, RAW_CARDS[0], "2001-03-07 12:00:00", amount="2.00"),
        purchase("H2", RAW_CARDS[1], "2001-03-07 12:05:00", outlet=HOSTILE_OUTLET, amount="4.00"),
    ])


def load_files(root: Path) -> None:
    from tests.fixtures_monthly import load

    load("staff", root, "2001-01-01", "2001-03-31", run_id="ex-staff")
    load("canteen", root, "2001-03-05", "2001-03-07", run_id="ex-canteen")
    load("surveys", root, "2001-03-16", "2001-03-16", run_id="ex-surveys")


@pytest.fixture(scope="module")
def scenario(pg_admin_url, template_db, tmp_path_factory):
    from tests.fixtures_ui import loaded_warehouse

    landing: dict = {}

    def keep(root):
        landing["root"] = root
        write(root)

    for s in loaded_warehouse(pg_admin_url, template_db, tmp_path_factory, keep, load_files):
        yield {**s, "landing": landing["root"]}


@pytest.fixture
def conn(scenario):
    with psycopg.connect(scenario["url"]) as c:
        yield c


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_annual_flow_lists_the_months_summed_its_inputs_and_the_roster_files(conn, scenario):
    e = explain(conn, "personnel_cost_saved_yuan", "campus", "2001")
    assert (e["grain"], e["period"], e["value"], e["run_id"]) == ("year", "2001", "81700.50", "ex-staff")
    assert e["kpi"]["name_zh"] == "学校节约人员经费" and e["kpi"]["kind"] == "flow"
    assert [(m["period"], m["value"]) for m in e["rollup"]["months"]] == [
        ("2001-01", "27100.50"), ("2001-02", "27300.00"), ("2001-03", "27300.00")]
    assert e["rollup"]["total"] == "81700.50" and e["rollup"]["matches"]
    assert [(i["op"], i["code"], i["value"]) for i in e["inputs"]] == [
        ("+", "personnel_cost_saved_transfer_yuan", "63200.50"), ("+", "personnel_cost_saved_cooks_yuan", "18500.00")]
    assert e["check"] == {"expression": "63200.50 + 18500.00", "recomputed": "81700.50", "matches": True}
    staff = {f["file"]: f for f in e["feeds"][0]["files"]}
    assert list(staff) == ["staff_200101.csv", "staff_200102.csv", "staff_200103.csv"]
    feb = staff["staff_200102.csv"]
    assert feb["checksum"] == sha256(scenario["landing"] / "staff" / "staff_200102.csv")
    assert (feb["rows_read"], feb["rows_loaded"], feb["rows_quarantined"], feb["rows_duplicate"]) == (12, 11, 0, 1)
    assert feb["rules"] == {"duplicate_collapsed": 1} and feb["counted"] == 11 and feb["run_id"] == "ex-staff"
    # ZX07's second row (line 11) repeats line 10: collapsed, named by line
    assert feb["samples_duplicate"] == [{"line": 11, "kept_row": 10, "rule": "duplicate_collapsed"}]
    # samples: line numbers (header = line 1) and pseudonyms, never the raw staff id
    assert [s["line"] for s in feb["samples_counted"]] == [2, 3, 4]
    assert all(s["id"].startswith("staff ") and s["id"].endswith("…") for s in feb["samples_counted"])
    refs = {r["name"]: r for r in e["references"]}
    assert set(refs) == {"ref/enrolment.csv", "ref/baselines.csv"}
    assert refs["ref/baselines.csv"]["table"] == "core.baseline" and refs["ref/baselines.csv"]["rows"] == 2
    assert refs["ref/enrolment.csv"]["checksum"] == sha256(scenario["landing"] / "ref" / "enrolment.csv")


def test_monthly_money_kpi_lists_the_day_files_counts_and_the_quarantined_rule(conn, scenario):
    e = explain(conn, "canteen_revenue_yuan", "campus", "2001-03")
    assert (e["grain"], e["value"], e["rollup"], e["inputs"]) == ("month", "33.50", None, [])
    canteen = e["feeds"][0]
    assert canteen["feed"] == "canteen" and canteen["counted_total"] == 5
    files = {f["file"]: f for f in canteen["files"]}
    assert list(files) == ["canteen_20010305.csv", "canteen_20010306.csv", "canteen_20010307.csv"]
    d5 = files["canteen_20010305.csv"]
    assert d5["checksum"] == sha256(scenario["landing"] / "canteen" / "canteen_20010305.csv")
    assert (d5["rows_read"], d5["rows_loaded"], d5["rows_quarantined"], d5["rows_duplicate"], d5["counted"]) == \
        (4, 3, 1, 0, 3)
    assert d5["rules"] == {"outlet_known": 1}
    [q] = d5["samples_quarantined"]
    assert (q["line"], q["rule"]) == (5, "outlet_known") and q["id"].startswith("流水号 A4, 卡号 ")
    assert q["reason"][0]["rule"] == "outlet_known" and q["reason"][0]["zh"]
    assert [s["id"].split(" card ")[0] for s in d5["samples_counted"]] == ["A1", "A2", "A3"]
    assert {r["name"] for r in e["references"]} == {"ref/outlets.csv", "ref/enrolment.csv"}


def test_a_ratio_is_recomputed_from_its_stored_inputs(conn):
    e = explain(conn, "canteen_avg_ticket_yuan", "campus", "2001-03")
    assert e["value"] == "6.70"
    assert [(i["op"], i["value"]) for i in e["inputs"]] == [("+", "33.50"), ("/", "5")]
    assert e["check"]["recomputed"] == "6.70" and e["check"]["matches"]


def test_a_survey_date_is_its_wave_and_a_rate_shows_its_denominator(conn):
    e = explain(conn, "satisfaction_rate", "campus", "2001-03-16")
    assert (e["grain"], e["value"]) == ("wave", "0.714286")
    assert [(i["op"], i["code"], i["value"]) for i in e["inputs"]] == [("/", "satisfaction_responses", "7")]
    assert e["check"] is None  # the numerator is not a stored KPI
    [f] = e["feeds"][0]["files"]
    assert (f["file"], f["rows_read"], f["counted"]) == ("survey_20010316.xlsx", 4, 8)  # 4 respondents × 2 units
    assert "值 Value: 71.4%\n" in to_text(e)


def test_the_text_report_and_the_cli(conn, scenario, capsys):
    text = to_text(explain(conn, "personnel_cost_saved_yuan", "campus", "2001-02"))
    assert "学校节约人员经费" in text and "27,300.00" in text and "staff_200102.csv" in text
    assert "read 12 = loaded 11 + quarantined 0 + duplicates 1" in text
    assert "collapsed   line 11    duplicate_collapsed: identical to line 10" in text
    assert main(["explain", "canteen_revenue_yuan", "--unit", "campus", "--period", "2001-03",
                 "--warehouse", scenario["url"]]) == 0
    out = capsys.readouterr().out
    assert "营业额" in out and "33.50" in out and "quarantined line 5" in out and "outlet_known" in out
    assert main(["explain", "canteen_revenue_yuan", "--period", "2001-03-05", "--json",
                 "--warehouse", scenario["url"]]) == 0
    e = json.loads(capsys.readouterr().out)
    assert (e["grain"], e["value"]) == ("day", "25.50")


def test_no_raw_identifier_and_hostile_values_are_only_text(conn, scenario, capsys):
    from campus_logistics.ui.pages import explain_page

    e = explain(conn, "canteen_revenue_yuan", "campus", "2001-03-07")
    assert e["value"] == "2.00"
    [d7] = e["feeds"][0]["files"]
    assert d7["samples_counted"][0]["id"].startswith(HOSTILE_ID)
    assert d7["samples_quarantined"][0]["rule"] == "outlet_known"
    assert main(["explain", "canteen_revenue_yuan", "--period", "2001-03", "--warehouse", scenario["url"]]) == 0
    assert main(["explain", "personnel_cost_saved_yuan", "--period", "2001", "--json",
                 "--warehouse", scenario["url"]]) == 0
    out = capsys.readouterr().out
    html = explain_page(conn, "canteen_revenue_yuan", "campus", "2001-03", None)
    staff_html = explain_page(conn, "personnel_cost_saved_yuan", "campus", "2001", None)
    for raw in (*RAW_CARDS, *RAW_STAFF):
        assert raw not in out and raw not in html and raw not in staff_html
    assert HOSTILE_ID in out  # the CLI shows it as the text it is
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;alert(&#x27;lineage&#x27;)&lt;/script&gt;" in html


def test_questions_that_have_no_answer(conn):
    with pytest.raises(ExplainError, match="unknown KPI code"):
        explain(conn, "no_such_kpi", "campus", "2001-03")
    with pytest.raises(ExplainError, match="is not YYYY, YYYY-MM or YYYY-MM-DD"):
        explain(conn, "canteen_revenue_yuan", "campus", "2001-3")
    with pytest.raises(ExplainError, match="not a date in the calendar"):
        explain(conn, "canteen_revenue_yuan", "campus", "2001-02-30")
    with pytest.raises(ExplainError, match="the year must be from 1990 to 2100"):
        explain(conn, "canteen_revenue_yuan", "campus", "0001-01")
    with pytest.raises(ExplainError, match="does not name a year"):
        explain(conn, "canteen_revenue_yuan", "campus", "2001-03", "year")
    with pytest.raises(ExplainError, match="not stored per day"):
        explain(conn, "personnel_cost_saved_yuan", "campus", "2001-03-01")
    with pytest.raises(ExplainError, match="no stored value of canteen_revenue_yuan for campus, month 2001-04; "
                                           "stored for campus: day 2001-03-07"):
        explain(conn, "canteen_revenue_yuan", "campus", "2001-04")


@pytest.mark.parametrize("args, message", [
    (["no_such_kpi", "--period", "2001-03"], "unknown KPI code 'no_such_kpi'"),
    (["canteen_revenue_yuan", "--period", "2001-13"], "not a date in the calendar"),
    (["canteen_revenue_yuan", "--period", "March"], "is not YYYY, YYYY-MM or YYYY-MM-DD"),
    (["canteen_revenue_yuan", "--period", "1999"], "no stored value of canteen_revenue_yuan"),
])
def test_cli_errors_exit_non_zero_without_a_traceback(scenario, args, message):
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'plugins'}{os.pathsep}{ROOT}"}
    r = subprocess.run([sys.executable, "-m", "campus_logistics", "explain", *args, "--warehouse", scenario["url"]],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("error: ") and message in r.stderr and "Traceback" not in r.stderr
    assert r.stdout == ""


def test_values_are_decimal_text(conn):
    e = explain(conn, "personnel_cost_saved_transfer_yuan", "campus", "2001-01")
    assert Decimal(e["value"]) == Decimal("21000.50")  # 8,000 + 7,000.50 + 6,000


@pytest.fixture
def client(scenario, monkeypatch):
    from fastapi.testclient import TestClient

    from campus_logistics.ui.app import create_app

    monkeypatch.setenv("CAMPUS_LOGISTICS_WAREHOUSE_URL", scenario["url"])
    with TestClient(create_app(dependencies=[]), raise_server_exceptions=False) as c:
        yield c


def test_the_lineage_page_and_the_links_to_it(client):
    reform = client.get("/", params={"year": 2001, "month": 3}).text
    href = "explain?kpi=personnel_cost_saved_yuan&amp;unit=campus&amp;grain=month&amp;period=2001-03"
    assert f"<a href='{href}'" in reform
    resp = client.get("/explain", params={"kpi": "personnel_cost_saved_yuan", "unit": "campus", "grain": "month",
                                          "period": "2001-03"})
    assert resp.status_code == 200
    assert resp.headers["content-security-policy"].startswith("default-src 'none'")
    assert resp.headers["x-content-type-options"] == "nosniff"
    page = resp.text
    assert "学校节约人员经费" in page and "27,300.00" in page and "staff_200103.csv" in page
    # the inputs link to their own trails: 21,100.00 + 6,200.00 = 27,300.00
    assert "explain?kpi=personnel_cost_saved_transfer_yuan&amp;unit=campus&amp;grain=month&amp;period=2001-03" in page
    assert "21,100.00" in page and "6,200.00" in page and "✓ 一致 matches" in page


@pytest.mark.parametrize("params, status", [
    ({"kpi": "no_such_kpi", "period": "2001-03"}, 404),
    ({"kpi": "canteen_revenue_yuan", "period": "2101"}, 404),
    ({"kpi": "canteen_revenue_yuan", "period": "2001-02-30"}, 404),
    ({"kpi": "canteen_revenue_yuan", "period": "2001-03", "unit": HOSTILE_OUTLET}, 404),
    ({"kpi": "canteen_revenue_yuan", "period": "2001-3"}, 422),
    ({"kpi": "<script>", "period": "2001-03"}, 422),
    ({"kpi": "a" * 65, "period": "2001-03"}, 422),
    ({"kpi": "canteen_revenue_yuan", "period": "2001-03", "unit": "u" * 65}, 422),
    ({"kpi": "canteen_revenue_yuan", "period": "2001-03", "grain": "week"}, 422),
])
def test_the_lineage_page_refuses_bad_questions(client, params, status):
    resp = client.get("/explain", params=params)
    assert resp.status_code == status, resp.text[:300]
    assert resp.headers["content-security-policy"].startswith("default-src 'none'")
    if status == 404:
        assert resp.headers["content-type"].startswith("text/html") and "<img" not in resp.text
        assert "审计追溯" in resp.text
