"""inflammation-to-cancer: the two-stage clonal expansion model (:mod:`immunotwin.carcinogenesis`)
with chronic inflammation, for lymphoma in rheumatoid arthritis and colorectal cancer in
ulcerative colitis.

What is fitted, what is not:
- Background: the colon's initiation and malignant-conversion rates and its net clonal growth
  are fitted to SEER colorectal incidence by age band (``data/carcinogenesis.json``); lymphoid
  tissue, with no age-band data shipped, is scaled to a lifetime risk (recalled, verify).
  Stem-cell numbers (and the lymphoid clonal growth) are assumed.
- Inflammation strength ``s`` belongs to the tissue. Lymphoid tissue in RA: FITTED to the RA
  lymphoma SIR (Smitten 2008), so that figure is marked fitted. Colon in ulcerative colitis:
  measured, 1 + s = 2.4, the mutation-rate ratio of IBD-affected colonic epithelium (Olafsson
  2020), so the UC figures (Eaden 2001 cumulative risks; Ekbom 1990 SIR by extent) are unfitted
  predictions. The ``s`` that the UC cumulative risk alone would need is reported next to it.
- The spread of inflammation intensity between UC patients (a lognormal factor of mean 1, so the mean stays the
  measured factor) is FITTED to Eaden's 10- and 20-year risks: one patient's TSCE hazard rises convexly for
  decades, and without the spread the cohort's risk came too late (0.29% and 2.4%). The 30-year risk and the
  SIRs by extent stay unfitted.
"""

from __future__ import annotations

import json
from dataclasses import replace
from functools import cache
from importlib import resources
from typing import Any

import numpy as np

from ..carcinogenesis import (
    TSCE,
    Exposure,
    age_grid,
    band_rate,
    conditional_risk,
    fit_background,
    fit_incidence,
    sir,
    survival,
    survival_mixed,
)
from ..reference import load
from .core import Figure, Result, make_figure

MAX_AGE = 90.0


def reference() -> dict[str, Any]:
    return json.loads(resources.files("immunotwin.data").joinpath("carcinogenesis.json").read_text())


@cache
def tissues() -> dict[str, TSCE]:
    ref = reference()["tissues"]
    out = {}
    for key, t in ref.items():
        m = TSCE(X=t["stem_cells"], nu=1e-7, alpha=t["alpha_per_year"],
                 beta=t["alpha_per_year"] - t["net_growth_per_year"], mu=1e-7)
        if "incidence_by_age" in t:
            out[key] = fit_incidence(m, incidence_bands(key))
        else:
            out[key] = fit_background(m, t["background_risk"]["value"], t["background_risk"]["to_age"])
    return out


def incidence_bands(key: str) -> list[tuple[float, float, float]]:
    """(from age, to age, rate per person-year) of a tissue's registry incidence."""
    inc = reference()["tissues"][key]["incidence_by_age"]
    if inc["unit"] != "per 100,000 person-years":
        raise ValueError(f"data/carcinogenesis.json: {key}.incidence_by_age.unit must be 'per 100,000 person-years', "
                         f"not {inc['unit']!r}")
    return [(float(lo), float(hi), rate / 1e5) for lo, hi, rate in inc["bands"]]


def colon_strength() -> float:
    """The colon's inflammation strength s: the measured mutation-rate ratio of IBD-affected epithelium, less 1."""
    return float(reference()["cohorts"]["ulcerative_colitis"]["mutation_factor"]["value"]) - 1.0


def ra_lymphoma_sir(strength: float, treatment_effect: float = 0.0) -> float:
    c = reference()["cohorts"]["rheumatoid_arthritis"]
    m = tissues()["lymphoid"]
    ages = age_grid(MAX_AGE)
    exp = Exposure(onset=c["onset_age"], intensity=1.0, fraction=1.0, treated_from=c["onset_age"] if
                   treatment_effect else None, treatment_effect=treatment_effect)
    s_ra, s_bg = survival(ages, m, exp, strength), survival(ages, m)
    return sir(ages, s_ra, s_bg, c["sir_window"][0], c["sir_window"][1])


def uc_log_sd() -> float:
    """Spread between patients of the colitis' inflammation intensity (log-SD; fitted, data/carcinogenesis.json)."""
    return float(reference()["cohorts"]["ulcerative_colitis"]["intensity_log_sd"]["value"])


@cache
def uc_curves(strength: float, treatment_effect: float = 0.0, log_sd: float | None = None) -> dict[str, np.ndarray]:
    """Survival free of colorectal cancer by age, per extent (a cohort whose intensity varies by ``log_sd``, the
    shipped spread when None), and the background."""
    c = reference()["cohorts"]["ulcerative_colitis"]
    m = tissues()["colon"]
    ages = age_grid(MAX_AGE)
    sd = uc_log_sd() if log_sd is None else log_sd
    out = {"background": survival(ages, m)}
    for extent, frac in c["inflamed_fraction"].items():
        exp = Exposure(onset=c["onset_age"], intensity=1.0, fraction=frac,
                       treated_from=c["onset_age"] if treatment_effect else None, treatment_effect=treatment_effect)
        out[extent] = survival_mixed(ages, m, exp, strength, sd)
    return out


def uc_cumulative(strength: float, years: float, treatment_effect: float = 0.0,
                  log_sd: float | None = None) -> dict[str, float]:
    c = reference()["cohorts"]["ulcerative_colitis"]
    ages = age_grid(MAX_AGE)
    curves = uc_curves(strength, treatment_effect, log_sd)
    by = {k: conditional_risk(ages, s, c["onset_age"], years) for k, s in curves.items()}
    mix = c["extent_mix"]
    by["all"] = float(sum(mix[k] * by[k] for k in mix))
    return by


@cache
def fitted_strength() -> float:
    from scipy.optimize import brentq

    target = load("phenomena")["autoimmunity_to_cancer"]["ra_lymphoma_sir"]["value"]
    return float(brentq(lambda s: ra_lymphoma_sir(s) - target, 0.0, 20.0, xtol=1e-6))


def uc_strength_needed(target_30y: float) -> float:
    from scipy.optimize import brentq

    f = lambda s: uc_cumulative(s, 30.0)["all"] - target_30y  # noqa: E731
    return float(brentq(f, 0.0, 50.0, xtol=1e-4)) if f(50.0) > 0 else float("nan")


def inflammation_to_cancer() -> Result:
    ph = load("phenomena")["autoimmunity_to_cancer"]
    ref = reference()
    c_uc = ref["cohorts"]["ulcerative_colitis"]
    s = fitted_strength()
    s_colon = colon_strength()
    ra = ph["ra_lymphoma_sir"]
    figs: list[Figure] = []
    sim_ra = ra_lymphoma_sir(s)
    figs.append(make_figure("RA: lymphoma SIR", sim_ra, [sim_ra, sim_ra], ra["value"], ra["ci"],
                            ra["source"], fitted=True,
                            band_note="published 95% CI; the lymphoid inflammation strength is fitted to this figure"))
    eaden = ph["ulcerative_colitis_crc_cumulative"]
    tol = ref["uc_band_relative"]
    for yrs in (10, 20, 30):
        v = uc_cumulative(s_colon, float(yrs))["all"]
        pub = eaden[f"{yrs}y"]
        fitted = yrs in (10, 20)  # the spread of intensity between patients is fitted to these two
        figs.append(make_figure(f"UC: cumulative colorectal cancer at {yrs} years of colitis", v, [v, v], pub,
                                [pub * (1 - tol), pub * (1 + tol)], eaden["source"], fitted=fitted,
                                band_note=f"±{tol:.0%} of the published value (meta-analysis CIs are about this "
                                          "wide); the colon's strength is its measured mutation-rate ratio; " +
                                          ("FITTED: the spread of inflammation intensity between patients is set "
                                           "against the 10- and 20-year risks" if fitted else
                                           "unfitted (the spread was fitted to the 10- and 20-year risks)")))
    ages = age_grid(MAX_AGE)
    curves = uc_curves(s_colon)
    ek = ph["ulcerative_colitis_crc_sir_by_extent"]
    w = c_uc["ekbom_window_years"]
    for extent in ("proctitis", "left_sided", "pancolitis"):
        v = sir(ages, curves[extent], curves["background"], c_uc["onset_age"], c_uc["onset_age"] + w)
        pub = ek[extent]
        figs.append(make_figure(f"UC: colorectal cancer SIR, {extent.replace('_', '-')}", v, [v, v], pub,
                                [pub / 2, pub * 2], ek["source"],
                                band_note="within a factor 2 of the published SIR (small numbers by extent); "
                                          "unfitted"))
    treat = ref["anti_inflammatory_effect"]
    s_uc = uc_strength_needed(eaden["30y"])
    bg30 = conditional_risk(ages, curves["background"], c_uc["onset_age"], 30.0)
    obs = [
        {"name": "lymphoid inflammation strength s (fitted to the RA lymphoma SIR)", "value": s,
         "note": "mutation rates and net clonal growth multiplied by 1 + s (active disease)"},
        {"name": "colon inflammation strength s (measured: 1 + s = mutation-rate ratio in IBD colon)",
         "value": s_colon, "note": c_uc["mutation_factor"]["source"]},
        {"name": "colon strength s the UC 30-year risk alone would need (18%)", "value": s_uc,
         "note": "against the measured value above; the lymphoid strength fitted to RA is far lower: tissue "
                 "exposure and sensitivity differ"},
        {"name": "UC 30-year colorectal cancer with the lymphoid strength fitted to RA",
         "value": uc_cumulative(s, 30.0)["all"], "note": "the model before the colon's own measured factor"},
        {"name": "RA lymphoma SIR with anti-inflammatory treatment", "value": ra_lymphoma_sir(s, treat["value"]),
         "note": treat["source"]},
        {"name": "spread of inflammation intensity between UC patients (log-SD; fitted to the 10- and 20-year risks)",
         "value": uc_log_sd(), "note": reference()["cohorts"]["ulcerative_colitis"]["intensity_log_sd"]["source"]},
        *({"name": f"UC {y}-year colorectal cancer if every patient had the mean intensity (log-SD 0)",
           "value": uc_cumulative(s_colon, float(y), log_sd=0.0)["all"],
           "note": "one patient's hazard is convex in time; the spread brings the cohort's risk forward"}
          for y in (10, 20, 30)),
        {"name": "UC 30-year colorectal cancer with anti-inflammatory treatment",
         "value": uc_cumulative(s_colon, 30.0, treat["value"])["all"], "note": treat["source"]},
        {"name": "background colorectal cancer within 30 years from the UC onset age",
         "value": bg30, "note": "general population"},
        {"name": "all-UC SIR over 30 years implied by Eaden's 30-year risk on this background",
         "value": float(np.log(1 - eaden["30y"]) / np.log(1 - bg30)),
         "note": "ratio of cumulative hazards; compare Ekbom's SIRs weighted by the extent mix, next"},
        {"name": "Ekbom's SIRs weighted by the extent mix", "value": float(sum(
            w_ * ek[k] for k, w_ in c_uc["extent_mix"].items())),
         "note": "the two published sources disagree by their ratio: Eaden's meta-analysis pools referral series, "
                 "Ekbom's cohort is population-based"},
    ]
    colon = tissues()["colon"]
    inc = ref["tissues"]["colon"]["incidence_by_age"]
    for lo, hi, rate in incidence_bands("colon"):
        obs.append({"name": f"colon background incidence, ages {lo:.0f}-{hi:.0f} (per 100,000 person-years; "
                            "fitted)", "value": 1e5 * band_rate(colon, lo, hi),
                    "note": f"SEER {1e5 * rate:.1f} ({inc['source'][:60]}...)"})
    obs.append({"name": "colon net clonal growth of initiated cells (per year; fitted to the age bands)",
                "value": colon.alpha - colon.beta, "note": ref["tissues"]["colon"]["source"]})
    for k, t in tissues().items():
        to_age = ref["tissues"][k]["background_risk"]["to_age"]
        obs.append({"name": f"{k}: background cumulative risk to age {to_age} (no competing mortality)",
                    "value": float(1 - survival(age_grid(MAX_AGE), t)[int(round(to_age / 0.1))]),
                    "note": ref["tissues"][k]["background_risk"]["source"]})
    plots = [("Cumulative colorectal cancer after ulcerative colitis onset",
              _uc_plot(s_colon, eaden, c_uc["onset_age"]))]
    text = ("A separate long-horizon model: the two-stage clonal expansion model (Moolgavkar & Venzon 1979; "
            "Moolgavkar & Knudson, J Natl Cancer Inst 1981;66:1037), hazard from the exact solution of its "
            "backward (Riccati) equation with piecewise-constant rates. Chronic inflammation multiplies the "
            "mutation rates and the net growth of initiated clones by 1 + s over the inflamed fraction of the "
            "tissue's stem cells; anti-inflammatory treatment lowers the inflammation intensity. The colon's "
            "background (mutation rates and clonal growth) is fitted to SEER incidence by age band; the lymphoid "
            "background is scaled to a lifetime risk. Stem-cell numbers, onset ages, the colitis extent mix and "
            "inflamed fractions are assumptions (data/carcinogenesis.json). The lymphoid strength s is fitted to "
            "the RA lymphoma SIR; the colon's is the measured mutation-rate ratio of IBD-affected epithelium "
            "(Olafsson 2020). The inflammation intensity varies between colitis patients (a lognormal factor of "
            "mean 1), its spread fitted to Eaden's 10- and 20-year risks; the 30-year risk and the SIRs by extent "
            "are unfitted predictions. "
            "Competing mortality is ignored (as in the cumulative-risk figures compared). This model does not "
            "use the immunotherapy model's patients.")
    text += f" {ref['notes']}"
    return Result("inflammation-to-cancer", "Inflammation to cancer (two-stage clonal expansion)", text, figs, obs,
                  [json.dumps(ref, indent=1)], 0, plots)


def _uc_plot(s: float, eaden: dict[str, Any], onset: float) -> str:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure as MplFigure

    from ..report.figures import to_png_base64

    ages = age_grid(MAX_AGE)
    curves = uc_curves(s)
    fig = MplFigure(figsize=(6.5, 4))
    ax = fig.add_subplot(111)
    i0 = int(round(onset / 0.1))
    yrs = ages[i0:] - onset
    for k, surv in curves.items():
        ax.plot(yrs, 1 - surv[i0:] / surv[i0], label=k.replace("_", "-"))
    mix = reference()["cohorts"]["ulcerative_colitis"]["extent_mix"]
    all_uc = sum(w * (1 - curves[k][i0:] / curves[k][i0]) for k, w in mix.items())
    ax.plot(yrs, all_uc, "k--", label="all UC (extent mix)")
    ax.plot([10, 20, 30], [eaden["10y"], eaden["20y"], eaden["30y"]], "ks", label="Eaden 2001 (all UC)")
    ax.set_xlim(0, 40)
    ax.set_xlabel("years since colitis onset")
    ax.set_ylabel("cumulative colorectal cancer")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return to_png_base64(fig)


def fitted_background(key: str) -> TSCE:
    return replace(tissues()[key])
