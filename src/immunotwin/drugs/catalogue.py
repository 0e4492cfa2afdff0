"""Drugs: checkpoint-inhibitor antibodies (population PK and receptor occupancy), cytotoxic
chemotherapy (population PK and the myelosuppression model's drug effect: docetaxel, and fludarabine, whose
effect also depletes regulatory T cells), a cytokine (aldesleukin),
a tumour-targeting antibody (rituximab), tocilizumab, oral BRAF and MEK inhibitors (dabrafenib,
trametinib), and a CAR T-cell product, with sources.

Each drug but the cell product occupies one PK slot of the model by its target (``pd1``, ``ctla4``,
``pdl1``, ``cyto``, ``il2``, ``cd20``, ``il6r``); drugs differ only by these parameters. Doses in
international units are turned into mg with the product's specific activity (``mg_per_iu``). A
cell product (``kind = "cell"``) is infused into the model's CAR T-cell pool
(:mod:`immunotwin.model.celltherapy`): a dose in cells/kg becomes 1e9 cells. Typical values are for the reference patient of
each population PK model; individual values scale allometrically with body weight and
carry log-normal inter-individual variability (omega = SD of the log random effect,
sqrt of the published omega^2). PK values are copied in ``data/pk.json`` with their sources.

Infusions (30-90 min) are given as IV boluses: the infusion is short next to the
distribution half-life (about 1-2 days), a simplification stated in docs/model.md.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from ..model.slots import N_SLOTS, SLOTS

H_PER_DAY = 24.0


@dataclass(frozen=True)
class Drug:
    name: str
    slot: str
    target: str
    cl_l_day: float
    vc_l: float
    q_l_day: float
    vp_l: float
    ref_weight_kg: float
    cl_weight_exp: float
    vc_weight_exp: float
    q_weight_exp: float
    vp_weight_exp: float
    omega_cl: float
    omega_vc: float
    ec50_mg_l: float
    emax_cl: float = 0.0
    t50_cl_h: float = 1.0
    gamma_cl: float = 1.0
    ldh_cl_exp: float = 0.0
    source: str = ""
    ec50_source: str = ""
    kind: str = "antibody"  # antibody, cytotoxic, cytokine, vaccine, targeted or cell
    mg_per_iu: float = 0.0  # specific activity, for doses in IU/kg or MIU/m2
    # iv (a jump into the central compartment), sc (absorbed over the dose's day) or oral (taken daily or more often
    # for months: the doses of each clinic step enter as their mean rate over the step, so the weekly clinic needs no
    # daily steps; apparent clearance and volumes, CL/F and V/F, take the bioavailability in)
    route: str = "iv"
    # 1 for an anti-PD-1 whose Fc engages macrophages' Fc-gamma receptors while bound to PD-1, reprogramming tumour
    # macrophages to feed the tumour (model.macrophages, read on the PD-1 slot only); 0 for every other drug, IgG1
    # antibodies included (rituximab's and ipilimumab's Fc act through their own mechanisms: model.innate, .tregs)
    fcgr: float = 0.0
    fcgr_source: str = ""
    # 1 for a cytotoxic drug whose effect reaches lymphocytes as well as marrow progenitors and tumour cells (a purine
    # analogue: model.tregs reads it on the cytotoxic slot as a loss of systemic regulatory T cells); 0 otherwise
    lymphotoxic: float = 0.0
    lymphotoxic_source: str = ""

    @property
    def state(self) -> str:
        """The state a dose goes into."""
        return "car_effector" if self.kind == "cell" else "pk_central"

    def amount_scale(self, dose_kind: str) -> float:
        """Internal amount per unit of ``dose_amount``: mg for mg doses, mg per IU, 1e9 cells per cell."""
        if dose_kind in ("IU/kg", "MIU/m2"):
            if not self.mg_per_iu:
                raise ValueError(f"{self.name} is not dosed in international units")
            return self.mg_per_iu
        if dose_kind == "cells/kg":
            if self.kind != "cell":
                raise ValueError(f"{self.name} is not a cell product: give its dose in mg")
            return 1e-9
        if self.kind == "cell":
            raise ValueError(f"{self.name} is a cell product: give its dose in cells/kg")
        return 1.0


_BAJAJ = "Bajaj et al., CPT Pharmacometrics Syst Pharmacol 2017;6:58-66, Table 2"
_AHAMADI = "Ahamadi et al., CPT Pharmacometrics Syst Pharmacol 2017;6:49-57, Table 2"
_FENG = "Feng et al., Br J Clin Pharmacol 2014;78:106-17, Table 2"
_ONOUE = ("Onoue et al., Eur J Clin Pharmacol 2016;72:703-10, Table 2 (two-compartment docetaxel model; "
          "CL 32.6 L/h, Q 5.34 L/h, V1 5.77 L, V2 11.0 L; IIV of CL 29.5%; no IIV reported for V1, none "
          "used); Japanese women with breast cancer, so Western clearance may be somewhat higher (Bruno "
          "et al. 1996: about 37 L/h); no weight scaling (dosed by body surface area)")
_FRIBERG_EC50 = ("Friberg et al., J Clin Oncol 2002;20:4713, Table 4: docetaxel EC50 7.17 µM of the Emax "
                 "drug effect on marrow progenitors (x 0.808 mg/µmol = 5.79 mg/L)")
_PEMBRO_EC50 = ("pembrolizumab ex vivo IL-2 IC50 0.535 µg/mL (Patnaik et al., Clin Cancer Res "
                "2015;21:4286; Elassaiss-Schaap et al., CPT:PSP 2017;6:21), verify against the table")

_IL2_MG_PER_IU = 1.1 / 18e6  # Proleukin label: 1.1 mg = 18 million IU
_KONRAD = ("Konrad et al., Cancer Res 1990;50:2009-17: after IV doses, half-lives 12.9 and 85 min, clearance "
           "about 120 mL/min, mainly renal (Swiss product information: 155-420 mL/min); the central volume (5 L, "
           "assumed: about plasma volume for a 15 kDa protein) and Q, Vp are derived to reproduce the two "
           "half-lives; IIV of CL assumed 30% (the product information's range)")
_IL2_EC50 = ("assumed: intermediate-affinity IL-2 receptor (IL-2Rbeta-gamma on NK cells and memory T cells), "
             "Kd about 1 nM, i.e. about 250 IU/mL (1 IU/mL = 61 pg/mL, 15.5 kDa)")
_IFN_MG_PER_IU = 1.0 / 2.6e8  # interferon alfa-2b specific activity about 2.6e8 IU/mg (label; recalled, verify)
_RADWANSKI = ("Radwanski et al., J Clin Pharmacol 1987;27:432 (interferon alfa-2b: elimination half-life 1.7 h after "
              "IV doses; 2.9 h after SC doses, limited by absorption, peak at about 8 h): one compartment of 20 L "
              "(assumed, about 0.3 L/kg) with the clearance that gives 1.7 h; SC doses are absorbed over their day "
              "(pk.py); IIV of CL assumed 30%")
_IFN_EC50 = ("assumed: cellular interferon responses saturate at picomolar levels, about 10 IU/mL (1 IU/mL is "
             "about 4 pg/mL at 2.6e8 IU/mg)")
_FREY = ("Frey et al., J Clin Pharmacol 2010;50:754 (tocilizumab in RA: linear clearance 0.3 L/day, Vc 3.5 L, "
         "Vp 2.9 L, Q assumed 0.4 L/day; the saturable elimination is left out, so a single 8 mg/kg dose has "
         "the linear half-life, about two weeks, against 6.3 days after 10 mg/kg and about 13 days at steady "
         "state in the label): one dose covers the CRS window")
_TOCI_EC50 = ("assumed: CRP normalises at serum tocilizumab above about 1 µg/mL (Nishimoto et al., Blood "
              "2008;112:3959), so half-maximal IL-6 receptor blockade well below it")
_RTX = {"cl": 0.257 + 0.278, "vc": 2.98, "q": 0.5, "vp": 6.3, "omega_cl": 0.4, "omega_vc": 0.2, "ec50": 1.0,
        "emax": float(np.log(0.257 / 0.535)), "t50_h": 24.0 * np.log(2.0) / 0.143,
        "source": "Ng et al., J Clin Pharmacol 2005;45:792 (rituximab popPK: CL 0.257 L/day, V1 2.98 L; in RA, read in "
                  "a secondary copy); the target-mediated clearance of lymphoma (Rozman et al. 2017: 0.278 L/day at "
                  "the start, decaying at 0.143/day as CD20+ cells are depleted) added as a time-varying clearance "
                  "falling from 0.535 to 0.257 L/day with a half-time of 4.8 days; Vp (6.3 L) derived for the "
                  "terminal half-life of 25 days (Mueller et al., Blood 2012: 24.7-30.7 days), Q (0.5 L/day) and "
                  "IIV (40% on CL, 20% on V1) assumed; dosed per m2, no weight scaling",
        "ec50_source": "assumed: rituximab binds CD20 with Kd about 5-10 nM (about 1 mg/L)"}

_DABRAFENIB = ("Tafinlar (dabrafenib) prescribing information, section 12.3 (recalled, verify): apparent clearance "
               "17.0 L/h after a single dose rising to 34.7 L/h after two weeks of twice-daily dosing (induction of its "
               "own metabolism), apparent central volume 70.3 L, terminal half-life about 8 h. One compartment with "
               "the clearance rising from 17.0 to 34.7 L/h (E_max ln 2.04, Hill coefficient 2) with a half-time of 4 days "
               "(assumed: 93% of the rise by two weeks); IIV of CL 30% (assumed); flat dosing, no weight scaling")
_TRAMETINIB = ("Mekinist (trametinib) prescribing information, section 12.3 (recalled, verify): apparent clearance "
               "4.9 L/h, apparent central volume 214 L, elimination half-life 3.9-4.8 days. The peripheral volume "
               "(550 L) and Q (60 L/h) are set to give a terminal half-life of about 4.4 days (assumed); IIV of CL "
               "30% (assumed); flat dosing, no weight scaling")
_MAPK_EC50 = ("assumed: a third of the mean steady-state plasma level at the label dose (dabrafenib 150 mg twice daily: "
              "300 mg/day / 833 L/day = 0.36 mg/L; trametinib 2 mg daily: 2 mg/day / 118 L/day = 0.017 mg/L), so each "
              "inhibits three quarters of MAPK signalling at its label dose and the two together 94% (Bliss): the "
              "combination's added depth is the rationale of the pairing (Flaherty et al., N Engl J Med "
              "2012;367:1694); no exposure-response figure was read")

_KNEBEL = ("Knebel et al., Pharmacotherapy 1998;18:1224 (fludarabine 20-30 mg/m2 over 30 minutes, two-compartment model: "
           "total clearance 13.68 L/h, volume at steady state 170 L, the peripheral volume about twice the central, "
           "beta half-life 10.9 h, distribution phase about 40 min): Vc 57 L and Vp 113 L from that split, Q 25 L/h "
           "derived to give the 40-min distribution phase (about 50 min here); IIV of CL 30% (assumed; 'marked "
           "variability', Swiss product information); no weight scaling (dosed by body surface area). Amounts and "
           "levels are fludarabine phosphate equivalents. In CLL the product information gives a longer terminal "
           "half-life (about 20 h, clearance 79 mL/min/m2, Vss 83 L/m2) and a higher end-of-infusion peak (3.5-3.7 "
           "µM 2F-ara-A after 25 mg/m2, about 1.6 times this model's bolus into Vc)")
_FLUDARABINE_EC50 = ("assumed: 23 mg/L, so that a 5-day course of 25 mg/m2 daily integrates about the same drug effect on "
                     "marrow progenitors (the Friberg model's E = 83.9 C/(C + EC50), docetaxel's Emax) as one docetaxel "
                     "75 mg/m2 dose: grade 3-4 neutropenia is common with both (no fludarabine myelosuppression model "
                     "was read)")
_FLUDARABINE_LYMPHO = ("Beyer et al., Blood 2005;106:2018 (abstract): in CLL, regulatory T-cell frequencies fell "
                       "significantly after fludarabine-containing therapy and their suppressive function was decreased or "
                       "abrogated in most patients; the size of the loss per unit of drug effect is assumed "
                       "(model.tregs, treg_chemo_depletion)")

_IGG4 = ("IgG4 with the S228P hinge mutation, which binds Fc-gamma RI (CD64) with high affinity and cross-links PD-1 "
         "to it (Zhang et al., Cancer Immunol Immunother 2018;67:1079, abstract)")

CATALOGUE: dict[str, Drug] = {
    "nivolumab": Drug(
        "nivolumab", "pd1", "PD-1", cl_l_day=9.4e-3 * H_PER_DAY, vc_l=3.63, q_l_day=32.1e-3 * H_PER_DAY,
        vp_l=2.78, ref_weight_kg=80.0, cl_weight_exp=0.566, vc_weight_exp=0.597, q_weight_exp=0.566,
        vp_weight_exp=0.597, omega_cl=float(np.sqrt(0.123)), omega_vc=float(np.sqrt(0.123)),
        ec50_mg_l=0.535, emax_cl=-0.295, t50_cl_h=1410.0, gamma_cl=3.15, source=_BAJAJ, fcgr=1.0, fcgr_source=_IGG4,
        ec50_source="assumed equal to pembrolizumab (same target, similar affinity); consistent with "
                    ">70% PD-1 occupancy at all doses 0.1-10 mg/kg (Brahmer et al., J Clin Oncol "
                    "2010;28:3167). Q and Vp scale with the CL and Vc exponents (assumed)."),
    "pembrolizumab": Drug(
        "pembrolizumab", "pd1", "PD-1", cl_l_day=0.22, vc_l=3.48, q_l_day=0.795, vp_l=4.06,
        ref_weight_kg=76.8, cl_weight_exp=0.595, vc_weight_exp=0.489, q_weight_exp=0.595,
        vp_weight_exp=0.489, omega_cl=float(np.sqrt(0.134)), omega_vc=float(np.sqrt(0.0417)),
        ec50_mg_l=0.535, source=_AHAMADI, ec50_source=_PEMBRO_EC50, fcgr=1.0, fcgr_source=_IGG4),
    "ipilimumab": Drug(
        "ipilimumab", "ctla4", "CTLA-4", cl_l_day=0.0150 * H_PER_DAY, vc_l=4.15, q_l_day=0.0411 * H_PER_DAY,
        vp_l=3.11, ref_weight_kg=80.0, cl_weight_exp=0.642, vc_weight_exp=0.708, q_weight_exp=0.642,
        vp_weight_exp=0.708, omega_cl=float(np.sqrt(0.125)), omega_vc=float(np.sqrt(0.0223)),
        ec50_mg_l=5.0, ldh_cl_exp=1.13, source=_FENG,
        ec50_source="assumed: no published CTLA-4 occupancy EC50; 5 µg/mL puts the 3 mg/kg trough "
                    "(19.4 µg/mL, label) near 80% and makes 10 mg/kg more active than 3 mg/kg, as "
                    "observed (Ascierto et al., Lancet Oncol 2017;18:611), though less so: the ipilimumab-dose scenario "
                    "reads an OS HR of 0.946 (published 0.84) and grade 3/4 TRAEs of 0.247 against 0.220 (36% against "
                    "20%): near saturation at 3 mg/kg (docs/credibility-history.md, 'Ipilimumab's dose')"),
    "docetaxel": Drug(
        "docetaxel", "cyto", "microtubules (cytotoxic)", cl_l_day=32.6 * H_PER_DAY, vc_l=5.77,
        q_l_day=5.34 * H_PER_DAY, vp_l=11.0, ref_weight_kg=70.0, cl_weight_exp=0.0, vc_weight_exp=0.0,
        q_weight_exp=0.0, vp_weight_exp=0.0, omega_cl=0.295, omega_vc=0.0, ec50_mg_l=7.17 * 0.808,
        source=_ONOUE, ec50_source=_FRIBERG_EC50, kind="cytotoxic"),
    "fludarabine": Drug(
        "fludarabine", "cyto", "purine analogue (cytotoxic, lymphotoxic)", cl_l_day=13.68 * H_PER_DAY, vc_l=57.0,
        q_l_day=25.0 * H_PER_DAY, vp_l=113.0, ref_weight_kg=70.0, cl_weight_exp=0.0, vc_weight_exp=0.0,
        q_weight_exp=0.0, vp_weight_exp=0.0, omega_cl=0.3, omega_vc=0.0, ec50_mg_l=23.0, source=_KNEBEL,
        ec50_source=_FLUDARABINE_EC50, kind="cytotoxic", lymphotoxic=1.0, lymphotoxic_source=_FLUDARABINE_LYMPHO),
    "aldesleukin": Drug(
        "aldesleukin", "il2", "IL-2 receptor (agonist)", cl_l_day=0.120 * 1440.0, vc_l=5.0,
        q_l_day=139.4, vp_l=5.34, ref_weight_kg=70.0, cl_weight_exp=0.0, vc_weight_exp=0.0, q_weight_exp=0.0,
        vp_weight_exp=0.0, omega_cl=0.3, omega_vc=0.0, ec50_mg_l=250.0 * _IL2_MG_PER_IU * 1e3,
        source=_KONRAD, ec50_source=_IL2_EC50, kind="cytokine", mg_per_iu=_IL2_MG_PER_IU),
    "rituximab": Drug(
        "rituximab", "cd20", "CD20 (ADCC)", cl_l_day=_RTX["cl"], vc_l=_RTX["vc"], q_l_day=_RTX["q"],
        vp_l=_RTX["vp"], ref_weight_kg=70.0, cl_weight_exp=0.0, vc_weight_exp=0.0, q_weight_exp=0.0,
        vp_weight_exp=0.0, omega_cl=_RTX["omega_cl"], omega_vc=_RTX["omega_vc"], ec50_mg_l=_RTX["ec50"],
        emax_cl=_RTX["emax"], t50_cl_h=_RTX["t50_h"], gamma_cl=1.0,
        source=_RTX["source"], ec50_source=_RTX["ec50_source"]),
    "tocilizumab": Drug(
        "tocilizumab", "il6r", "IL-6 receptor", cl_l_day=0.30, vc_l=3.5, q_l_day=0.4, vp_l=2.9,
        ref_weight_kg=70.0, cl_weight_exp=0.75, vc_weight_exp=1.0, q_weight_exp=0.75, vp_weight_exp=1.0,
        omega_cl=0.3, omega_vc=0.2, ec50_mg_l=0.2, source=_FREY, ec50_source=_TOCI_EC50),
    "interferon_alfa": Drug(
        "interferon_alfa", "ifn", "interferon-alpha receptor (agonist)", cl_l_day=196.0, vc_l=20.0, q_l_day=0.0,
        vp_l=1.0, ref_weight_kg=70.0, cl_weight_exp=0.0, vc_weight_exp=0.0, q_weight_exp=0.0, vp_weight_exp=0.0,
        omega_cl=0.3, omega_vc=0.0, ec50_mg_l=10.0 * _IFN_MG_PER_IU * 1e3, kind="cytokine", mg_per_iu=_IFN_MG_PER_IU,
        route="sc", source=_RADWANSKI, ec50_source=_IFN_EC50),
    "gp100_vaccine": Drug(
        "gp100_vaccine", "vaccine", "gp100 peptide (antigen)", cl_l_day=float(np.log(2.0) / 14.0), vc_l=1.0,
        q_l_day=0.0, vp_l=1.0, ref_weight_kg=70.0, cl_weight_exp=0.0, vc_weight_exp=0.0, q_weight_exp=0.0,
        vp_weight_exp=0.0, omega_cl=0.0, omega_vc=0.0, ec50_mg_l=0.2, kind="vaccine",
        source="gp100:209-217(210M) peptide in incomplete Freund's adjuvant, 1 mg per dose (Hodi et al., N Engl J Med "
               "2010;363:711). The 'central compartment' is the injection depot, in a notional 1 L: antigen "
               "available with a half-life of 14 days (assumed: oil depots persist for weeks to months, Hailemichael "
               "et al., Nat Med 2013;19:465)",
        ec50_source="assumed: a 1 mg dose supplies near-maximal antigen for about a month"),
    "bcg": Drug(
        "bcg", "bcg", "bladder wall (innate immune stimulation)", cl_l_day=float(np.log(2.0) / 3.0), vc_l=1.0,
        q_l_day=0.0, vp_l=1.0, ref_weight_kg=70.0, cl_weight_exp=0.0, vc_weight_exp=0.0, q_weight_exp=0.0,
        vp_weight_exp=0.0, omega_cl=0.0, omega_vc=0.0, ec50_mg_l=10.0, kind="vaccine",
        source="BCG (TICE) 50 mg intravesically (SWOG regimen: Lamm et al., J Urol 2000;163:1124). The 'central "
               "compartment' is the bladder wall in a notional 1 L; viable BCG persists there for days (half-life 3 "
               "days, assumed)",
        ec50_source="assumed: a 50 mg instillation near-maximal for about a week"),
    "dabrafenib": Drug(
        "dabrafenib", "braf", "BRAF V600 kinase (inhibitor)", cl_l_day=17.0 * H_PER_DAY, vc_l=70.3, q_l_day=0.0,
        vp_l=1.0, ref_weight_kg=70.0, cl_weight_exp=0.0, vc_weight_exp=0.0, q_weight_exp=0.0, vp_weight_exp=0.0,
        omega_cl=0.3, omega_vc=0.0, ec50_mg_l=0.12, emax_cl=float(np.log(34.7 / 17.0)), t50_cl_h=4.0 * H_PER_DAY,
        gamma_cl=2.0, kind="targeted", route="oral", source=_DABRAFENIB, ec50_source=_MAPK_EC50),
    "trametinib": Drug(
        "trametinib", "mek", "MEK1/2 kinase (inhibitor)", cl_l_day=4.9 * H_PER_DAY, vc_l=214.0, q_l_day=60.0 * H_PER_DAY,
        vp_l=550.0, ref_weight_kg=70.0, cl_weight_exp=0.0, vc_weight_exp=0.0, q_weight_exp=0.0, vp_weight_exp=0.0,
        omega_cl=0.3, omega_vc=0.0, ec50_mg_l=0.0057, kind="targeted", route="oral", source=_TRAMETINIB,
        ec50_source=_MAPK_EC50),
    "axicabtagene": Drug(
        "axicabtagene", "car", "CD19 (CAR T cells)", cl_l_day=0.0, vc_l=1.0, q_l_day=0.0, vp_l=1.0,
        ref_weight_kg=70.0, cl_weight_exp=0.0, vc_weight_exp=0.0, q_weight_exp=0.0, vp_weight_exp=0.0,
        omega_cl=0.0, omega_vc=0.0, ec50_mg_l=1.0, kind="cell",
        source="axicabtagene ciloleucel, 2e6 CAR T cells/kg after fludarabine/cyclophosphamide (Neelapu et al., "
               "N Engl J Med 2017;377:2531); cellular kinetics in immunotwin.model.celltherapy"),
}

#: The drug fields a calibration may fit (a ``d:DRUG.FIELD`` coordinate of ``immunotwin calibrate --direct``):
#: positive PD constants with no between-patient variability, fitted on the log of their value.
FITTABLE = ("ec50_mg_l",)


def drug_key(key: str) -> tuple[str, str]:
    """(drug, field) of ``DRUG.FIELD``; ValueError naming the key unless the drug is in the catalogue and the field
    is one of :data:`FITTABLE`."""
    name, _, fld = key.partition(".")
    if name not in CATALOGUE:
        raise ValueError(f"{key}: unknown drug {name!r} (known: {', '.join(sorted(CATALOGUE))})")
    if fld not in FITTABLE:
        raise ValueError(f"{key}: {fld!r} is not a fittable drug field (fittable: {', '.join(FITTABLE)})")
    return name, fld


@contextmanager
def drug_values(values: Mapping[str, float]) -> Iterator[None]:
    """Within the block the catalogue's drugs have the values ``values`` (``DRUG.FIELD``: value), so every patient
    simulated then sees them; the entries are restored afterwards. The catalogue dict is changed in place, so every
    module that imported it reads the new entries."""
    saved: dict[str, Drug] = {}
    try:
        for key, value in values.items():
            name, fld = drug_key(key)
            saved.setdefault(name, CATALOGUE[name])
            CATALOGUE[name] = dataclasses.replace(CATALOGUE[name], **{fld: float(value)})  # type: ignore[arg-type]
        yield
    finally:
        CATALOGUE.update(saved)


def apply_calibration(cal: Mapping | None = None) -> None:
    """Install the drug values a calibration fitted (``cal``: default data/calibration.json): its ``drugs`` section,
    ``{DRUG: {FIELD: {"default": value, ...}}}``. The field's source then says it was fitted, and from what."""
    if cal is None:
        from importlib import resources

        f = resources.files("immunotwin.data").joinpath("calibration.json")
        cal = json.loads(f.read_text()) if f.is_file() else {}
    tag = cal.get("provenance", {}).get("label", "calibration")
    for name, fields in cal.get("drugs", {}).items():
        for fld, entry in fields.items():
            drug_key(f"{name}.{fld}")
            drug = CATALOGUE[name]
            before = drug.ec50_source if fld == "ec50_mg_l" else ""
            change: dict = {fld: float(entry["default"])}
            if fld == "ec50_mg_l":
                change["ec50_source"] = (f"fitted: {tag} (data/calibration.json); before fitting "
                                         f"{getattr(drug, fld):g}: {before}")
            CATALOGUE[name] = dataclasses.replace(drug, **change)


apply_calibration()


def is_cytotoxic(name: str) -> bool:
    return name in CATALOGUE and CATALOGUE[name].slot == "cyto"


def dose_index(name: str) -> int:
    """Index in the state vector that a dose of ``name`` goes into."""
    from ..model.core import LAYOUT

    drug = get_drug(name)
    start = LAYOUT.slices[drug.state].start
    return start + SLOTS.index(drug.slot) if drug.state == "pk_central" else start


def get_drug(name: str) -> Drug:
    try:
        return CATALOGUE[name]
    except KeyError:
        raise KeyError(f"unknown drug {name!r}; known: {', '.join(sorted(CATALOGUE))}") from None


def slot_params(drugs: Sequence[str], weight_kg: np.ndarray, eta: np.ndarray,
                ldh_u_l: np.ndarray | None = None) -> Mapping[str, np.ndarray]:
    """PK slot parameters (N, slots) for the drugs of a regimen.

    ``eta`` (N, 2) are standard-normal draws for CL and Vc of this patient (the same draws
    serve every drug in the slot). Slots a regimen does not use keep zero clearance.
    """
    weight_kg = np.asarray(weight_kg, dtype=np.float64)
    n = weight_kg.shape[0]
    out = {k: np.zeros((n, N_SLOTS)) for k in ("pk_cl", "pk_q", "pk_emax", "pk_fcgr", "pk_lympho")}
    out.update({k: np.ones((n, N_SLOTS)) for k in ("pk_vc", "pk_vp", "pk_t50", "pk_gamma", "pk_ec50")})
    out["pk_vc"] *= 3.0
    out["pk_vp"] *= 3.0
    used: dict[str, str] = {}
    for name in dict.fromkeys(drugs):
        drug = CATALOGUE.get(name)
        if drug is None or drug.kind == "cell":
            continue
        if drug.slot in used and used[drug.slot] != name:
            raise ValueError(f"{name} and {used[drug.slot]} both block {drug.target}; use one")
        used[drug.slot] = name
        j = SLOTS.index(drug.slot)
        w = weight_kg / drug.ref_weight_kg
        cl = drug.cl_l_day * w**drug.cl_weight_exp * np.exp(drug.omega_cl * eta[:, 0])
        if drug.ldh_cl_exp and ldh_u_l is not None:
            cl = cl * (np.log(ldh_u_l) / np.log(206.0)) ** drug.ldh_cl_exp
        out["pk_cl"][:, j] = cl
        out["pk_vc"][:, j] = drug.vc_l * w**drug.vc_weight_exp * np.exp(drug.omega_vc * eta[:, 1])
        out["pk_q"][:, j] = drug.q_l_day * w**drug.q_weight_exp
        out["pk_vp"][:, j] = drug.vp_l * w**drug.vp_weight_exp
        out["pk_emax"][:, j] = drug.emax_cl
        out["pk_t50"][:, j] = drug.t50_cl_h
        out["pk_gamma"][:, j] = drug.gamma_cl
        out["pk_ec50"][:, j] = drug.ec50_mg_l
        out["pk_fcgr"][:, j] = drug.fcgr
        out["pk_lympho"][:, j] = drug.lymphotoxic
    return out
