"""Scenarios that are plain trial specs on the shared model (``examples/scenarios/*.toml``).

Every figure is computed from simulated observations (``patients``/``visits`` tables) and
compared with the published value from ``data/phenomena.json``, ``data/irae.json`` or
``data/leukemia.json``. Bands are the exact (Clopper-Pearson) 95% interval of the published
proportion where the paper's denominator is known, otherwise a stated band.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import beta

from ..cancers import CANCERS
from ..model.organs import IRAES
from ..reference import load
from ..survival import hazard_ratio, km_median
from .core import Figure, Result, bootstrap, make_figure, rate, simulate_spec, spec_text, worst_from_visits

LANDMARK_WEEKS = 12.0
MONTH_DAYS = 30.4375


def median_or_nan(time: pd.Series, event: pd.Series) -> float:
    """Kaplan-Meier median, NaN when not reached."""
    m = km_median(time.to_numpy(float), event.to_numpy(bool))
    return float("nan") if m is None else float(m)


def clopper_pearson(k: int, n: int) -> list[float]:
    lo = 0.0 if k == 0 else float(beta.ppf(0.025, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(0.975, k + 1, n - k))
    return [lo, hi]


def leukemia_reference() -> dict[str, Any]:
    return json.loads(resources.files("immunotwin.data").joinpath("leukemia.json").read_text())


def _prop(name: str, df: pd.DataFrame, col: str, published: float | None, band: list[float] | None, source: str,
          note: str, seed: int = 0, fitted: bool = False) -> Figure:
    est, ci = bootstrap(df, lambda d: rate(d[col]), seed=seed)
    return make_figure(name, est, ci, published, band, source, fitted=fitted, band_note=note)


# --------------------------------------------------------------------------------------------
# melanoma-vitiligo


def landmark_set(p: pd.DataFrame, weeks: float = LANDMARK_WEEKS) -> pd.DataFrame:
    """Patients alive at the landmark, with time from the landmark and flags for a skin irAE (the dermatitis
    organ: rash) and for vitiligo first seen by then."""
    lm = weeks * 7.0 / MONTH_DAYS
    d = p[(p["status"] == "ok") & (p["os_months"] > lm)].copy()
    d["skin"] = d["irae_dermatitis_onset_weeks"] <= weeks
    d["vitiligo"] = d["vitiligo_onset_weeks"] <= weeks if "vitiligo_onset_weeks" in d else False
    d["t_lm"] = d["os_months"] - lm
    return d


def _vitiligo_figures(p: pd.DataFrame, d: pd.DataFrame, ref: dict, hua: dict) -> list[Figure]:
    """Vitiligo: how often (fitted, Hua 2016), when, with which response (Hua) and survival (Freeman-Keller)."""
    ok = p[p["status"] == "ok"].copy()
    days = float(hua["median_follow_up_days"])
    ok["vitiligo_seen"] = ok["vitiligo_onset_weeks"] * 7.0 <= days
    ok["resp"] = ok["bor"].isin(["CR", "PR"])
    figs = [_prop(f"vitiligo by {days:.0f} days (Hua 2016's median follow-up)", ok, "vitiligo_seen",
                  hua["incidence"], clopper_pearson(hua["with_vitiligo"], hua["n"]), hua["source"],
                  "exact 95% CI of 17/67; fitted: sets vitiligo_rate (data/cancer_fit.json)", fitted=True)]
    k_w, k_wo = hua["responders_with_vitiligo"], hua["responders_without_vitiligo"]
    n_w, n_wo = hua["with_vitiligo"], hua["n"] - hua["with_vitiligo"]
    for name, want, pub, band, note in (
            ("ORR, patients with vitiligo", True, hua["orr_with_vitiligo"], clopper_pearson(k_w, n_w),
             "exact 95% CI of 12/17"),
            ("ORR, patients without vitiligo", False, hua["orr_without_vitiligo"], clopper_pearson(k_wo, n_wo),
             "exact 95% CI of 14/50")):
        est, ci = bootstrap(ok, lambda x, w=want: rate(x.loc[x["vitiligo_seen"] == w, "resp"]))
        figs.append(make_figure(name, est, ci, pub, band, hua["source"], band_note=note))

    def median_onset(x: pd.DataFrame) -> float:
        days_seen = x.loc[x["vitiligo_seen"], "vitiligo_onset_weeks"] * 7.0
        return float(days_seen.median()) if len(days_seen) else float("nan")

    est, ci = bootstrap(ok, median_onset)
    figs.append(make_figure("vitiligo: median onset (days)", est, ci, hua["median_onset_days"],
                            [hua["median_onset_days"] / 2.0, hua["median_onset_days"] * 2.0], hua["source"],
                            band_note="band: half to twice the published median of 17 onsets (assumed; the abstract "
                                      "gives no spread)"))
    a, b = d[d["vitiligo"]], d[~d["vitiligo"]]
    if len(a) >= 3 and a["os_event"].any() and b["os_event"].any():
        hr, lo, hi = hazard_ratio(a["t_lm"], a["os_event"], b["t_lm"], b["os_event"])
    else:
        hr, lo, hi = float("nan"), float("nan"), float("nan")
    figs.append(make_figure("12-week landmark OS hazard ratio, vitiligo by week 12 vs none", hr, [lo, hi],
                            ref["os_hr_vitiligo"], [0.036, 0.94], ref["source"],
                            band_note="band: the published 95% CI (0.036-0.94; Freeman-Keller 2016 abstract); CI: Cox "
                                      "model Wald interval"))
    return figs


def melanoma_vitiligo(patients: int | None = None, seed: int | None = None) -> Result:
    spec, p, _ = simulate_spec("melanoma-vitiligo", patients, visits=False, seed=seed)
    ref = load("irae")["irae_and_survival"]["nivolumab_melanoma"]
    hua = json.loads(resources.files("immunotwin.data").joinpath("scenario_refs.json").read_text())[
        "vitiligo_pembrolizumab"]
    d = landmark_set(p)
    a, b = d[d["skin"]], d[~d["skin"]]
    hr, lo, hi = hazard_ratio(a["t_lm"], a["os_event"], b["t_lm"], b["os_event"])
    figs = [make_figure("12-week landmark OS hazard ratio, skin irAE (dermatitis grade >=1 by week 12) vs none",
                        hr, [lo, hi], ref["os_hr_rash"], [0.2, 0.9], ref["source"],
                        band_note="band 0.2-0.9: the published HR (n=148, 12-week landmark) is imprecise; "
                                  "the band is about its 95% CI (0.243-0.735) widened; CI: Cox model Wald interval")]
    # Freeman-Keller's irAEs include vitiligo, which the model keeps apart from the organ irAEs.
    p["any_irae"] = (p["any_irae_grade"] >= 1) | (p["vitiligo_grade"] >= 1)
    figs.append(_prop("any-grade irAE (organ irAEs or vitiligo)", p, "any_irae", ref["any_irae"],
                      clopper_pearson(101, 148), ref["source"], "exact 95% CI of 101/148 (68.2%)"))
    figs += _vitiligo_figures(p, d, ref, hua)
    resp = p["bor"].isin(["CR", "PR"])
    obs = [{"name": "patients alive at the 12-week landmark", "value": float(len(d)), "note": ""},
           {"name": "skin irAE by week 12 among them", "value": rate(d["skin"]), "note": "fraction"},
           {"name": "vitiligo by week 12 among them", "value": rate(d["vitiligo"]), "note": "fraction"},
           {"name": "ORR with skin irAE by week 12", "value": rate(resp[d.index][d["skin"]]), "note": ""},
           {"name": "ORR without skin irAE by week 12", "value": rate(resp[d.index][~d["skin"]]), "note": ""},
           {"name": "ORR overall", "value": rate(resp), "note": ""},
           {"name": "vitiligo at any time, grade 2 (over 10% of body surface)",
            "value": rate(p.loc[p["status"] == "ok", "vitiligo_grade"] >= 2), "note": "fraction of all patients"}]
    # What the skin-irAE patients' survival carries besides their response: severity and its management.
    tox = d["discontinued"].astype(str) == "toxicity"
    sev = d["irae_dermatitis_grade"].fillna(0) >= 3
    obs += [{"name": "skin irAE by week 12: grade >= 3 at worst", "value": rate(sev[d["skin"]]),
             "note": "CheckMate 067 nivolumab: rash grade >= 3 in 1% of all patients, 26% any grade (Larkin 2015)"},
            {"name": "discontinued for toxicity, with skin irAE by week 12", "value": rate(tox[d["skin"]]),
             "note": "any organ: the autoimmune propensity is shared"},
            {"name": "discontinued for toxicity, without skin irAE by week 12", "value": rate(tox[~d["skin"]]),
             "note": ""}]
    text = ("Anti-PD-1 (nivolumab 3 mg/kg every 2 weeks) in advanced melanoma. The melanoma entry of the cancer "
            "catalogue shares melanocyte antigen with skin. Two skin processes follow: rash is the model's "
            "'dermatitis' organ, an autoreactive pool released from tolerance (the shared antigen adds to its drive); "
            "vitiligo is melanocytes killed by the tumour-primed T cells themselves, a share of the rise in killing "
            "that treatment brings to the melanoma (model.tolerance), seen as the skin sheds the melanin already "
            "passed to keratinocytes. Its rate is fitted to how often it occurred in Hua 2016; its link with "
            "response (Hua 2016) and survival (Freeman-Keller 2016: HR 0.184 for vitiligo, 0.423 for rash) is not. "
            "Survival is compared from a 12-week landmark among patients alive then, to avoid immortal-time bias.")
    return Result("melanoma-vitiligo", "Skin irAEs and survival under anti-PD-1 in melanoma", text, figs, obs,
                  [spec_text("melanoma-vitiligo")], len(p))


# --------------------------------------------------------------------------------------------
# preexisting-autoimmunity

_DISEASE = {"arthritis": ("rheumatoid_arthritis", "rheumatoid arthritis"), "dermatitis": ("psoriasis", "psoriasis"),
            "colitis": ("gastrointestinal", "inflammatory bowel disease"),
            "neurologic": ("neurological", "neurological disease")}


def flare_columns(p: pd.DataFrame) -> pd.DataFrame:
    """Add ``flare`` (grade >= 2 in the pre-existing organ), ``other_irae`` (grade >= 1 elsewhere)
    and ``disc_flare`` (discontinued for toxicity with a flare)."""
    p = p.copy()
    pre = p["preexisting_ai"].astype(str)
    grades = np.stack([p[f"irae_{k}_grade"].to_numpy() for k in IRAES], axis=1)
    idx = np.array([IRAES.index(o) if o in IRAES else -1 for o in pre])
    own = np.where(idx >= 0, grades[np.arange(len(p)), np.maximum(idx, 0)], 0)
    mask = np.ones_like(grades, dtype=bool)
    mask[np.arange(len(p))[idx >= 0], idx[idx >= 0]] = False
    p["flare"] = (own >= 2) & (idx >= 0)
    p["other_irae"] = ((grades >= 1) & mask).any(axis=1)
    p["disc_flare"] = p["flare"] & (p["discontinued"] == "toxicity")
    p["responder"] = p["bor"].isin(["CR", "PR"])
    return p


def same_organ_contrast(p: pd.DataFrame) -> tuple[float, float]:
    """(rate of grade >= 2 in organ X among those whose pre-existing disease is X, rate of grade >= 2
    in organ X among those whose disease is elsewhere), pooled over organs by the first group's mix."""
    own: list[float] = []
    other: list[float] = []
    n: list[int] = []
    for organ in sorted(set(p["preexisting_ai"]) - {""}):
        g = p[f"irae_{organ}_grade"] >= 2
        a, b = g[p["preexisting_ai"] == organ], g[p["preexisting_ai"] != organ]
        if len(a) and len(b):
            own.append(a.mean())
            other.append(b.mean())
            n.append(len(a))
    w = np.asarray(n, float)
    return float(np.dot(own, w) / w.sum()), float(np.dot(other, w) / w.sum())


def preexisting_autoimmunity(patients: int | None = None, seed: int | None = None) -> Result:
    spec, p, _ = simulate_spec("preexisting-autoimmunity", patients, visits=False, seed=seed)
    p = flare_columns(p)
    ref = load("phenomena")["preexisting_autoimmune_disease_under_anti_pd1"]
    src, n = ref["source"], 52
    figs = [
        _prop("flare (grade >=2 irAE in the pre-existing organ)", p, "flare", ref["flare_needing_immunosuppression"],
              clopper_pearson(20, n), src, "exact 95% CI of 20/52"),
        _prop("other irAEs (grade >=1 in another organ)", p, "other_irae", ref["other_iraes"], clopper_pearson(15, n),
              src, "exact 95% CI of 15/52"),
        _prop("objective response rate", p, "responder", ref["orr"], clopper_pearson(17, n), src,
              "exact 95% CI of 17/52"),
        _prop("discontinued for a flare", p, "disc_flare", ref["discontinued_for_flare"], clopper_pearson(2, n), src,
              "exact 95% CI of 2/52"),
    ]
    for organ, (key, label) in _DISEASE.items():
        k, m = ref["by_disease"][key]
        sub = p[p["preexisting_ai"] == organ]
        if len(sub) == 0:
            continue
        figs.append(_prop(f"flare rate, {label} (organ {organ}; n={len(sub)})", sub, "flare", k / m,
                          clopper_pearson(k, m), src, f"exact 95% CI of {k}/{m}"))
    own, other = same_organ_contrast(p)
    obs = [{"name": "grade >=2 in organ X when the pre-existing disease is in X", "value": own, "note": "direction"},
           {"name": "grade >=2 in organ X when the pre-existing disease is elsewhere", "value": other,
            "note": "should be lower"}]
    for organ, cnt in p["preexisting_ai"].value_counts().items():
        obs.append({"name": f"patients with pre-existing {organ}", "value": float(cnt), "note": "population mix"})
    text = ("Anti-PD-1 (pembrolizumab 2 mg/kg every 3 weeks) in melanoma patients who all have a pre-existing "
            "autoimmune disease (preexisting_autoimmune_fraction = 1.0; the disease is drawn from the population "
            "module's mix). A flare is a grade >=2 irAE in the organ of the pre-existing disease (Menzies counted "
            "flares needing immunosuppression). Polymyalgia rheumatica and thyroid/liver disease have no separate "
            "published figure here. The pre-existing disease raises that organ's susceptibility in the shared "
            "population module (a covariate effect applied to every trial, not a scenario factor).")
    return Result("preexisting-autoimmunity", "Anti-PD-1 with pre-existing autoimmune disease", text, figs, obs,
                  [spec_text("preexisting-autoimmunity")], len(p))


# --------------------------------------------------------------------------------------------
# hyperprogression


def hpd_rate(d: pd.DataFrame) -> float:
    ev = d[d["hpd"].isin(["yes", "no"])]
    return float((ev["hpd"] == "yes").mean()) if len(ev) else float("nan")


def hyperprogression(patients: int | None = None, seed: int | None = None) -> Result:
    spec, p, _ = simulate_spec("hyperprogression", patients, visits=False, seed=seed)
    ref = load("phenomena")["hyperprogression"]
    fer, cha = ref["nsclc_pd1_pdl1"], ref["all_histologies"]
    old = p["age"] >= 65
    figs = []
    est, ci = bootstrap(p, hpd_rate, seed=3)
    from ..calibrate_cancers import installed_fits

    # fitted where the installed scales include the macrophages' susceptibility (model.macrophages), read on this spec
    figs.append(make_figure("HPD rate, NSCLC on anti-PD-1 (Ferrara definition)", est, ci, fer["value"],
                            clopper_pearson(56, 406), fer["source"], band_note="exact 95% CI of 56/406",
                            fitted="hpd_susceptibility" in installed_fits()))
    for label, mask, pub in (("age >= 65", old, cha["age_65_plus"]), ("age < 65", ~old, cha["younger"])):
        est, ci = bootstrap(p[mask], hpd_rate, seed=4)
        figs.append(make_figure(f"HPD rate, {label}", est, ci, pub, [max(pub - 0.08, 0.0), pub + 0.08], cha["source"],
                                band_note="±0.08: Champiat 2017 (n=131, all histologies, Champiat definition; age "
                                          "group sizes not in the reference file): about 2 SE for ~60 patients a "
                                          "group; the scenario uses Ferrara's definition"))
    med_sld = float(p["sld0_mm"].median())
    obs = [{"name": "evaluable for HPD", "value": float(p["hpd"].isin(["yes", "no"]).sum()), "note": ""},
           {"name": "HPD rate, baseline SLD above median", "value": hpd_rate(p[p["sld0_mm"] > med_sld]),
            "note": f"median {med_sld:.0f} mm"},
           {"name": "HPD rate, baseline SLD at or below median", "value": hpd_rate(p[p["sld0_mm"] <= med_sld]),
            "note": ""},
           {"name": "HPD rate, > 2 metastatic sites", "value": hpd_rate(p[p["n_met_sites"] > 2]),
            "note": "Ferrara 2018 reports HPD with more metastatic sites (figure not in the reference file)"},
           {"name": "HPD rate, <= 2 metastatic sites", "value": hpd_rate(p[p["n_met_sites"] <= 2]), "note": ""},
           ]
    # The untreated comparison: the same virtual patients (same seed, size and arm position), no drug. Calls that
    # also appear untreated come from natural acceleration and measurement noise, not from the drug.
    _, u, _ = simulate_spec("hyperprogression-untreated", patients, visits=False, seed=seed)
    both = p["hpd"].eq("yes").to_numpy() & u["hpd"].eq("yes").to_numpy()
    n_yes = int(p["hpd"].eq("yes").sum())
    obs += [{"name": "HPD rate, the same patients untreated", "value": hpd_rate(u),
             "note": "hyperprogression-untreated spec: no drug, same scans"},
            {"name": "share of anti-PD-1 HPD calls also called untreated", "value": float(both.sum() / n_yes)
             if n_yes else float("nan"), "note": f"{int(both.sum())} of {n_yes}"}]
    # Melanoma, where the macrophages' reach is 0 (cancers.FC_MACROPHAGE_SOURCE): hyperprogression by the AACR
    # definition that Schuiveling 2021 applied (its own spec and seed).
    _, m, _ = simulate_spec("hyperprogression-melanoma", patients, visits=False, seed=seed)
    sch = load("scenario_refs")["hpd_melanoma"]
    est, ci = bootstrap(m, hpd_rate, seed=9)
    figs.append(make_figure("HPD rate, melanoma on anti-PD-1 (AACR definition)", est, ci, sch["value"],
                            clopper_pearson(sch["k"], sch["n"]), sch["source"],
                            band_note=f"exact 95% CI of {sch['k']}/{sch['n']}; the Fc-macrophage mechanism is not "
                                      "applied in melanoma, so this is its check"))
    obs.append({"name": "melanoma: evaluable for HPD (AACR definition)", "value": float(m["hpd"].isin(["yes", "no"]).sum()),
                "note": "the others not evaluable, mostly a tumour not growing before treatment (the ratio is undefined)"})
    # The chemotherapy comparison: docetaxel in the same kind of patients (its own spec and seed).
    chemo_n = None if patients is None else patients
    _, c, _ = simulate_spec("chemotherapy-docetaxel", chemo_n, visits=False, seed=seed)
    est, ci = bootstrap(c, hpd_rate, seed=5)
    che = ref["nsclc_chemotherapy"]
    figs.append(make_figure("HPD rate, NSCLC on docetaxel (Ferrara definition)", est, ci, che["value"],
                            clopper_pearson(3, 59), che["source"],
                            band_note="exact 95% CI of 3/59 (Ferrara 2018's single-agent chemotherapy cohort)"))
    doc = load("scenario_refs")["docetaxel_nsclc_second_line"]
    c["resp"] = c["bor"].isin(["CR", "PR"])
    est, ci = bootstrap(c, lambda d: rate(d["resp"]), seed=6)
    figs.append(make_figure("docetaxel ORR", est, ci, doc["orr"], clopper_pearson(doc["k"], doc["n"]), doc["source"],
                            fitted=True, band_note=f"exact 95% CI of {doc['k']}/{doc['n']}; fitted (chemo_tumour_kill)"))
    est, ci = bootstrap(c, lambda d: median_or_nan(d["pfs_months"], d["pfs_event"]), seed=7)
    pub = doc["median_pfs_months"]
    figs.append(make_figure("docetaxel median PFS (months)", est, ci, pub, [0.8 * pub, 1.2 * pub], doc["source"],
                            band_note="±20% (the calibration issue's band for median PFS)"))
    neut = doc["neutropenia_grade3plus"]
    c["neut3"] = c["neutropenia_grade"] >= 3
    est, ci = bootstrap(c, lambda d: rate(d["neut3"]), seed=8)
    figs.append(make_figure("docetaxel grade >=3 neutropenia", est, ci, neut["value"],
                            [neut["value"] / 2, min(2 * neut["value"], 1.0)], neut["source"],
                            band_note="within a factor 2: trial adverse-event reporting of neutropenia is not "
                                      "scheduled counts (the model counts weekly ANC for 3 weeks after each dose)"))
    obs += [{"name": "docetaxel: HPD rate, age >= 65", "value": hpd_rate(c[c["age"] >= 65]), "note": ""},
            {"name": "docetaxel: median ANC nadir (1e9/L)", "value": float(np.nanmedian(c["anc_nadir"])),
             "note": "Friberg 2002 myelosuppression model"}]
    text = ("Pembrolizumab in previously treated NSCLC (all with prior platinum chemotherapy). Hyperprogression is "
            "computed from the observed target-lesion diameters at the pre-treatment scan, baseline and first "
            "evaluation by Ferrara's definition (RECIST progression and a tumour growth rate during treatment well "
            "above that before). Age acts through the shared population module (immunosenescence and PD-1+ Treg "
            "expansion rising with age). The chemotherapy comparison runs docetaxel 75 mg/m2 every 3 weeks "
            "(chemotherapy-docetaxel spec): population PK (Onoue 2016), the Friberg 2002 myelosuppression model, "
            "tumour kill with a sensitivity fitted to KEYNOTE-010's docetaxel ORR, and lymphodepletion; its "
            "hyperprogression rate, PFS and neutropenia are not fitted.")
    text += (" The drug's own cause: pembrolizumab's Fc (IgG4) engages Fc-gamma receptors of the tumour's macrophages, "
             "which take on a growth-promoting state and speed the tumour's growth in the minority of patients whose "
             "tumours hold many of them (model.macrophages; Lo Russo et al., Clin Cancer Res 2019;25:989). The "
             "patients' susceptibility is fitted to Ferrara's 13.8%, so that figure is fitted here; the mechanism is "
             "applied in NSCLC only (cancers.FC_MACROPHAGE_SOURCE). The same patients are also followed untreated "
             "(hyperprogression-untreated spec): many calls appear without the drug too (natural acceleration of fast "
             "growers and measurement noise), and the share also called untreated says how much of the rate the drug "
             "adds. Age and burden act on it only through the immune response (no age or burden term in the "
             "macrophages' susceptibility). Melanoma patients on pembrolizumab are read by the AACR definition Schuiveling 2021 "
             "applied (hyperprogression-melanoma spec): the mechanism is not applied there.")
    return Result("hyperprogression", "Hyperprogression under anti-PD-1 and under chemotherapy in NSCLC, and in melanoma",
                  text, figs,
                  obs, [spec_text("hyperprogression"), spec_text("hyperprogression-untreated"),
                        spec_text("hyperprogression-melanoma"), spec_text("chemotherapy-docetaxel")],
                  len(p) + len(u) + len(m) + len(c))


# --------------------------------------------------------------------------------------------
# paraneoplastic-thymoma


def visit_flags(p: pd.DataFrame, v: pd.DataFrame, organ: str) -> pd.DataFrame:
    w = worst_from_visits(v, organ)
    out = p.merge(w, on=["arm", "patient"], how="left")
    out[f"{organ}_worst_any"] = out[f"{organ}_worst_any"].fillna(0)
    return out


def paraneoplastic_thymoma(patients: int | None = None, seed: int | None = None) -> Result:
    spec, p, v = simulate_spec("paraneoplastic-thymoma", patients, visits=True, seed=seed)
    assert v is not None
    p = visit_flags(p, v, "neurologic")
    base = v[v["day"] <= 0].groupby(["arm", "patient"])["neurologic"].max().rename("neuro_base").reset_index()
    p = p.merge(base, on=["arm", "patient"], how="left")
    p["mg"] = p["neurologic_worst_any"] >= 2
    p["mg3"] = p["neurologic_worst_any"] >= 3
    p["mg_new_or_worse"] = p["neurologic_worst_any"] > p["neuro_base"].fillna(0)
    ref = load("phenomena")["paraneoplastic_myasthenia_in_thymoma"]
    lo, hi = ref["thymoma_with_mg"]
    none, pd1 = p[p["arm"] == "no drug"], p[p["arm"] == "pembrolizumab"]
    figs = [_prop("myasthenia (neurologic grade >=2 at any visit), thymoma, no drug", none, "mg", (lo + hi) / 2,
                  [lo, hi], ref["source"], "the published range 30-50% itself; fitted: shared_antigen_antibody "
                  "(its middle, 40%)", fitted=True)]
    if "subtype" in none:
        sub_ref = ref["by_who_subtype"]
        for st in ("A", "AB", "B1", "B2", "B3"):
            g = none[none["subtype"] == st]
            if len(g) and st in sub_ref:
                pub = float(sub_ref[st])
                figs.append(_prop(f"myasthenia by WHO subtype {st} (n={len(g)}), no drug", g, "mg", pub,
                                  [max(pub - 0.15, 0.0), min(pub + 0.15, 1.0)], ref["source"],
                                  "±0.15: review figures without denominators (marked verify; no peer-reviewed source found: see the note in phenomena.json)"))
    obs = []
    for col, label in (("mg", "myasthenia (grade >=2, any visit)"), ("mg3", "neurologic grade >=3, any visit"),
                       ("mg_new_or_worse", "neurologic worse than at baseline during follow-up")):
        obs.append({"name": f"{label}: no drug", "value": rate(none[col]), "note": ""})
        obs.append({"name": f"{label}: pembrolizumab", "value": rate(pd1[col]), "note": "same patients (twin design)"})
    obs.append({"name": "myasthenia at baseline (day <= 0), no drug", "value": rate(none["neuro_base"] >= 2), "note": ""})
    if "subtype" in none:
        lo_t = none[none["subtype"].isin(["A", "AB"])]
        hi_t = none[none["subtype"].isin(["B2", "B3"])]
        obs.append({"name": "myasthenia, WHO A/AB", "value": rate(lo_t["mg"]), "note": "no drug"})
        obs.append({"name": "myasthenia, WHO B2/B3", "value": rate(hi_t["mg"]), "note": "no drug; published higher"})
    text = ("Thymoma patients followed 24 months with no drug, and the same virtual patients (twin design) given "
            "pembrolizumab. Myasthenia gravis is the shared model's neurologic autoimmune process, driven by "
            "antigen shared between thymoma and the neuromuscular junction (the thymoma entry's cross-reactivity) "
            "through autoreactive T cells and autoantibodies; thymomas also export autoreactive T cells, taken as a "
            "3-fold neurologic susceptibility whatever the tumour's size (assumed), which PD-1 blockade releases. The "
            "WHO subtype is a covariate of the thymoma catalogue entry that scales the shared-antigen strength and "
            "that export by lymphocyte-richness (assumed, not fitted). "
            "The autoantibody response to shared antigen has one scale, fitted to the overall share with "
            "myasthenia (the middle of 30-50%); the subtype gradient and the effect of anti-PD-1 are not fitted. "
            "Paraneoplastic disease present at the first visit "
            "is counted (visits.parquet includes the pre-treatment visit); the trial outputs' irAE columns "
            "exclude it by design.")
    return Result("paraneoplastic-thymoma", "Paraneoplastic myasthenia in thymoma", text, figs, obs,
                  [spec_text("paraneoplastic-thymoma")], len(p))


def thymoma_direction(p_and_v: tuple[pd.DataFrame, pd.DataFrame]) -> dict[str, float]:
    """Rates of (grade >=2 any visit, grade >=3 any visit, worse than baseline) per arm."""
    p, v = p_and_v
    p = visit_flags(p, v, "neurologic")
    return {arm: float((g["neurologic_worst_any"] >= 2).mean()) for arm, g in p.groupby("arm")}


# --------------------------------------------------------------------------------------------
# leukemia-evasion


def _after_fludarabine(ref: dict, untreated: pd.DataFrame, patients: int | None,
                       seed: int | None) -> tuple[list[Figure], list[dict], pd.DataFrame]:
    """The untreated CLL patients given fludarabine (the same patients: one arm, same cancer, seed and size): response
    and autoimmune haemolytic anaemia against first-line fludarabine trials, and the same cytopenia untreated."""
    _, p, v = simulate_spec("leukemia-evasion-fludarabine", patients, visits=True, seed=seed)
    assert v is not None
    p = visit_flags(p, v, "hematologic")
    p["aic"] = p["hematologic_worst_any"] >= 2
    ok = p[p["status"] == "ok"].copy()
    ok["resp"] = ok["bor"].isin(["CR", "PR"])
    r_orr, r_aha = ref["fludarabine_orr"], ref["aha_after_fludarabine"]
    figs = [_prop("CLL after fludarabine: ORR (CR or PR)", ok, "resp", r_orr["value"], r_orr["range"],
                  r_orr["source"], "±10 points (see the source)", seed=31),
            _prop("CLL after fludarabine: autoimmune cytopenia (hematologic grade >=2 at any visit), 36 months", p,
                  "aic", r_aha["value"], r_aha["range"], r_aha["source"],
                  "exact 95% CI of about 21 of 194 (see the source)", seed=32)]
    paired = p[["patient", "aic"]].merge(untreated[["patient", "aic"]], on="patient", suffixes=("", "_untreated"))
    obs = [{"name": "CLL: autoimmune cytopenia after fludarabine minus untreated (the same patients)",
            "value": rate(paired["aic"]) - rate(paired["aic_untreated"]), "note": f"{len(paired)} patients in both; "
            "Treg loss against the shared antigen that tumour kill removes"},
           {"name": "CLL after fludarabine: complete response", "value": rate(ok["bor"] == "CR"),
            "note": "Eichhorst 2009: 7% (CLL5); read from the tumour burden, not iwCLL's marrow biopsy"},
           {"name": "CLL after fludarabine: neutropenia grade >=3", "value": rate(ok["neutropenia_grade"] >= 3),
            "note": "Friberg's model with fludarabine's assumed EC50"},
           {"name": "CLL after fludarabine: irAE of grade >=2 in another organ",
            "value": rate((ok[[c for c in ok.columns if c.startswith("irae_") and c.endswith("_grade")
                               and c != "irae_hematologic_grade"]] >= 2).any(axis=1)),
            "note": "the Treg loss reaches every organ's tolerance"}]
    return figs, obs, p


def leukemia_evasion(patients: int | None = None, seed: int | None = None) -> Result:
    ref = leukemia_reference()
    figs, obs = [], []
    n_all = 0
    specs = []
    for name in ("leukemia-evasion", "leukemia-evasion-aml"):
        n = None if patients is None else (patients if name == "leukemia-evasion" else max(patients // 2, 10))
        spec, p, v = simulate_spec(name, n, visits=True, seed=seed)
        assert v is not None
        n_all += len(p)
        specs.append(spec_text(name))
        p = visit_flags(p, v, "hematologic")
        p["aic"] = p["hematologic_worst_any"] >= 2
        label = spec.population.cancer.upper()
        if spec.population.cancer == "cll":
            p_cll = p
            r = ref["cll_autoimmune_cytopenia"]
            figs.append(_prop("CLL: autoimmune cytopenia (hematologic grade >=2 at any visit), 36 months untreated",
                              p, "aic", r["value"], r["range"], r["source"],
                              "the 5-10% range of Hodgson 2011 (Moreno 2010: 7% of 960); fitted: the antigen CLL shares "
                              "with blood cells is set to give 7% (calibrate_cancers --cross cll)", fitted=True))
        else:
            obs.append({"name": f"{label}: autoimmune cytopenia (hematologic grade >=2)", "value": rate(p["aic"]),
                        "note": "no published figure used"})
        ok = p[p["status"] == "ok"]
        obs += [
            {"name": f"{label}: progressed by 12 months (untreated)", "value": rate((ok["pfs_months"] <= 12)
                                                                                  & ok["pfs_event"]), "note": ""},
            {"name": f"{label}: best response CR/PR without treatment (spontaneous immune control)",
             "value": rate(ok["bor"].isin(["CR", "PR"])), "note": "immune escape: expected near 0"},
            {"name": f"{label}: died of tumour within follow-up", "value": rate(ok["death_cause"] == "tumour"),
             "note": ""},
            {"name": f"{label}: neutropenia grade >=3 without treatment (marrow crowding)",
             "value": rate(ok["neutropenia_grade"] >= 3),
             "note": f"the leukaemia's marrow share {CANCERS[spec.population.cancer].marrow_share:g} "
                     "(cancers.MARROW_SOURCE) displaces normal progenitors and lymphopoiesis (model.marrow)"},
            {"name": f"{label}: catalogue immunogenicity scale (melanoma = 1)",
             "value": float(CANCERS[spec.population.cancer].immunogenicity),
             "note": "low antigenicity: the escape mechanism modelled"},
        ]
    f_figs, f_obs, p_flu = _after_fludarabine(ref, p_cll, patients, seed)
    figs += f_figs
    obs += f_obs
    n_all += len(p_flu)
    specs.append(spec_text("leukemia-evasion-fludarabine"))
    text = ("Untreated CLL (watch and wait) and AML followed 36 months. Leukaemia escapes because it is barely "
            "recognised: the catalogue gives both very low immunogenicity and mutational burden, so immune "
            "killing stays below growth. A secondary autoimmune cytopenia arises when antigen shared between "
            "CLL cells and blood cells (the CLL entry's cross-reactivity with the hematologic organ, fitted to "
            "Moreno 2010's 7%) primes autoreactive T cells and drives autoantibodies; it is counted from visits "
            "(grade >=2 at any visit). The same CLL patients are also given fludarabine (25 mg/m2 on days 1-5 every "
            "28 days, 6 courses): a cytotoxic that, as a purine analogue, also lowers regulatory T cells (Beyer 2005; "
            "model.tregs), which every organ's tolerance reads; their response and autoimmune haemolytic anaemia are "
            "read against first-line fludarabine trials (Eichhorst 2009, Leporrier 2001, Dearden 2008). The share of a "
            "leukaemia's burden that lives in the marrow (AML all of it, CLL half: assumed) crowds out normal "
            "progenitors, so neutrophils fall as it grows, and the supply of new T cells that priming draws on "
            "(model.marrow); the marrow capacity is an assumed order of magnitude and no published cytopenia rate is "
            "compared. Leukaemic burden is represented by the shared tumour compartment (a 'sum of diameters' "
            "stand-in), which is a weak proxy.")
    return Result("leukemia-evasion", "Leukaemia: immune escape and autoimmune cytopenia", text, figs, obs, specs, n_all)
