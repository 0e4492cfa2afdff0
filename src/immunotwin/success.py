"""Probability of success of a trial design, from replicate virtual trials.

A virtual trial is simulated once at a large size; replicate trials of the design's size are
drawn from its patients (with replacement, arm by arm) and each is analysed as the real trial
would be: the log-rank test and a Cox hazard ratio (Efron ties) for PFS or OS, or the
chi-square test of two proportions for the objective response rate. The probability of
success is the share of replicates whose test is significant at ``alpha`` (two-sided) *in
favour of* the experimental arm; its Monte-Carlo uncertainty is an exact binomial interval.

The main figure is between-patient variability only: the population parameters are the
shipped calibration. Parameter uncertainty is reported apart (issue 4 asks for the two kinds
apart): with ``parameter_draws`` K, K population-parameter sets are drawn from the calibration's
bootstrap standard errors (``data/calibration.json``: each fitted log-shift ~ N(0, se), each
variability ~ N(iiv, se), truncated at 5% of iiv, and each fitted drug constant of the ``drugs`` section (ipilimumab's
CTLA-4 EC50) log-normal about its fitted value with its log SE, independently, since only the standard errors are
stored), the trial is
re-simulated for each with the same patients' random numbers (common random numbers) and the
probability of success is computed per draw; its spread across draws is the parameter part.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pandas as pd
from scipy.stats import chi2_contingency

from .readouts import response_by
from .survival import logrank
from .weighted import cox_hr

if TYPE_CHECKING:
    from .spec import TrialSpec

ENDPOINTS = ("pfs", "os", "orr")


@dataclass(frozen=True)
class Success:
    arm: str
    control: str
    endpoint: str
    size_per_arm: int
    replicates: int
    alpha: float
    probability: float
    probability_ci95: tuple[float, float]
    effect: str  # "hazard ratio" or "ORR difference"
    effect_median: float
    effect_pi95: tuple[float, float]


def _test(a: pd.DataFrame, c: pd.DataFrame, endpoint: str) -> tuple[float, float, bool]:
    """(p-value, effect, effect favours ``a``) for one replicate trial."""
    if endpoint == "orr":
        ra, rc = a["_resp"].to_numpy(bool), c["_resp"].to_numpy(bool)
        diff = float(ra.mean() - rc.mean())
        table = np.array([[ra.sum(), (~ra).sum()], [rc.sum(), (~rc).sum()]])
        if table.sum(axis=0).min() == 0:  # no responders (or no non-responders) in either arm
            return 1.0, diff, False
        return float(chi2_contingency(table, correction=False)[1]), diff, diff > 0
    t, e = f"{endpoint}_months", f"{endpoint}_event"
    ta, ea, tc, ec = (a[t].to_numpy(float), a[e].to_numpy(bool), c[t].to_numpy(float), c[e].to_numpy(bool))
    hr = cox_hr(ta, ea, np.ones(len(ta)), tc, ec, np.ones(len(tc)))
    pval = logrank(ta, ea, tc, ec)
    return (float(pval) if np.isfinite(pval) else 1.0), hr, bool(np.isfinite(hr) and hr < 1.0)


def probability_of_success(p: pd.DataFrame, arm: str, control: str, endpoint: str, size_per_arm: int,
                           replicates: int = 1000, alpha: float = 0.05, seed: int = 1) -> Success:
    """Share of replicate trials of ``size_per_arm`` patients per arm that succeed (see module doc)."""
    if endpoint not in ENDPOINTS:
        raise ValueError(f"endpoint must be one of {ENDPOINTS}, got {endpoint!r}")
    ok = p[p["status"] == "ok"].copy()
    if endpoint == "orr":
        ok["_resp"] = response_by(ok, None)[0]
    groups = {k: ok[ok["arm"] == k].reset_index(drop=True) for k in (arm, control)}
    for k, g in groups.items():
        if g.empty:
            raise ValueError(f"arm {k!r} has no evaluable patients")
    rng = np.random.default_rng(seed)
    wins, effects = 0, []
    for _ in range(replicates):
        a, c = (g.iloc[rng.integers(0, len(g), size_per_arm)] for g in (groups[arm], groups[control]))
        pval, eff, favours = _test(a, c, endpoint)
        wins += int(pval < alpha and favours)
        effects.append(eff)
    from .scenarios.trials import clopper_pearson

    lo, hi = clopper_pearson(wins, replicates)
    eff = np.asarray(effects, float)
    eff = eff[np.isfinite(eff)]  # a replicate without events in one arm has no hazard ratio
    med, pi = (float(np.median(eff)), (float(np.quantile(eff, 0.025)), float(np.quantile(eff, 0.975)))) \
        if eff.size else (float("nan"), (float("nan"), float("nan")))
    return Success(arm, control, endpoint, size_per_arm, replicates, alpha, wins / replicates, (lo, hi),
                   "ORR difference" if endpoint == "orr" else "hazard ratio", med, pi)


class Draw(NamedTuple):
    """One draw of the calibration's population parameters: mean log-shifts, IIV scales (relative to the installed
    variability) and drug constants (``DRUG.FIELD``: value)."""

    shift: dict[str, float]
    scale: dict[str, float]
    drugs: dict[str, float]


def parameter_draws(k: int, seed: int, cal: dict | None = None, drugs: dict | None = None) -> list[Draw]:
    """``k`` draws of (mean log-shift, IIV scale) per fitted parameter and of each fitted drug constant from the
    calibration's bootstrap standard errors (see module doc). ``cal`` is a calibration's ``params`` and ``drugs`` its
    ``drugs`` section ({DRUG: {FIELD: {"default", "log_shift_se"}}}); by default both are the installed calibration's
    (with ``cal`` given and ``drugs`` not, no drug constant is drawn)."""
    from .calibrate import held_spreads
    from .validate import installed_calibration

    if cal is None:
        installed = installed_calibration()
        cal = installed["params"]
        if drugs is None:
            drugs = installed.get("drugs", {})
    drugs = drugs or {}
    # A parameter fitted without variability (the two adverse-event rates outside the organs) has a mean to draw only;
    # a variability held at a value set by hand (calibrate.held_spreads) has no bootstrap SE and is not drawn.
    held = set(held_spreads({"params": cal}))
    missing = [n for n, v in cal.items() if v.get("log_shift_se") is None
               or (float(v["iiv"]) > 0 and n not in held and v.get("iiv_se") is None)]
    missing += [f"{d}.{f}" for d, fields in drugs.items() for f, v in fields.items() if v.get("log_shift_se") is None]
    if k and missing:
        raise ValueError(f"the installed calibration has no bootstrap standard errors for {', '.join(missing)}")
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(k):
        shift, scale, dvals = {}, {}, {}
        for name, v in cal.items():
            shift[name] = float(rng.normal(0.0, v["log_shift_se"]))
            iiv = float(v["iiv"])
            if iiv <= 0 or name in held:
                continue
            scale[name] = float(max(iiv + rng.normal(0.0, v["iiv_se"]), 0.05 * iiv) / iiv)  # kept above 5%
        for d, fields in drugs.items():
            for f, v in fields.items():
                dvals[f"{d}.{f}"] = float(v["default"]) * float(np.exp(rng.normal(0.0, v["log_shift_se"])))
        draws.append(Draw(shift, scale, dvals))
    return draws


def simulate_arms(spec: TrialSpec, arms: tuple[str, ...], patients: int, mean_shift: dict[str, float],
                  iiv_scale: dict[str, float], chunk_size: int = 256) -> pd.DataFrame:
    """The patients of ``arms`` of ``spec`` (``patients`` each) under shifted population parameters."""
    from .trial import ChunkId, simulate_chunk

    frames = []
    for a, arm in enumerate(spec.arms):
        if arm.name not in arms:
            continue
        for s in range(0, patients, chunk_size):
            rows, _ = simulate_chunk(spec, ChunkId(a, s, min(s + chunk_size, patients)), visits=False,
                                     iiv_scale=iiv_scale, mean_shift=mean_shift)
            frames.append(rows)
    return pd.concat(frames, ignore_index=True)


def over_parameters(spec: TrialSpec, arm: str, control: str, endpoints: list[str], size_per_arm: int, *,
                    draws: int, patients: int, replicates: int, alpha: float, seed: int) -> list[dict]:
    """Probability of success per parameter draw (one simulated trial per draw, every endpoint read from it)."""
    from .drugs.catalogue import drug_values

    per: dict[str, list[float]] = {ep: [] for ep in endpoints}
    sets = parameter_draws(draws, seed)
    for shift, scale, dvals in sets:
        with drug_values(dvals):
            p = simulate_arms(spec, (arm, control), patients, shift, scale)
        for ep in endpoints:
            per[ep].append(probability_of_success(p, arm, control, ep, size_per_arm, replicates, alpha,
                                                  seed).probability)
    out = []
    for ep, vals in per.items():
        v = np.asarray(vals)
        out.append({"endpoint": ep, "draws": draws, "patients_per_arm": patients, "per_draw": vals,
                    "drug_values": [d.drugs for d in sets],
                    "mean": float(v.mean()), "range95": [float(np.quantile(v, 0.025)), float(np.quantile(v, 0.975))]})
    return out


def write_success(out: Path, results: list[Success], trial_dir: Path, parameter: list[dict] | None = None) -> None:
    doc = {"trial": str(trial_dir), "uncertainty": "results: between-patient variability (shipped calibration); "
           "parameter_uncertainty: the same per draw of the calibration's population parameters",
           "results": [asdict(r) for r in results], "parameter_uncertainty": parameter or []}
    tmp = out / "success.json.tmp"
    tmp.write_text(json.dumps(doc, indent=1))
    tmp.replace(out / "success.json")
