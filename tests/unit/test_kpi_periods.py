"""The KPI run's days and periods (kpis/periods.py): plain values in, plain values out.

No database and no Airflow: the KPI DAG's ``periods`` task only hands these functions its run's
conf, params and triggering asset events' extras.
"""

from __future__ import annotations

from datetime import date

import pytest

from campus_logistics.errors import RunRejected
from campus_logistics.kpis.periods import next_start, periods_for, run_days, spec_days


def test_loads_alone_give_each_feed_its_own_days():
    extras = [{"feed": "canteen", "days": ["2001-03-02", "2001-03-01"]},
              {"feed": "meters", "days": ["2001-03-01"]},
              {"feed": "canteen", "days": ["2001-03-01", "2001-03-05"]}]
    assert run_days({}, {}, extras) == {"days_by_feed": {"canteen": ["2001-03-01", "2001-03-02", "2001-03-05"],
                                                         "meters": ["2001-03-01"]}}


def test_an_event_without_a_feed_or_days_adds_nothing():
    assert run_days({}, {}, [None, {}, {"days": ["2001-03-01"]}]) == {"days": [], "feeds": None}
    assert run_days({}, {}, [{"feed": "staff"}]) == {"days_by_feed": {"staff": []}}


def test_conf_days_by_feed_joins_the_events():
    spec = run_days({"days_by_feed": {"ledger": ["2001-02-01"], "canteen": ["2001-01-31"]}}, {},
                    [{"feed": "canteen", "days": ["2001-01-30"]}])
    assert spec == {"days_by_feed": {"canteen": ["2001-01-30", "2001-01-31"], "ledger": ["2001-02-01"]}}


def test_a_manual_range_is_every_day_of_it_for_the_feeds_named():
    spec = run_days({"start": "2001-02-27", "end": "2001-03-02", "feeds": ["canteen"]}, {})
    assert spec == {"days": ["2001-02-27", "2001-02-28", "2001-03-01", "2001-03-02"], "feeds": ["canteen"]}
    assert run_days({"start": "2001-02-27"}, {}) == {"days": ["2001-02-27"], "feeds": None}


def test_conf_wins_over_params_key_by_key():
    params = {"days": ["2001-05-01"], "feeds": ["staff"], "start": None, "end": None}
    assert run_days({"days": ["2001-06-01"]}, params) == {"days": ["2001-06-01"], "feeds": ["staff"]}
    assert run_days({}, params) == {"days": ["2001-05-01"], "feeds": ["staff"]}
    assert run_days(None, None) == {"days": [], "feeds": None}


def test_hand_made_days_and_loads_merge_for_every_feed_named():
    spec = run_days({"days": ["2001-01-05", "2001-01-02"], "feeds": ["staff"]}, {},
                    [{"feed": "canteen", "days": ["2001-01-02", "2001-01-03"]}])
    assert spec == {"days": ["2001-01-02", "2001-01-03", "2001-01-05"], "feeds": ["canteen", "staff"]}


@pytest.mark.parametrize("conf, rule", [
    ({"start": "0001-01-01", "end": "9999-12-31"}, "range_calendar"),
    ({"start": "2001-03-02", "end": "2001-03-01"}, "range_order"),
    ({"start": "2001-02-30"}, "range_dates_valid"),
    ({"days": ["1700-01-01"]}, "range_calendar"),
    ({"days": ["2001-1-1"]}, "range_dates_valid"),
    ({"days": [f"{y:04d}-01-01" for y in range(2000, 2040)] + [f"2001-{m:02d}-{d:02d}" for m in range(1, 13)
                                                                for d in range(1, 29)]}, "range_max_days"),
])
def test_hand_made_days_and_ranges_are_checked(conf, rule, monkeypatch):
    monkeypatch.setenv("CAMPUS_LOGISTICS_MAX_RUN_DAYS", "366")
    with pytest.raises(RunRejected, match=f"'{rule}'"):
        run_days(conf, {})


def test_days_reported_by_loads_are_not_range_checked():
    # a load already bounded its own range; its days are taken as reported
    assert run_days({}, {}, [{"feed": "canteen", "days": ["1999-12-31"]}]) == {
        "days_by_feed": {"canteen": ["1999-12-31"]}}


def test_spec_days_is_every_day_once():
    assert spec_days({"days_by_feed": {"a": ["2001-01-02", "2001-01-01"], "b": ["2001-01-02"]}}) == [
        "2001-01-01", "2001-01-02"]
    assert spec_days({"days": ["2001-01-01"], "feeds": None}) == ["2001-01-01"]
    assert spec_days({"days_by_feed": {}}) == []


def test_periods_of_days_across_a_year_end():
    p = periods_for(["2001-12-31", date(2002, 1, 1), "2001-12-31", date(2001, 2, 28)])
    assert p["day"] == [date(2001, 2, 28), date(2001, 12, 31), date(2002, 1, 1)]
    assert p["wave"] == p["day"]
    assert p["month"] == [date(2001, 2, 1), date(2001, 12, 1), date(2002, 1, 1)]
    assert p["year"] == [date(2001, 1, 1), date(2002, 1, 1)]
    assert periods_for([]) == {"day": [], "wave": [], "month": [], "year": []}


@pytest.mark.parametrize("grain, start, nxt", [
    ("day", date(2000, 2, 28), date(2000, 2, 29)),
    ("wave", date(2001, 12, 31), date(2002, 1, 1)),
    ("month", date(2000, 2, 1), date(2000, 3, 1)),
    ("month", date(2001, 12, 1), date(2002, 1, 1)),
    ("month", date(2001, 1, 1), date(2001, 2, 1)),
    ("year", date(2001, 1, 1), date(2002, 1, 1)),
])
def test_next_period_start(grain, start, nxt):
    assert next_start(grain, start) == nxt
