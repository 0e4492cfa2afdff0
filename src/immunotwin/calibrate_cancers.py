"""Fit each cancer's immunogenicity scale to one published anti-PD-1 response rate, and the
tumour sensitivity to cytotoxic chemotherapy to one published chemotherapy response rate.

The cancer catalogue's immunogenicity scales (melanoma = 1) started hand-set. This fits the
scale of each listed cancer so that its shipped scenario spec (``scenarios/*.toml``: the trial's
own regimen, population and imaging) reproduces the trial's objective response rate, by
bisection on log(scale) with common random numbers (the same virtual patients at every
evaluation; ORR rises with immunogenicity). The result is written to
``data/cancer_fit.json`` with its provenance and read by :mod:`immunotwin.cancers`.

The chemotherapy sensitivity ``chemo_tumour_kill`` (:mod:`immunotwin.model.tumour`) is fitted
the same way to the docetaxel arm of KEYNOTE-010 (scenario spec ``chemotherapy-docetaxel``) and
stored under ``params``; :mod:`immunotwin.model.core` applies it. So are the scales of the other
non-checkpoint mechanisms, one published figure each (``PARAM_TARGETS``): CAR T killing to
ZUMA-1's ORR, the CRS and neurotoxicity drives to ZUMA-1's any-grade rates, IL-2-activated NK
killing to Atkins 1999's ORR, antibody-dependent killing to McLaughlin 1998's ORR, the vaccine's
potency to Hodi 2010's gp100-alone ORR, interferon's antigen presentation to its metastatic
melanoma ORR, BCG's innate activation to Lamm 1991's complete responses, and the autoantibody
response to shared tumour antigen to the share of thymoma patients with myasthenia (30-50%: its middle), and the
serum level at which anti-CD20 stops clearing normal B cells to the start of their recovery 6 months after rituximab,
and the loss of CAR T cells' post-lymphodepletion support to the return of B cells a year after axicabtagene. Organ by
organ, how much tolerance rests on PD-1 (skin, gut: Weber 2017's pooled nivolumab rash and diarrhoea; thyroid: Osorio
2017's share of KEYNOTE-001 NSCLC patients needing thyroid hormone) and on CTLA-4 (gut: MDX010-20's ipilimumab arms;
liver: Tarhini 2013's pooled ipilimumab analysis) can be fitted to that organ's incidence under the one checkpoint, in
trials other than CheckMate 067, when named (``WEIGHTS_OPT_IN``: not installed; :mod:`immunotwin.calibrate_organs` fits
the skin's, gut's, liver's and thyroid's margins and weights to CheckMate 067's own safety table by arm instead, tried at
stop 56 and not installed either, and a weight named here would overwrite that fit); how hard skin, gut and liver are
injured is fitted to how often their events under ipilimumab reach grade >= 3. Three organ values can be fitted when
named (``ORGAN_OPT_IN``, not installed): the pituitary's CTLA-4 weight to hypophysitis in a meta-analysis of ipilimumab
trials (de Filette 2019, read on MDX010-20's arms), the lung's tolerance margin to pneumonitis under a PD-1 inhibitor
alone in melanoma and how hard the lung is injured to the share of those events reaching grade 3-4 (Nishino 2016's
melanoma subgroup). What stays unfitted: complete
responses, CheckMate 067's organ rows (its grade >= 3 rows even where the organ fit is installed), onsets, survival,
and the other cancers.

Each fitted ORR is then a *fitted* figure (``cancers-compared`` says so); what stays unfitted is
the rest: response by PD-L1 score within a cancer, irAE rates, the ordering of other trials.

    python -m immunotwin.calibrate_cancers [--patients 300] [--seed 11] [--warm [--tol T]]

``--warm`` is for a refit after a model change: each fit starts at the value the output file holds
and stops within ``--tol`` of its target (default one virtual patient's share), see :func:`bisect`.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import shlex
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

import numpy as np

from .model.organs import INDEX, IRAES

#: Organs whose damage rate is fitted to how often their irAEs under ipilimumab reach grade >= 3.
SEVERITY_ORGANS = ("dermatitis", "colitis", "hepatitis")
#: Organs whose dependence on PD-1 is fitted to their any-grade incidence under nivolumab (Weber 2017's pooled rows).
PD_INCIDENCE_ORGANS = ("dermatitis", "colitis")
#: cancer -> (scenario spec, key of the published ORR in data/scenario_refs.json, arm or "" for all)
TARGETS: dict[str, tuple[str, str, str]] = {
    "nsclc": ("cancers-compared-nsclc", "nsclc_all", ""),
    "rcc": ("cancers-compared-rcc", "rcc", ""),
    "hodgkin": ("cancers-compared-hodgkin", "hodgkin", ""),
    "crc_msih": ("cancers-compared-crc-msih", "crc_msih", ""),
    "follicular": ("monoclonal-antibodies", "nivolumab_follicular", "nivolumab"),
}
#: model parameter -> (scenario spec, reference file, path to the published figure, metric, bracket).
#: Metrics: ``orr`` (best response CR or PR), ``cr`` (complete response), ``crs_any`` / ``icans_any``
#: (share with any grade), ``b_cells_6m`` (median B cells 6 months after the last rituximab dose),
#: ``b_cells_1y_remission`` (share of patients in remission at 1 year whose B cells are back),
#: ``in_response_15m`` (share of all patients who ran in response at 15.4 months), ``median_pfs`` (Kaplan-Meier,
#: months), ``vitiligo`` (share with
#: vitiligo seen by Hua 2016's median follow-up) and, from the
#: visits, ``myasthenia``.
#: Each must rise with the parameter.
PARAM_TARGETS: dict[str, tuple[str, str, tuple[str, ...], str, tuple[float, float]]] = {
    "chemo_tumour_kill": ("chemotherapy-docetaxel", "scenario_refs", ("docetaxel_nsclc_second_line", "orr"), "orr",
                          (0.005, 5.0)),
    # BRAF + MEK inhibition (model.tumour): its kill to COMBI-d's dabrafenib + trametinib ORR, how long the
    # killing persists on treatment to that arm's median PFS (the ORR first: a response is seen by week 8 to 16), and
    # the size of the pre-existing MAPK-resistant subclone to the share progressed by 3 years (1 - 3-year PFS). The
    # three pull on each other's metrics; fit them together: python -m immunotwin.calibrate_joint --params
    # mapk_kill,mapk_persistence,mapk_resistant_fraction (one at a time here, two passes wandered off: stop 50).
    "mapk_kill": ("targeted-therapy", "scenario_refs", ("combi_d", "combination", "orr"), "orr", (0.002, 2.0)),
    "mapk_persistence": ("targeted-therapy", "scenario_refs", ("combi_d", "combination", "median_pfs_months"),
                         "median_pfs", (5.0, 5000.0)),
    "mapk_resistant_fraction": ("targeted-therapy", "scenario_refs", ("combi_d", "combination", "pfs_36_months"),
                                "progressed_36m", (1e-7, 0.3)),
    "car_kill": ("car-t-crs", "phenomena", ("car_t", "zuma1_axicabtagene", "orr"), "orr", (0.05, 20.0)),
    # How much CAR T killing the immune-resistant clone still meets (model.celltherapy), fitted to the share of ZUMA-1's
    # patients still in response at its median follow-up of 15.4 months: escape sets how long responses last
    "car_resistant_kill": ("car-t-crs", "scenario_refs", ("zuma1_durability", "in_response_15m"), "in_response_15m",
                           (0.001, 0.5)),
    "crs_drive": ("car-t-crs", "phenomena", ("car_t", "zuma1_axicabtagene", "crs_any"), "crs_any", (0.3, 100.0)),
    "icans_drive": ("car-t-crs", "phenomena", ("car_t", "zuma1_axicabtagene", "neuro_any"), "icans_any",
                    (0.02, 10.0)),
    # How strongly the thyroid's tolerance gives way to cytokines (model.tolerance, cytokine_organ_weight), fitted to
    # thyroid dysfunction under high-dose IL-2 (Krouse 1995); then interferon's drive on autoreactive pools, fitted to
    # autoimmunity during interferon (Gogas 2006). Both before the response scales, which their holds can move.
    "cytokine_organ_weight.thyroiditis": ("high-dose-il2", "scenario_refs", ("il2_thyroid", "dysfunction"),
                                          "incidence.thyroiditis", (1.0, 200.0)),
    "ifn_autoreactive": ("interferon-melanoma", "scenario_refs", ("interferon_autoimmunity", "rate"), "any_irae",
                         (1e-3, 10.0)),
    # How much of the rise in T-cell killing melanocytes meet (model.tolerance, vitiligo), fitted to the share of
    # melanoma patients on anti-PD-1 screened for vitiligo who developed it (Hua 2016, read at its median follow-up);
    # vitiligo feeds back on nothing, so it can be fitted in any order.
    "vitiligo_rate": ("melanoma-vitiligo", "scenario_refs", ("vitiligo_pembrolizumab", "incidence"), "vitiligo",
                      (1e-3, 3.0)),
    "nk_kill": ("high-dose-il2", "phenomena", ("high_dose_il2", "melanoma", "orr"), "orr", (0.005, 5.0)),
    "adcc_kill": ("monoclonal-antibodies", "scenario_refs", ("rituximab_follicular", "orr"), "orr", (0.005, 5.0)),
    "vaccine_potency": ("cancer-vaccine", "scenario_refs", ("hodi2010", "orr", "gp100"), "orr", (0.002, 2.0)),
    "bcg_innate": ("bcg-bladder", "scenario_refs", ("bcg_cis", "cr"), "cr", (0.01, 30.0)),
    "ifn_presentation": ("interferon-melanoma", "scenario_refs", ("interferon_metastatic_melanoma", "orr"), "orr",
                         (0.01, 30.0)),
    "car_support_decay": ("car-t-crs", "scenario_refs", ("axicel_b_cells_1y", "value"), "b_cells_1y_remission",
                          (0.0002, 0.2)),
    "b_cell_depletion_ec50": ("monoclonal-antibodies", "scenario_refs", ("b_cell_recovery", "recovery_begins_fraction"),
                              "b_cells_6m", (0.1, 1000.0)),
    "shared_antigen_antibody": ("paraneoplastic-thymoma", "phenomena",
                                ("paraneoplastic_myasthenia_in_thymoma", "thymoma_with_mg"), "myasthenia",
                                (1e-4, 1.0)),
    # The heart: its tolerance margin fitted to how often myocarditis is diagnosed on a single checkpoint inhibitor and
    # its dependence on CTLA-4 to how often on nivolumab + ipilimumab, both from one claims cohort (Lindsay 2025) read
    # over its mean follow-up (scenario spec checkpoint-myocarditis; rare events, hence PARAM_PATIENTS). The margin
    # first: the anti-PD-1 arm does not see the CTLA-4 weight, and the combination sees both.
    "tolerance_margin.myocarditis": ("checkpoint-myocarditis", "scenario_refs", ("myocarditis_claims", "monotherapy"),
                                     "incidence.myocarditis", (0.05, 1.0)),
    "weight_ctla4.myocarditis": ("checkpoint-myocarditis", "scenario_refs", ("myocarditis_claims", "combination"),
                                 "incidence.myocarditis", (0.002, 2.0)),
    # One organ's dependence of tolerance on PD-1 or on CTLA-4, fitted to how often that organ's immune-related events
    # occur under one checkpoint antibody in a trial other than CheckMate 067 (scenario_refs
    # "checkpoint_organ_incidence"); fitted before the damage rates, which set how severe the events run.
    **{f"weight_pd.{organ}": ("melanoma-vitiligo", "scenario_refs", ("checkpoint_organ_incidence", "nivolumab_pooled",
                                                                     organ), f"reported.{organ}", (0.02, 20.0))
       for organ in PD_INCIDENCE_ORGANS},
    "weight_pd.thyroiditis": ("cancers-compared-nsclc", "scenario_refs",
                              ("checkpoint_organ_incidence", "pembrolizumab_thyroid", "needing_replacement"),
                              "hypothyroid_replacement", (0.02, 20.0)),
    "weight_ctla4.colitis": ("cancer-vaccine", "scenario_refs", ("checkpoint_organ_incidence", "ipilimumab_mdx010_20",
                                                                 "colitis"), "incidence.colitis", (0.02, 20.0)),
    "weight_ctla4.hepatitis": ("cancer-vaccine", "scenario_refs",
                               ("checkpoint_organ_incidence", "ipilimumab_pooled_hepatic", "hepatitis"),
                               "incidence.hepatitis", (0.002, 20.0)),
    # The pituitary's dependence on CTLA-4 (it expresses CTLA-4: Iwama et al., Sci Transl Med 2014;6:230ra45), fitted
    # to hypophysitis in 5.6% of ipilimumab-treated patients (de Filette et al., Horm Metab Res 2019;51:145, a
    # meta-analysis over doses and settings), read as a table counts it on MDX010-20's two 3 mg/kg ipilimumab arms.
    # The hand-set 1.2 gives 18% of CheckMate 067's ipilimumab arm (stop 66). Fitted only when named (ORGAN_OPT_IN).
    "weight_ctla4.hypophysitis": ("cancer-vaccine", "scenario_refs", ("hypophysitis_ipilimumab", "value"),
                                  "reported.hypophysitis", (0.02, 20.0)),
    # One organ's element of an organ vector ("name.organ"): how hard an activated autoreactive pool injures the
    # tissue, fitted to how often that organ's immune-related events under ipilimumab reach grade >= 3 once they occur
    # (MDX010-20's two ipilimumab arms; Eggermont 2016 for the liver): scenario_refs "ipilimumab_organ_severity".
    **{f"damage_rate.{organ}": ("cancer-vaccine", "scenario_refs", ("ipilimumab_organ_severity", organ, "severity"),
                                f"severity.{organ}", (0.002, 2.0))
       for organ in SEVERITY_ORGANS},
    # The lung's tolerance margin, fitted to how often pneumonitis comes under a PD-1 inhibitor alone in melanoma (1.6%:
    # Nishino et al., JAMA Oncol 2016;2:1607, its melanoma subgroup), read as a table counts it on the nivolumab arm of
    # the melanoma-vitiligo spec (4,000 patients: some 64 events). The hand-set 0.35 gave 6.9% in CheckMate 067's
    # nivolumab arm, and the same rate in NSCLC, where the meta-analysis's is 4.1% (stop 68). Fitted with the lung's
    # risk factors in place (calibrate_lung) and installed at stop 69. The margin before the damage rate, which reads
    # how severe those events run. Fitted only when named (ORGAN_OPT_IN).
    "tolerance_margin.pneumonitis": ("melanoma-vitiligo", "scenario_refs",
                                     ("pneumonitis_pd1", "by_group", "melanoma_pd1", "any_grade"),
                                     "reported.pneumonitis", (0.05, 1.0)),
    # How hard an activated pool injures the lung, fitted to the share of pneumonitis under a PD-1 inhibitor alone that
    # reaches grade 3-4 in melanoma (0.2% of 1.6%: Nishino et al., JAMA Oncol 2016;2:1607, its melanoma subgroup), read
    # on the nivolumab arm of the melanoma-vitiligo spec (2,000 patients: some 140 with pneumonitis). The hand-set
    # 0.2/day puts half of CheckMate 067's nivolumab pneumonitis at grade >= 3 (stop 67). Until stop 68 it read the
    # pooled trials' share (0.8 of 2.7), which mixes NSCLC's (1.8 of 4.1). Fitted only when named (ORGAN_OPT_IN).
    "damage_rate.pneumonitis": ("melanoma-vitiligo", "scenario_refs",
                                ("pneumonitis_pd1", "by_group", "melanoma_pd1", "severity"), "severity.pneumonitis",
                                (0.002, 2.0)),
    # The share of killed tumour left as a fibrotic scar CT keeps measuring (model.tumour), fitted to the share of
    # patients never reaching a complete response in five years of nivolumab-containing first-line therapy (pooled
    # CheckMate 066/067/069), read on CheckMate 067's own spec (examples/checkmate067.toml, 60 months) over its two
    # nivolumab-containing arms. It changes what CT shows, not the disease.
    "scar_fraction": ("checkmate067", "scenario_refs", ("complete_response_long_term", "pooled_5y", "not_cr"), "not_cr",
                      (1e-6, 0.3)),
    # How much faster tumours grow once their macrophages are reprogrammed by an anti-PD-1's Fc (model.macrophages),
    # the median of the patients' susceptibility: fitted to the share of pretreated NSCLC patients hyperprogressing
    # on anti-PD-(L)1 by Ferrara's definition (Ferrara 2018, 56 of 406), read on the hyperprogression spec's
    # pembrolizumab arm. Last: the other fits do not read hyperprogression. NSCLC's ORR (TARGETS, read on pembrolizumab)
    # and this one read each other, so after either moves both are refitted until neither leaves its tolerance
    # (``--warm --cancers nsclc --cross '' --params hpd_susceptibility``, repeated).
    "hpd_susceptibility": ("hyperprogression", "phenomena", ("hyperprogression", "nsclc_pd1_pdl1", "value"), "hpd",
                           (1e-4, 2.0)),
}
#: The organs' checkpoint weights are fitted only when named in ``--params``. Stop 24 fitted them (Weber 2017, Osorio
#: 2017, MDX010-20, Tarhini 2013), recalibrated and refitted everything on them, and did not install the result
#: (docs/credibility-history.md, "Organ checkpoint weights fitted to incidence: tried, not installed"): each weight meets one
#: checkpoint, and in the combination the gut's two weights multiply, giving CheckMate 067's combination arm 72% gut
#: irAEs (published 44%) and 3.6% fatal irAEs. The organ's tolerance margin, which sets how the two combine, needs a
#: combination figure from another trial first.
#: The heart's CTLA-4 weight is the exception: it is fitted to a combination figure itself (Lindsay 2025).
WEIGHTS_OPT_IN = tuple(k for k in PARAM_TARGETS if k.startswith("weight_")
                       and k not in ("weight_ctla4.myocarditis", "weight_ctla4.hypophysitis"))
#: Organ values fitted to published figures outside CheckMate 067 only when named: stop 67 fitted the pituitary's
#: weight and the lung's damage rate, refitted the calibration and every scale on them (calibration iteration 17
#: candidate, docs/experiments/stop67-iteration17: held out 16.26 against 15.87) and did not install them (two slow
#: tests failed; withdrawn at stop 68). The lung's margin (stop 68) sets melanoma's rate; fitted alone it moved NSCLC's
#: rate with it (docs/experiments/stop68-pneumonitis). Stop 69 gave the lung its patients' risk factors (smoking,
#: thoracic radiotherapy: calibrate_lung), refitted the margin with them and installed it (data/cancer_fit.json;
#: docs/experiments/stop69-lung-risk); after a change to the lung's factors it is refitted by naming it.
ORGAN_OPT_IN = ("weight_ctla4.hypophysitis", "tolerance_margin.pneumonitis", "damage_rate.pneumonitis")
#: Fitted together by ``immunotwin.calibrate_joint`` (they read one arm and pull on each other's metrics); fitted one at a
#: time here only when named.
JOINT = ("mapk_kill", "mapk_persistence", "mapk_resistant_fraction")
DEFAULT_PARAMS = tuple(k for k in PARAM_TARGETS if k not in WEIGHTS_OPT_IN and k not in JOINT and k not in ORGAN_OPT_IN)
#: cancer -> (scenario spec, organ, reference file, path to the published share, visit metric, bracket): how much
#: of the cancer's antigen an organ shares (the catalogue's ``cross``), fitted to the share of untreated patients
#: with that organ's autoimmune disease (CLL: autoimmune cytopenia, Moreno 2010). It must rise with the value.
CROSS_TARGETS: dict[str, tuple[str, str, str, tuple[str, ...], str, tuple[float, float]]] = {
    "cll": ("leukemia-evasion", "hematologic", "leukemia", ("cll_autoimmune_cytopenia", "value"), "cytopenia",
            (0.05, 500.0)),
}
#: Fits read one arm of a multi-arm spec (default: every arm; rituximab's spec has a nivolumab arm).
PARAM_ARMS: dict[str, str | tuple[str, ...]] = {
    "adcc_kill": "rituximab", "b_cell_depletion_ec50": "rituximab", "vaccine_potency": "gp100",
    "mapk_kill": "dabrafenib + trametinib", "mapk_persistence": "dabrafenib + trametinib",
    "mapk_resistant_fraction": "dabrafenib + trametinib",
    "shared_antigen_antibody": "no drug", "scar_fraction": ("nivolumab + ipilimumab", "nivolumab"),
    "hpd_susceptibility": "pembrolizumab",
    **{f"damage_rate.{organ}": ("ipilimumab", "ipilimumab + gp100") for organ in SEVERITY_ORGANS},
    **{k: ("ipilimumab", "ipilimumab + gp100") for k in PARAM_TARGETS if k.startswith("weight_ctla4.")},
    "tolerance_margin.myocarditis": "nivolumab", "weight_ctla4.myocarditis": "nivolumab + ipilimumab"}
#: Cancers whose ORR is fitted on more virtual patients than ``--patients``. NSCLC's target is low (19.4%), so at 300
#: patients its sampling error (2.3 points) showed at the scenario's own seed and size: the fitted figure read 15.5% and
#: 15.0% there (stops 54, 55; band from 16.0%) where the fit read 19.3%; at 1,000 patients the fitted scale read 17.2%,
#: 18.6% and 14.8% at seeds 11, 12 and 3002. At 2,000 the fit's own error is 0.9 points.
CANCER_PATIENTS: dict[str, int] = {"nsclc": 2000}
#: Fits of rare events, read on more virtual patients per arm than ``--patients`` (a few per thousand: at 10,000 per
#: arm a target of 0.24% is about 24 patients, and one patient's share, the warm refit's tolerance, 0.01 points).
PARAM_PATIENTS: dict[str, int] = {"tolerance_margin.myocarditis": 10000, "weight_ctla4.myocarditis": 10000,
                                  # hypophysitis near 5.6%: sampling error 0.7 points at 1,000 per arm (two arms)
                                  "weight_ctla4.hypophysitis": 1000,
                                  # some 140 patients with pneumonitis at 2,000 (7%): the severity share's error 0.04
                                  "damage_rate.pneumonitis": 2000,
                                  # 1.6%: some 64 events at 4,000, a sampling error of 0.2 points
                                  "tolerance_margin.pneumonitis": 4000,
                                  # the HPD rate near 14% has a sampling error of 1.4 points at 600 (the spec's
                                  # size), where the fit's trace was not monotone (stop 55: 13.4% at 0.0418, 13.2%
                                  # at 0.0449); 0.8 points at 2,000
                                  "hpd_susceptibility": 2000,
                                  # IL-2's thyroid dysfunction rises steeply with the weight, so 300 patients' sampling
                                  # error shows at the scenario's own seed (stop 47: fitted at 1,000 since; stop 54: a
                                  # warm refit at 300 read 0.41 at seed 11 and 0.4875 at the scenario's 400)
                                  "cytokine_organ_weight.thyroiditis": 1000}
METRICS = {
    "orr": lambda p: float(p["bor"].isin(["CR", "PR"]).mean()),
    "cr": lambda p: float((p["bor"] == "CR").mean()),
    "not_cr": lambda p: float((p["bor"] != "CR").mean()),
    # Hyperprogression by the spec's definition among patients it can be judged in (scenarios.trials.hpd_rate)
    "hpd": lambda p: _hpd_rate(p),
    "any_irae": lambda p: float((p.loc[p["status"] == "ok", "any_irae_grade"].fillna(0) >= 1).mean()),
    # Thyroid hormone started: hypothyroidism of grade >= 2 (clinic.policy), not the thyrotoxic phase.
    "hypothyroid_replacement": lambda p: float((p.loc[p["status"] == "ok", "hypothyroidism_grade"].fillna(0)
                                                >= 2).mean()),
    "vitiligo": lambda p: vitiligo_by(p, VITILIGO_READ_DAYS),
    "crs_any": lambda p: float((p["crs_grade"] >= 1).mean()),
    "icans_any": lambda p: float((p["icans_grade"] >= 1).mean()),
    "b_cells_6m": lambda p: float(p.loc[p["status"] == "ok", f"b_cells_day{RTX_6M_DAY}"].median()),
    "b_cells_1y_remission": lambda p: _b_cells_in_remission(p),
    "in_response_15m": lambda p: _in_response(p, 15.4),
    "median_pfs": lambda p: _median_pfs(p),
    "progressed_36m": lambda p: 1.0 - _pfs_at(p, 36.0),
    **{f"severity.{organ}": (lambda p, o=organ: organ_severity(p, o)) for organ in IRAES},
    **{f"incidence.{organ}": (lambda p, o=organ: organ_incidence(p, o)) for organ in IRAES},
    **{f"grade2.{organ}": (lambda p, o=organ: organ_incidence(p, o, 2)) for organ in IRAES},
    # as a table of treatment-related events counts them: in the reporting window, with the reports without an immune
    # cause (Weber 2017's pooled nivolumab rows, which the PD-1 weights' opt-in fit targets)
    **{f"reported.{organ}": (lambda p, o=organ: organ_reported(p, o)) for organ in IRAES},
}


#: Hua et al. 2016's median follow-up (days): vitiligo incidence is read as a crude share by then.
VITILIGO_READ_DAYS = 441.0


def vitiligo_by(p, days: float) -> float:  # type: ignore[no-untyped-def]
    """Of the patients who ran, the share in whom vitiligo was first seen by ``days`` (crude: deaths are not censored)."""
    ok = p[p["status"] == "ok"]
    return float((ok["vitiligo_onset_weeks"] * 7.0 <= days).mean()) if len(ok) else float("nan")


def installed_fits() -> set[str]:
    """Names of the parameters (``name`` or ``name.organ``) whose fitted values the package ships
    (``data/cancer_fit.json``, ``params``; applied by :mod:`immunotwin.model.core`)."""
    return set(installed_fit_specs())


def installed_fit_specs() -> dict[str, str]:
    """Each shipped fit (``name`` or ``name.organ``) -> the spec whose figure it was fitted to (the organs' margins and
    weights fitted to CheckMate 067's safety table, :mod:`immunotwin.calibrate_organs`, carry ``checkmate067``, as the
    scar fraction does): a figure is fitted only where the installed fit read that figure, not another trial's figure
    for the same parameter."""
    f = resources.files("immunotwin.data").joinpath("cancer_fit.json")
    params = json.loads(f.read_text()).get("params", {}) if f.is_file() else {}
    return {k: str(v.get("spec", "")) for k, v in params.items()}


def _worst_grades(p, organ: str) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Each patient who ran: the worst grade of ``organ``'s irAE (0 without one)."""
    return p.loc[p["status"] == "ok", f"irae_{organ}_grade"].fillna(0).to_numpy()


def organ_severity(p, organ: str) -> float:  # type: ignore[no-untyped-def]
    """Of the patients who ran and had an ``organ`` irAE of any grade, the share whose worst grade was >= 3."""
    g = _worst_grades(p, organ)
    return float((g >= 3).sum() / (g >= 1).sum()) if (g >= 1).any() else float("nan")


def organ_incidence(p, organ: str, grade: int = 1) -> float:  # type: ignore[no-untyped-def]
    """Of the patients who ran, the share whose worst ``organ`` irAE reached ``grade`` (default: any grade)."""
    g = _worst_grades(p, organ)
    return float((g >= grade).mean()) if len(g) else float("nan")


def organ_reported(p, organ: str) -> float:  # type: ignore[no-untyped-def]
    """Of the patients who ran, the share with ``organ``'s event of any grade as a table of treatment-related events
    counts it (:func:`immunotwin.clinic.outcomes.reported_column`: first seen in the reporting window, with the
    diarrhoea and rash reported without an immune cause)."""
    from .clinic.outcomes import reported_column

    g = p[p["status"] == "ok"]
    return float((reported_column(g, f"irae_{organ}_grade") >= 1).mean()) if len(g) else float("nan")


def with_value(params: tuple, key: str, value: float) -> tuple:  # type: ignore[type-arg]
    """``params`` with the default of ``key`` replaced: a parameter's name, or ``name.organ`` for one organ's
    element of a per-organ parameter."""
    name, _, organ = key.partition(".")
    if organ and organ not in INDEX:
        raise ValueError(f"{key}: unknown organ {organ!r}")

    def new(prm):  # type: ignore[no-untyped-def]
        if not organ:
            return dataclasses.replace(prm, default=float(value))
        if not prm.is_vector:
            raise ValueError(f"{key}: {name} is not a per-organ parameter")
        vec = list(prm.default)
        vec[INDEX[organ]] = float(value)
        return dataclasses.replace(prm, default=tuple(vec))

    if name not in {prm.name for prm in params}:
        raise ValueError(f"{key}: no parameter {name!r}")
    return tuple(new(prm) if prm.name == name else prm for prm in params)


@contextmanager
def model_values(values: Mapping[str, float]) -> Iterator[None]:
    """Within the block the model's parameters ``values`` (names, or ``name.organ``: :func:`with_value`) have these
    defaults, so every patient simulated then sees them; the installed parameters are restored afterwards."""
    from .model import core

    original = core.PARAMS
    params = original
    for name, value in values.items():
        params = with_value(params, name, value)
    core.PARAMS = params
    try:
        yield
    finally:
        core.PARAMS = original


def _b_cells_in_remission(p) -> float:  # type: ignore[no-untyped-def]
    """As the car-t-crs scenario reads it (:func:`immunotwin.scenarios.biologics.b_cells_back`)."""
    from .scenarios.biologics import b_cells_back

    return b_cells_back(p[p["status"] == "ok"], 12.0)


def _hpd_rate(p) -> float:  # type: ignore[no-untyped-def]
    from .scenarios.trials import hpd_rate

    return hpd_rate(p)


def _median_pfs(p) -> float:  # type: ignore[no-untyped-def]
    """Kaplan-Meier median PFS (months) of the patients who ran; the follow-up's end when not reached (so the metric
    still rises with a parameter that lengthens PFS)."""
    from .survival import km_median

    ok = p[p["status"] == "ok"]
    m = km_median(ok["pfs_months"].to_numpy(float), ok["pfs_event"].to_numpy(bool))
    return float(ok["pfs_months"].max()) if m is None else float(m)


def _pfs_at(p, months: float) -> float:  # type: ignore[no-untyped-def]
    """Kaplan-Meier PFS at ``months`` of the patients who ran."""
    from .survival import km_rate

    ok = p[p["status"] == "ok"]
    return km_rate(ok["pfs_months"].to_numpy(float), ok["pfs_event"].to_numpy(bool), months)


#: A warm refit's tolerance for metrics read on a coarse grid: median PFS falls on the scan days (8 weeks apart in
#: COMBI-d's first year, about 1.8 months), so a median within half a month of the target is as close as it gets.
METRIC_TOL: dict[str, float] = {"median_pfs": 0.5}
#: Metrics fitted to the complement of their published figure (the metric must rise with the parameter, and a
#: published survival rate falls with it): the target is 1 - the figure.
COMPLEMENT_METRICS = frozenset({"progressed_36m"})


def _in_response(p, months: float) -> float:  # type: ignore[no-untyped-def]
    """Of the patients who ran, the share in response at ``months`` (as the car-t-crs scenario reads it:
    :func:`immunotwin.scenarios.biologics.in_remission`)."""
    from .scenarios.biologics import in_remission

    ok = p[p["status"] == "ok"]
    return float(in_remission(ok, months).mean())


#: Metrics read from the visits (paraneoplastic disease present at the pre-treatment visit counts).
VISIT_METRICS = {"myasthenia": lambda p, v: _worst_visit_grade(p, v, "neurologic") >= 2,
                 "cytopenia": lambda p, v: _worst_visit_grade(p, v, "hematologic") >= 2}
#: 6 months after the last of four weekly rituximab doses (day 21): week 29 of the clinic's weekly grid.
RTX_6M_DAY = 203
LO, HI = 0.05, 30.0
BRACKET = {"follicular": (0.002, 1.0)}
#: A target counts as reached within this ORR distance (about 1.5 SE at 600 patients); otherwise
#: the response plateaus below it and the smallest value reaching the plateau is kept.
REACH_TOL = 0.03


def _simulate_with_cancer(cancer: str, changes: dict, spec_name: str, patients: int, seed: int, visits: bool):  # type: ignore[no-untyped-def]
    """Simulate ``spec_name`` with the catalogue entry of ``cancer`` changed (restored afterwards)."""
    from . import cancers
    from .scenarios.core import simulate_spec

    original = cancers.CANCERS[cancer]
    cancers.CANCERS[cancer] = dataclasses.replace(original, **changes)
    try:
        _, p, v = simulate_spec(spec_name, patients, visits=visits, seed=seed)
    finally:
        cancers.CANCERS[cancer] = original
    return p, v


def orr_at(cancer: str, spec_name: str, scale: float, patients: int, seed: int, arm: str = "") -> float:
    p, _ = _simulate_with_cancer(cancer, {"immunogenicity": float(scale)}, spec_name, patients, seed, visits=False)
    if arm:
        p = p[p["arm"] == arm]
    return float(p["bor"].isin(["CR", "PR"]).mean())


def cross_at(cancer: str, organ: str, spec_name: str, value: float, patients: int, seed: int, metric: str) -> float:
    """The visit metric of ``spec_name`` with ``cancer`` sharing ``value`` of its antigen with ``organ``."""
    from .cancers import CANCERS

    cross = {**CANCERS[cancer].cross, organ: float(value)}
    p, v = _simulate_with_cancer(cancer, {"cross": cross}, spec_name, patients, seed, visits=True)
    return float(np.asarray(VISIT_METRICS[metric](p, v)).mean())


def metric_with_param(name: str, spec_name: str, value: float, patients: int, seed: int, metric: str = "orr",
                      arm: str | tuple[str, ...] = "") -> float:
    """``metric`` of ``spec_name`` with parameter ``name`` (or ``name.organ``, :func:`with_value`) at ``value``,
    read over ``arm`` (one name or several; every arm if empty)."""
    arms = ((arm,) if isinstance(arm, str) else tuple(arm)) if arm else None
    p, v = simulate_with_param(name, spec_name, value, patients, seed, metric in VISIT_METRICS, arms)
    keep = p["arm"].isin((arm,) if isinstance(arm, str) else arm).to_numpy() if arm else np.ones(len(p), bool)
    if metric in VISIT_METRICS:
        return float(np.asarray(VISIT_METRICS[metric](p, v))[keep].mean())
    return METRICS[metric](p[keep])


def simulate_with_param(name: str, spec_name: str, value: float, patients: int, seed: int,  # type: ignore[no-untyped-def]
                        visits: bool = False, arms: tuple[str, ...] | None = None):
    """(patients, visits or None) of ``spec_name`` (only ``arms`` if given, each as in the whole run) with parameter
    ``name`` (or ``name.organ``) at ``value``; the installed parameters are restored afterwards."""
    with model_values({name: value}):
        return _simulate(spec_name, patients, visits, seed, arms)


def _simulate(spec_name: str, patients: int, visits: bool, seed: int,  # type: ignore[no-untyped-def]
              arms: tuple[str, ...] | None = None):
    """(patients, visits) of a shipped scenario spec, or of ``checkmate067``: the CheckMate 067 example that
    ``immunotwin validate`` runs (``examples/checkmate067.toml``); only ``arms`` if given."""
    from .scenarios.core import simulate_in_memory, simulate_spec

    if spec_name != "checkmate067":
        _, p, v = simulate_spec(spec_name, patients, visits=visits, seed=seed, arms=arms)
        return p, v
    from .spec import load_spec, with_overrides
    from .validate import EXAMPLE

    return simulate_in_memory(with_overrides(load_spec(EXAMPLE), size_per_arm=patients, seed=seed), visits,
                              arms=arms)


def _worst_visit_grade(p, v, organ: str) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Each patient's (row of ``p``) worst grade of ``organ`` over all visits, baseline included
    (as the scenario reports it: :func:`immunotwin.scenarios.trials.visit_flags`)."""
    from .scenarios.trials import visit_flags

    return visit_flags(p, v, organ)[f"{organ}_worst_any"].to_numpy()


def _result(trace: list[list[float]], target: float, tol: float = 0.0) -> dict:
    """The closest point tried (on a plateau short of the target: the smallest value that gets as close); it counts
    as reached within the larger of ``REACH_TOL`` and the fit's own ``tol`` (months, for a median PFS)."""
    best = min(trace, key=lambda t: abs(t[1] - target))
    reach = max(REACH_TOL, tol)
    reached = abs(best[1] - target) <= reach
    if not reached:  # a plateau below (or above) the target: the smallest value that gets as close
        near = [t for t in trace if abs(t[1] - best[1]) <= reach]
        best = min(near, key=lambda t: t[0]) if best[1] < target else max(near, key=lambda t: t[0])
    return {"value": float(f"{best[0]:.4g}"), "orr": best[1], "target_orr": target, "reached": reached, "trace": trace}


def bisect(evaluate, target: float, lo: float = LO, hi: float = HI, iters: int = 10,  # type: ignore[no-untyped-def]
           start: float | None = None, tol: float = 0.0, reach: float = 0.0) -> dict:
    """Root of evaluate(x) = target on log(x), evaluate rising with x; the closest point tried.
    (The result's ``orr`` holds the fitted metric, whatever it is.)

    Without ``start``: ``iters`` bisections of [lo, hi]. With ``start`` (a warm start, such as the value a previous
    fit installed, for a refit after a small model change): evaluate there and stop if within ``tol`` of the target;
    else step away from it on log(x) (by ln 1.5, doubling each step, never past lo or hi) until the target is
    bracketed, then close in by regula falsi with the Illinois modification (Dowell & Jarratt, BIT 1971;11:168),
    which keeps the bracket as bisection does but steps by the secant, stopping within ``tol``. At most ``iters``
    evaluations either way; the result counts as reached within ``reach`` (a metric's own tolerance, ``METRIC_TOL``)
    or ``tol``, whichever is larger, and never closer than ``REACH_TOL``. (Hand-written: scipy's brentq wants a
    function that changes sign exactly, and these metrics are step functions of the value with common random
    numbers, flat over whole intervals.)"""
    reach = max(tol, reach)
    if start is None:
        lo, hi = np.log(lo), np.log(hi)
        trace = []
        for _ in range(iters):
            mid = 0.5 * (lo + hi)
            orr = evaluate(float(np.exp(mid)))
            trace.append([float(np.exp(mid)), orr])
            if orr < target:
                lo = mid
            else:
                hi = mid
        return _result(trace, target, reach)
    llo, lhi = float(np.log(lo)), float(np.log(hi))
    trace: list[list[float]] = []

    def f(u: float) -> float:
        m = evaluate(float(np.exp(u)))
        trace.append([float(np.exp(u)), m])
        return m - target

    a = float(np.clip(np.log(start), llo, lhi))
    fa = f(a)
    if abs(fa) <= tol:
        return _result(trace, target, reach)
    step, direction = float(np.log(1.5)), (1.0 if fa < 0 else -1.0)  # the metric rises with x
    b, fb = a, fa
    while len(trace) < iters:
        a, fa = b, fb
        b = float(np.clip(a + direction * step, llo, lhi))
        if b == a:  # at the bound and still short: the closest point tried
            return _result(trace, target, reach)
        fb = f(b)
        if abs(fb) <= tol or (fa < 0) != (fb < 0):
            break
        step *= 2.0
    if abs(fb) <= tol or (fa < 0) == (fb < 0):
        return _result(trace, target, reach)
    side = 0
    while len(trace) < iters:
        c = (a * fb - b * fa) / (fb - fa) if fb != fa else 0.5 * (a + b)
        fc = f(c)
        if abs(fc) <= tol:
            break
        if (fc < 0) == (fb < 0):  # c replaces b; a stays: halve its weight if it stayed last time too
            b, fb = c, fc
            if side == -1:
                fa *= 0.5
            side = -1
        else:
            a, fa = c, fc
            if side == 1:
                fb *= 0.5
            side = 1
    return _result(trace, target, reach)


def fit_one(cancer: str, spec_name: str, target: float, patients: int, seed: int, arm: str = "",
            start: float | None = None, tol: float = 0.0) -> dict:
    res = bisect(lambda x: orr_at(cancer, spec_name, x, patients, seed, arm), target, *BRACKET.get(cancer, (LO, HI)),
                 start=start, tol=tol)
    res["immunogenicity"] = res.pop("value")
    return res


def param_target(name: str) -> tuple[float, str | None]:
    """(target of ``name``'s metric, source) from PARAM_TARGETS: the published figure (a range: its middle; for a
    metric of COMPLEMENT_METRICS, 1 - the figure) and the nearest source above it in the reference file."""
    from .reference import load

    _, file, path, metric, _ = PARAM_TARGETS[name]
    node = load(file)
    source = None
    for key in path[:-1]:
        node = node[key]
        source = node.get("source", source) if isinstance(node, dict) else source
    leaf = node[path[-1]]
    target = float(np.mean(leaf)) if isinstance(leaf, list) else float(leaf)
    return (1.0 - target if metric in COMPLEMENT_METRICS else target), source


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m immunotwin.calibrate_cancers", description=__doc__.split("\n")[0])
    ap.add_argument("--patients", type=int, default=300)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--out", type=Path, default=Path(str(resources.files("immunotwin.data").joinpath("cancer_fit.json"))))
    ap.add_argument("--cancers", default=",".join(TARGETS))
    ap.add_argument("--params", default=",".join(DEFAULT_PARAMS),
                    help="parameters to fit, in order (default: all but the organs' checkpoint weights and the three "
                         "organ values of ORGAN_OPT_IN, which are fitted only when named: see WEIGHTS_OPT_IN, and the "
                         "MAPK parameters, fitted together by immunotwin.calibrate_joint: see JOINT)")
    ap.add_argument("--cross", default=",".join(CROSS_TARGETS), help="cancers whose shared antigen to fit")
    ap.add_argument("--warm", action="store_true",
                    help="a refit: start each fit at the value the output file holds and stop within --tol of the "
                         "target (regula falsi; see bisect), instead of ten bisections of the whole bracket")
    ap.add_argument("--tol", type=float, default=None,
                    help="with --warm: how close to the target a fit may stop (default: one virtual patient's "
                         "share, 1/patients)")
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = parser()
    a = ap.parse_args(argv)
    if a.patients < 10:
        ap.error(f"--patients must be at least 10 (got {a.patients})")
    if a.tol is not None and not (a.warm and 0.0 <= a.tol < 1.0):
        ap.error("--tol needs --warm and a value in [0, 1)")
    tol = (1.0 / a.patients if a.tol is None else a.tol) if a.warm else 0.0
    from .reference import load

    refs = load("scenario_refs")
    orr_refs = refs["anti_pd1_orr_by_cancer"]
    out = json.loads(a.out.read_text()) if a.out.is_file() else {}
    out.setdefault("cancers", {})
    out.setdefault("params", {})
    out.setdefault("cross", {})
    out["provenance"] = {"method": "bisection on the log of each fitted value, common random numbers",
                         "patients": a.patients, "seed": a.seed, "date": dt.date.today().isoformat(),
                         "command": "python -m immunotwin.calibrate_cancers " + shlex.join(argv if argv is not None
                                                                                       else sys.argv[1:]),
                         "note": "this run's command; each fitted entry carries its own date, patients and seed"}
    if a.warm:
        out["provenance"]["method"] = (f"warm start at the previous fitted values, regula falsi (Illinois) on the log "
                                       f"of each value to within {tol:.4g} of the target (fits on their own number "
                                       f"of patients, CANCER_PATIENTS and PARAM_PATIENTS: one of those patients' "
                                       f"share), common random numbers")

    def start(section: str, key: str, field: str = "value") -> float | None:
        return out[section].get(key, {}).get(field) if a.warm else None
    for cancer in filter(None, a.cancers.split(",")):
        spec_name, key, arm = TARGETS[cancer]
        ref = orr_refs[key] if key in orr_refs else refs[key]
        n_pat = CANCER_PATIENTS.get(cancer, a.patients)
        tol_n = (1.0 / n_pat if a.tol is None else a.tol) if a.warm else 0.0
        res = fit_one(cancer, spec_name, float(ref["orr"]), n_pat, a.seed, arm,
                      start=start("cancers", cancer, "immunogenicity"), tol=tol_n)
        res.update({"spec": spec_name, "source": ref["source"], "patients": n_pat, "seed": a.seed,
                    "date": dt.date.today().isoformat()})
        out["cancers"][cancer] = res
        print(f"{cancer}: immunogenicity {res['immunogenicity']:.4g} -> ORR {res['orr']:.3f} (target {ref['orr']})")
    for cancer in filter(None, a.cross.split(",")):
        spec_name, organ, file, path, metric, (lo, hi) = CROSS_TARGETS[cancer]
        node = json.loads(resources.files("immunotwin.data").joinpath(f"{file}.json").read_text())
        for key in path[:-1]:
            node = node[key]
        target = float(node[path[-1]])
        res = bisect(lambda x, c=cancer, o=organ, sp=spec_name, m=metric: cross_at(c, o, sp, x, a.patients, a.seed, m),
                     target, lo, hi, start=start("cross", cancer), tol=tol)
        res.update({"organ": organ, "spec": spec_name, "source": node.get("source", ""), "metric": metric,
                    "patients": a.patients, "seed": a.seed, "date": dt.date.today().isoformat()})
        out["cross"][cancer] = res
        a.out.write_text(json.dumps(out, indent=1) + "\n")
        print(f"{cancer}: antigen shared with {organ} {res['value']:.4g} -> {metric} {res['orr']:.3f} (target {target})")
    for name in filter(None, a.params.split(",")):
        spec_name, _, _, metric, (lo, hi) = PARAM_TARGETS[name]
        target, source = param_target(name)
        n_pat = PARAM_PATIENTS.get(name, a.patients)
        tol_n = (METRIC_TOL.get(metric, 1.0 / n_pat) if a.tol is None else a.tol) if a.warm else 0.0
        res = bisect(lambda x, n=name, sp=spec_name, m=metric, k=n_pat: metric_with_param(n, sp, x, k, a.seed, m,
                                                                                          PARAM_ARMS.get(n, "")),
                     target, lo, hi, start=start("params", name), tol=tol_n, reach=METRIC_TOL.get(metric, 0.0))
        res.update({"spec": spec_name, "source": source, "metric": metric, "patients": n_pat,
                    "seed": a.seed, "date": dt.date.today().isoformat()})
        out["params"][name] = res
        from .model import core  # later fits in this run see this one

        core.PARAMS = with_value(core.PARAMS, name, res["value"])
        a.out.write_text(json.dumps(out, indent=1) + "\n")  # after each fit: a long run keeps what it has
        print(f"{name}: {res['value']:.4g} -> {metric} {res['orr']:.3f} (target {target})")
    a.out.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
