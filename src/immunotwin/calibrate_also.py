"""Further trials a direct fit reads beside its own (``immunotwin calibrate --direct --also NAME``).

CheckMate 067 gives ipilimumab at one dose only (3 mg/kg), so it cannot say how far from saturation that dose leaves
CTLA-4 blockade: a drug's occupancy EC50 and the population's sensitivity to blockade trade against each other at one
dose. A trial that gives the same drug at two doses separates them. CA184-169 (Ascierto et al., Lancet Oncol
2017;18:611; J Immunother Cancer 2020;8:e000391) gave ipilimumab 10 or 3 mg/kg to 365 and 362 patients: grade 3/4
treatment-related adverse events 36% against 20%, OS hazard ratio 0.84 (0.71-0.99). The shipped scenario
``ipilimumab-dose`` runs it as a twin design (the same virtual patients at both doses), so its differences carry no
between-arm sampling error; a fit reads them on its own seeds' patients.

Each further trial adds rows to every seed's block of residuals, in band units as the calibration's own rows:
the difference of two proportions against the Wald 95% interval of the published difference, a hazard ratio on
the log scale against its published 95% CI (half-widths). The arms' own levels are not fitted: CA184-169's population
(untreated or previously treated melanoma) and its safety reporting differ from CheckMate 067's, which already fixes
ipilimumab's level at 3 mg/kg; the differences are what the dose alone changes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Further:
    """A further trial: the scenario spec it runs, its rows (names), how to read them from the patients, and their
    published values with the half-widths that are their units."""
    scenario: str
    rows: tuple[str, ...]
    read: Callable[[pd.DataFrame], np.ndarray]
    published: Callable[[], tuple[np.ndarray, np.ndarray]]  # (published, half-width)


def _ipilimumab_dose(p: pd.DataFrame) -> np.ndarray:
    """The grade 3/4 TRAE difference (10 minus 3 mg/kg) and the log OS hazard ratio (10 vs 3 mg/kg), each read on
    the patients simulated in both arms."""
    from .scenarios.dose import _os_hr, _severe_difference, os_pairs, severe_pairs

    d = p[p["status"] == "ok"]
    return np.array([_severe_difference(severe_pairs(d)), np.log(_os_hr(os_pairs(d)))])


def _ipilimumab_dose_published() -> tuple[np.ndarray, np.ndarray]:
    """CA184-169's difference (36% - 20%) with the Wald half-width, and log HR 0.84 with its CI's (0.71-0.99)."""
    from .scenarios.compare import scenario_refs
    from .scenarios.dose import difference_band

    ref = scenario_refs()["ipilimumab_dose"]
    hi, lo = ref["high"], ref["low"]
    band = difference_band(hi["grade3plus_trae"], hi["n"], lo["grade3plus_trae"], lo["n"])
    hr_lo, hr_hi = ref["os_hr_ci"]
    return (np.array([hi["grade3plus_trae"] - lo["grade3plus_trae"], np.log(ref["os_hr"])]),
            np.array([(band[1] - band[0]) / 2.0, (np.log(hr_hi) - np.log(hr_lo)) / 2.0]))


FURTHER = {
    "ipilimumab-dose": Further("ipilimumab-dose", ("ipilimumab-dose / grade 3/4 TRAE, 10 minus 3 mg/kg",
                                                   "ipilimumab-dose / log OS hazard ratio, 10 vs 3 mg/kg"),
                               _ipilimumab_dose, _ipilimumab_dose_published),
}


def installed_further() -> list[str]:
    """The further trials the installed calibration was fitted with (its provenance's ``also``)."""
    from .validate import installed_calibration

    return list(installed_calibration().get("provenance", {}).get("also", []))


def check_names(names: Sequence[str]) -> None:
    """ValueError naming every name that is not a further trial."""
    bad = [n for n in names if n not in FURTHER]
    if bad:
        raise ValueError(f"not further trials: {', '.join(bad)} (known: {', '.join(FURTHER)})")


def rows(names: Sequence[str]) -> list[str]:
    """The rows the further trials ``names`` add to each seed's block, in order."""
    check_names(names)
    return [r for n in names for r in FURTHER[n].rows]


def simulate_further(name: str, phi: np.ndarray, patients: int, seed: int) -> pd.DataFrame:
    """The patients of the further trial ``name`` (its shipped scenario spec, its own design) at phi's population,
    ``patients`` per arm, at ``seed``."""
    from .calibrate_fresh import shifts
    from .scenarios.core import spec_text
    from .spec import parse_spec, with_overrides
    from .success import simulate_arms

    spec = with_overrides(parse_spec(spec_text(FURTHER[name].scenario)), seed=seed)
    mean, scale = shifts(phi)
    return simulate_arms(spec, tuple(a.name for a in spec.arms), patients, mean, scale)


Simulate = Callable[[str, np.ndarray, int, int], pd.DataFrame]


def further_residuals(names: Sequence[str], phi: np.ndarray, patients: int, seed: int,
                      simulate: Simulate | None = None) -> tuple[np.ndarray, dict[str, float]]:
    """The further trials' residuals (simulated minus published over the half-width) at one seed, and their simulated
    values by row, as the rows name them (a log hazard ratio as its log)."""
    simulate = simulate or simulate_further
    res, sims = [], {}
    for name in names:
        sim = FURTHER[name].read(simulate(name, phi, patients, seed))
        pub, half = FURTHER[name].published()
        res.append((sim - pub) / half)
        sims.update({row: float(v) for row, v in zip(FURTHER[name].rows, sim, strict=True)})
    return (np.concatenate(res) if res else np.zeros(0)), sims


def report_rows(names: Sequence[str], sims: dict[str, float]) -> list[tuple]:
    """``fit.html``'s rows for the further trials: (row, "", "", published, simulated, half-width)."""
    out = []
    for name in names:
        pub, half = FURTHER[name].published()
        out += [(row, "", "", float(p), sims.get(row, float("nan")), float(h))
                for row, p, h in zip(FURTHER[name].rows, pub, half, strict=True)]
    return out
