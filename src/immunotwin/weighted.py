"""Weighted readouts of a virtual population (for calibration by reweighting).

A virtual population simulated once from a broad *plausible* distribution is reweighted to
represent another population distribution (importance weights; the virtual-population
approach of Allen, Rieger & Musante, CPT:PSP 2016;5:140, with weights rather than
acceptance). These functions compute trial endpoints under weights: proportions, the
Kaplan–Meier estimator with weights, and a Peto (log-rank) hazard ratio.
"""

from __future__ import annotations

import numpy as np


def proportion(flag: np.ndarray, w: np.ndarray) -> float:
    return float(np.sum(w * flag) / np.sum(w))


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


def km_rate(time: np.ndarray, event: np.ndarray, w: np.ndarray, at: float) -> float:
    t, s = km(time, event, w)
    i = np.searchsorted(t, at, side="right")
    return float(s[i - 1]) if i > 0 else 1.0


def km_median(time: np.ndarray, event: np.ndarray, w: np.ndarray) -> float:
    """Median with linear interpolation between the event times bracketing 0.5 (a smooth
    version of the usual step median, for optimisation); NaN if not reached."""
    t, s = km(time, event, w)
    below = np.flatnonzero(s <= 0.5)
    if not len(below):
        return float("nan")
    i = below[0]
    if i == 0:
        return float(t[0])
    s0, s1, t0, t1 = s[i - 1], s[i], t[i - 1], t[i]
    return float(t0 + (s0 - 0.5) / (s0 - s1) * (t1 - t0)) if s0 > s1 else float(t1)


def peto_hr(ta: np.ndarray, ea: np.ndarray, wa: np.ndarray, tb: np.ndarray, eb: np.ndarray,
            wb: np.ndarray) -> float:
    """Weighted Peto estimate of the hazard ratio of a vs b: exp((O_a - E_a) / V)."""
    t = np.concatenate([ta, tb])
    e = np.concatenate([ea, eb]).astype(bool)
    w = np.concatenate([wa, wb])
    g = np.concatenate([np.ones(len(ta), bool), np.zeros(len(tb), bool)])
    ok = np.isfinite(t)
    t, e, w, g = t[ok], e[ok], w[ok], g[ok]
    order = np.argsort(t, kind="stable")
    t, e, w, g = t[order], e[order], w[order], g[order]
    n_all = np.cumsum(w[::-1])[::-1]
    n_a = np.cumsum((w * g)[::-1])[::-1]
    uniq, first = np.unique(t, return_index=True)
    d = np.add.reduceat(w * e, first)
    d_a = np.add.reduceat(w * e * g, first)
    n, na = n_all[first], n_a[first]
    m = (d > 0) & (n > 0)
    exp_a = d[m] * na[m] / n[m]
    var = d[m] * (na[m] / n[m]) * (1 - na[m] / n[m]) * np.where(n[m] > 1, (n[m] - d[m]) / np.maximum(n[m] - 1, 1e-12), 1)
    v = var.sum()
    return float(np.exp((d_a[m].sum() - exp_a.sum()) / v)) if v > 0 else float("nan")


def ess(w: np.ndarray) -> float:
    """Kish effective sample size of weights."""
    return float(np.sum(w) ** 2 / np.sum(w**2))
