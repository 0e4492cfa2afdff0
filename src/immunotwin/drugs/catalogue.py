"""Drugs: checkpoint-inhibitor antibodies (population PK and receptor occupancy) and cytotoxic
chemotherapy (population PK and the myelosuppression model's drug effect), with sources.

Each drug occupies one PK slot of the model by its target (``pd1``, ``ctla4``, ``pdl1``, ``cyto``);
drugs differ only by these parameters. Typical values are for the reference patient of
each population PK model; individual values scale allometrically with body weight and
carry log-normal inter-individual variability (omega = SD of the log random effect,
sqrt of the published omega^2). PK values are copied in ``data/pk.json`` with their sources.

Infusions (30-90 min) are given as IV boluses: the infusion is short next to the
distribution half-life (about 1-2 days), a simplification stated in docs/model.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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

CATALOGUE: dict[str, Drug] = {
    "nivolumab": Drug(
        "nivolumab", "pd1", "PD-1", cl_l_day=9.4e-3 * H_PER_DAY, vc_l=3.63, q_l_day=32.1e-3 * H_PER_DAY,
        vp_l=2.78, ref_weight_kg=80.0, cl_weight_exp=0.566, vc_weight_exp=0.597, q_weight_exp=0.566,
        vp_weight_exp=0.597, omega_cl=float(np.sqrt(0.123)), omega_vc=float(np.sqrt(0.123)),
        ec50_mg_l=0.535, emax_cl=-0.295, t50_cl_h=1410.0, gamma_cl=3.15, source=_BAJAJ,
        ec50_source="assumed equal to pembrolizumab (same target, similar affinity); consistent with "
                    ">70% PD-1 occupancy at all doses 0.1-10 mg/kg (Brahmer et al., J Clin Oncol "
                    "2010;28:3167). Q and Vp scale with the CL and Vc exponents (assumed)."),
    "pembrolizumab": Drug(
        "pembrolizumab", "pd1", "PD-1", cl_l_day=0.22, vc_l=3.48, q_l_day=0.795, vp_l=4.06,
        ref_weight_kg=76.8, cl_weight_exp=0.595, vc_weight_exp=0.489, q_weight_exp=0.595,
        vp_weight_exp=0.489, omega_cl=float(np.sqrt(0.134)), omega_vc=float(np.sqrt(0.0417)),
        ec50_mg_l=0.535, source=_AHAMADI, ec50_source=_PEMBRO_EC50),
    "ipilimumab": Drug(
        "ipilimumab", "ctla4", "CTLA-4", cl_l_day=0.0150 * H_PER_DAY, vc_l=4.15, q_l_day=0.0411 * H_PER_DAY,
        vp_l=3.11, ref_weight_kg=80.0, cl_weight_exp=0.642, vc_weight_exp=0.708, q_weight_exp=0.642,
        vp_weight_exp=0.708, omega_cl=float(np.sqrt(0.125)), omega_vc=float(np.sqrt(0.0223)),
        ec50_mg_l=5.0, ldh_cl_exp=1.13, source=_FENG,
        ec50_source="assumed: no published CTLA-4 occupancy EC50; 5 µg/mL puts the 3 mg/kg trough "
                    "(19.4 µg/mL, label) near 80% and makes 10 mg/kg more active than 3 mg/kg, as "
                    "observed (Ascierto et al., Lancet Oncol 2017;18:611)"),
    "docetaxel": Drug(
        "docetaxel", "cyto", "microtubules (cytotoxic)", cl_l_day=32.6 * H_PER_DAY, vc_l=5.77,
        q_l_day=5.34 * H_PER_DAY, vp_l=11.0, ref_weight_kg=70.0, cl_weight_exp=0.0, vc_weight_exp=0.0,
        q_weight_exp=0.0, vp_weight_exp=0.0, omega_cl=0.295, omega_vc=0.0, ec50_mg_l=7.17 * 0.808,
        source=_ONOUE, ec50_source=_FRIBERG_EC50),
}

def is_cytotoxic(name: str) -> bool:
    return name in CATALOGUE and CATALOGUE[name].slot == "cyto"


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
    out = {k: np.zeros((n, N_SLOTS)) for k in ("pk_cl", "pk_q", "pk_emax")}
    out.update({k: np.ones((n, N_SLOTS)) for k in ("pk_vc", "pk_vp", "pk_t50", "pk_gamma", "pk_ec50")})
    out["pk_vc"] *= 3.0
    out["pk_vp"] *= 3.0
    used: dict[str, str] = {}
    for name in dict.fromkeys(drugs):
        drug = CATALOGUE.get(name)
        if drug is None:
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
    return out
