"""Kaplan-Meier, log-rank and Cox summaries as reported in oncology trials.

Conventions (``immunotwin/data/clinical_rules.md`` §6): medians from the Kaplan-Meier
estimator with a Brookmeyer-Crowley-type 95% CI, arms compared by the log-rank test and a
hazard ratio from a Cox model, landmark rates read from the KM curve, and a median that is
"not reached" when the curve does not fall to 0.5.

* Kaplan-Meier product-limit estimator (Kaplan & Meier, JASA 1958); Greenwood's variance
  (Greenwood 1926) on the log(-log S) scale (Kalbfleisch & Prentice 1980), which is also
  the lifelines and SAS PROC LIFETEST default for pointwise intervals.
* Median CI: Brookmeyer & Crowley (Biometrics 1982) inversion of the pointwise log(-log)
  bands: the lower (upper) limit is the first time the lower (upper) band is <= 0.5. This
  equals ``lifelines.utils.median_survival_times(kmf.confidence_interval_)``.
* Log-rank test (Mantel 1966; Peto & Peto 1972) with the hypergeometric variance, chi-square
  with 1 df.
* Hazard ratio: Cox proportional hazards model (Cox 1972) fitted with
  ``lifelines.CoxPHFitter`` (Efron's method for ties).

Missing (non-finite) times or event flags are dropped. Empty and all-censored inputs never
raise: they give None or NaN as documented per function.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
from scipy.stats import chi2, norm

__all__ = [
    "hazard_ratio",
    "km_curve",
    "km_median",
    "km_median_ci",
    "km_rate",
    "km_rate_ci",
    "logrank",
    "numbers_at_risk",
]

ArrayLike = np.ndarray | Sequence[float]


def _clean(time: ArrayLike, event: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Float times and boolean events, rows with a non-finite time or event dropped."""
    t = np.asarray(time, dtype=float).ravel()
    e = np.asarray(event, dtype=float).ravel()
    if t.size != e.size:
        raise ValueError(f"time ({t.size}) and event ({e.size}) differ in length")
    keep = np.isfinite(t) & np.isfinite(e)
    return t[keep], e[keep] != 0


def _km_table(time: ArrayLike, event: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Distinct event times, survival after each, Greenwood sums and numbers at risk."""
    t, e = _clean(time, event)
    if not e.any():
        empty = np.empty(0, dtype=float)
        return empty, empty, empty, empty
    ut, d = np.unique(t[e], return_counts=True)
    n = t.size - np.searchsorted(np.sort(t), ut, side="left")
    d = d.astype(float)
    n = n.astype(float)
    surv = np.cumprod(1.0 - d / n)
    with np.errstate(divide="ignore"):
        greenwood = np.cumsum(np.where(n > d, d / (n * (n - d)), np.inf))
    return ut, surv, greenwood, n


def _loglog_band(surv: float, greenwood: float, alpha: float) -> tuple[float, float]:
    """Pointwise log(-log) confidence interval for a KM survival value (Kalbfleisch-Prentice)."""
    if surv >= 1.0:
        return 1.0, 1.0
    if surv <= 0.0 or not math.isfinite(greenwood):
        return 0.0, 0.0
    z = float(norm.ppf(1.0 - alpha / 2.0))
    log_s = math.log(surv)
    half = z * math.sqrt(greenwood) / abs(log_s)
    centre = math.log(-log_s)
    lower = math.exp(-math.exp(centre + half))
    upper = math.exp(-math.exp(centre - half))
    return lower, upper


def km_curve(time: ArrayLike, event: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Kaplan-Meier curve: distinct event times and the survival just after each.

    Empty or all-censored input gives two empty arrays (S(t) = 1 throughout).
    """
    ut, surv, _, _ = _km_table(time, event)
    return ut, surv


def km_median(time: ArrayLike, event: ArrayLike) -> float | None:
    """KM median: the smallest time with S(t) <= 0.5; None if not reached or no data."""
    ut, surv = km_curve(time, event)
    hit = np.nonzero(surv <= 0.5)[0]
    return float(ut[hit[0]]) if hit.size else None


def km_median_ci(time: ArrayLike, event: ArrayLike, alpha: float = 0.05) -> tuple[float | None, float | None]:
    """Brookmeyer-Crowley-type (1 - alpha) CI of the KM median.

    Inverts the pointwise log(-log) Greenwood bands: lower limit = first event time with
    lower band <= 0.5, upper limit = first event time with upper band <= 0.5; None for a
    limit that is not reached (as lifelines' ``median_survival_times`` of the CI bands).
    """
    ut, surv, gw, _ = _km_table(time, event)
    lo: float | None = None
    hi: float | None = None
    for t_k, s_k, g_k in zip(ut, surv, gw, strict=True):
        band_lo, band_hi = _loglog_band(float(s_k), float(g_k), alpha)
        if lo is None and band_lo <= 0.5:
            lo = float(t_k)
        if hi is None and band_hi <= 0.5:
            hi = float(t_k)
            break
    return lo, hi


def _index_at(ut: np.ndarray, at: float) -> int:
    """Index of the last event time <= at (-1 if none): right-continuous step function."""
    return int(np.searchsorted(ut, at, side="right")) - 1


def km_rate(time: ArrayLike, event: ArrayLike, at: float) -> float:
    """KM survival at time ``at`` (right-continuous step; events at ``at`` included).

    NaN for empty input or a non-finite ``at``; 1.0 when all observations are censored.
    The curve is carried flat after the last event time (as lifelines does); the caller
    should not read rates beyond the follow-up.
    """
    t, _ = _clean(time, event)
    if t.size == 0 or not math.isfinite(at):
        return float("nan")
    ut, surv = km_curve(time, event)
    k = _index_at(ut, at)
    return 1.0 if k < 0 else float(surv[k])


def km_rate_ci(time: ArrayLike, event: ArrayLike, at: float, alpha: float = 0.05) -> tuple[float, float]:
    """(1 - alpha) pointwise CI of the KM survival at ``at``.

    Greenwood variance with the log(-log) transform (Kalbfleisch & Prentice 1980; lifelines'
    default "exponential Greenwood" interval). (1, 1) where S = 1, (0, 0) where S = 0,
    (NaN, NaN) for empty input.
    """
    t, _ = _clean(time, event)
    if t.size == 0 or not math.isfinite(at):
        return float("nan"), float("nan")
    ut, surv, gw, _ = _km_table(time, event)
    k = _index_at(ut, at)
    if k < 0:
        return 1.0, 1.0
    return _loglog_band(float(surv[k]), float(gw[k]), alpha)


def logrank(time_a: ArrayLike, event_a: ArrayLike, time_b: ArrayLike, event_b: ArrayLike) -> float:
    """Two-sided log-rank p-value (chi-square, 1 df) comparing groups a and b.

    At each distinct event time with n at risk (n_a in a) and d events, the expected count
    in a is d n_a / n and the hypergeometric variance d (n_a/n)(n_b/n)(n - d)/(n - 1);
    the statistic is (O_a - E_a)^2 / V. NaN if a group is empty or there are no events
    (V = 0).
    """
    ta, ea = _clean(time_a, event_a)
    tb, eb = _clean(time_b, event_b)
    if ta.size == 0 or tb.size == 0:
        return float("nan")
    times = np.unique(np.concatenate([ta[ea], tb[eb]]))
    if times.size == 0:
        return float("nan")
    n_a = ta.size - np.searchsorted(np.sort(ta), times, side="left").astype(float)
    n_b = tb.size - np.searchsorted(np.sort(tb), times, side="left").astype(float)
    n = n_a + n_b
    ev_a, ev_b = np.sort(ta[ea]), np.sort(tb[eb])
    d_a = (np.searchsorted(ev_a, times, side="right") - np.searchsorted(ev_a, times, side="left")).astype(
        float
    )
    d_b = (np.searchsorted(ev_b, times, side="right") - np.searchsorted(ev_b, times, side="left")).astype(
        float
    )
    d = d_a + d_b
    observed = float(d_a.sum())
    expected = float((d * n_a / n).sum())
    multi = n > 1.0
    variance = float((d * (n_a / n) * (n_b / n) * (n - d) / np.where(multi, n - 1.0, 1.0))[multi].sum())
    if variance <= 0.0:
        return float("nan")
    stat = (observed - expected) ** 2 / variance
    return float(chi2.sf(stat, df=1))


def hazard_ratio(
    time_a: ArrayLike, event_a: ArrayLike, time_b: ArrayLike, event_b: ArrayLike
) -> tuple[float, float, float]:
    """Hazard ratio of a versus b with a 95% Wald CI from a one-covariate Cox model.

    Fitted with ``lifelines.CoxPHFitter`` (Efron ties) on an indicator of group a. Returns
    (nan, nan, nan) when the HR is not estimable: an empty group, no events in a group
    (the partial-likelihood maximum is at 0 or infinity; so too when the groups' events never share a risk set),
    or a failed fit.
    """
    ta, ea = _clean(time_a, event_a)
    tb, eb = _clean(time_b, event_b)
    nan3 = (float("nan"), float("nan"), float("nan"))
    if ta.size == 0 or tb.size == 0 or not ea.any() or not eb.any():
        return nan3
    import pandas as pd
    from lifelines import CoxPHFitter

    df = pd.DataFrame(
        {
            "time": np.concatenate([ta, tb]),
            "event": np.concatenate([ea, eb]).astype(int),
            "group_a": np.concatenate([np.ones(ta.size), np.zeros(tb.size)]),
        }
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cph = CoxPHFitter(alpha=0.05).fit(df, duration_col="time", event_col="event")
        beta = float(cph.params_["group_a"])
        se = float(cph.standard_errors_["group_a"])
    except Exception:  # lifelines raises ConvergenceError and others on degenerate data
        return nan3
    z = float(norm.ppf(0.975))
    # A monotone likelihood (every event of one group before the other's first, so no event compares the two) has its
    # maximum at 0 or infinity: the fit stops at a huge |beta| with a huge SE, and exp() would overflow.
    if not (math.isfinite(beta) and math.isfinite(se)) or abs(beta) + z * se > 700.0:
        return nan3
    return math.exp(beta), math.exp(beta - z * se), math.exp(beta + z * se)


def numbers_at_risk(time: ArrayLike, at_times: ArrayLike) -> list[int]:
    """Number of subjects still under observation (time >= t) at each of ``at_times``."""
    t = np.asarray(time, dtype=float).ravel()
    t = np.sort(t[np.isfinite(t)])
    at = np.asarray(at_times, dtype=float).ravel()
    return [int(t.size - np.searchsorted(t, a, side="left")) for a in at]
