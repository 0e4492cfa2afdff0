"""Plausibility of a virtual population's tumour kinetics: diagnostics with no published comparison.

A calibration can meet its survival targets with variabilities no clinic would recognise (docs/credibility.md,
"What the model still gets wrong": calibration iteration 8 gives a few percent of melanoma patients doubling
times under a week). These figures make that visible wherever a population is validated. Each patient's
untreated course is read as exponential growth at the net rate the engine gives the sensitive clone at
enrolment (``engine.enrol``), from the baseline burden to the lethal burden (the carrying capacity lies far
above it): doubling time ln 2 / g and time to death ln(lethal / baseline) / g. Immune killing that rises or
falls as the tumour grows makes the real course differ; the figures describe the drawn parameters, not a
simulation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

from .population import LETHAL_FLOOR


def kinetics(net_growth: np.ndarray, tumour0: np.ndarray, lethal: np.ndarray) -> dict[str, float]:
    """Doubling times and untreated times to death of a population (rates 1/day, burdens in any one unit)."""
    g = np.asarray(net_growth, dtype=float)
    ratio = np.asarray(lethal, dtype=float) / np.asarray(tumour0, dtype=float)
    doubling = np.log(2.0) / g
    death = np.log(ratio) / g
    return {
        "median doubling time (days)": float(np.median(doubling)),
        "1st percentile of doubling time (days)": float(np.percentile(doubling, 1)),
        "share doubling in under 7 days": float(np.mean(doubling < 7.0)),
        "share doubling in under 14 days": float(np.mean(doubling < 14.0)),
        f"share at the lethal-burden floor ({LETHAL_FLOOR:g}x baseline)": float(np.mean(ratio <= LETHAL_FLOOR * (1.0 + 1e-9))),
        "share whose untreated disease kills within 91 days": float(np.mean(death < 91.0)),
        "share whose untreated disease kills within 30 days": float(np.mean(death < 30.0)),
    }


def early_deaths(patients: pd.DataFrame) -> dict[str, float]:
    """Early deaths of each arm of a simulated trial: Kaplan-Meier OS at 3 months, the share dead within 4 weeks
    and the share whose best response could not be evaluated (NE: mostly dead before the first scan).
    Trial tables rarely print these; a population whose untreated disease kills fast shows here first
    (docs/credibility.md: iteration 8's ipilimumab arm, 0.78 at 3 months)."""
    from .survival import km_rate
    from .units import DAYS_PER_MONTH

    out: dict[str, float] = {}
    for arm, df in patients.groupby("arm", sort=False):
        ok = df[df["status"] == "ok"]
        died = ok["os_event"].to_numpy(bool) & (ok["os_months"].to_numpy(float) * DAYS_PER_MONTH <= 28.0)
        out[f"{arm}: OS at 3 months"] = float(km_rate(ok["os_months"], ok["os_event"], 3.0))
        out[f"{arm}: share dead within 4 weeks"] = float(died.mean())
        out[f"{arm}: share with best response NE"] = float((ok["bor"] == "NE").mean())
    return out


def population_kinetics(cancer: str, overrides: dict | None = None, n: int = 4000, seed: int = 1) -> dict[str, float]:
    """:func:`kinetics` of ``n`` patients of ``cancer`` sampled with the shipped defaults."""
    from .population import sample_cohort

    cohort = sample_cohort(cancer, overrides or {}, seed, 0, range(n), 1)
    return kinetics(cohort.params["net_growth_rate"], cohort.tumour0, cohort.lethal)


__all__ = ["kinetics", "population_kinetics", "early_deaths"]
