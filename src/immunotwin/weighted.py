"""Weighted readouts of a virtual population (for calibration by reweighting).

A virtual population simulated once from a broad *plausible* distribution is reweighted to
represent another population distribution (importance weights; the virtual-population
approach of Allen, Rieger & Musante, CPT:PSP 2016;5:140, with weights rather than
acceptance). These functions compute trial endpoints under weights: proportions, the
Kaplan–Meier estimator with weights, and the Cox hazard ratio with Efron's handling of ties (what
trials report). A Peto (log-rank) estimate was used before: it is close only near a hazard ratio
of 1 with few ties, and PFS read at scheduled scans is heavily tied.
"""

from __future__ import annotations

import numpy as np


def proportion(flag: np.ndarray, w: np.ndarray) -> float:
    return float(np.sum(w * flag) / np.sum(w))


def quantile(x: np.ndarray, w: np.ndarray, q: float) -> float:
    """Weighted quantile, linear between order statistics: the i-th smallest value (1-based) sits at
    (sum of the weights before it) / (total weight less the largest value's), which for equal weights is
    (i - 1) / (n - 1), numpy's default (type 7) quantile. NaN where there is no weight."""
    ok = np.isfinite(x) & (w > 0)
    x, w = x[ok], w[ok]
    if not len(x):
        return float("nan")
    if len(x) == 1:
        return float(x[0])
    order = np.argsort(x, kind="stable")
    x, w = x[order], w[order]
    before = np.cumsum(w) - w
    return float(np.interp(q, before / (w.sum() - w[-1]), x))


def km(time: np.ndarray, event: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted Kaplan–Meier: event times and survival just after each (ties pooled)."""
    ok = np.isfinite(time)
    t, e, ww = time[ok], event[ok].astype(bool), w[ok]
    order = np.argsort(t, kind="stable")
    t, e, ww = t[order], e[order], ww[order]
    at_risk = np.cumsum(ww[::-1])[::-1]
    uniq, first = np.unique(t, return_index=True)
    d = np.add.reduceat(ww * e, first)
    n = at_risk[first]
    keep = d > 0
    s = np.cumprod(1.0 - d[keep] / n[keep])
    return uniq[keep], s


def rate_on(curve: tuple[np.ndarray, np.ndarray], at: float) -> float:
    """S(at) of a curve from :func:`km`."""
    t, s = curve
    i = np.searchsorted(t, at, side="right")
    return float(s[i - 1]) if i > 0 else 1.0


def median_on(curve: tuple[np.ndarray, np.ndarray]) -> float:
    """The step median of a curve from :func:`km` (see :func:`km_median`)."""
    t, s = curve
    below = np.flatnonzero(s <= 0.5)
    return float(t[below[0]]) if len(below) else float("nan")


def km_rate(time: np.ndarray, event: np.ndarray, w: np.ndarray, at: float) -> float:
    return rate_on(km(time, event, w), at)


def km_median(time: np.ndarray, event: np.ndarray, w: np.ndarray) -> float:
    """KM median as trials report it (:func:`immunotwin.survival.km_median`): the first event
    time with S <= 0.5; NaN if not reached. (An interpolated median had been used here for
    smoothness; it is never above the step median, so a fit to it left the reported medians
    high by up to one assessment interval.)"""
    return median_on(km(time, event, w))


def cox_hr(ta: np.ndarray, ea: np.ndarray, wa: np.ndarray, tb: np.ndarray, eb: np.ndarray,
           wb: np.ndarray, iters: int = 30) -> float:
    """Weighted Cox estimate of the hazard ratio of a vs b (one group indicator), Efron ties.

    Newton's method on the partial likelihood. At an event time with m tied events of total
    weight W, Efron's term is (W/m) sum_{l<m} log(R - (l/m) D), R the weighted risk set and D the
    weighted events, each R = R_b + e^beta R_a (and D likewise). With unit weights this is the
    textbook Efron estimate (``lifelines.CoxPHFitter``); scaling all weights leaves it unchanged.
    Written by hand because the calibration evaluates it thousands of times under changing
    weights, where fitting a lifelines model each time would dominate the run.
    """
    t = np.concatenate([ta, tb])
    e = np.concatenate([ea, eb]).astype(bool)
    w = np.concatenate([wa, wb]).astype(float)
    g = np.concatenate([np.ones(len(ta)), np.zeros(len(tb))])
    ok = np.isfinite(t) & (w > 0)
    t, e, w, g = t[ok], e[ok], w[ok], g[ok]
    if not e.any() or g.min() == g.max():
        return float("nan")
    order = np.argsort(t, kind="stable")
    t, e, w, g = t[order], e[order], w[order], g[order]
    ra = np.cumsum((w * g)[::-1])[::-1]
    rb = np.cumsum((w * (1 - g))[::-1])[::-1]
    _, first = np.unique(t, return_index=True)
    da = np.add.reduceat(w * e * g, first)
    db = np.add.reduceat(w * e * (1 - g), first)
    m = np.add.reduceat(e.astype(float), first)
    keep = m > 0
    ra, rb, da, db, m = ra[first][keep], rb[first][keep], da[keep], db[keep], m[keep].astype(int)
    # One row per (event time, l): Efron's l/m fractions.
    j = np.repeat(np.arange(len(m)), m)
    frac = (np.arange(len(j)) - np.repeat(np.cumsum(m) - m, m)) / m[j]
    xa = ra[j] - frac * da[j]  # weighted risk set of group a after removing l/m of the tied events
    xb = rb[j] - frac * db[j]
    wt = ((da + db) / m)[j]
    xa, xb = np.maximum(xa, 0.0), np.maximum(xb, 0.0)
    if not (xa > 0).any() or not (xb > 0).any() or da.sum() <= 0 or db.sum() <= 0:
        return float("nan")  # no events in one group: the estimate is 0 or infinite
    score_0 = float(da.sum())
    beta = 0.0
    for _ in range(iters):
        pa = np.exp(beta) * xa / (np.exp(beta) * xa + xb)
        u = score_0 - float(np.sum(wt * pa))
        info = float(np.sum(wt * pa * (1.0 - pa)))
        if info <= 0:
            return float("nan")
        step = float(np.clip(u / info, -2.0, 2.0))
        beta += step
        if abs(step) < 1e-10:
            return float(np.exp(beta))
    return float("nan")  # not converged (e.g. complete separation: the estimate diverges)


def ess(w: np.ndarray) -> float:
    """Kish effective sample size of weights."""
    return float(np.sum(w) ** 2 / np.sum(w**2))
