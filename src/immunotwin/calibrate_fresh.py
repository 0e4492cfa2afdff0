"""Fresh-trial correction of a reweighted calibration.

A reweighted fit (:mod:`.calibrate`) reads every target on importance weights of a finite plausible population.
The optimiser minimises the loss over those weights, so it also picks up their sampling error: the fit can read a
target inside its band where a fresh trial at the fitted parameters does not (CheckMate 067's combination median
PFS read 13.8 months in the fits of stops 30 and 31, 15.6-24.8 months in fresh trials at the same values; on
iteration 11's model the combination's ORR read 0.555 reweighted and 0.611 fresh: docs/credibility.md). Larger or
more populations shrink the gap slowly (three pooled passes of 2,048 per arm still left it).

The correction measures the gap and fits it away, as simulation-based estimators correct their bias (iterated
bias correction; Gourieroux, Monfort & Renault, J Appl Econom 1993;8:S85 for indirect inference): at the fitted phi_j
a fresh trial (parallel arms, a seed of its own, ``patients`` per arm, the fitted means and variabilities applied
as in :mod:`.success`) is read with the fit's own endpoint functions and unit weights; the offsets
delta_j = readings(fresh, phi_j) - readings(reweighted, phi_j) (rates, ratios and the survival-scale readings of
each median) are added to the reweighted readings, and the fit is resumed from phi_j. The readings then agree at
phi_j by construction, and near it as far as the gap changes slowly with phi. Each round costs one fresh trial
and one short refit; the fresh trials' own sampling error (about 0.016 on a rate at 1,000 per arm) enters the
offsets, so the seeds of the correction are never the validation's (``validate`` reads seed 67).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .calibrate import (
    FITTED,
    Plausible,
    endpoints,
    fit,
    profile_event_rates,
    readings,
    target_rows,
    unpack,
    weights,
)
from .model.core import PARAM_INDEX
from .spec import TrialSpec

#: Seed of the first correction trial; round j uses CORRECTION_SEED + j (never the validation's 67).
CORRECTION_SEED = 7001


@dataclass
class Round:
    phi: np.ndarray  # where the fresh trial was run
    seed: int
    offsets: np.ndarray  # (R, 2): fresh minus reweighted readings at phi
    fresh: np.ndarray  # (R, 2): the fresh trial's readings
    reweighted: np.ndarray  # (R, 2)
    loss: float  # of the refit that followed


def shifts(phi: np.ndarray, names: tuple[str, ...] = FITTED) -> tuple[dict[str, float], dict[str, float]]:
    """(mean log-shift, IIV scale) per fitted parameter that make a trial draw patients from phi's population:
    means default * exp(mu), variabilities s (the scale is relative to the parameter's current IIV)."""
    mu, s = unpack(phi)
    return ({k: float(m) for k, m in zip(names, mu, strict=True)},
            {k: float(v) / float(PARAM_INDEX[k].iiv) for k, v in zip(names, s, strict=True)})


def fresh_population(spec: TrialSpec, phi: np.ndarray, patients: int, seed: int) -> Plausible:
    """A fresh parallel-arm trial of ``patients`` per arm at phi, held as a :class:`Plausible` read with unit
    weights (its effects are not used)."""
    import dataclasses

    from .spec import with_overrides
    from .success import simulate_arms

    arms = tuple(a.name for a in spec.arms)
    mean, scale = shifts(phi)
    trial = dataclasses.replace(with_overrides(spec, seed=seed), design="parallel")
    p = simulate_arms(trial, arms, patients, mean, scale)
    outcomes = {a: g.sort_values("patient").reset_index(drop=True) for a, g in p.groupby("arm", sort=False)}
    return Plausible(arms, outcomes, np.zeros((patients, len(FITTED))), np.ones(len(FITTED)))


def fresh_readings(fresh: Plausible, rows: list, control: str | None, rate: tuple[float, float]) -> np.ndarray:
    n = len(next(iter(fresh.outcomes.values())))
    return readings(endpoints(fresh, np.full(n, 1.0 / n), control, rate), rows)


def correct(pl: Plausible, spec: TrialSpec, targets: Mapping, phi: np.ndarray, *, rounds: int, patients: int,
            seed: int = CORRECTION_SEED, max_evals: int = 1500, optimiser_seed: int = 1,
            priors: Mapping[str, tuple[float, float]] | None = None,
            hold: Mapping[str, float] | None = None) -> tuple[np.ndarray, np.ndarray, list[Round]]:
    """``rounds`` fresh-trial corrections of the fit at ``phi``: (corrected phi, the last offsets, the rounds)."""
    rows = target_rows(targets)
    offsets = np.zeros((len(rows), 2))
    history: list[Round] = []
    for j in range(rounds):
        w = weights(phi, pl)
        rate = profile_event_rates(pl, w, rows, offsets)
        rew = readings(endpoints(pl, w, spec.control, rate), rows)
        fr = fresh_readings(fresh_population(spec, phi, patients, seed + j), rows, spec.control, rate)
        offsets = np.where(np.isnan(fr) | np.isnan(rew), 0.0, fr - rew)
        res = fit(pl, targets, control=spec.control, seed=optimiser_seed + j + 1, max_evals=max_evals, x0=phi,
                  sigma0=0.1, priors=priors, offsets=offsets, hold=hold)
        history.append(Round(phi, seed + j, offsets, fr, rew, res.loss))
        phi = res.phi
    return phi, offsets, history


def rounds_table(rows: list, history: list[Round]) -> pd.DataFrame:
    """One line per target row and round: the reweighted and fresh first readings and their difference."""
    out = []
    for j, r in enumerate(history):
        for (ep, lm, arm, pub), f, w in zip(rows, r.fresh, r.reweighted, strict=True):
            out.append({"round": j + 1, "seed": r.seed, "endpoint": ep + (f" {lm}" if lm else ""), "arm": arm,
                        "published": pub, "reweighted": w[0], "fresh": f[0], "offset": f[0] - w[0]})
    return pd.DataFrame(out)
