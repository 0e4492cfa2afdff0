"""Oracle tests for KM / log-rank / Cox summaries (clinical_rules.md §6)."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from lifelines import KaplanMeierFitter
from lifelines.statistics import logrank_test
from lifelines.utils import median_survival_times
from scipy.optimize import minimize_scalar
from scipy.stats import chi2

from immunotwin.survival import (
    hazard_ratio,
    km_curve,
    km_median,
    km_median_ci,
    km_rate,
    km_rate_ci,
    logrank,
    numbers_at_risk,
)

# Group A: 3, 5+, 7, 9, 12+   Group B: 1, 2, 4, 6+, 8   (+ = censored)
TA = np.array([3.0, 5.0, 7.0, 9.0, 12.0])
EA = np.array([1, 0, 1, 1, 0])
TB = np.array([1.0, 2.0, 4.0, 6.0, 8.0])
EB = np.array([1, 1, 1, 0, 1])


def test_km_curve_and_median_by_hand() -> None:
    # A: S(3) = 4/5 = 0.8; S(7) = 0.8 * 2/3 = 0.5333 (5+ left the risk set); S(9) = 0.5333 * 1/2.
    t, s = km_curve(TA, EA)
    np.testing.assert_allclose(t, [3.0, 7.0, 9.0])
    np.testing.assert_allclose(s, [0.8, 0.8 * 2 / 3, 0.8 * 2 / 3 / 2])
    # Median = smallest t with S(t) <= 0.5 -> 9.
    assert km_median(TA, EA) == 9.0
    # B: S(1) = 0.8, S(2) = 0.6, S(4) = 0.4 -> median 4; S(8) = 0 (last subject dies).
    t, s = km_curve(TB, EB)
    np.testing.assert_allclose(s, [0.8, 0.6, 0.4, 0.0])
    assert km_median(TB, EB) == 4.0
    for tt, ee in ((TA, EA), (TB, EB)):
        assert km_median(tt, ee) == KaplanMeierFitter().fit(tt, ee).median_survival_time_


def test_median_convention_when_curve_hits_half_exactly() -> None:
    # 1, 2, 3, 4 all events: S(2) = 0.5 exactly -> median 2 (not the 2.5 midpoint convention).
    assert km_median([1.0, 2.0, 3.0, 4.0], [1, 1, 1, 1]) == 2.0


def test_median_not_reached_and_degenerate_inputs() -> None:
    assert km_median([1.0, 2.0, 3.0, 4.0, 5.0], [1, 0, 0, 0, 0]) is None  # S = 0.8
    assert km_median([], []) is None
    assert km_median([1.0, 2.0], [0, 0]) is None
    assert km_median_ci([], []) == (None, None)
    assert km_median_ci([1.0, 2.0], [0, 0]) == (None, None)
    t, s = km_curve([], [])
    assert t.size == 0 and s.size == 0
    assert math.isnan(km_rate([], [], 5.0))
    assert km_rate([1.0, 2.0], [0, 0], 5.0) == 1.0
    assert all(math.isnan(x) for x in km_rate_ci([], [], 5.0))
    assert km_rate_ci([1.0, 2.0], [0, 0], 5.0) == (1.0, 1.0)
    assert math.isnan(logrank([], [], TB, EB))
    assert math.isnan(logrank([1.0, 2.0], [0, 0], [3.0], [0]))  # no events: V = 0
    assert all(math.isnan(x) for x in hazard_ratio([1.0, 2.0], [0, 0], [3.0], [0]))
    assert all(math.isnan(x) for x in hazard_ratio([], [], TB, EB))
    assert numbers_at_risk([], [0.0, 1.0]) == [0, 0]


def test_km_rate_step_function() -> None:
    assert km_rate(TA, EA, 0.0) == 1.0
    assert km_rate(TA, EA, 6.99) == pytest.approx(0.8)
    assert km_rate(TA, EA, 7.0) == pytest.approx(0.8 * 2 / 3)  # right-continuous
    assert km_rate(TA, EA, 100.0) == pytest.approx(0.8 * 2 / 3 / 2)


def test_km_rate_ci_loglog_greenwood() -> None:
    # A at t = 3: S = 0.8, Greenwood sum = d / (n (n - d)) = 1 / (5 * 4) = 0.05.
    # log(-log S) +/- z sqrt(0.05) / |log 0.8|, back-transformed with exp(-exp(.)).
    z = 1.959963984540054
    c = math.log(-math.log(0.8))
    h = z * math.sqrt(0.05) / abs(math.log(0.8))
    lo, hi = km_rate_ci(TA, EA, 3.0)
    assert lo == pytest.approx(math.exp(-math.exp(c + h)), rel=1e-12)
    assert hi == pytest.approx(math.exp(-math.exp(c - h)), rel=1e-12)
    assert (lo, hi) == pytest.approx((0.2038, 0.9692), abs=1e-4)
    # Matches lifelines' default interval at every event time.
    kmf = KaplanMeierFitter().fit(TA, EA)
    ci = kmf.confidence_interval_
    for t in (3.0, 7.0, 9.0):
        assert km_rate_ci(TA, EA, t) == pytest.approx(tuple(ci.loc[t]), rel=1e-9)


def test_km_median_ci_matches_lifelines() -> None:
    rng = np.random.default_rng(7)
    for _ in range(5):
        t = np.round(rng.exponential(10.0, 60), 1)
        e = rng.random(60) < 0.7
        kmf = KaplanMeierFitter().fit(t, e)
        lo, hi = (float(x) for x in median_survival_times(kmf.confidence_interval_).iloc[0])
        expected = tuple(None if math.isinf(x) else x for x in (lo, hi))
        assert km_median_ci(t, e) == expected
    # Worked example B: log(-log) bands at 1: (0.2038, 0.9692); 2: (0.1257, 0.8818);
    # 4: (0.0520, 0.7528); 8: (0, 0) -> lower limit 1 (first lower band <= 0.5), upper
    # limit 8 (first upper band <= 0.5).
    assert km_median_ci(TB, EB) == (1.0, 8.0)


def test_logrank_by_hand_and_lifelines() -> None:
    # Pooled event times with (n_A, n_B, d, d_A); E_A = d n_A / n, V = d n_A n_B (n - d) / (n^2 (n - 1)):
    # t=1: (5, 5, 1, 0) E = 5/10, V = 5*5*9/(100*9) = 1/4
    # t=2: (5, 4, 1, 0) E = 5/9,  V = 5*4*8/(81*8)  = 20/81
    # t=3: (5, 3, 1, 1) E = 5/8,  V = 5*3*7/(64*7)  = 15/64
    # t=4: (4, 3, 1, 0) E = 4/7,  V = 4*3/49        = 12/49   (A: 5+, 7, 9, 12+ at risk)
    # t=7: (3, 1, 1, 1) E = 3/4,  V = 3*1/16        = 3/16    (5+ and 6+ censored before 7)
    # t=8: (2, 1, 1, 0) E = 2/3,  V = 2*1/9         = 2/9
    # t=9: (2, 0, 1, 1) E = 1,    V = 0
    # O_A = 3, E_A = 4.668651..., V = 1.385909...; chi2 = (O - E)^2 / V = 2.009076; p = 0.15636
    e_a = sum(Fraction(*x) for x in [(5, 10), (5, 9), (5, 8), (4, 7), (3, 4), (2, 3), (1, 1)])
    var = sum(Fraction(*x) for x in [(1, 4), (20, 81), (15, 64), (12, 49), (3, 16), (2, 9)])
    stat = float((3 - e_a) ** 2 / var)
    assert float(e_a) == pytest.approx(4.668651, abs=1e-6)
    assert float(var) == pytest.approx(1.385909, abs=1e-6)
    assert stat == pytest.approx(2.009076, abs=1e-6)
    p_hand = float(chi2.sf(stat, 1))
    p = logrank(TA, EA, TB, EB)
    assert p == pytest.approx(p_hand, rel=1e-12)
    assert p == pytest.approx(0.15636, abs=1e-5)
    assert p == pytest.approx(logrank_test(TA, TB, EA, EB).p_value, rel=1e-9)
    assert logrank(TB, EB, TA, EA) == pytest.approx(p, rel=1e-12)  # symmetric


def test_logrank_with_ties_matches_lifelines() -> None:
    rng = np.random.default_rng(3)
    ta, tb = np.round(rng.exponential(8.0, 40)), np.round(rng.exponential(12.0, 45))
    ea, eb = rng.random(40) < 0.8, rng.random(45) < 0.8
    assert logrank(ta, ea, tb, eb) == pytest.approx(logrank_test(ta, tb, ea, eb).p_value, rel=1e-9)


def test_hazard_ratio_against_hand_partial_likelihood() -> None:
    # No tied event times, so Efron = exact partial likelihood:
    # log PL(b) = sum_events [b x_i - log sum_{j: t_j >= t_i} exp(b x_j)], x = 1 for group A.
    t = np.concatenate([TA, TB])
    e = np.concatenate([EA, EB]).astype(bool)
    x = np.concatenate([np.ones(5), np.zeros(5)])

    def neg_log_pl(b: float) -> float:
        return -sum(b * x[i] - math.log(np.exp(b * x[t >= t[i]]).sum()) for i in np.nonzero(e)[0])

    b_hat = minimize_scalar(neg_log_pl, bounds=(-10, 10), method="bounded", options={"xatol": 1e-10}).x
    h = 1e-4
    info = (neg_log_pl(b_hat + h) - 2 * neg_log_pl(b_hat) + neg_log_pl(b_hat - h)) / h**2
    se = 1 / math.sqrt(info)
    hr, lo, hi = hazard_ratio(TA, EA, TB, EB)
    assert hr == pytest.approx(math.exp(b_hat), rel=1e-4)
    assert lo == pytest.approx(math.exp(b_hat - 1.959963984540054 * se), rel=1e-3)
    assert hi == pytest.approx(math.exp(b_hat + 1.959963984540054 * se), rel=1e-3)
    assert hr < 1  # A survives longer
    hr_ba, lo_ba, hi_ba = hazard_ratio(TB, EB, TA, EA)
    assert (hr_ba, lo_ba, hi_ba) == pytest.approx((1 / hr, 1 / hi, 1 / lo), rel=1e-5)


def test_hazard_ratio_not_estimable_when_one_group_has_no_events() -> None:
    assert all(math.isnan(v) for v in hazard_ratio(TA, np.zeros(5), TB, EB))


def test_hazard_ratio_not_estimable_when_the_groups_events_never_share_a_risk_set() -> None:
    # Every event of a comes before b's first (monotone likelihood: the maximum is at infinity). Before stop 38 the
    # confidence bound overflowed in exp() and raised.
    assert all(math.isnan(v) for v in hazard_ratio([1.0, 2.0, 3.0], [1, 1, 1], [10.0, 11.0, 12.0], [1, 1, 1]))
    # The one event of a comes after every event of b (a's other members censored later): the same.
    assert all(math.isnan(v) for v in hazard_ratio([48.0] * 28 + [28.0], [0] * 28 + [1],
                                                   [6.0, 8.0, 10.0, 14.0, 16.0, 18.0, 12.0], [1] * 7))


def test_numbers_at_risk() -> None:
    # Still under observation (time >= t): at 3 all five; at 4: 5+, 7, 9, 12+; at 10: 12+.
    assert numbers_at_risk(TA, [0.0, 3.0, 4.0, 10.0, 20.0]) == [5, 5, 4, 1, 0]
    assert numbers_at_risk(np.concatenate([TA, TB]), np.array([0.0, 6.0])) == [10, 5]
