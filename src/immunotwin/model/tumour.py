"""Tumour: growth, antigenicity, PD-L1, antigen release and new lesions.

Two clones: ``log_sensitive`` = ln(T_s) and ``log_resistant`` = ln(T_r), cells in units of
1e9 (about 1 cm^3; Del Monte, Cell Cycle 2009;8:505), T = T_s + T_r (a third, MAPK-resistant clone T_m, below,
exists only in BRAF V600-mutant tumours). The resistant clone
(antigen loss, B2M or JAK1/2 loss: Zaretsky et al., N Engl J Med 2016;375:819; Sharma et
al., Cell 2017;168:707) is a patient-level fraction f_r of the baseline burden that hardly
becomes more visible when immunity is unleashed: it keeps the killing rate it had at
enrolment (k_0) plus a fraction rho_k of any rise (epitope spreading to antigens it still
carries), and presents antigen at a fraction rho. Growth is logistic per cell with
IL-6 promotion; killing per sensitive cell comes from :mod:`.tcells`:

    d lnT_s/dt = r_g (1 - T/K) (1 + c_p (IL6 - 1)/(IL6 + 1)) - kill
    d lnT_r/dt = r_g (1 - T/K) (1 + c_p (IL6 - 1)/(IL6 + 1)) - k_0 - rho_k max(kill - k_0, 0)

Partial responses, relapse after response (acquired resistance) and complete responses
(f_r below the detection limit) follow from f_r.

(logistic growth as in Kuznetsov et al., Bull Math Biol 1994;56:295; IL-6/STAT3 promotion:
Grivennikov et al., Cell 2010). Below one cell (T < 1e-9) a clone is eradicated. Every clone's growth
is further multiplied by (1 + h M), tumour macrophages reprogrammed by an anti-PD-1's Fc
(:mod:`.macrophages`, hyperprogression; 1 without such a drug).

Antigen presented to T cells saturates with tumour antigen, which rises with killing
(antigen release from dying cells):

    Ag = (T_s + rho T_r)(1 + tau_ag kill),   P = imm (1 + c_b b_CTLA4)(1 + c_I b_IFN) Ag/(Ag + K_ag) + v b_vax

Interferon-alpha (b_IFN) raises presentation and slows growth by a fraction g_I b_IFN; a peptide
vaccine adds antigen v b_vax presented in lymph nodes (it primes and stimulates T cells; it kills
nothing by itself).

``imm`` is the patient's immunogenicity, scaled by tumour mutational burden
(neoantigen load; Samstein et al., Nat Genet 2019;51:202). Tumour PD-L1 is constitutive
(from the patient's tumour proportion score) plus IFN-γ-induced (Garcia-Diaz 2017):

    L = L_0 + L_ifn (IFN - 1)/(IFN - 1 + K_ifn),  inh = L (1-b_PD)/(L (1-b_PD) + K_L)

Cytotoxic chemotherapy kills both clones at k_chemo E_c (1/day), E_c the drug effect of the
myelosuppression model (:mod:`.pk`, Friberg et al. 2002): tumour cells are taken to respond to
the same exposure-effect curve as marrow progenitors, with their own sensitivity k_chemo.
BRAF and MEK inhibitors (dabrafenib, trametinib) kill both clones of a BRAF V600-mutant tumour
(b_V600 = 1; 0 in wild-type tumours, which they do not touch) at k_MAPK I_MAPK, I_MAPK the pathway's
inhibition (:mod:`.pk`), which fades on treatment as the pathway reactivates: both inhibitors' EC50
rises e-fold every P days (tolerance; reactivation of MAPK signalling ends most responses: NRAS and
MEK1/2 mutations, BRAF amplification and splice variants in about half of progressing tumours, Johnson
et al., Nat Commun 2015;6:6908; recalled, verify; and adaptive, non-genetic tolerance). A time-fading
drug effect is the resistance term of the tumour growth inhibition model of Claret et al. (J Clin Oncol
2009;27:4103); here it acts on potency, so the pair's deeper inhibition outlasts either drug's. P varies
between patients (assumed log-SD 1), so some responses last for years. Both clones are hit alike: BRAF V600 is a
truncal mutation, shared by immune-resistant and immune-visible cells. A third clone, ``log_mapk_resistant`` = ln(T_m),
is the part of the immune-visible cells that BRAF and MEK inhibitors do not touch (pre-existing subclones with
NRAS or MEK1/2 mutations or BRAF amplification, the commonest genetic causes of progression on them): a patient-level
fraction f_m of a BRAF V600-mutant tumour's immune-visible cells at enrolment (none in wild-type tumours). It grows,
meets immune and other killing, and presents antigen as the sensitive clone does:

    d lnT_m/dt = r_g (1 - T/K) (1 + c_p (IL6 - 1)/(IL6 + 1)) - kill   (T = T_s + T_m + T_r)

so a deep response to BRAF and MEK inhibition regrows from it (the regrowth term of Claret et al. 2009) unless the
immune response holds it (a simplification: unseen micrometastases are cleared by the whole MAPK kill, though foci
seeded late come more and more from the subclone; new lesions on the drugs come too seldom rather than too often).
Cells killed by BRAF and MEK inhibition release antigen as immune killing does
(BRAF inhibition also raises melanocyte-antigen expression and T-cell infiltration: Frederick et al., Clin
Cancer Res 2013;19:1225; recalled, verify).
IL-2-activated NK/LAK cells and antibody-dependent cytotoxicity (:mod:`.innate`) kill both clones
too (no MHC needed); CD19 CAR T cells (:mod:`.celltherapy`) kill the sensitive clone and, at a
fraction, the resistant one. All of them add to the extra killing below, and any killing releases antigen.

New metastatic lesions are seeded with the colonisation rate of Iwata, Kawasaki & Shigesada
(J Theor Biol 2000;203:177), beta(T) = m T^alpha, and become visible after growing for a mean
delay D; while they grow they meet the same extra immune (and cytotoxic) killing as the
sensitive clone, so an effective treatment clears seeded foci before they are seen. With ``L``
the seeded, not yet visible foci (in visible-lesion equivalents) and H the visible-lesion
hazard integral (state ``new_lesion_hazard``, compared by the clinic with the patient's
exponential draws):

    dL/dt = m T^alpha - L/D - (max(kill - kill_0, 0) + k_chemo E_c) L,   dH/dt = L/D

Before treatment L sits at its steady state m T^alpha D, so untreated disease shows new
lesions at the Iwata rate. A lesion surfaces at the detection limit when H passes one of the
patient's thresholds; from then on it shrinks and grows with the viable burden T (seeded by
both clones in their proportions), so a scan shows it only while T is at least what it was
when the lesion surfaced (``clinic.observe.new_lesions_visible``): a focus that surfaced as
treatment began and was shrunk below detection by the next scan is not a new lesion there.

Cells killed by treatment leave a residual mass R (necrosis, fibrosis, inflammatory
infiltrate) that imaging still measures and that clears slowly with mean time tau_R:

    dR/dt = (max(kill - kill_0, 0) + k_chemo E_c) T_s + (rho_r max(kill - kill_0, 0) + k_chemo E_c) T_r - R/tau_R

A patient-level share phi of the killed mass does not resorb: a fibrotic scar S that CT keeps
measuring (the resorbing part above takes 1 - phi):

    dR/dt = (1 - phi) x dying - R/tau_R,   dS/dt = phi x dying

The resorbing mass clears in two phases. A share f_D of it is the killed cells' own debris,
which phagocytes clear within days to weeks (mean time tau_D); the rest, R above, is the
stroma, inflammatory infiltrate and fibrosis that resorb over months:

    dD/dt = f_D (1 - phi) x dying - D/tau_D,   dR/dt = (1 - f_D)(1 - phi) x dying - R/tau_R

With one slow phase alone, a lesion whose tumour cells were all killed by week 8 still
measured about half its size on CT at week 12, so most responses were first seen months
late, where more than 70% of responses to nivolumab with or without ipilimumab are seen at
the first scan (pooled CheckMate 066/067/069; a validation figure, docs/credibility.md).

The clinic's CT reads T + D + R + S; PET-based readings (Lugano, cystoscopy with biopsy) read T;
death from burden reads T. Residual masses after immunotherapy often hold no viable tumour,
which is why radiological complete responses keep accruing for years (5-year CR 22% against
11.5% at the first report of CheckMate 067: Larkin et al., N Engl J Med 2019;381:1535 and
2015;373:23), and why many durable responders never reach one: a year into anti-PD-1 therapy,
of 104 progression-free melanoma patients 28% had a CT complete response and 66% a partial
one, yet 68% of those partial responders had a complete metabolic response on PET (Tan et al.,
Ann Oncol 2018;29:2115); 6 of 12 PET-negative long responders kept CT-visible lesions (Kong et
al., Pigment Cell Melanoma Res 2016;29:572). Without S every eliminated tumour ends as a CT
complete response once R has cleared.
"""

from __future__ import annotations

import jax.numpy as jnp

from .base import Ctx, Subsystem
from .params import assumed, sourced

LN_MIN = -20.7  # ln(1e-9): one cell, in units of 1e9 cells

PARAMS = (
    assumed("growth_rate", "1/day", 0.012,
            "intrinsic per-cell growth before immune killing; in virtual patients it is derived at "
            "enrolment as net_growth_rate + baseline killing (see net_growth_rate)"),
    sourced("net_growth_rate", "1/day", 0.006,
            "observed (net) untreated growth of the sensitive clone at enrolment; melanoma growth "
            "scenarios 0.0017-0.0088/day in Lindauer et al., CPT:PSP 2017;6:11, Table S3 (read in a "
            "transcription); value per cancer in the catalogue. Trials enrol progressing disease, so "
            "the intrinsic rate is this plus the patient's baseline immune killing", iiv=0.6),
    assumed("carrying_capacity", "1e9 cells", 5000.0, "5e12 cells, above the lethal burden, so growth "
            "is near exponential at clinical sizes"),
    assumed("il6_promotion", "1", 0.2, "modest tumour promotion by systemic inflammation"),
    assumed("immunogenicity", "1", 0.4,
            "scale of antigen-driven T-cell stimulation at the reference TMB; hand-set so that "
            "untreated tumours escape and checkpoint blockade controls a minority, pending "
            "calibration (issue 4)", iiv=1.2),
    assumed("ctla4_breadth", "1", 0.6, "CTLA-4 blockade broadens the tumour-reactive T-cell "
            "repertoire (Kvistborg et al., Sci Transl Med 2014;6:254ra128): more antigens recognised, "
            "taken as a rise of antigen presentation at full occupancy; magnitude assumed", iiv=0.5),
    assumed("tmb_exponent", "1", 0.5, "immunogenicity rises with TMB (Samstein 2019) sub-linearly"),
    assumed("tmb_ref", "mut/Mb", 10.0, "reference TMB (near the melanoma median)"),
    assumed("k_antigen", "1e9 cells", 5.0, "tumour antigen of half-maximal presentation"),
    assumed("tau_antigen", "day", 10.0, "persistence of antigen released by killed cells"),
    assumed("pdl1_constitutive", "1", 0.3, "set from the patient's PD-L1 tumour proportion score"),
    assumed("pdl1_ifn", "1", 0.7, "maximal IFN-γ-induced PD-L1 (adaptive resistance)"),
    assumed("k_ifn", "1", 1.0, "IFN-γ rise of half-maximal PD-L1 induction"),
    assumed("k_pdl1", "1", 0.05, "PD-L1 level of half-maximal PD-1 inhibition"),
    assumed("resistant_fraction", "1", 0.03, "median fraction of the baseline burden in immune-"
            "resistant clones; wide variability gives complete and partial responses", iiv=2.0),
    assumed("resistant_kill", "1", 0.1, "fraction of any rise in killing that reaches the resistant "
            "clone (epitope spreading); its spread is calibrated", iiv=0.5),
    assumed("resistant_antigen", "1", 0.15, "relative antigen presentation of the resistant clone"),
    assumed("baseline_kill", "1/day", 0.0, "killing rate at enrolment, set per patient by the engine's "
            "enrolment step; the resistant clone keeps it"),
    assumed("lethal_burden", "1e9 cells", 1000.0, "about 1 kg or 1e12 cells (Del Monte, Cell Cycle "
            "2009; textbook figure); read by the clinic, not the vector field; lowered 30% per ECOG point",
            iiv=0.5),
    assumed("chemo_tumour_kill", "1/day", 0.15, "tumour kill per unit cytotoxic drug effect; to be fitted "
            "to a chemotherapy arm's response rate (see drugs.catalogue, docetaxel); no variability "
            "assumed beyond growth's (a new random effect would shift every later draw)"),
    assumed("mapk_kill", "1/day", 0.05,
            "tumour kill per day at full MAPK-pathway inhibition in a BRAF V600-mutant tumour, before resistance; "
            "fitted to COMBI-d's dabrafenib + trametinib response rate (data/cancer_fit.json)"),
    assumed("mapk_persistence", "day", 180.0,
            "days of treatment over which the tumour's tolerance raises the BRAF and MEK inhibitors' EC50 e-fold "
            "(model.pk; a time-fading effect as in Claret et al., J Clin Oncol 2009;27:4103); median fitted to "
            "COMBI-d's dabrafenib + trametinib median PFS; "
            "log-SD 1 assumed (responses to BRAF + MEK inhibitors range from months to more than five years: 5-year "
            "PFS about 19%, Robert et al., N Engl J Med 2019;381:626, recalled)", iiv=1.0),
    assumed("mapk_resistant_fraction", "1", 1e-3,
            "median fraction of a BRAF V600-mutant tumour's immune-visible cells that resist BRAF and MEK inhibition "
            "before treatment (pre-existing NRAS, MEK1/2 or BRAF-amplified subclones: Johnson et al., Nat Commun "
            "2015;6:6908, recalled, verify; a clone of at least a few cells per million is expected in a "
            "billion-cell tumour from mutation rates alone, order of magnitude); median fitted to COMBI-d's "
            "dabrafenib + trametinib 3-year PFS (data/cancer_fit.json), log-SD 2 assumed (subclone sizes "
            "span orders of magnitude)", iiv=2.0),
    assumed("braf_v600", "1", 0.0,
            "1 if the tumour carries a BRAF V600 mutation, else 0; set per patient from the covariate braf_v600 "
            "(immunotwin.population)"),
    sourced("metastasis_alpha", "1", 0.663,
            "Iwata, Kawasaki & Shigesada, J Theor Biol 2000;203:177 (fractal dimension of tumour "
            "vasculature)"),
    assumed("residual_clearance_time", "day", 90.0,
            "mean clearance time of the residual mass left by killed tumour cells (necrosis and "
            "fibrosis resorb over months; assumed, then calibrated with its variability): sets how long "
            "a complete response takes to be seen", iiv=0.5),
    assumed("debris_share", "1", 0.7,
            "share of the resorbing mass left by killed tumour cells that is the cells' own debris, cleared "
            "in weeks (debris_clearance_time); the rest is stroma, infiltrate and fibrosis that resorb over "
            "months (residual_clearance_time). Assumed from the make-up of melanoma metastases: mostly tumour "
            "cells with a minor stromal part (tumour cell content of melanoma samples is usually above "
            "60-70%, the threshold that molecular profiling asks of a sample; order of magnitude). Set before "
            "any fit and not fitted"),
    assumed("debris_clearance_time", "day", 14.0,
            "mean clearance time of killed tumour cells' debris: apoptotic cells are engulfed within hours and "
            "necrotic debris and its oedema resolve over days to a few weeks (assumed order of magnitude); set "
            "before any fit and not fitted"),
    assumed("scar_fraction", "1", 1e-3,
            "share of the tumour mass killed by treatment that stays as a fibrotic residue CT keeps measuring "
            "(not resorbed over the simulated years: an assumed simplification). With lesions of a few cm, a "
            "complete response (every lesion under 3 mm) needs a share below about 1e-3, the value declared here "
            "before fitting, so the median and the spread set how many eliminated tumours stay CT partial "
            "responses. The median is fitted to the share of patients without a complete response after five "
            "years of nivolumab-containing therapy (pooled CheckMate 066/067/069; data/cancer_fit.json); the wide "
            "spread is assumed (lesion sites differ: lung lesions resolve completely far more often, Khoja et al., "
            "Br J Cancer 2016;115:1186). Tan et al. (Ann Oncol 2018;29:2115) is a validation figure "
            "(docs/credibility.md)", iiv=2.0),
    assumed("ifn_presentation", "1", 1.0, "interferon-alpha raises MHC class I on tumour cells and matures "
            "dendritic cells (Belardelli et al., Cancer Res 2002;62:5869; Ferrantini et al., Biochimie 2007;89:884): "
            "antigen presentation doubled at full receptor occupancy (assumed)"),
    assumed("ifn_antiproliferative", "1", 0.3, "direct antiproliferative effect of interferon-alpha on tumour "
            "cells: growth lowered by this fraction at full occupancy (assumed; fitted if marked so)"),
    assumed("vaccine_potency", "1", 0.2, "antigen presentation supplied by a peptide vaccine depot at full "
            "availability, on the scale of the tumour's own (immunogenicity about 1 in melanoma); fitted if "
            "marked so"),
    assumed("micrometastasis_delay", "day", 56.0,
            "mean time from seeding to a visible lesion; a month or two for a focus to reach a few "
            "millimetres (assumed); sets how much of the seeded burden early treatment clears"),
    assumed("metastasis_rate", "1/day/(1e9 cells)^alpha", 3e-4,
            "Iwata 2000 form; value set so that an untreated 100e9-cell burden seeds a visible new "
            "lesion in about 6 months", iiv=0.5),
)


def _signals(ctx: Ctx) -> dict:
    p, s, sig = ctx.p, ctx.s, ctx.sig
    ts, tr = jnp.exp(s["log_sensitive"]), jnp.exp(s["log_resistant"])
    tm = jnp.exp(s["log_mapk_resistant"])
    tum = ts + tm + tr
    ifn_x = sig["ifn"] - 1.0
    pdl1 = p["pdl1_constitutive"] + p["pdl1_ifn"] * ifn_x / (ifn_x + p["k_ifn"])
    free = pdl1 * (1.0 - sig["block_pd"])
    inh = free / (free + p["k_pdl1"])
    kill_mapk = p["mapk_kill"] * p["braf_v600"] * sig["mapk"]
    # "sensitive": every immune-visible cell, the MAPK-resistant subclone's included
    return {"tumour": tum, "sensitive": ts + tm, "mapk_resistant": tm, "resistant": tr, "pdl1": pdl1,
            "pd1_inhibition": inh, "kill_mapk": kill_mapk}


def antigen(ctx: Ctx, kill: jnp.ndarray) -> jnp.ndarray:
    """Antigen presentation P (0 to imm) from tumour size and killing (per day)."""
    p = ctx.p
    # any killing releases antigen
    released = kill + ctx.sig["kill_nk"] + ctx.sig["kill_adcc"] + ctx.sig["kill_car"] + ctx.sig["kill_mapk"]
    ag = (ctx.sig["sensitive"] + p["resistant_antigen"] * ctx.sig["resistant"]) * (1.0 + p["tau_antigen"] * released)
    breadth = 1.0 + p["ctla4_breadth"] * ctx.sig["block_ctla4"]
    mhc = 1.0 + p["ifn_presentation"] * ctx.sig["ifn_exo"]
    return p["immunogenicity"] * breadth * mhc * ag / (ag + p["k_antigen"]) + p["vaccine_potency"] * ctx.sig["vaccine"]


def _derivatives(ctx: Ctx) -> dict:
    p, s, sig = ctx.p, ctx.s, ctx.sig
    tum = sig["tumour"]
    il6x = sig["il6"] - 1.0
    growth = p["growth_rate"] * (1.0 - tum / p["carrying_capacity"]) * (1.0 + p["il6_promotion"] * il6x / (il6x + 1.0)) \
        * (1.0 - p["ifn_antiproliferative"] * sig["ifn_exo"]) * sig["fc_growth"]
    mapk = sig["kill_mapk"]  # not the MAPK-resistant subclone
    chemo = p["chemo_tumour_kill"] * sig["chemo"] + sig["kill_nk"] + sig["kill_adcc"]  # every clone
    car = sig["kill_car"]  # CD19+ cells only: the resistant clone stands for antigen-negative escape
    d_s = jnp.where(s["log_sensitive"] > LN_MIN, growth - sig["kill"] - chemo - mapk - car, 0.0)
    d_m = jnp.where(s["log_mapk_resistant"] > LN_MIN, growth - sig["kill"] - chemo - car, 0.0)
    extra = jnp.maximum(sig["kill"] - p["baseline_kill"], 0.0)
    d_r = jnp.where(s["log_resistant"] > LN_MIN, growth - p["baseline_kill"] - p["resistant_kill"] * extra - chemo
                    - mapk - sig["kill_car_resistant"], 0.0)
    seeded, delay = s["micrometastases"], p["micrometastasis_delay"]
    clearance = extra + chemo + mapk + car
    dying = (extra + chemo + car) * sig["sensitive"] + mapk * (sig["sensitive"] - sig["mapk_resistant"]) \
        + (p["resistant_kill"] * extra + chemo + mapk + sig["kill_car_resistant"]) * sig["resistant"]
    return {
        "log_sensitive": d_s,
        "log_mapk_resistant": d_m,
        "log_resistant": d_r,
        "micrometastases": p["metastasis_rate"] * tum ** p["metastasis_alpha"] - seeded / delay - clearance * seeded,
        "new_lesion_hazard": seeded / delay,
        "debris_mass": p["debris_share"] * (1.0 - p["scar_fraction"]) * dying
        - s["debris_mass"] / p["debris_clearance_time"],
        "residual_mass": (1.0 - p["debris_share"]) * (1.0 - p["scar_fraction"]) * dying
        - s["residual_mass"] / p["residual_clearance_time"],
        "scar_mass": p["scar_fraction"] * dying,
    }


SUBSYSTEM = Subsystem(
    "tumour", (("log_sensitive", 1), ("log_mapk_resistant", 1), ("log_resistant", 1), ("micrometastases", 1), ("new_lesion_hazard", 1),
                ("debris_mass", 1), ("residual_mass", 1), ("scar_mass", 1)), PARAMS,
    derivatives=_derivatives, signals=_signals, doc=__doc__ or "",
)
