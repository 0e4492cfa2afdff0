"""BRAF and MEK inhibitors in BRAF V600-mutant melanoma (``targeted-therapy``): COMBI-d's two arms,
dabrafenib + trametinib against dabrafenib alone.

The combination's ORR, median PFS and 3-year PFS set the model's three MAPK parameters (the kill at full
pathway inhibition, how long it persists on treatment, and the size of the pre-existing subclone that the
inhibitors do not touch; fitted together by ``immunotwin.calibrate_joint``, marked ``fitted``). Unfitted: the monotherapy
arm (its difference comes from PK and the pathway's inhibition alone, Bliss independence of the two drugs
with assumed EC50s), the hazard ratios, OS, and the 5-year plateau of the pooled COMBI trials.
"""

from __future__ import annotations

import pandas as pd

from ..survival import hazard_ratio, km_rate
from .biologics import _binom, _direction
from .compare import responders, scenario_refs
from .core import Result, bootstrap, make_figure, rate, simulate_spec, spec_text
from .trials import median_or_nan

COMBO, MONO = "dabrafenib + trametinib", "dabrafenib"


def _pfs_hr(x: pd.DataFrame) -> float:
    a, b = x[x["arm"] == COMBO], x[x["arm"] == MONO]
    return float(hazard_ratio(a["pfs_months"], a["pfs_event"], b["pfs_months"], b["pfs_event"])[0])


def _os_hr(x: pd.DataFrame) -> float:
    a, b = x[x["arm"] == COMBO], x[x["arm"] == MONO]
    return float(hazard_ratio(a["os_months"], a["os_event"], b["os_months"], b["os_event"])[0])


def targeted_therapy(patients: int | None = None, seed: int | None = None) -> Result:
    refs = scenario_refs()
    ref, pooled = refs["combi_d"], refs["combi_pooled_5y"]
    _, p, _ = simulate_spec("targeted-therapy", patients, visits=False, seed=seed)
    d = p[p["status"] == "ok"].assign(resp=lambda x: responders(x))
    figs = []
    for k, (arm, key) in enumerate(((COMBO, "combination"), (MONO, "dabrafenib"))):
        a, r = d[d["arm"] == arm], ref[key]
        fitted = arm == COMBO
        figs.append(_binom(f"{arm}: ORR", a, lambda x: rate(x["resp"]), r["orr"], r["k"], r["n"], ref["source"],
                           fitted=fitted, seed=10 * k + 1, note="fitted: mapk_kill" if fitted else ""))
        pub = r["median_pfs_months"]
        figs.append(_direction(f"{arm}: median PFS (months)", a, lambda x: median_or_nan(x["pfs_months"], x["pfs_event"]),
                               pub, [0.8 * pub, 1.2 * pub], ref["source"],
                               "±20% (the calibration issue's band for median PFS)"
                               + ("; fitted: mapk_persistence" if fitted else ""), seed=10 * k + 2, fitted=fitted))
        pub = r["pfs_36_months"]
        figs.append(_direction(f"{arm}: PFS at 36 months", a, lambda x: km_rate(x["pfs_months"], x["pfs_event"], 36.0),
                               pub, [max(pub - 0.06, 0.0), pub + 0.06], ref["source"],
                               "±6 points (the calibration issue's band for survival rates)"
                               + ("; fitted: mapk_resistant_fraction" if fitted else ""), seed=10 * k + 3,
                               fitted=fitted))
        pub = r["median_os_months"]
        figs.append(_direction(f"{arm}: median OS (months)", a, lambda x: median_or_nan(x["os_months"], x["os_event"]),
                               pub, [0.75 * pub, 1.25 * pub], ref["source"],
                               "±25% (as CheckMate 067's median OS); the trial's patients got next-line therapy "
                               "(ipilimumab, anti-PD-1) that the spec leaves out", seed=10 * k + 4))
        pub = r["os_36_months"]
        figs.append(_direction(f"{arm}: OS at 36 months", a, lambda x: km_rate(x["os_months"], x["os_event"], 36.0),
                               pub, [pub - 0.06, pub + 0.06], ref["source"],
                               "±6 points; next-line therapy not in the spec", seed=10 * k + 5))
    est, ci = bootstrap(d, _pfs_hr, seed=21)
    figs.append(make_figure("PFS hazard ratio, dabrafenib + trametinib vs dabrafenib", est, ci, ref["pfs_hr"],
                            ref["pfs_hr_ci"], ref["source"], band_note="the published 95% CI"))
    est, ci = bootstrap(d, _os_hr, seed=22)
    figs.append(make_figure("OS hazard ratio, dabrafenib + trametinib vs dabrafenib", est, ci, ref["os_hr"],
                            ref["os_hr_ci"], ref["source"], band_note="the published 95% CI; next-line therapy not in "
                                                                      "the spec"))
    combo = d[d["arm"] == COMBO]
    figs.append(_binom(f"{COMBO}: CR by 5 years (COMBI pooled)", combo,
                       lambda x: rate(x["bor"] == "CR"), pooled["cr"], round(pooled["cr"] * pooled["n"]), pooled["n"],
                       pooled["source"], seed=23, note="k = 19% of 563, rounded"))
    for j, (what, col) in enumerate((("PFS", "pfs"), ("OS", "os"))):
        pub = pooled[f"{col}_60_months"]
        figs.append(_direction(f"{COMBO}: {what} at 60 months (COMBI pooled)", combo,
                               lambda x, c=col: km_rate(x[f"{c}_months"], x[f"{c}_event"], 60.0), pub,
                               [max(pub - 0.06, 0.0), pub + 0.06], pooled["source"],
                               "±6 points" + ("; next-line therapy not in the spec" if col == "os" else ""),
                               seed=24 + j))
    obs = [{"name": f"{arm}: complete response", "value": rate(d.loc[d["arm"] == arm, "bor"] == "CR"), "note": ""}
           for arm in (COMBO, MONO)]
    obs += [{"name": f"{COMBO}: PFS at 36 months with LDH above normal",
             "value": km_rate(*(combo.loc[combo["ldh_uln"] > 1.0, c] for c in ("pfs_months", "pfs_event")), 36.0),
             "note": "raised LDH: faster growth in the model (assumed); shorter PFS in the pooled COMBI analyses"},
            {"name": f"{COMBO}: PFS at 36 months with LDH normal",
             "value": km_rate(*(combo.loc[combo["ldh_uln"] <= 1.0, c] for c in ("pfs_months", "pfs_event")), 36.0),
             "note": ""}]
    text = ("Dabrafenib 150 mg twice daily with or without trametinib 2 mg daily, until progression, in first-line BRAF "
            "V600-mutant melanoma (COMBI-d). The two oral inhibitors' apparent PK (prescribing information) gives "
            "each patient's inhibition of MAPK signalling; they combine by Bliss independence. Inhibition kills both "
            "clones of a BRAF-mutant tumour but not a small pre-existing MAPK-resistant subclone, and the killing "
            "fades with time on treatment (Claret 2009's resistance term; its persistence varies between patients). "
            "The combination's ORR, median PFS and 3-year PFS are fitted; the monotherapy arm, the 5-year plateau, "
            "the hazard ratios and survival are not. Survival after progression runs "
            "on the model's untreated disease, which lives too long (docs/credibility.md), while the trial's "
            "patients got next-line immunotherapy.")
    return Result("targeted-therapy", "BRAF and MEK inhibitors in BRAF V600 melanoma (COMBI-d)", text, figs, obs,
                  [spec_text("targeted-therapy")], len(p))
