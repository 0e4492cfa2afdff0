"""Scenarios of immunotherapies other than checkpoint blockade: CAR T cells with cytokine release
syndrome (``car-t-crs``), high-dose interleukin-2 (``high-dose-il2``) and a tumour-targeting
antibody next to a checkpoint antibody (``monoclonal-antibodies``).

Each runs shipped trial specs on the shared model. One scale per mechanism is fitted to one
published figure (``immunotwin.calibrate_cancers``, marked ``fitted``); everything else is
compared unfitted: complete responses, grade >= 3 rates, onsets, survival, other cancers,
genotype effects and the direction of each effect.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from ..readouts import response_by
from ..reference import load
from ..survival import km_rate
from .compare import responders, scenario_refs
from .core import Figure, Result, bootstrap, make_figure, rate, simulate_spec, spec_text
from .trials import MONTH_DAYS, clopper_pearson, median_or_nan


def _binom(name: str, df: pd.DataFrame, stat, published: float, k: int, n: int, source: str, *,  # type: ignore[no-untyped-def]
           fitted: bool = False, seed: int = 0, note: str = "") -> Figure:
    est, ci = bootstrap(df, stat, seed=seed)
    return make_figure(name, est, ci, published, clopper_pearson(k, n), source, fitted=fitted,
                       band_note=(f"exact 95% CI of {k}/{n}" + (f"; {note}" if note else "")))


def _direction(name: str, df: pd.DataFrame, stat, published: float | None, band: list[float], source: str,  # type: ignore[no-untyped-def]
               note: str, seed: int = 0, fitted: bool = False) -> Figure:
    est, ci = bootstrap(df, stat, seed=seed)
    return make_figure(name, est, ci, published, band, source, band_note=note, fitted=fitted)


# --------------------------------------------------------------------------------------------
# car-t-crs

def _ratio_peak(d: pd.DataFrame) -> float:
    r = d["resp"]
    hi, lo = d.loc[r, "car_peak_cells_ul"].median(), d.loc[~r, "car_peak_cells_ul"].median()
    return float(hi / lo) if lo > 0 else float("nan")


#: B cells counted as back: the blood assay's quantification limit (20 cells/µL, rituximab label) against a
#: normal count of about 200 cells/µL (assumed round figure), as for rituximab's recovery. The CAR T series
#: say "detected" without a threshold; flow cytometry can see fewer cells, so this reading is an assumption
#: (a lower one would count more patients as recovered and fit a slower loss of CAR T support).
B_DETECT = 0.1
B_DETECT_NOTE = ("back: >= 10% of normal (20 cells/µL, the rituximab label's quantification limit, of about 200; "
                 "the series' own threshold is not stated: assumed)")


def in_remission(d: pd.DataFrame, months: float) -> pd.Series:
    """Patients who responded by ``months`` (:func:`immunotwin.readouts.response_by`) and are alive without
    progression then."""
    return pd.Series(response_by(d, months)[0], index=d.index) & (d["pfs_months"] > months)


def b_cells_back(d: pd.DataFrame, months: float) -> float:
    """Share of the patients in remission at ``months`` (12 or 36) whose B cells are back (>= B_DETECT)."""
    day = {12.0: 364, 36.0: 1092}[float(months)]
    return rate(d.loc[in_remission(d, months), f"b_cells_day{day}"] >= B_DETECT)


def non_response_attribution(d: pd.DataFrame, patients: int | None, seed: int | None) -> list[dict]:
    """Why non-responders did not respond: their CAR T cells' expansion or the tumour.

    ``d``: the car-t-crs patients with ``resp`` and ``re_car_expansion`` (the log-scale random effect of the
    expansion rate). Four observations: the share of non-responders whose expansion rate was at or above the median
    (0.5 if non-response had nothing to do with expansion, 0 if it were all poor expansion); and, from a twin run of
    the same patients with every expansion rate at the median (``iiv_scale`` 0), its ORR, the share of all
    non-responders who still do not respond (they fail for reasons of the tumour, its burden and resistant clone,
    not of their CAR T cells) and its responder/non-responder peak ratio."""
    _, t, _ = simulate_spec("car-t-crs", patients, visits=False, seed=seed,
                            iiv_scale={"car_expansion": 0.0})
    twin = t.set_index("patient")
    twin = twin[twin["status"] == "ok"].assign(resp=lambda x: responders(x))
    nr = d.loc[~d["resp"], "patient"]
    nr = nr[nr.isin(twin.index)]
    still = rate(~twin.loc[nr, "resp"]) if len(nr) else float("nan")
    return [
        {"name": "non-responders whose CAR T expansion rate was at or above the median",
         "value": rate(d.loc[~d["resp"], "re_car_expansion"] >= 0.0),
         "note": "0.5 if non-response did not hang on expansion; 0 if it all did"},
        {"name": "ORR, the same patients with every CAR T expansion rate at the median (twin)",
         "value": rate(twin["resp"]), "note": f"{rate(d['resp']):.3f} as simulated"},
        {"name": "tumour-intrinsic share of non-response: non-responders still not responding at the median "
                 "expansion rate (twin)", "value": still,
         "note": "the rest of non-response is the CAR T cells' poor expansion"},
        {"name": "peak CAR T cells, responders / non-responders (medians), twin at the median expansion rate",
         "value": _ratio_peak(twin),
         "note": "ZUMA-1: 2.2 (marked verify); without the spread of expansion rates the ratio falls below it, with the "
                 "spread (car_expansion, log-SD 0.4, set by hand against ZUMA-1's peaks) it rises"},
    ]


def car_t_crs(patients: int | None = None, seed: int | None = None) -> Result:
    z1 = load("phenomena")["car_t"]
    ref, ref5, kin = z1["zuma1_axicabtagene"], z1["zuma1_5y"], scenario_refs()["zuma1_kinetics"]
    refs = scenario_refs()
    c4, lt, b1 = refs["zuma1_cohort4"], refs["zuma1_longterm"], refs["axicel_b_cells_1y"]
    du = refs["zuma1_durability"]
    post = refs["axicel_post_progression"]
    # iiv_scale 1 leaves the patients as they are and returns their expansion random effect (re_car_expansion)
    _, p, _ = simulate_spec("car-t-crs", patients, visits=False, seed=seed, iiv_scale={"car_expansion": 1.0})
    d = p[p["status"] == "ok"].assign(resp=lambda x: responders(x), arm="axi-cel")
    # the same patients managed as ZUMA-1's safety cohort 4 (early steroids; Topp 2021)
    _, pe, _ = simulate_spec("car-t-crs-early-steroids", patients, visits=False, seed=seed)
    e = pe[pe["status"] == "ok"].assign(resp=lambda x: responders(x), arm="axi-cel, early steroids")
    src, n = ref["source"], 101  # ZUMA-1 modified intention-to-treat set (Neelapu 2017)
    figs = [
        _binom("ORR (best response CR or PR)", d, lambda x: rate(x["resp"]), ref["orr"], 83, n, src, fitted=True,
               seed=1, note="fitted: car_kill"),
        _binom("complete response", d, lambda x: rate(x["bor"] == "CR"), ref["cr"], 55, n, src, seed=2),
        _binom("CRS, any grade", d, lambda x: rate(x["crs_grade"] >= 1), ref["crs_any"], 94, n, src, fitted=True,
               seed=3, note="fitted: crs_drive"),
        _binom("CRS, grade >= 3", d, lambda x: rate(x["crs_grade"] >= 3), ref["crs_grade3plus"], 13, n, src, seed=4,
               note="ZUMA-1 graded CRS by Lee 2014 criteria, close to ASTCT's"),
        _binom("neurotoxicity, any grade", d, lambda x: rate(x["icans_grade"] >= 1), ref["neuro_any"], 65, n, src,
               fitted=True, seed=5, note="fitted: icans_drive; ZUMA-1 counted neurologic events by CTCAE"),
        _binom("neurotoxicity, grade >= 3", d, lambda x: rate(x["icans_grade"] >= 3), ref["neuro_grade3plus"], 28, n,
               src, fitted=True, seed=6, note="fitted by hand: the variability of icans_susceptibility was set against "
               "it (model.celltherapy)"),
        _binom("tocilizumab given", d, lambda x: rate(x["tocilizumab_doses"] > 0), kin["tocilizumab"], 43, n,
               kin["source"], seed=7, note="figure marked verify"),
        _binom("corticosteroids given for CRS or neurotoxicity", d, lambda x: rate(x["syndrome_steroids"]),
               kin["steroids"], 27, n, kin["source"], seed=8, note="figure marked verify"),
        _direction("median CRS onset (day)", d, lambda x: float(x["crs_onset_days"].median()),
                   kin["crs_onset_median_day"], [1.0, 3.0], kin["source"], "±1 day (daily visits)", seed=9),
        _direction("median neurotoxicity onset (day)", d, lambda x: float(x["icans_onset_days"].median()),
                   kin["icans_onset_median_day"], [2.0, 7.0], kin["source"],
                   "days 2-7: the label's median 4 and the NEJM's 5, ±2 days", seed=10),
        _direction("median day of peak CAR T cells", d, lambda x: float(x["car_peak_day"].median()), 10.5,
                   [7.0, 14.0], kin["source"], "published: peak within 7-14 days; fitted by hand: the CAR T:target ratio "
                   "of half-maximal killing (car_kill_s) was set against it (model.celltherapy)", seed=11, fitted=True),
        _direction("peak CAR T cells, responders / non-responders (medians)", d, _ratio_peak,
                   kin["peak_responders_cells_ul"] / kin["peak_nonresponders_cells_ul"], [1.2, 4.0], kin["source"],
                   "published 43.6 / 20.2 cells/µL = 2.2 (figures marked verify); band 1.2-4: direction and rough size; "
                   "fitted by hand: the variability of car_expansion was set against it (model.celltherapy)",
                   seed=12, fitted=True),
        _binom("disease control at the month-3 assessment (alive, stable disease or better)", d,
               lambda x: rate(~(x["pfs_event"] & (x["pfs_months"] <= 3.05))), du["disease_control_3m"],
               du["disease_control_k"], du["n"], du["source"], seed=21,
               note="ZUMA-1 assessed at month 3 (day 91 here); partial responses at month 1 that do not hold fail here"),
        _binom(f"in response at {du['followup_months']} months (all treated)", d,
               lambda x: rate(in_remission(x, du["followup_months"])), du["in_response_15m"], du["in_response_k"],
               du["n"], du["source"], seed=22, fitted=True,
               note="fitted: car_resistant_kill; ZUMA-1's share at its median follow-up, read as a landmark"),
        _direction("overall survival at 18 months", d, lambda x: km_rate(x["os_months"].to_numpy(float),
                                                                          x["os_event"].to_numpy(bool), 18.0),
                   du["os_18m"], clopper_pearson(53, du["n"]), du["source"], "exact 95% CI of 53/101", seed=23),
        _direction("overall survival at 5 years", d, lambda x: km_rate(x["os_months"].to_numpy(float),
                                                                        x["os_event"].to_numpy(bool), 60.0),
                   ref5["os_5y"], clopper_pearson(43, n), ref5["source"], "exact 95% CI of 43/101", seed=13),
        _binom("in response at 5 years (responders without progression or death by 60 months)", d,
               lambda x: rate(x["resp"] & ~(x["pfs_event"] & (x["pfs_months"] <= 60.0))), lt["ongoing_response"],
               lt["ongoing_k"], lt["n"], lt["source"], seed=18,
               note=f"ZUMA-1's cut-off came at a median follow-up of {lt['followup_months']} months"),
        _binom("B cells >= 10% of normal at 1 year, patients in remission", d, lambda x: b_cells_back(x, 12.0),
               b1["value"], b1["k"], b1["n"],
               b1["source"], seed=19, fitted=True, note=B_DETECT_NOTE + "; fitted: car_support_decay"),
        _direction("B cells >= 10% of normal at 3 years, patients in remission", d, lambda x: b_cells_back(x, 36.0),
                   lt["b_cells_detectable_3y"],
                   [0.8, 1.0], lt["source"], "all evaluable patients had B cells (polyclonal recovery in 91%): "
                   "band 80-100%; " + B_DETECT_NOTE, seed=20),
        _direction("median overall survival (months)", d, lambda x: median_or_nan(x["os_months"], x["os_event"]),
                   ref5["median_os_months"], [ref5["median_os_months"] * 0.7, ref5["median_os_months"] * 1.3],
                   ref5["source"], "±30% (a KM median from 101 patients with a long flat tail is imprecise)", seed=14),
    ]
    figs += [
        _binom("early steroids (cohort 4 rules): CRS, grade >= 3", e, lambda x: rate(x["crs_grade"] >= 3),
               c4["crs_grade3plus"], c4["crs_k"], c4["n"], c4["source"], seed=15,
               note="the same virtual patients as above, managed by cytokine_protocol topp2021"),
        _binom("early steroids (cohort 4 rules): neurotoxicity, grade >= 3", e, lambda x: rate(x["icans_grade"] >= 3),
               c4["neuro_grade3plus"], c4["neuro_k"], c4["n"], c4["source"], seed=16,
               note="the same virtual patients as above, managed by cytokine_protocol topp2021"),
        _direction("neurotoxicity grade >= 3: early steroids minus Lee 2014 (same patients)",
                   pd.concat([d.assign(early=False), e.assign(early=True)]),
                   lambda x: rate(x.loc[x["early"], "icans_grade"] >= 3) - rate(x.loc[~x["early"], "icans_grade"] >= 3),
                   c4["neuro_grade3plus"] - c4["cohorts12"]["neuro_grade3plus"], [-1.0, 0.0], c4["source"],
                   "direction: below 0 (cohort 4 against cohorts 1-2, 17% against 32%)", seed=17),
    ]
    half = d["sld0_mm"] >= d["sld0_mm"].median()
    figs.append(_direction(
        "CRS grade >= 2: high minus low tumour burden (halves by baseline SLD)", d.assign(half=half),
        lambda x: rate(x.loc[x["half"], "crs_grade"] >= 2) - rate(x.loc[~x["half"], "crs_grade"] >= 2), None,
        [0.0, 1.0], "ZUMA-1 (Locke et al., Blood Adv 2020;4:4898): CRS and neurotoxicity rose with tumour burden",
        "direction only: above 0"))
    figs.append(_direction(
        "Spearman correlation, peak CAR T cells and CRS grade", d,
        lambda x: float(spearmanr(x["car_peak_cells_ul"], x["crs_grade"]).statistic), None, [0.0, 1.0],
        "ZUMA-1 (Neelapu 2017; Locke 2020): higher expansion with more severe CRS and neurotoxicity",
        "direction only: above 0"))
    prog = d["pfs_event"] & (d["pfs_months"] < d["os_months"])  # progression seen before death
    obs = [
        {"name": "median peak CAR T cells (cells/µL, blood)", "value": float(d["car_peak_cells_ul"].median()),
         "note": "2% of the body's CAR T cells in 5 L of blood (assumed)"},
        {"name": "median peak CAR T cells, responders (cells/µL)",
         "value": float(d.loc[d["resp"], "car_peak_cells_ul"].median()),
         "note": f"ZUMA-1: {kin['peak_responders_cells_ul']} (marked verify)"},
        {"name": "median peak CAR T cells, non-responders (cells/µL)",
         "value": float(d.loc[~d["resp"], "car_peak_cells_ul"].median()),
         "note": f"ZUMA-1: {kin['peak_nonresponders_cells_ul']} (marked verify)"},
        *non_response_attribution(d, patients, seed),
        {"name": "median overall survival after progression (months)",
         "value": median_or_nan(d.loc[prog, "os_months"] - d.loc[prog, "pfs_months"], d.loc[prog, "os_event"]),
         "note": f"{int(prog.sum())} patients progressing before death; after axicabtagene: "
                 f"{post['median_os_months']} months ({post['source']}, marked verify): the model's relapses grow back "
                 "from a small nadir"},
        {"name": "patients dying of a grade-4 cytokine syndrome", "value": rate(d["death_cause"] == "treatment"),
         "note": "ZUMA-1: 2 of 101 (HLH, cardiac arrest in CRS)"},
        {"name": "B cells at 6 months (fraction of normal, median)", "value": float(d["b_cells_day182"].median()),
         "note": "B-cell aplasia while CAR T cells persist"},
        {"name": "median tocilizumab doses among those given it",
         "value": float(d.loc[d["tocilizumab_doses"] > 0, "tocilizumab_doses"].median())
         if (d["tocilizumab_doses"] > 0).any() else float("nan"), "note": "at most 4"},
        {"name": "early steroids (cohort 4 rules): ORR", "value": rate(e["resp"]),
         "note": f"same patients; {rate(d['resp']):.3f} under Lee 2014 (cohort 4: 73%, no loss of efficacy reported)"},
        {"name": "early steroids (cohort 4 rules): corticosteroids given", "value": rate(e["syndrome_steroids"]),
         "note": "same patients"},
    ]
    text = ("Axicabtagene ciloleucel (2e6 CAR T cells/kg, one infusion) in chemorefractory large B-cell lymphoma, "
            "visited daily for 28 days. CAR T cells expand on CD19 (tumour and normal B cells), contract and persist "
            "(Stein 2019 structure); their expansion rests on the support that lymphodepletion gives, which fades "
            "as normal lymphocytes return (its rate fitted to the return of B cells within a year in patients in "
            "remission), so tumour left when it has gone grows back and B cells recover; they kill CD19+ cells "
            "and, at a fraction, the immune-resistant clone (CD19 loss is one of its escape routes). The target "
            "cells they lyse drive a cytokine load graded as CRS (less "
            "the IL-6 share blocked by tocilizumab) and, more slowly, neurotoxicity, managed as in ZUMA-1's pivotal "
            "cohorts by the Lee 2014 algorithm (management.cytokine_protocol = lee2014): tocilizumab for CRS grade "
            ">= 3, or grade 2 at age 65 or more, and for neurotoxicity grade >= 3 with CRS; dexamethasone for grade 3 "
            "CRS a day after tocilizumab and for neurotoxicity grade >= 3 (immunotwin.clinic.celltox). Response by "
            "Lugano 2014 (PET-based complete response). The lymphodepleting chemotherapy is not simulated as drugs. "
            "Scales are fitted to ZUMA-1's ORR and any-grade CRS and neurotoxicity rates, the spread of "
            "neurotoxicity susceptibility to its grade >= 3 rate, the loss of support to B-cell recovery, and how "
            "far CAR T killing reaches the resistant clone to the share still in response at 15.4 months; the spread "
            "of expansion rates and the CAR T:target ratio of half-maximal killing are set by hand against the "
            "responder/non-responder peak ratio and the day of peak. The rest, survival included, is unfitted. "
            "The same patients are also "
            "managed as ZUMA-1's safety cohort 4 was (early steroids: cytokine_protocol topp2021), an unfitted check "
            "that earlier intervention lowers severe CRS and neurotoxicity without costing response. A second "
            "twin, the same patients with every CAR T expansion rate at the median, separates non-response that comes "
            "from poor expansion from non-response that comes from the tumour (observations).")
    return Result("car-t-crs", "CAR T cells: expansion, response, CRS and neurotoxicity (ZUMA-1)", text, figs, obs,
                  [spec_text("car-t-crs"), spec_text("car-t-crs-early-steroids")], len(p))  # the twin: the same patients


# --------------------------------------------------------------------------------------------
# high-dose-il2

def _durable(x: pd.DataFrame) -> float:
    r = x[x["resp"]]
    return rate(~r["pfs_event"]) if len(r) else float("nan")


def high_dose_il2(patients: int | None = None, seed: int | None = None) -> Result:
    ref = load("phenomena")["high_dose_il2"]["melanoma"]
    refs = scenario_refs()
    rcc, durable, thy, vit = refs["il2_rcc"], refs["il2_melanoma_durable"], refs["il2_thyroid"], refs["il2_vitiligo"]
    _, mel, _ = simulate_spec("high-dose-il2", patients, visits=False, seed=seed)
    _, kid, _ = simulate_spec("high-dose-il2-rcc", patients, visits=False, seed=seed)
    m = mel[mel["status"] == "ok"].assign(resp=lambda x: responders(x), arm="melanoma")
    k = kid[kid["status"] == "ok"].assign(resp=lambda x: responders(x), arm="rcc")
    n_m = 270
    figs = [
        _binom("melanoma: ORR", m, lambda x: rate(x["resp"]), ref["orr"], 43, n_m, ref["source"], fitted=True,
               seed=1, note="fitted: nk_kill"),
        _binom("melanoma: complete response", m, lambda x: rate(x["bor"] == "CR"), ref["cr"], 17, n_m, ref["source"],
               seed=2),
        _binom("melanoma: treatment-related deaths", m, lambda x: rate(x["death_cause"] == "treatment"),
               ref["treatment_deaths"], 6, n_m, ref["source"], seed=3,
               note="Atkins' deaths were from sepsis; the model's from grade-4 capillary leak (assumed case fatality)"),
        _binom("renal cell carcinoma: ORR", k, lambda x: rate(x["resp"]), rcc["orr"], rcc["k"], rcc["n"], rcc["source"],
               seed=4, note="same regimen, other cancer: unfitted"),
        _binom("renal cell carcinoma: complete response", k, lambda x: rate(x["bor"] == "CR"), rcc["cr"], 12, rcc["n"],
               rcc["source"], seed=5),
        _direction("melanoma: responders still progression-free at the end of follow-up", m, _durable,
                   durable["responders_progression_free"], [0.28 - 0.18, 0.28 + 0.18], durable["source"],
                   "±0.18 (about 2 SE for 43 responders); no response lasting over 30 months progressed in Atkins' "
                   "series, so 36 simulated months see the same durability",
                   seed=6),
        _binom("melanoma: thyroid dysfunction (any grade thyroiditis)", m,
               lambda x: rate(x["irae_thyroiditis_grade"] >= 1), thy["dysfunction"],
               round(thy["dysfunction"] * thy["n"]), thy["n"], thy["source"], fitted=True, seed=7,
               note="fitted: cytokine_organ_weight.thyroiditis; " + thy["note"]),
        _binom("melanoma: hypothyroidism needing thyroid hormone (hypothyroidism grade >= 2)", m,
               lambda x: rate(x["hypothyroidism_grade"] >= 2), thy["needing_replacement"],
               round(thy["needing_replacement"] * thy["n"]), thy["n"], thy["source"], seed=8,
               note="the clinic starts thyroid hormone when hypothyroidism reaches grade 2, TSH above 10 "
                    "(clinic.policy), not in the thyrotoxic phase; " + thy["note"]),
    ]
    # Vitiligo (model.tolerance: melanocytes killed by the tumour-primed T cells), as Rosenberg & White read it:
    # patients followed at least a year, vitiligo at any time; its rate is fitted under anti-PD-1 (Hua 2016), not here.
    m1 = m[m["os_months"] >= 12.0].assign(vit=lambda x: x["vitiligo_grade"] >= 1)
    vnote = "unfitted (the rate is fitted under anti-PD-1); " + vit["note"]
    figs += [
        _binom("melanoma: vitiligo (patients followed at least a year)", m1, lambda x: rate(x["vit"]), vit["melanoma"],
               vit["melanoma_k"], vit["melanoma_n"], vit["source"], seed=9, note=vnote),
        _binom("melanoma: vitiligo among responders (followed at least a year)", m1,
               lambda x: rate(x.loc[x["resp"], "vit"]), vit["responders_k"] / vit["responders_n"], vit["responders_k"],
               vit["responders_n"], vit["source"], seed=10, note=vnote),
        _binom("melanoma: vitiligo among non-responders (followed at least a year)", m1,
               lambda x: rate(x.loc[~x["resp"], "vit"]), 0.0, vit["non_responders_k"], vit["non_responders_n"],
               vit["source"], seed=11, note=vnote),
    ]
    obs = [
        {"name": "renal cell carcinoma: vitiligo", "value": rate(k["vitiligo_grade"] >= 1),
         "note": "Rosenberg & White: none of 104; in the model none by construction (the catalogue gives renal cell "
                 "carcinoma no antigen shared with skin)"},
        {"name": "melanoma: capillary leak grade >= 3", "value": rate(m["capillary_leak_grade"] >= 3),
         "note": "doses withheld while >= 3"},
        {"name": "melanoma: capillary leak grade 4", "value": rate(m["capillary_leak_grade"] >= 4), "note": ""},
        {"name": "melanoma: share of scheduled doses given (median)",
         "value": float(np.median(m["subdaily_doses_given"]
                                  / np.maximum(m["subdaily_doses_given"] + m["subdaily_doses_skipped"], 1))),
         "note": "doses skipped while the leak is grade >= 3; all courses"},
        {"name": "melanoma: doses given (median, all courses)", "value": float(m["subdaily_doses_given"].median()),
         "note": ""},
        {"name": "melanoma: any irAE", "value": rate(m["any_irae_grade"] >= 1), "note": ""},
        {"name": "melanoma: days from the first dose to hypothyroidism (median, those with TSH above 4.5)",
         "value": float((m["hypothyroidism_onset_weeks"] * 7).median()),
         "note": "Weijl et al., J Clin Oncol 1993;11:1376: 7 of 15 patients on continuous-infusion IL-2 with LAK cells "
                 "hypothyroid 60-120 days after the start (a range, not a median; another regimen)"},
        {"name": "melanoma: median PFS (months)", "value": median_or_nan(m["pfs_months"], m["pfs_event"]), "note": ""},
        # Atkins 1999 split the durability by best response; no response progressed after 30 months, so 36 simulated
        # months see the same durability as their longer follow-up
        {"name": "melanoma: complete responders still progression-free",
         "value": rate(~m.loc[m["bor"] == "CR", "pfs_event"]),
         "note": f"Atkins 1999: {durable['cr_progression_free']} (10 of 17)"},
        {"name": "melanoma: median response duration, partial responders (months)",
         "value": median_or_nan(m.loc[m["bor"] == "PR", "dor_months"], m.loc[m["bor"] == "PR", "dor_event"]),
         "note": f"Atkins 1999: {durable['pr_median_duration_months']} (26 partial responders): the model's partial "
                 "responses last too long"},
    ]
    text = ("High-dose aldesleukin (600,000 IU/kg every 8 hours, up to 14 doses on days 1-5 and 15-19, and a second "
            "course for patients without progression) in metastatic melanoma and, unfitted, renal cell carcinoma. "
            "IL-2 is given as each day's doses over the day (the clinic steps daily while it is given); it activates "
            "NK/LAK cells that kill tumour cells without MHC (their killing scale is fitted to the melanoma ORR), raises the IL-2 signal that expands "
            "effector and regulatory T cells and autoreactive pools (the thyroid's most: its sensitivity to the cytokines' "
            "drive is fitted to the thyroid dysfunction), and causes capillary leak, graded by CTCAE; "
            "doses are skipped while the leak is grade >= 3.")
    return Result("high-dose-il2", "High-dose IL-2: response, durable complete responses, capillary leak (Atkins 1999)",
                  text, figs, obs, [spec_text("high-dose-il2"), spec_text("high-dose-il2-rcc")], len(mel) + len(kid))


# --------------------------------------------------------------------------------------------
# monoclonal-antibodies

def monoclonal_antibodies(patients: int | None = None, seed: int | None = None) -> Result:
    refs = scenario_refs()
    rtx, fc, niv, bc = (refs["rituximab_follicular"], refs["rituximab_fcgr3a"], refs["nivolumab_follicular"],
                        refs["b_cell_recovery"])
    _, p, _ = simulate_spec("monoclonal-antibodies", patients, visits=False, seed=seed)
    d = p[p["status"] == "ok"].assign(resp=lambda x: responders(x))
    r, nv = d[d["arm"] == "rituximab"], d[d["arm"] == "nivolumab"]
    vv = r["fcgr3a"] == "VV"

    def fc_gap(x: pd.DataFrame) -> float:
        v = x["fcgr3a"] == "VV"
        return rate(x.loc[v, "resp"]) - rate(x.loc[~v, "resp"])

    both = pd.concat([r.assign(arm="rituximab"), nv.assign(arm="nivolumab")])
    figs = [
        _binom("rituximab: ORR", r, lambda x: rate(x["resp"]), rtx["orr"], rtx["k"], rtx["n"], rtx["source"],
               fitted=True, seed=1, note="fitted: adcc_kill"),
        _binom("rituximab: complete response", r, lambda x: rate(x["bor"] == "CR"), rtx["cr"], 10, rtx["n"],
               rtx["source"], seed=2),
        _direction("rituximab: median PFS (months)", r, lambda x: median_or_nan(x["pfs_months"], x["pfs_event"]),
                   rtx["ttp_months"], [rtx["ttp_months"] * 0.6, rtx["ttp_months"] * 1.4], rtx["source"],
                   "±40% (McLaughlin's figure is time to progression in responders' series; PFS counts deaths too)",
                   seed=3),
        _direction("rituximab: FCGR3A V/V minus F carriers, ORR", r, fc_gap, fc["orr_vv"] - fc["orr_f_carriers"],
                   [0.0, 0.8], fc["source"], "direction: above 0 (Cartron's population was untreated)", seed=4),
        _binom("nivolumab: ORR (same patients)", nv, lambda x: rate(x["resp"]), niv["orr"], niv["k"], niv["n"],
               niv["source"], seed=5, note="figure marked verify"),
        _direction("any irAE: nivolumab minus rituximab", both,
                   lambda x: rate(x.loc[x["arm"] == "nivolumab", "any_irae_grade"] >= 1)
                   - rate(x.loc[x["arm"] == "rituximab", "any_irae_grade"] >= 1), None, [0.0, 1.0],
                   "class toxicities: irAEs with checkpoint blockade, not with anti-CD20 (labels)",
                   "direction only: above 0", seed=6),
        _direction("rituximab: B cells at 3 months (fraction of normal, median)", r,
                   lambda x: float(x["b_cells_day91"].median()), 0.0, [0.0, 0.1], bc["source"],
                   "depleted (< 10% of normal) until about 6 months", seed=7),
        _direction("rituximab: B cells 6 months after the last dose (fraction of normal, median)", r,
                   lambda x: float(x["b_cells_day203"].median()), bc["recovery_begins_fraction"], [0.0, 0.2],
                   bc["source"], "recovery begins: about the quantification limit (fitted: b_cell_depletion_ec50)",
                   seed=9, fitted=True),
        _direction("rituximab: B cells 12 months after the last dose (fraction of normal, median)", r,
                   lambda x: float(x["b_cells_day385"].median()), 1.0, [0.5, 1.0], bc["source"],
                   "near normal (> 50%) by about 12 months", seed=8),
    ]
    obs = [
        {"name": "rituximab: FCGR3A V/V share", "value": float(vv.mean()), "note": "Cartron 2002: 20%"},
        {"name": "rituximab: ORR in V/V", "value": rate(r.loc[vv, "resp"]), "note": ""},
        {"name": "rituximab: ORR in F carriers", "value": rate(r.loc[~vv, "resp"]), "note": ""},
        {"name": "nivolumab: B cells at 3 months (median)", "value": float(nv["b_cells_day91"].median()),
         "note": "not depleted"},
        {"name": "nivolumab: grade >= 3 irAE", "value": rate(nv["any_irae_grade"] >= 3), "note": ""},
        {"name": "rituximab: grade >= 3 irAE", "value": rate(r["any_irae_grade"] >= 3), "note": ""},
    ]
    text = ("The same virtual patients with relapsed follicular lymphoma given rituximab 375 mg/m2 weekly x4 or "
            "nivolumab 3 mg/kg every 2 weeks. Rituximab (Rozman 2017 PK with target-mediated clearance) kills CD20+ "
            "tumour cells by antibody-dependent cytotoxicity through FCGR3A (158V/V full, F carriers half: a genotype "
            "covariate drawn at Cartron's frequencies); killing releases antigen, so some T-cell priming follows. "
            "Normal B cells are cleared too (turnover and maximal clearance from Pan 2019), until the serum level "
            "falls below an in-vivo EC50 fitted to the start of their recovery 6 months after the last dose. "
            "Nivolumab acts through T cells, weak in this low-immunogenicity lymphoma, and brings irAEs. Infusion "
            "reactions to rituximab are not modelled.")
    return Result("monoclonal-antibodies", "A tumour-targeting antibody next to a checkpoint antibody", text, figs,
                  obs, [spec_text("monoclonal-antibodies")], len(p))


# --------------------------------------------------------------------------------------------
# cancer-vaccine

def _ipilimumab_organ_figures(refs: dict, arms: dict) -> list[Figure]:
    """How often skin and gut irAEs occur under ipilimumab (the gut's both arms pooled: the target of its CTLA-4
    weight's fit where installed) and how often, once they occur, they reach
    grade >= 3 (the target of the organs' damage-rate fit, :mod:`immunotwin.calibrate_cancers`; marked fitted
    only where that fit is installed), in both ipilimumab arms."""
    from ..calibrate_cancers import PARAM_TARGETS, SEVERITY_ORGANS, installed_fit_specs, organ_severity

    sev = refs["ipilimumab_organ_severity"]
    installed = installed_fit_specs()
    both = pd.concat([arms["ipilimumab"], arms["ipilimumab + gp100"]])
    label = {"dermatitis": "skin", "colitis": "gut", "hepatitis": "liver"}
    figs = []
    for i, organ in enumerate(SEVERITY_ORGANS):
        r = sev[organ]
        fitted = f"damage_rate.{organ}" in installed
        figs.append(_binom(f"ipilimumab arms: {label[organ]} irAEs reaching grade >= 3 (share of those with one)", both,
                           lambda x, o=organ: organ_severity(x, o), r["severity"], r["grade3plus"], r["any"],
                           r["source"], fitted=fitted, seed=40 + i,
                           note=f"fitted: damage_rate ({organ})" if fitted else "the fit's target; not installed"))
    hodi = sev["mdx010_20_arms"]
    for j, arm in enumerate(("ipilimumab", "ipilimumab + gp100")):
        n = hodi[arm]["n"]
        for i, organ in enumerate(o for o in hodi[arm] if o != "n"):  # the organs Hodi's table gives: skin, gut
            k_any = hodi[arm][organ][0]
            # the gut's any-grade incidence in both arms together is the target of its CTLA-4 weight's opt-in fit
            # (calibrate_cancers.WEIGHTS_OPT_IN); a weight fitted to CheckMate 067's table leaves it unfitted
            weight = f"weight_ctla4.{organ}"
            fitted = weight in PARAM_TARGETS and installed.get(weight) == PARAM_TARGETS[weight][0]
            figs.append(_binom(f"{arm}: {label[organ]} irAE, any grade", arms[arm],
                               lambda x, o=organ: rate(x[f"irae_{o}_grade"] >= 1), k_any / n, k_any, n,
                               hodi["source"], seed=50 + 2 * j + i, fitted=fitted,
                               note=f"fitted (both arms pooled): weight_ctla4 ({organ})" if fitted else ""))
    return figs


def cancer_vaccine(patients: int | None = None, seed: int | None = None) -> Result:
    refs = scenario_refs()
    h, k942 = refs["hodi2010"], refs["vaccine_anti_pd1"]
    _, p, _ = simulate_spec("cancer-vaccine", patients, visits=False, seed=seed)
    d = p[p["status"] == "ok"].assign(resp=lambda x: responders(x))
    arms = {a: g for a, g in d.groupby("arm", sort=False)}
    figs = []
    for i, arm in enumerate(("gp100", "ipilimumab + gp100", "ipilimumab")):
        g = arms[arm]
        figs.append(_binom(f"{arm}: ORR", g, lambda x: rate(x["resp"]), h["orr"][arm], h["k"][arm], h["n"][arm],
                           h["source"], fitted=arm == h["fitted_arm"], seed=10 + i,
                           note="fitted: vaccine_potency" if arm == h["fitted_arm"] else ""))
        mos = h["median_os_months"][arm]
        figs.append(_direction(f"{arm}: median OS (months)", g, lambda x: median_or_nan(x["os_months"], x["os_event"]),
                               mos, [mos * 0.75, mos * 1.25], h["source"], "±25%", seed=20 + i))
    pair = pd.concat([arms["ipilimumab + gp100"], arms["ipilimumab"]])
    figs.append(_direction(
        "ORR, ipilimumab + gp100 minus ipilimumab", pair,
        lambda x: rate(x.loc[x["arm"] == "ipilimumab + gp100", "resp"]) - rate(x.loc[x["arm"] == "ipilimumab", "resp"]),
        h["orr"]["ipilimumab + gp100"] - h["orr"]["ipilimumab"], [-0.12, 0.03], h["source"],
        "the vaccine added nothing to ipilimumab (OS HR 1.04; ORR 5.7% vs 10.9%): band -0.12 to +0.03", seed=30))
    npair = pd.concat([arms["nivolumab + gp100"], arms["nivolumab"]])
    figs.append(_direction(
        "ORR, nivolumab + gp100 minus nivolumab", npair,
        lambda x: rate(x.loc[x["arm"] == "nivolumab + gp100", "resp"]) - rate(x.loc[x["arm"] == "nivolumab", "resp"]),
        None, [0.0, 0.3], k942["source"], "direction only: at least as good with the vaccine", seed=31))
    figs += _ipilimumab_organ_figures(refs, arms)
    obs = [{"name": f"{a}: {what}", "value": v, "note": ""} for a, g in arms.items() for what, v in (
        ("ORR", rate(g["resp"])), ("any irAE", rate(g["any_irae_grade"] >= 1)),
        ("skin irAE (vitiligo, rash)", rate(g["irae_dermatitis_grade"] >= 1)))]
    text = ("The same virtual patients with previously treated melanoma given a gp100 peptide vaccine alone, with "
            "ipilimumab, ipilimumab alone, nivolumab with the vaccine, and nivolumab alone. The vaccine is an antigen "
            "depot (14-day half-life, assumed) that adds presented antigen: it primes and expands tumour-specific "
            "T cells, whose killing still needs them to reach the tumour and escape PD-1; gp100 is a melanocyte "
            "antigen, so it also feeds the skin's shared-antigen drive. Its potency is fitted to the gp100-alone "
            "ORR; the combinations are unfitted. The ipilimumab arms also show how often skin, gut and liver irAEs, "
            "once they occur, reach grade 3 (both ipilimumab arms pooled; the liver's published share is the adjuvant "
            "trial's, Eggermont 2016): the target of the organs' damage-rate fit, marked fitted where it is "
            "installed; how often skin and gut irAEs occur at all is not fitted.")
    return Result("cancer-vaccine", "A cancer vaccine alone and with checkpoint blockade (Hodi 2010)", text, figs, obs,
                  [spec_text("cancer-vaccine")], len(p))


# --------------------------------------------------------------------------------------------
# interferon-melanoma

def _autoimmune_landmark(d: pd.DataFrame, weeks: float = 12.0) -> pd.DataFrame:
    """Patients alive and progression-free at the landmark, with autoimmunity (any irAE) before it."""
    from ..model.organs import IRAES

    onset = np.fmin.reduce(np.stack([d[f"irae_{k}_onset_weeks"].to_numpy(float) for k in IRAES], axis=1), axis=1)
    lm = weeks * 7.0 / MONTH_DAYS
    keep = (d["os_months"] > lm).to_numpy()
    out = d[keep].copy()
    out["auto"] = np.nan_to_num(onset[keep], nan=np.inf) <= weeks
    out["os_lm"] = out["os_months"] - lm
    return out


def interferon_melanoma(patients: int | None = None, seed: int | None = None) -> Result:
    from ..survival import hazard_ratio

    refs = scenario_refs()
    ref, auto = refs["interferon_metastatic_melanoma"], refs["interferon_autoimmunity"]
    _, p, _ = simulate_spec("interferon-melanoma", patients, visits=False, seed=seed)
    d = p[p["status"] == "ok"].assign(resp=lambda x: responders(x), arm="ifn")
    figs = [
        _binom("ORR", d, lambda x: rate(x["resp"]), ref["orr"], ref["k"], ref["n"], ref["source"], fitted=True, seed=1,
               note="fitted: ifn_presentation"),
        _binom("autoimmunity during interferon (any irAE)", d, lambda x: rate(x["any_irae_grade"] >= 1), auto["rate"],
               auto["k"], auto["n"], auto["source"], fitted=True, seed=2,
               note="fitted: ifn_autoreactive; adjuvant high-dose setting: a rough comparison"),
    ]
    lm = _autoimmune_landmark(d)

    def hr(x: pd.DataFrame) -> float:
        if x["auto"].sum() < 3 or (~x["auto"]).sum() < 3:
            return float("nan")
        a, b = x[x["auto"]], x[~x["auto"]]
        return float(hazard_ratio(a["os_lm"], a["os_event"], b["os_lm"], b["os_event"])[0])

    figs.append(_direction("OS HR, autoimmunity by 12 weeks vs none (12-week landmark)", lm, hr, auto["hr_corrected"],
                           [0.3, 1.0], auto["source"], "bias-corrected HR 0.81 (Bouwhuis): band 0.3-1.0, i.e. not "
                           "worse with autoimmunity", seed=3))
    obs = [{"name": "thyroiditis, any grade", "value": rate(d["irae_thyroiditis_grade"] >= 1), "note": ""},
           {"name": "median PFS (months)", "value": median_or_nan(d["pfs_months"], d["pfs_event"]), "note": ""},
           {"name": "complete response", "value": rate(d["bor"] == "CR"), "note": ""},
           {"name": "patients with autoimmunity by 12 weeks (landmark set)", "value": rate(lm["auto"]), "note": ""}]
    text = ("Interferon alfa-2b 10 MIU/m2 subcutaneously three times a week for up to a year in metastatic melanoma. "
            "Interferon raises antigen presentation (MHC class I, dendritic cells: the fitted scale), slows tumour "
            "growth directly (assumed 30% at full occupancy) and breaks tolerance: its drive on autoreactive pools is fitted "
            "to the share with autoimmunity, and the thyroid, most sensitive to cytokines (fitted under IL-2), "
            "gives way first. The association of autoimmunity with survival is unfitted.")
    return Result("interferon-melanoma", "Interferon-alpha in melanoma: response and autoimmunity", text, figs, obs,
                  [spec_text("interferon-melanoma")], len(p))


# --------------------------------------------------------------------------------------------
# bcg-bladder

def bcg_bladder(patients: int | None = None, seed: int | None = None) -> Result:
    ref = scenario_refs()["bcg_cis"]
    _, p, _ = simulate_spec("bcg-bladder", patients, visits=False, seed=seed)
    d = p[p["status"] == "ok"].assign(arm="bcg")
    figs = [
        _binom("complete response (cystoscopy)", d, lambda x: rate(x["bor"] == "CR"), ref["cr"], ref["k"], ref["n"],
               ref["source"], fitted=True, seed=1, note="fitted: bcg_innate; figure marked verify"),
        _binom("cystitis, any grade", d, lambda x: rate(x["cystitis_grade"] >= 1), ref["cystitis"], 67, 100,
               ref["source"], seed=2, note="n=100 stands for the pooled trials' denominator (assumed)"),
        _direction("cystitis, grade >= 3", d, lambda x: rate(x["cystitis_grade"] >= 3), ref["serious"], [0.0, 0.1],
                   ref["source"], "serious toxicity in about 5%: band 0-10%", seed=3),
    ]
    obs = [{"name": "partial response", "value": rate(d["bor"] == "PR"), "note": ""},
           {"name": "progression by 12 months", "value": rate(d["pfs_event"] & (d["death_cause"] == "")), "note": ""},
           {"name": "any irAE", "value": rate(d["any_irae_grade"] >= 1), "note": "BCG is local; few systemic immune events"}]
    text = ("Intravesical BCG (weekly x6, then 3 weekly instillations at months 3 and 6) for carcinoma in situ of the "
            "bladder. BCG in the bladder wall (a depot with a 3-day half-life, assumed) activates innate killers (the "
            "NK/macrophage pool shared with IL-2; the fitted scale) that kill tumour cells of both clones and release "
            "antigen for T-cell priming; the same local inflammation is graded as cystitis, and instillations wait "
            "while it is grade >= 3. Response by cystoscopy, cytology and biopsy: viable tumour only.")
    return Result("bcg-bladder", "Intravesical BCG in bladder carcinoma in situ (Lamm 1991)", text, figs, obs,
                  [spec_text("bcg-bladder")], len(p))
