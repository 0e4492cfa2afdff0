"""Ipilimumab at 10 mg/kg against 3 mg/kg (``ipilimumab-dose``): CA184-169 (Ascierto et al., Lancet Oncol
2017;18:611; 5-year update J Immunother Cancer 2020;8:e000391).

The two arms give the same drug on the same schedule at two doses, so every difference between them comes from
ipilimumab's PK (Feng et al.'s population model, drug catalogue) and from how CTLA-4 blockade follows the serum
level (an Emax occupancy whose EC50 no study has published: the drug catalogue's value, assumed or, when the installed
calibration read this trial, fitted to it: ``calibrate_also``). The trial found more benefit (OS HR 0.84) and nearly
twice the severe toxicity (grade 3/4 treatment-related adverse events 36% against 20%) at the higher dose: the two
figures together say how far from saturation the approved dose leaves CTLA-4 blockade, for tumour killing and for
tolerance.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..calibrate_also import installed_further
from ..readouts import trae_column
from ..survival import hazard_ratio
from .biologics import _binom, _direction
from .compare import responders, scenario_refs
from .core import Result, bootstrap, make_figure, rate, simulate_spec, spec_text
from .trials import median_or_nan

HIGH, LOW = "ipilimumab 10 mg/kg", "ipilimumab 3 mg/kg"
ORGANS = ("dermatitis", "colitis", "hepatitis", "hypophysitis")


def ec50_text(fitted: bool) -> str:
    """What the report says of the occupancy EC50: the catalogue's value and whether a calibration fitted it."""
    from ..drugs.catalogue import get_drug

    ec50 = get_drug("ipilimumab").ec50_mg_l
    if fitted:
        return (f"EC50 is {ec50:.3g} mg/L, fitted by the installed calibration to this trial's two figures below "
                "together with CheckMate 067: they are fitted figures, not checks.")
    return f"EC50 is assumed ({ec50:.3g} mg/L; no CTLA-4 occupancy EC50 has been published). Nothing is fitted."


def severe_trae(x: pd.DataFrame) -> pd.Series:
    """Grade >= 3 treatment-related adverse events as the safety table counts them (the reporting window)."""
    return x[trae_column(x)] >= 3


def os_pairs(d: pd.DataFrame) -> pd.DataFrame:
    """One row per virtual patient simulated in both arms: its OS time and event in each (columns (what, arm))."""
    wide = d.pivot(index="patient", columns="arm", values=["os_months", "os_event"])
    return wide.dropna()


def _os_hr(pairs: pd.DataFrame) -> float:
    return float(hazard_ratio(pairs[("os_months", HIGH)], pairs[("os_event", HIGH)].astype(bool),
                              pairs[("os_months", LOW)], pairs[("os_event", LOW)].astype(bool))[0])


def _severe_difference(pairs: pd.DataFrame) -> float:
    return float(pairs[HIGH].mean() - pairs[LOW].mean())


def severe_pairs(d: pd.DataFrame) -> pd.DataFrame:
    """One row per virtual patient simulated in both arms (the twin design), one column per arm: whether that
    patient had a grade 3/4 treatment-related adverse event. Resampling these rows resamples the patients, as a
    paired design's interval needs."""
    wide = d.assign(severe=severe_trae(d)).pivot(index="patient", columns="arm", values="severe")
    return wide.dropna().astype(bool)


def difference_band(p1: float, n1: int, p2: float, n2: int) -> list[float]:
    """Wald 95% interval of a difference of two published proportions."""
    se = float(np.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2))
    return [p1 - p2 - 1.96 * se, p1 - p2 + 1.96 * se]


def ipilimumab_dose(patients: int | None = None, seed: int | None = None) -> Result:
    ref = scenario_refs()["ipilimumab_dose"]
    _, p, _ = simulate_spec("ipilimumab-dose", patients, visits=False, seed=seed)
    d = p[p["status"] == "ok"].assign(resp=lambda x: responders(x))
    figs = []
    for k, (arm, key) in enumerate(((HIGH, "high"), (LOW, "low"))):
        a, r = d[d["arm"] == arm], ref[key]
        figs.append(_binom(f"{arm}: grade 3/4 treatment-related adverse events", a, lambda x: rate(severe_trae(x)),
                           r["grade3plus_trae"], r["k_grade3plus_trae"], r["n"], ref["source"], seed=10 * k + 1,
                           note="k rounded from the percentage"))
        pub = r["median_os_months"]
        figs.append(_direction(f"{arm}: median OS (months)", a, lambda x: median_or_nan(x["os_months"], x["os_event"]),
                               pub, [0.75 * pub, 1.25 * pub], ref["source"],
                               "±25% (as CheckMate 067's median OS); next-line therapy assumed as CheckMate 067's spec",
                               seed=10 * k + 2))
    hi, lo = ref["high"], ref["low"]
    fitted = "ipilimumab-dose" in installed_further()  # the calibration read these two figures (calibrate_also)
    band = difference_band(hi["grade3plus_trae"], hi["n"], lo["grade3plus_trae"], lo["n"])
    est, ci = bootstrap(severe_pairs(d), _severe_difference, seed=21, strata=None)
    figs.append(make_figure("grade 3/4 treatment-related adverse events, 10 minus 3 mg/kg", est, ci,
                            hi["grade3plus_trae"] - lo["grade3plus_trae"], band, ref["source"],
                            fitted=fitted, band_note="Wald 95% interval of the published difference (the simulated interval "
                                      "resamples patients, each in both arms)"))
    est, ci = bootstrap(os_pairs(d), _os_hr, seed=22, strata=None)
    figs.append(make_figure("OS hazard ratio, 10 vs 3 mg/kg", est, ci, ref["os_hr"], ref["os_hr_ci"], ref["source"],
                            fitted=fitted, band_note="the published 95% CI (the simulated interval resamples patients, each in both "
                                      "arms)"))
    obs = []
    for arm in (HIGH, LOW):
        a = d[d["arm"] == arm]
        obs.append({"name": f"{arm}: ORR", "value": rate(a["resp"]), "note": ""})
        obs.append({"name": f"{arm}: any treatment-related adverse event", "value": rate(a[trae_column(a)] >= 1),
                    "note": "reporting window"})
        for organ in ORGANS:
            obs.append({"name": f"{arm}: {organ}, grade >= 3", "value": rate(a[f"irae_{organ}_grade"] >= 3),
                        "note": "whole follow-up"})
        obs.append({"name": f"{arm}: death from an irAE", "value": rate(a["death_cause"] == "irae"), "note": ""})
    text = ("Ipilimumab 10 mg/kg or 3 mg/kg every 3 weeks for four doses, the same virtual population in both arms "
            "(untreated or previously treated melanoma). The arms differ only in dose: the serum level follows the "
            "population PK model of ipilimumab, and CTLA-4 blockade follows the level through an occupancy whose "
            f"{ec50_text(fitted)} The trial found longer "
            "survival (HR 0.84) and nearly twice the severe toxicity (36% against 20%) at 10 mg/kg; how much of each "
            "the model reproduces says how near saturation its CTLA-4 blockade is at the approved dose.")
    return Result("ipilimumab-dose", "Ipilimumab 10 mg/kg against 3 mg/kg (CA184-169)", text, figs, obs,
                  [spec_text("ipilimumab-dose")], len(p))
