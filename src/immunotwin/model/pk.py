"""Antibody pharmacokinetics and receptor occupancy, one two-compartment model per target.

Drug slots, by target (:mod:`.slots`): ``pd1`` (nivolumab, pembrolizumab), ``ctla4`` (ipilimumab,
tremelimumab), ``pdl1`` (atezolizumab, durvalumab), ``cyto``, a cytotoxic chemotherapy
(docetaxel), ``il2`` (aldesleukin), ``cd20`` (rituximab, a tumour-targeting antibody that kills by
antibody-dependent cytotoxicity), ``il6r`` (tocilizumab), ``ifn`` (interferon-alpha), ``vaccine`` (a
peptide vaccine: the "central compartment" is the injection depot and its occupancy term the
antigen it supplies), ``bcg`` (intravesical BCG: the depot is the bladder wall), and ``braf`` and ``mek``
(oral BRAF and MEK inhibitors, dabrafenib and trametinib; apparent oral clearance and volumes, doses taken daily or
twice daily given as their mean input rate over the clinic's step: :mod:`immunotwin.clinic.schedule`). Each is a linear two-compartment
model with IV doses given as jumps into the central compartment (amount in mg; C in mg/L =
µg/mL), or, for schedules more frequent than the clinic's day (aldesleukin every 8 hours), as a
zero-order input u_r (mg/day) over the day carrying that day's doses (same exposure, flatter
peaks); subcutaneous doses are absorbed the same way over their day. Clearance may fall with time on treatment, as for nivolumab (Bajaj et al.,
CPT:PSP 2017;6:58):

    dA_c/dt = u_r - (CL(t)/V_c) A_c - (Q/V_c) A_c + (Q/V_p) A_p
    dA_p/dt =  (Q/V_c) A_c - (Q/V_p) A_p
    CL(t)   = CL exp(E_max tau^g / (T50^g + tau^g)),  tau = hours since the slot's first dose

Inhibition of the MAPK pathway by the two oral inhibitors combines as independent actions (Bliss),
I_MAPK = 1 - (1 - RO_braf)(1 - RO_mek), and the tumour grows tolerant of them: the pathway reactivates
(RTK upregulation, NRAS and MEK mutations, BRAF amplification and splicing), which the model takes as
both inhibitors' EC50 rising e-fold every P days of treatment, RO = C / (C + EC50 exp(tau_MAPK / P)),
tau_MAPK the days since the first of them was taken (a tolerance model of the usual form, a shift of
potency with time: Gabrielsson & Weiner, Pharmacokinetic and Pharmacodynamic Data Analysis, 5th ed.,
chapter on tolerance; P per patient, ``mapk_persistence`` in :mod:`.tumour`). Deeper inhibition by the
pair then stays effective longer than either drug alone, the rationale of combining them (Flaherty et al.,
N Engl J Med 2012;367:1694).

Receptor occupancy is at quasi-steady state, RO = C⁺ / (C⁺ + EC50) (C⁺ = max(C, 0)) (binding is fast next to
PK; Brahmer et al., J Clin Oncol 2010;28:3167 show occupancy plateauing within a day).
For the cytotoxic slot the same saturable term gives the drug effect on proliferating cells
of the myelosuppression model of Friberg et al. (J Clin Oncol 2002;20:4713), E = E_max C/(C + EC50),
which :mod:`.marrow`, :mod:`.tumour` and :mod:`.tcells` read.
The slot parameters are filled from the drug catalogue (:mod:`immunotwin.drugs`) for each
patient; the equations are the same for every drug.

Corticosteroids: a prednisone-equivalent dose rate u (mg/day) drives an effect
compartment dS/dt = k_s (u - S) (delay of genomic effects; assumed, see parameters).
"""

from __future__ import annotations

import jax.numpy as jnp

from .base import Ctx, Subsystem, pos
from .params import assumed, sourced
from .slots import N_SLOTS  # jax-free home of the slot list

_CAT = "per drug and patient from the drug catalogue (immunotwin.drugs; sources there)"

PARAMS = (
    sourced("pk_cl", "L/day", (0.0,) * N_SLOTS, _CAT),
    sourced("pk_vc", "L", (3.0,) * N_SLOTS, _CAT),
    sourced("pk_q", "L/day", (0.0,) * N_SLOTS, _CAT),
    sourced("pk_vp", "L", (3.0,) * N_SLOTS, _CAT),
    sourced("pk_emax", "1", (0.0,) * N_SLOTS, _CAT),
    sourced("pk_t50", "h", (1.0,) * N_SLOTS, _CAT),
    sourced("pk_gamma", "1", (1.0,) * N_SLOTS, _CAT),
    sourced("pk_ec50", "mg/L", (1.0,) * N_SLOTS, _CAT),
    sourced("pk_fcgr", "1", (0.0,) * N_SLOTS, "1 where the slot's anti-PD-1 reprograms macrophages through their "
            "Fc-gamma receptors (IgG4 S228P binds Fc-gamma RI; read on the PD-1 slot only, model.macrophages), 0 "
            "otherwise; " + _CAT),
    sourced("pk_lympho", "1", (0.0,) * N_SLOTS, "1 where the slot's cytotoxic drug reaches lymphocytes as well "
            "(a purine analogue: model.tregs reads it on the cytotoxic slot), 0 otherwise; " + _CAT),
    sourced("chemo_emax", "1", 83.9, "Friberg et al., J Clin Oncol 2002;20:4713, Table 4 (docetaxel, "
            "Emax model of the drug effect on proliferating progenitors)"),
    assumed("steroid_ke", "1/day", 1.0,
            "prednisolone half-life is 2-4 h but its genomic anti-inflammatory effect lasts about a "
            "day; a one-day effect delay is the simplest description"),
    assumed("nonimmune_trae_rate", "1/month", 0.01,
            "hazard of a grade >= 3 treatment-related adverse event that is not immune-mediated (fatigue, "
            "infusion reaction, nausea, laboratory abnormalities) per month of exposure to a checkpoint "
            "antibody, from the first dose to 30 days after the last (the usual reporting window); trial tables "
            "count these with the irAEs (under nivolumab, grade >= 3 treatment-related events 10% against "
            "select immune-related 4%: Weber et al., J Clin Oncol 2017;35:785). Not in the ODEs: the clinic "
            "draws the event (clinic/run.py) and records it without acting on it (assumed). Constant hazard "
            "(assumed); its value is fitted with the calibration (data/calibration.json)"),
    sourced("background_diarrhoea_rate", "1/month", 0.0097,
            "hazard of diarrhoea reported as treatment-related without an immune cause, per month of exposure to a "
            "checkpoint antibody (first dose to 30 days after the last), read from a placebo arm: CheckMate 76K's "
            "placebo group, 25 of 264 (9.5%) treatment-related diarrhoea of any grade and none of grade 3-4 "
            "(Kirkwood et al., Nat Med 2023;29:2835, Table 2), over a mean exposure of 10.3 months (assumed: the "
            "one-year course plus the 30-day window, 13 months, in the 58.6% of a placebo arm who complete it, "
            "KEYNOTE-054's placebo arm, Eggermont et al., N Engl J Med 2018;378:1789, and half of that in the "
            "rest); -ln(1 - 0.095)/10.3. Graded 1 and not acted on; counted where a safety table counts "
            "diarrhoea (clinic/outcomes.reported_column), not as an irAE. Constant hazard (assumed)"),
    sourced("background_rash_rate", "1/month", 0.0068,
            "hazard of rash reported as treatment-related without an immune cause, per month of the same "
            "exposure: CheckMate 76K's placebo group, 18 of 264 (6.8%) treatment-related rash of any grade and "
            "none of grade 3-4 (Kirkwood et al., Nat Med 2023;29:2835, Table 2), over the same assumed 10.3 "
            "months: -ln(1 - 0.068)/10.3. Graded 1, not acted on, counted where a safety table counts rash"),
    assumed("systemic_irae_rate", "1/month", 0.1,
            "hazard of a grade >= 3 immune-related event in tissues the model has no organ for (lipase and amylase "
            "rises, fatigue, pyrexia and the like; e.g. asymptomatic grade 3 amylase/lipase rises in 2 of 148 "
            "nivolumab patients, Freeman-Keller et al., Clin Cancer Res 2016;22:886) per month of one fully "
            "activated organ's autoreactive pool, summed over organs above the patient's pre-treatment level "
            "(clinic/run.py, autoreactive_activity). CheckMate 067's grade 3-4 events beyond its rash, "
            "diarrhoea/colitis, hepatitis and hypothyroidism rows are larger in the ipilimumab arms than over a "
            "year of nivolumab (docs/credibility.md), so these events are tied to immune activation, as the "
            "organs' irAEs are, not to months of exposure (assumed form). Not in the ODEs: the clinic draws the "
            "event and records it without acting on it (assumed: mostly laboratory rises). Its value is fitted "
            "with the calibration (data/calibration.json)"),
)


def clearance(p, t, tfd):  # type: ignore[no-untyped-def]
    """Clearance (L/day) at time t (days) for slots first dosed at tfd (days)."""
    tau_h = pos(t - tfd) * 24.0
    g = p["pk_gamma"]
    frac = tau_h**g / (p["pk_t50"] ** g + tau_h**g)
    return p["pk_cl"] * jnp.exp(p["pk_emax"] * frac)


def _signals(ctx: Ctx) -> dict:
    conc = ctx.s["pk_central"] / ctx.p["pk_vc"]
    # Occupancy from the non-negative part: a trial stage of the explicit solver can overshoot a
    # fast-clearing drug (aldesleukin: 35/day) below zero, and C/(C + EC50) is singular at C = -EC50;
    # a finite vector field lets the step-size controller reject the step and shrink it.
    c = pos(conc)
    ro = c / (c + ctx.p["pk_ec50"])
    # MAPK tolerance: the BRAF and MEK inhibitors' EC50 rises e-fold every mapk_persistence days on treatment
    tfd = ctx.u["tfd"] + jnp.zeros_like(ctx.p["pk_ec50"])  # (slots,), also when given as one number
    mapk_days = pos(ctx.t - jnp.minimum(tfd[10], tfd[11]))
    shift = jnp.exp(jnp.minimum(mapk_days / ctx.p["mapk_persistence"], 50.0))
    ro_braf = c[10] / (c[10] + ctx.p["pk_ec50"][10] * shift)
    ro_mek = c[11] / (c[11] + ctx.p["pk_ec50"][11] * shift)
    ro_pd1, ro_ctla4, ro_pdl1 = ro[0], ro[1], ro[2]
    # Either antibody interrupts PD-1 signalling; occupancy of both acts independently.
    block_pd = 1.0 - (1.0 - ro_pd1) * (1.0 - ro_pdl1)
    return {"conc": conc, "ro": ro, "block_pd": block_pd, "block_pd1": ro_pd1,
            "block_ctla4": ro_ctla4, "chemo": ctx.p["chemo_emax"] * ro[3],
            "chemo_lympho": ctx.p["pk_lympho"][3] * ctx.p["chemo_emax"] * ro[3], "steroid": ctx.s["steroid_effect"],
            "il2_exo": ro[4], "cd20_bound": ro[5], "il6r_block": ro[6], "ifn_exo": ro[7], "vaccine": ro[8],
            "bcg": ro[9], "mapk": 1.0 - (1.0 - ro_braf) * (1.0 - ro_mek)}


def _derivatives(ctx: Ctx) -> dict:
    p = ctx.p
    ac, ap = ctx.s["pk_central"], ctx.s["pk_periph"]
    cl = clearance(p, ctx.t, ctx.u["tfd"])
    kel = cl / p["pk_vc"]
    k12 = p["pk_q"] / p["pk_vc"]
    k21 = p["pk_q"] / p["pk_vp"]
    return {
        "pk_central": ctx.u["rate"] - kel * ac - k12 * ac + k21 * ap,
        "pk_periph": k12 * ac - k21 * ap,
        "steroid_effect": p["steroid_ke"] * (ctx.u["steroid"] - ctx.s["steroid_effect"]),
    }


SUBSYSTEM = Subsystem(
    name="pk",
    states=(("pk_central", N_SLOTS), ("pk_periph", N_SLOTS), ("steroid_effect", 1)),
    params=PARAMS,
    signals=_signals,
    derivatives=_derivatives,
    doc=__doc__ or "",
)
