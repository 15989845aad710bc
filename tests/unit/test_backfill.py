"""A manual range split into partitions (``campus_logistics.backfill``), without a database: the
split itself, each file in exactly one partition, the partitions' results merged into one."""

from __future__ import annotations

import pytest

from campus_logistics.backfill import merge, partition_files, partitions


def _ranges(parts: list[dict]) -> list[tuple[str, str]]:
    return [(p["start"], p["end"]) for p in parts]


# --- the split, without a database ---------------------------------------------------------------

def test_a_quarter_splits_into_calendar_months():
    assert _ranges(partitions("2024-09-02", "2024-12-01")) == [
        ("2024-09-02", "2024-09-30"), ("2024-10-01", "2024-10-31"), ("2024-11-01", "2024-11-30"),
        ("2024-12-01", "2024-12-01"),
    ]


def test_months_across_a_year_end_and_a_leap_february():
    assert _ranges(partitions("2023-12-31", "2024-03-01")) == [
        ("2023-12-31", "2023-12-31"), ("2024-01-01", "2024-01-31"), ("2024-02-01", "2024-02-29"),
        ("2024-03-01", "2024-03-01"),
    ]
    assert len(partitions("2001-01-01", "2001-12-31")) == 12


def test_weeks_run_monday_to_sunday_but_a_monthly_feed_keeps_months():
    # 2024-09-04 is a Wednesday
    assert _ranges(partitions("2024-09-04", "2024-09-20", unit="week")) == [
        ("2024-09-04", "2024-09-08"), ("2024-09-09", "2024-09-15"), ("2024-09-16", "2024-09-20"),
    ]
    # a week across 1 October would put staff_202409 and staff_202410 in one partition each... and
    # the same monthly file in two: a monthly feed is split by month at the finest
    assert _ranges(partitions("2024-09-01", "2024-10-31", unit="week", cadence="month")) == [
        ("2024-09-01", "2024-09-30"), ("2024-10-01", "2024-10-31"),
    ]


def test_a_scheduled_run_or_partition_none_is_one_partition():
    assert _ranges(partitions("2024-09-01", "2024-11-30", manual=False)) == [("2024-09-01", "2024-11-30")]
    assert _ranges(partitions("2024-09-01", "2024-11-30", unit="none")) == [("2024-09-01", "2024-11-30")]
    assert _ranges(partitions("2024-09-05", "2024-09-05")) == [("2024-09-05", "2024-09-05")]


def test_a_bad_split_is_refused():
    with pytest.raises(ValueError, match="before start"):
        partitions("2024-09-05", "2024-09-04")
    with pytest.raises(ValueError, match="'fortnight' is not one of month, week, none"):
        partitions("2024-09-01", "2024-09-30", unit="fortnight")


@pytest.mark.parametrize("feed, start, end, unit, expected", [
    ("canteen", "2001-01-30", "2001-02-02", "month",
     [["canteen_20010130.csv", "canteen_20010131.csv"], ["canteen_20010201.csv", "canteen_20010202.csv"]]),
    ("staff", "2001-01-15", "2001-03-10", "week",
     [["staff_200101.csv"], ["staff_200102.csv"], ["staff_200103.csv"]]),
])
def test_each_file_belongs_to_exactly_one_partition(feed, start, end, unit, expected, tmp_path):
    from campus_logistics.feeds import get_feed

    cadence = "month" if feed == "staff" else "day"
    got = partition_files(get_feed(feed), tmp_path, partitions(start, end, unit=unit, cadence=cadence))
    assert got == expected


def test_surveys_waves_fall_in_the_partition_of_their_date(tmp_path):
    from campus_logistics.feeds import get_feed

    (tmp_path / "surveys").mkdir()
    for name in ("survey_20010315.xlsx", "survey_20010401.xlsx", "survey_20010430.xlsx"):
        (tmp_path / "surveys" / name).write_text("x\n", encoding="utf-8")
    got = partition_files(get_feed("surveys"), tmp_path, partitions("2001-03-01", "2001-05-31"))
    assert got == [["survey_20010315.xlsx"], ["survey_20010401.xlsx", "survey_20010430.xlsx"], []]


# --- the merge -----------------------------------------------------------------------------------

def _file(name: str, read: int, loaded: int, quarantined: int, dup: int) -> dict:
    return {"file": name, "rows_read": read, "rows_loaded": loaded, "rows_quarantined": quarantined,
            "rows_duplicate": dup}


def test_merge_adds_up_every_partition(tmp_path):
    ref_refusal = {"file": "ref/outlets.csv", "rule": "header", "detail": "d", "message": "m"}
    march = {"start": "2001-03-01", "end": "2001-03-31", "files": [_file("canteen_20010330.csv", 10, 7, 2, 1)],
             "totals": {"files": 1, "rows_read": 10, "rows_loaded": 7, "rows_quarantined": 2, "rows_duplicate": 1},
             "affected_days": ["2001-03-29", "2001-03-30"], "ref_reloaded": ["outlets.csv"],
             "rejected": [{"file": "canteen_20010331.csv", "rule": "encoding", "detail": "not GB18030",
                           "message": "m"}, ref_refusal],
             "missing": ["canteen_20010301.csv"], "warnings": [{"file": "canteen_20010330.csv", "kind": "w"}]}
    april = {"start": "2001-04-01", "end": "2001-04-02",
             "files": [_file("canteen_20010401.csv", 5, 5, 0, 0), _file("canteen_20010402.csv", 4, 3, 0, 1)],
             "totals": {"files": 2, "rows_read": 9, "rows_loaded": 8, "rows_quarantined": 0, "rows_duplicate": 1},
             "affected_days": ["2001-03-30", "2001-04-01", "2001-04-02"], "ref_reloaded": [],
             "rejected": [ref_refusal], "missing": [], "warnings": []}
    spec = {"start": "2001-03-01", "end": "2001-04-02", "landing": str(tmp_path)}
    out = merge("canteen", spec, [april, march])  # in any order: mapped results come as they finish
    assert out["totals"] == {"files": 3, "rows_read": 19, "rows_loaded": 15, "rows_quarantined": 2,
                             "rows_duplicate": 2}
    assert out["totals"]["rows_read"] == sum(out["totals"][k] for k in
                                             ("rows_loaded", "rows_quarantined", "rows_duplicate"))
    assert [f["file"] for f in out["files"]] == ["canteen_20010330.csv", "canteen_20010401.csv", "canteen_20010402.csv"]
    assert out["affected_days"] == ["2001-03-29", "2001-03-30", "2001-04-01", "2001-04-02"]
    assert out["ref_reloaded"] == ["outlets.csv"]
    # the file's rejection, the missing file, the ref refusal once (every partition saw it)
    assert [(r["file"], r["rule"]) for r in out["rejected"]] == [
        ("canteen_20010331.csv", "encoding"), ("canteen_20010301.csv", "file_present"), ("ref/outlets.csv", "header")]
    assert out["partitions"] == 2 and len(out["warnings"]) == 1
    assert (out["start"], out["end"]) == ("2001-03-01", "2001-04-02")


def test_missing_files_of_consecutive_partitions_are_one_range(tmp_path):
    jan = [f"canteen_200101{d:02d}.csv" for d in range(20, 32)]
    feb = [f"canteen_200102{d:02d}.csv" for d in range(1, 11)]
    results = [{"start": "2001-01-20", "end": "2001-01-31", "files": [], "missing": jan},
               {"start": "2001-02-01", "end": "2001-02-10", "files": [], "missing": feb}]
    out = merge("canteen", {"start": "2001-01-20", "end": "2001-02-10", "landing": str(tmp_path)}, results)
    assert [(r["file"], r["rule"]) for r in out["rejected"]] == [
        ("canteen_20010120.csv…canteen_20010210.csv", "file_present")]
    assert "2001-01-20…2001-02-10 (22 days)" in out["rejected"][0]["detail"]
    assert out["totals"]["files"] == 0
