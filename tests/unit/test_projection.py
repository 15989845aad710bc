"""Year-end projection arithmetic (kpis/projection.py); every expected value worked out by hand."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from campus_logistics.kpis.catalog import PROJECTED, by_code
from campus_logistics.kpis.projection import NOTE_PRIOR_NOT_POSITIVE, RUN_RATE, SEASONAL, project, project_year

FLAT_PRIOR = {m: D(100) for m in range(1, 13)}


def _close(a, b, eps=D("0.000001")):
    return a is not None and abs(a - b) < eps


def test_run_rate_with_interval():
    # Jan–Mar 100, 200, 300: ytd 600, mean 200, r = 9 months left → 600 + 200 × 9 = 2400
    # s² = (100² + 0 + 100²) / 2 = 10000, s = 100; √(r + r²/k) = √(9 + 81/3) = √36 = 6
    # t(0.90, 2 df) = 1.886 → half width 1.886 × 100 × 6 = 1131.6 → [1268.4, 3531.6]
    p = project({1: D(100), 2: D(200), 3: D(300)}, 3)
    assert (p.method, p.months_actual, p.ytd, p.projected, p.note) == (RUN_RATE, 3, D(600), D(2400), None)
    assert _close(p.low, D("1268.4")) and _close(p.high, D("3531.6"))


def test_seasonal_scales_the_prior_year_with_interval_from_residuals():
    # prior Jan–Mar 50, 100, 150 (P_e = 300), Apr–Dec 100 each (P_r = 900); this year 110, 190, 300
    # c = 600 / 300 = 2 → forecast 2 × 900 = 1800 → projected 2400
    # residuals x − c·p: 110 − 100 = 10, 190 − 200 = −10, 300 − 300 = 0 → s_e² = 200 / 2 = 100, s_e = 10
    # √(r + k·(P_r/P_e)²) = √(9 + 3 × 3²) = √36 = 6; half width 1.886 × 10 × 6 = 113.16 → [2286.84, 2513.16]
    prior = FLAT_PRIOR | {1: D(50), 2: D(100), 3: D(150)}
    p = project({1: D(110), 2: D(190), 3: D(300)}, 3, prior)
    assert (p.method, p.ytd, p.projected, p.note) == (SEASONAL, D(600), D(2400), None)
    assert _close(p.low, D("2286.84")) and _close(p.high, D("2513.16"))


def test_seasonal_falls_back_to_run_rate_when_the_prior_months_sum_to_zero():
    # prior Jan–Mar −50 + 50 + 0 = 0: no multiple c → run rate, as in the first test: 2400
    prior = FLAT_PRIOR | {1: D(-50), 2: D(50), 3: D(0)}
    p = project({1: D(100), 2: D(200), 3: D(300)}, 3, prior)
    assert (p.method, p.projected, p.note) == (RUN_RATE, D(2400), NOTE_PRIOR_NOT_POSITIVE)


def test_seasonal_falls_back_when_the_multiple_would_be_negative():
    # ytd −600 against a prior 300: c = −2 would mirror the prior year → run rate: −600 + (−200) × 9 = −2400
    p = project({1: D(-100), 2: D(-200), 3: D(-300)}, 3, FLAT_PRIOR)
    assert (p.method, p.projected, p.note) == (RUN_RATE, D(-2400), NOTE_PRIOR_NOT_POSITIVE)


def test_seasonal_with_both_years_negative_is_a_positive_multiple():
    # prior −100 every month (P_e = −300, P_r = −900); this year −150 × 3 = −450: c = 1.5
    # forecast 1.5 × −900 = −1350 → −1800; residuals all 0 → interval collapses on the projection
    prior = {m: D(-100) for m in range(1, 13)}
    p = project({1: D(-150), 2: D(-150), 3: D(-150)}, 3, prior)
    assert (p.method, p.projected) == (SEASONAL, D(-1800))
    assert p.low == p.high == D(-1800)


def test_incomplete_prior_year_means_run_rate_without_a_note():
    prior = {m: D(100) for m in range(1, 12)}  # 11 months
    p = project({1: D(100), 2: D(200), 3: D(300)}, 3, prior)
    assert (p.method, p.projected, p.note) == (RUN_RATE, D(2400), None)


def test_one_month_has_no_interval():
    # 500 × 12 = 6000; no spread to estimate from one value
    p = project({1: D(500)}, 1)
    assert (p.projected, p.low, p.high) == (D(6000), None, None)


def test_a_gap_is_forecast_like_the_months_still_to_come():
    # Jan 100, Mar 300 (Feb missing): k = 2, ytd 400, mean 200, r = 10 → 400 + 2000 = 2400
    p = project({1: D(100), 3: D(300)}, 3)
    assert (p.months_actual, p.projected) == (2, D(2400))
    assert project({1: D(100), 3: D(300)}, 2) is None  # no value at the as-of month


def test_complete_year_projects_itself():
    # 12 months of 1..12: ytd = 78, nothing left to forecast, the interval has width 0
    values = {m: D(m) for m in range(1, 13)}
    p = project(values, 12)
    assert (p.projected, p.low, p.high) == (D(78), D(78), D(78))


def test_project_year_has_one_row_per_month_with_a_value():
    assert sorted(project_year({1: D(1), 2: D(2), 5: D(5)})) == [1, 2, 5]


def test_seed_first_half_year_run_rate():
    # the seed centre surplus Jan–Jun 8500, −3200, 15000, 16500, 17800, 15400: ytd 70000, mean 11666.67,
    # projected 70000 + 6 × 11666.67 = 140000 (not 150000); deviations from the mean −3166.67, −14866.67,
    # 3333.33, 4833.33, 6133.33, 3733.33 → Σ² = 317073333.3, s² = 63414666.7, s = 7963.33;
    # √(6 + 36/6) = √12 = 3.4641; t(0.90, 5 df) = 1.476 → half width 40716.6 → [99283.4, 180716.6] ∋ 150000
    values = dict(zip(range(1, 7), map(D, (8500, -3200, 15000, 16500, 17800, 15400))))
    p = project(values, 6)
    assert p.projected == D(140000)
    assert abs(p.low - D("99283.4")) < 1 and abs(p.high - D("180716.6")) < 1
    assert p.low <= 150000 <= p.high


@pytest.mark.parametrize("code", PROJECTED)
def test_projected_kpis_are_monthly_yuan_flows(code):
    k = by_code()[code]
    assert (k.kind, k.unit) == ("flow", "yuan") and {"month", "year"} <= set(k.grains)
