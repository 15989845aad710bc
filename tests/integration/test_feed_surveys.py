"""surveys feed and the satisfaction KPIs, on hand-built xlsx waves with hand-worked answers."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from campus_logistics.kpis.compute import recompute
from campus_logistics.pipeline import run_feed
from tests.fixtures_tickets import SURVEY_HEAD, at, survey_path, write_survey

FEED = "surveys"
D = date.fromisoformat
LINEAGE = {"run_id", "computed_at", "loaded_at", "rejected_at", "reconciled_at", "validated_at"}
UTIL, CAT, PROP = "水电中心", "饮食服务中心", "物业中心"  # utilities, catering, property (tests/fixtures.SUB_CENTRES)
W1, W2, Y = D("2001-06-15"), D("2001-12-14"), D("2001-01-01")

# wave 1 (survey_20010615.xlsx), columns 水电中心, 饮食服务中心; submitted times are date-time cells
WAVE1 = [
    [1, at("2001-06-12", "09:00"), "学生", "非常满意", "满意"],
    [2, at("2001-06-12", "09:05"), "学生", "满意", None],
    [3, at("2001-06-13", "14:00"), "教职工", "一般", "不满意"],
    [4, at("2001-06-14", "20:30"), "学生", None, "非常满意"],
    [5, at("2001-06-15", "08:00"), "教职工", "不满意", "满意"],
]
# wave 2 (survey_20011214.xlsx), columns in another order, 物业中心 asked but never answered;
# submitted times as text (one with an offset)
WAVE2 = [
    [1, "2001-12-13 10:00:00", "学生", "满意", "满意", None],
    [2, at("2001-12-13", "11:00"), "学生", "非常不满意", "非常满意", ""],
    [3, "2001-12-14T08:30:00+08:00", "教职工", None, "满意", None],
]
EXPECTED = {
    ("satisfaction_rate", "wave"): {
        ("utilities", W1): Decimal("0.5"),    # 非常满意, 满意 of 4 answered (一般, 不满意): 2/4
        ("catering", W1): Decimal("0.75"),    # 满意, 非常满意, 满意 of 4 (不满意): 3/4
        ("campus", W1): Decimal("0.625"),     # 5 of 8 answered cells
        ("utilities", W2): 1,                 # 满意, 非常满意, 满意: 3/3
        ("catering", W2): Decimal("0.5"),     # 满意 of 满意, 非常不满意: 1/2
        ("campus", W2): Decimal("0.8")},      # 4 of 5; 物业中心 has no answered cell: no rate
    ("satisfaction_responses", "wave"): {
        ("utilities", W1): 4, ("catering", W1): 4, ("campus", W1): 8,
        ("utilities", W2): 3, ("catering", W2): 2, ("property", W2): 0, ("campus", W2): 5},
    ("satisfaction_rate", "year"): {          # recomputed over the year's answered cells, not averaged
        ("utilities", Y): Decimal("0.714286"),  # (2 + 3) / (4 + 3) = 5/7 (the mean of rates would be 0.75)
        ("catering", Y): Decimal("0.666667"),   # (3 + 1) / (4 + 2) = 4/6
        ("campus", Y): Decimal("0.692308")},    # (5 + 4) / (8 + 5) = 9/13
    ("satisfaction_responses", "year"): {
        ("utilities", Y): 7, ("catering", Y): 6, ("property", Y): 0, ("campus", Y): 13},
}


def write_waves(landing, wave1=WAVE1):
    write_survey(landing, "2001-06-15", SURVEY_HEAD + [UTIL, CAT], wave1)
    write_survey(landing, "2001-12-14", SURVEY_HEAD + [CAT, UTIL, PROP], WAVE2)


def load(landing, start, end, url=None):
    result = run_feed(FEED, landing, D(start), D(end), run_id="test-run", url=url)
    recompute(result.affected_days, feeds=[FEED], url=url)
    return result


def kpi_table(sql, code, grain):
    return {(u, p): v for u, p, v in sql(
        "SELECT unit_code, period_start, value FROM mart.kpi_value WHERE kpi_code = %s AND grain = %s",
        (code, grain))}


def assert_expected(sql, expected=EXPECTED):
    for (code, grain), want in expected.items():
        assert kpi_table(sql, code, grain) == {k: Decimal(v) for k, v in want.items()}, (code, grain)


def snapshot(sql) -> dict:
    out = {}
    for table in ("core.survey_answer", "quality.rejected_rows", "quality.file_reconciliation",
                  "quality.validation_result", "mart.kpi_value"):
        schema, name = table.split(".")
        cols = [c for (c,) in sql("""SELECT column_name FROM information_schema.columns
                                     WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position""",
                                  (schema, name)) if c not in LINEAGE | {"id"}]
        order = ", ".join(str(i + 1) for i in range(len(cols)))
        out[table] = sql(f"SELECT {', '.join(cols)} FROM {table} ORDER BY {order}")
    return out


def reconciliation(sql, file):
    return sql("""SELECT rows_read, rows_loaded, rows_quarantined, rows_duplicate FROM quality.file_reconciliation
                  WHERE feed = %s AND file = %s""", (FEED, file))[0]


# --- the two waves end to end ------------------------------------------------------------------------

def test_two_waves_kpis_by_hand(landing, sql):
    write_waves(landing)
    result = load(landing, "2001-01-01", "2001-12-31")
    assert result.rejected == []
    assert result.affected_days == ["2001-06-15", "2001-12-14"]
    assert reconciliation(sql, "survey_20010615.xlsx") == (5, 5, 0, 0)
    assert reconciliation(sql, "survey_20011214.xlsx") == (3, 3, 0, 0)
    assert_expected(sql)
    # long format: one row per respondent and service column, unanswered cells kept as NULL
    assert sql("SELECT count(*), count(answer) FROM core.survey_answer") == [(5 * 2 + 3 * 3, 8 + 5)]
    assert sql("""SELECT response_no, holder_type, to_char(submitted_at AT TIME ZONE 'Asia/Shanghai', 'MM-DD HH24:MI'),
                         answer, score FROM core.survey_answer
                  WHERE wave_date = '2001-12-14' AND unit_code = 'utilities' ORDER BY 1""") == [
        ("1", "student", "12-13 10:00", "满意", 4), ("2", "student", "12-13 11:00", "非常满意", 5),
        ("3", "staff", "12-14 08:30", "满意", 4)]


def test_wave_files_outside_the_interval_are_not_loaded_and_none_is_missing(landing, sql):
    write_waves(landing)
    result = load(landing, "2001-06-01", "2001-06-30")
    assert [f["file"] for f in result.files] == ["survey_20010615.xlsx"] and result.rejected == []
    assert sql("SELECT DISTINCT wave_date FROM core.survey_answer") == [(W1,)]
    # the year so far holds only wave 1
    assert kpi_table(sql, "satisfaction_rate", "year")[("utilities", Y)] == Decimal("0.5")


def test_same_range_twice_and_overlapping_ranges(landing, sql):
    write_waves(landing)
    load(landing, "2001-01-01", "2001-12-31")
    once = snapshot(sql)
    load(landing, "2001-01-01", "2001-12-31")
    assert snapshot(sql) == once
    load(landing, "2001-06-01", "2001-06-30")
    load(landing, "2001-06-15", "2001-12-31")
    assert snapshot(sql) == once


def test_redelivered_corrected_wave_replaces_it(landing, sql):
    write_waves(landing)
    load(landing, "2001-01-01", "2001-12-31")
    corrected = [r[:] for r in WAVE1]
    corrected[2][3] = "满意"  # respondent 3 meant 满意, not 一般, for 水电中心
    write_survey(landing, "2001-06-15", SURVEY_HEAD + [UTIL, CAT], corrected)
    load(landing, "2001-06-15", "2001-06-15")
    expected = {k: dict(v) for k, v in EXPECTED.items()}
    expected[("satisfaction_rate", "wave")].update({("utilities", W1): Decimal("0.75"),   # 3/4
                                                    ("campus", W1): Decimal("0.75")})     # 6/8
    expected[("satisfaction_rate", "year")].update({("utilities", Y): Decimal("0.857143"),  # 6/7
                                                    ("campus", Y): Decimal("0.769231")})    # 10/13
    assert_expected(sql, expected)
    assert sql("SELECT count(*) FROM core.survey_answer WHERE wave_date = %s", (W1,))[0][0] == 10


def test_a_unit_dropped_from_a_corrected_wave_disappears(landing, sql):
    write_waves(landing)
    load(landing, "2001-01-01", "2001-12-31")
    write_survey(landing, "2001-12-14", SURVEY_HEAD + [CAT, UTIL], [r[:5] for r in WAVE2])
    load(landing, "2001-12-14", "2001-12-14")
    assert ("property", W2) not in kpi_table(sql, "satisfaction_responses", "wave")
    assert ("property", Y) not in kpi_table(sql, "satisfaction_responses", "year")


def test_waves_validated_together_keep_their_own_columns(landing, sql):
    """Both waves are validated in one window although their sheets differ: each quarantined record
    holds its own sheet's columns and cell names, and a conflicting repeat is stored as staged."""
    wave1 = [r[:] for r in WAVE1]
    wave1[1][4] = "很好"  # sheet row 3, 饮食服务中心 is column E in wave 1
    wave2 = [r[:] for r in WAVE2] + [[3, "2001-12-14T08:30:00+08:00", "教职工", "一般", "满意", None]]
    wave2[0][3] = "还行"  # sheet row 2, 饮食服务中心 is column D in wave 2
    write_survey(landing, "2001-06-15", SURVEY_HEAD + [UTIL, CAT], wave1, title="六月")
    write_survey(landing, "2001-12-14", SURVEY_HEAD + [CAT, UTIL, PROP], wave2, title="十二月")
    load(landing, "2001-01-01", "2001-12-31")
    got = {(f, n): (rule, rec) for f, n, rule, rec in sql(
        "SELECT file, row_number, rule, record FROM quality.rejected_rows WHERE feed = %s", (FEED,))}
    assert got == {
        ("survey_20010615.xlsx", 3): ("answer_on_scale", {
            "sheet": "六月", "row": 3, "序号": 2, "提交答卷时间": "2001-06-12 09:05:00", "身份": "学生",
            UTIL: "满意", CAT: "很好",
            "detail": "sheet '六月', cell E3: answer '很好' not on the scale (column '饮食服务中心')"}),
        ("survey_20011214.xlsx", 2): ("answer_on_scale", {
            "sheet": "十二月", "row": 2, "序号": 1, "提交答卷时间": "2001-12-13 10:00:00", "身份": "学生",
            CAT: "还行", UTIL: "满意", PROP: None,
            "detail": "sheet '十二月', cell D2: answer '还行' not on the scale (column '饮食服务中心')"}),
        # respondent 3 again, answering 饮食服务中心 (一般) where the first left it empty
        ("survey_20011214.xlsx", 5): ("duplicate_response_conflict", {
            "sheet": "十二月", "row": 5, "序号": "3", "身份": "staff", "提交答卷时间": "2001-12-14T08:30:00+08:00",
            "answers": {"catering": "一般", "utilities": "满意", "property": None}}),
    }
    assert reconciliation(sql, "survey_20010615.xlsx") == (5, 4, 1, 0)
    assert reconciliation(sql, "survey_20011214.xlsx") == (4, 2, 2, 0)
    assert sql("""SELECT wave_date, count(*), count(answer) FROM core.survey_answer GROUP BY 1 ORDER BY 1""") == [
        (W1, 4 * 2, 7), (W2, 2 * 3, 3)]


# --- bad input: the file fails ----------------------------------------------------------------------

def _rejected(landing, sql):
    result = run_feed(FEED, landing, D("2001-06-15"), D("2001-06-15"), run_id="test-run")
    assert len(result.rejected) == 1, result.rejected
    assert sql("SELECT count(*) FROM core.survey_answer")[0][0] == 0
    assert sql("SELECT count(*) FROM quality.file_reconciliation")[0][0] == 0
    r = result.rejected[0]
    assert sql("SELECT success, failed_rules ? %s FROM quality.validation_result WHERE feed = %s",
               (r["rule"], FEED)) == [(False, True)]
    return r


def test_empty_file_is_rejected(landing, sql):
    p = survey_path(landing, "2001-06-15")
    p.parent.mkdir(parents=True)
    p.write_bytes(b"")
    assert _rejected(landing, sql)["rule"] == "not_empty"


def test_header_without_respondents_is_rejected(landing, sql):
    write_survey(landing, "2001-06-15", SURVEY_HEAD + [UTIL], [])
    r = _rejected(landing, sql)
    assert r["rule"] == "not_empty" and "no respondent" in r["detail"]


def test_not_an_xlsx_is_rejected(landing, sql):
    p = survey_path(landing, "2001-06-15")
    p.parent.mkdir(parents=True)
    p.write_text("序号,提交答卷时间,身份\n1,2001-06-15,学生\n", encoding="utf-8")
    assert _rejected(landing, sql)["rule"] == "xlsx_readable"


def test_truncated_xlsx_is_rejected(landing, sql):
    p = write_survey(landing, "2001-06-15", SURVEY_HEAD + [UTIL, CAT], WAVE1)
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    assert _rejected(landing, sql)["rule"] == "xlsx_readable"


def test_cut_off_sheet_inside_a_valid_zip_is_rejected(landing, sql):
    import io
    import zipfile

    p = write_survey(landing, "2001-06-15", SURVEY_HEAD + [UTIL, CAT], WAVE1 * 20)
    out = io.BytesIO()
    with zipfile.ZipFile(p) as zin, zipfile.ZipFile(out, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            zout.writestr(info, data[: len(data) // 2] if info.filename.startswith("xl/worksheets/") else data)
    p.write_bytes(out.getvalue())
    r = _rejected(landing, sql)
    assert r["rule"] == "xlsx_readable" and "ParseError" in r["detail"]


def test_unknown_column_header_names_the_column(landing, sql):
    write_survey(landing, "2001-06-15", SURVEY_HEAD + [UTIL, "绿化中心"], WAVE1)
    r = _rejected(landing, sql)
    assert r["rule"] == "header"
    assert "column E: header '绿化中心' is not a unit name_zh" in r["detail"]
    assert "survey_20010615.xlsx" in r["message"] and "'header'" in r["message"]


def test_duplicated_unit_column_is_rejected(landing, sql):
    write_survey(landing, "2001-06-15", SURVEY_HEAD + [UTIL, CAT, UTIL], [r + ["满意"] for r in WAVE1])
    r = _rejected(landing, sql)
    assert r["rule"] == "header" and "column F: header '水电中心' duplicates column D" in r["detail"]


def test_missing_required_column_is_rejected(landing, sql):
    write_survey(landing, "2001-06-15", ["序号", "提交答卷时间", UTIL], [r[:2] + r[3:4] for r in WAVE1])
    r = _rejected(landing, sql)
    assert r["rule"] == "header" and "missing column(s) ['身份']" in r["detail"]


def test_no_service_column_is_rejected(landing, sql):
    write_survey(landing, "2001-06-15", SURVEY_HEAD, [r[:3] for r in WAVE1])
    r = _rejected(landing, sql)
    assert r["rule"] == "header" and "no service column" in r["detail"]


def test_value_in_a_column_without_header_is_rejected(landing, sql):
    write_survey(landing, "2001-06-15", SURVEY_HEAD + [UTIL], [r[:4] for r in WAVE1[:2]] + [WAVE1[2][:4] + ["满意"]])
    r = _rejected(landing, sql)
    assert r["rule"] == "header" and "cell E4 holds a value (not shown) but its column has no header" in r["detail"]
    assert "满意" not in r["detail"]  # an answer is data: never echoed into a message


def test_second_sheet_with_data_is_rejected(landing, sql):
    write_survey(landing, "2001-06-15", SURVEY_HEAD + [UTIL, CAT], WAVE1,
                 extra_sheets={"Sheet2": [SURVEY_HEAD + [UTIL], [9, "2001-06-15 10:00", "学生", "满意"]]})
    assert _rejected(landing, sql)["rule"] == "one_sheet"


def test_empty_second_sheet_is_fine(landing, sql):
    write_survey(landing, "2001-06-15", SURVEY_HEAD + [UTIL, CAT], WAVE1, extra_sheets={"说明": []})
    result = load(landing, "2001-06-15", "2001-06-15")
    assert result.rejected == [] and reconciliation(sql, "survey_20010615.xlsx") == (5, 5, 0, 0)


# --- bad input: rows are quarantined ----------------------------------------------------------------

GOOD_ROW = [1, at("2001-06-14", "10:00"), "学生", "满意", "满意"]
BAD_ROWS = [  # (kind, row, rule, detail in the record); row numbers: header = 1, GOOD_ROW = 2, then these
    ("answer not on the scale", [2, at("2001-06-14", "10:05"), "学生", "满意", "很好"], "answer_on_scale",
     "sheet 'Sheet1', cell E3: answer '很好' not on the scale (column '饮食服务中心')"),
    ("answer a number", [3, at("2001-06-14", "10:06"), "学生", 5, "满意"], "answer_on_scale",
     "sheet 'Sheet1', cell D4: answer 5 not on the scale (column '水电中心')"),
    ("unknown holder type", [4, at("2001-06-14", "10:07"), "其他", "满意", "满意"], "holder_type_known", None),
    ("unparseable submitted time", [5, "昨天下午", "学生", "满意", "满意"], "submitted_at_valid", None),
    ("missing submitted time", [6, None, "教职工", "满意", None], "submitted_at_valid", None),
    ("missing response number", [None, at("2001-06-14", "10:08"), "学生", "满意", "满意"], "response_no_present", None),
    ("conflicting repeat of a response number", [1, at("2001-06-14", "10:00"), "学生", "一般", "满意"],
     "duplicate_response_conflict", None),
]
DUPLICATE_ROW = GOOD_ROW[:]  # identical repeat: collapsed, counted as a duplicate


@pytest.fixture(scope="module")
def bad_rows_loaded(pg_admin_url, template_db, tmp_path_factory):
    import psycopg

    from tests.conftest import drop_database, new_database
    from tests.fixtures import write_minimal_ref

    name, url = new_database(pg_admin_url, template_db)
    landing = tmp_path_factory.mktemp("bad_survey") / "landing"
    write_minimal_ref(landing)
    rows = [GOOD_ROW] + [r for _, r, _, _ in BAD_ROWS] + [[None] * 5, DUPLICATE_ROW]  # an empty row is skipped
    write_survey(landing, "2001-06-15", SURVEY_HEAD + [UTIL, CAT], rows)
    result = load(landing, "2001-06-15", "2001-06-15", url=url)
    with psycopg.connect(url) as conn:
        rejected = {n: (rule, rec) for n, rule, rec in conn.execute(
            "SELECT row_number, rule, record FROM quality.rejected_rows WHERE feed = %s", (FEED,)).fetchall()}
        recon = conn.execute("SELECT rows_read, rows_loaded, rows_quarantined, rows_duplicate "
                             "FROM quality.file_reconciliation WHERE feed = %s", (FEED,)).fetchall()
        answers = conn.execute("SELECT response_no, unit_code, answer FROM core.survey_answer ORDER BY 1, 2").fetchall()
    yield result, rejected, recon, answers
    drop_database(pg_admin_url, name)


@pytest.mark.parametrize("i", range(len(BAD_ROWS)), ids=[k for k, _, _, _ in BAD_ROWS])
def test_bad_row_is_quarantined(bad_rows_loaded, i):
    result, rejected, recon, answers = bad_rows_loaded
    kind, row, rule, detail = BAD_ROWS[i]
    assert result.rejected == []
    line = i + 3
    assert line in rejected, (kind, sorted(rejected))
    rules, record = rejected[line]
    assert rules.split(", ") == [rule], kind
    assert record["row"] == line and record["sheet"] == "Sheet1"
    if detail:
        assert record["detail"] == detail
    # read 9 respondent rows (the empty row is not one) = loaded 1 + quarantined 7 + duplicate 1
    assert recon == [(len(BAD_ROWS) + 2, 1, len(BAD_ROWS), 1)]
    assert result.files[0]["rules"]["duplicate_collapsed"] == 1
    assert answers == [("1", "catering", "满意"), ("1", "utilities", "满意")]


def test_seed_like_write_only_workbook_and_serial_times(landing, sql):
    """A write-only workbook (how the survey platform and the generator export) with a wrong
    dimension record, an Excel serial number as time and padded answers still loads."""
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("问卷")
    ws.append(SURVEY_HEAD + [f" {UTIL} "])
    ws.append([1, 37057.5, "学生", " 非常满意 "])  # 37057.5 = 2001-06-15 12:00
    ws.append([2, "2001/6/15 13:05", "教职工", "不满意"])
    p = survey_path(landing, "2001-06-15")
    p.parent.mkdir(parents=True)
    wb.save(p)
    load(landing, "2001-06-15", "2001-06-15")
    assert sql("""SELECT response_no, to_char(submitted_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI'), answer
                  FROM core.survey_answer ORDER BY 1""") == [("1", "2001-06-15 12:00", "非常满意"),
                                                             ("2", "2001-06-15 13:05", "不满意")]
    assert kpi_table(sql, "satisfaction_rate", "wave") == {("utilities", W1): Decimal("0.5"),
                                                           ("campus", W1): Decimal("0.5")}
