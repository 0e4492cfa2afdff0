"""Self-tolerance organ by organ, tissue damage and repair, endocrine loss, autoantibodies.

One autoreactive T-cell pool per organ o (``autoreactive``, 1 = tolerised level) is held
down by systemic Tregs, tissue PD-L1 and CTLA-4 at priming. Its activation gain

    G_o = a susc_o m_o (1 + c_o + p_o + s c_o p_o)
          (1 + 2 x_o P act_T + f_D D_o/(D_o + 0.1)) (1 + w_cyt,o (g_2 b_2 + g_I b_IFN)) (1 - I) / R_s^c,
    c_o = w_CTLA4,o d_C b_CTLA4,   p_o = w_PD,o d_P b_PD

(c_o, p_o: the release of the organ's pool by CTLA-4 and by PD-1 blockade, which multiply: s = 1, checkpoint_synergy below;
b_2, b_IFN: receptor occupancy by aldesleukin and interferon-alpha, :mod:`.pk`; both drive activated
T cells and break tolerance, the thyroid's most: w_cyt is 1 for every organ but the thyroid, whose weight is
fitted to thyroid dysfunction under high-dose IL-2).

collects the patient's overall autoimmune propensity a and organ susceptibility
(genetic predisposition, pre-existing disease), the patient's dependence on each
checkpoint (d_C, d_P),
the organ's tolerance margin m_o < 1, how much that organ's tolerance rests on CTLA-4 and
on PD-1 (organ weights w: pituitary expresses CTLA-4, Iwama et al., Sci Transl Med
2014;6:230ra45; PD-1 loss gives myocarditis, Nishimura et al., Science 2001;291:319, and
CTLA-4 loss multi-organ colitis-dominant autoimmunity, Tivol et al., Immunity 1995;3:541),
cross-reactivity x_o with tumour antigen where tumour and organ share antigens (melanoma
and melanocytes, thymoma and the acetylcholine receptor, lung cancer and lung: Berner et
al., JAMA Oncol 2019;5:1043), and damage-driven epitope spreading. The shared-antigen drive
is carried by T cells that are attacking the tumour: it is the antigen presented, P, times the
effector activity in the tumour, act_T (:mod:`.cytokines`), so that skin autoimmunity in melanoma
goes with the anti-tumour response (vitiligo in responders: Freeman-Keller et al., Clin Cancer Res
2016;22:886) rather than with tumour size alone; the factor 2 keeps the drive at full activity
where the earlier form P (1 + act_T) had it. (Autoantibodies, below, need antigen only.) Pools grow when G > 1:

    dA_o/dt = k_h (1 - A_o) + e_o A_o/(1 + A_o/A_max),   e_o = x/(1 + (max(x, 0)/e_max)^4)^(1/4),  x = r_A (G_o - 1)
    dD_o/dt = (k_d,o h(A_o) + k_ab,o B_o/(B_o+1)) (1 - D_o)(1 - I) - k_rep,o D_o
    dF_o/dt = -k_loss,o D_o F_o                      (thyroid, pituitary, islets: no recovery)
    dT4/dt  = ln 2/t_T4 (F_thy + S k_loss,thy D_thy F_thy - T4)   (serum thyroxine, normal 1)
    dB_o/dt = k_B,o (h(A_o) + c_B x_o P) - d_B B_o    (autoantibodies; IgG half-life 21 days)

(T4: the gland's own secretion F plus the hormone stored in the colloid of the follicles being destroyed, S days of
normal secretion each; the clinic reads TSH as 2/T4^2 and the thyrotoxic phase of painless thyroiditis as T4 above
the reference range. Fast destruction of a full gland releases its store, a slow one does not: hypothyroidism then
comes without a thyrotoxic phase, as in four of ten patients started on thyroid hormone under pembrolizumab, Osorio
et al., Ann Oncol 2017;28:583.)

(e_o: the net expansion rate, r_A (G_o - 1) while that is small, never above the ceiling e_max however large the
gain; a contraction, G_o < 1, is not limited. e_max = e_0 + (e_IL2 - e_0) b_2: aldesleukin, the T-cell growth
factor, lifts the ceiling from e_0, what a pool's own IL-2 supports, toward the cell cycle's limit e_IL2), with
h(A) = A^2/(A^2 + A50^2). Vitiligo is not this organ process: melanocytes are killed by the tumour-primed T cells
themselves, which recognise the differentiation antigens (MART-1, gp100, tyrosinase) melanoma shares with them, so
no tolerance has to break (Failla et al., Int J Mol Sci 2019;20:5731). A melanocyte meets a share of the rise in
T-cell killing that treatment brings to a melanoma cell (as the resistant clone does,
:mod:`.tumour`), in proportion to the shared antigen x_skin and to the antigen presented P (so it fades
once the tumour is gone). The destroyed share V of skin melanocytes never recovers within a trial, and
the skin shows it as the melanin already in keratinocytes is shed (W, depigmented share, one epidermal
transit tau_p; the clinic reads W as a share of body surface):

    dV/dt = k_v x_skin P max(kill - kill_0, 0) (1 - V),    dW/dt = (V - W)/tau_p

k_v is fitted to the share of pembrolizumab-treated melanoma patients screened for vitiligo who developed it
(17 of 67: Hua et al., JAMA Dermatol 2016;152:45; data/cancer_fit.json); its link with response and survival
is left to validation. c_B scales the antibody response to shared tumour antigen (fitted to
the share of thymoma patients with myasthenia, :mod:`immunotwin.calibrate_cancers`). D_o in [0, 1] is the damaged fraction; F_o the remaining function.
"""

from __future__ import annotations

import math

import jax.numpy as jnp

from .base import Ctx, Subsystem, hill, pos
from .organs import INDEX as ORGAN_INDEX
from .organs import organ_vector
from .params import assumed, sourced

_LN2 = math.log(2.0)

_TUNED = ("hand-set so that the organ mix of irAEs under ipilimumab and nivolumab follows "
          "class-level incidence (Wang DY et al., JAMA Oncol 2018; Larkin 2015); replaced by "
          "calibration (issue 4)")

PARAMS = (
    assumed("tolerance_margin", "1", organ_vector(
        dermatitis=0.423, colitis=0.35, hepatitis=0.368, pneumonitis=0.35, thyroiditis=0.414,
        hypophysitis=0.294, nephritis=0.267, myocarditis=0.248, neurologic=0.267, diabetes=0.258,
        arthritis=0.35, hematologic=0.276), "baseline activation gain of each organ's pool; " + _TUNED
        + "; the heart's is fitted to myocarditis on a single checkpoint inhibitor (Lindsay et al., J Am Heart Assoc "
        "2025;14:e035689; data/cancer_fit.json), the value here is its start"),
    assumed("weight_ctla4", "1", organ_vector(
        dermatitis=0.9, colitis=1.6, hepatitis=1.5, pneumonitis=0.3, thyroiditis=0.3,
        hypophysitis=1.2, nephritis=0.3, myocarditis=0.4, neurologic=0.5, diabetes=0.2,
        arthritis=0.3, hematologic=0.4), "dependence of each organ's tolerance on CTLA-4; " + _TUNED
        + "; the heart's is fitted to myocarditis on nivolumab + ipilimumab in the same cohort (data/cancer_fit.json)"),
    assumed("weight_pd", "1", organ_vector(
        dermatitis=0.765, colitis=0.51, hepatitis=0.51, pneumonitis=0.85, thyroiditis=1.02,
        hypophysitis=0.17, nephritis=0.595, myocarditis=0.935, neurologic=0.68, diabetes=0.935,
        arthritis=0.68, hematologic=0.51), "dependence of each organ's tolerance on PD-1/PD-L1; " + _TUNED),
    assumed("checkpoint_synergy", "1", 1.0, "how the two checkpoints' releases of an organ's autoreactive pool combine: "
            "1 multiplies them (G grows as (1 + c)(1 + p)), 0 adds them (1 + c + p). 1 (assumed) as in every calibration "
            "so far. The two act at different places on different cells (CTLA-4 blockade at priming in lymphoid tissue, "
            "PD-1 blockade on effector cells in the tissue: Wei, Duffy & Allison, Cancer Discov 2018;8:1069), which "
            "argues for adding them; stop 43 tried 0 with the skin, gut and liver weights fitted to incidence under one "
            "antibody in other trials, refitted CheckMate 067 and did not install it: the fit's loss doubled; fitted with "
            "the calibration (calibrate --direct --free ...,p:checkpoint_synergy) s came to 0.31, with a held-out loss "
            "that rose (docs/credibility-history.md, 'Checkpoint releases added: tried, not installed'). Stop 56 fitted the skin's, "
            "gut's, liver's and thyroid's margins and weights to CheckMate 067's own organ table by arm (immunotwin."
            "calibrate_organs): under the product the skin's fit stalled with the combination far above both "
            "monotherapies (and, bounded at 3, drove the skin's and gut's margins to 3.0 and 2.6), under the sum the table came much nearer, but "
            "CheckMate 067's calibration rows moved (held-out loss 15.0 to 21.5) and it waits for the calibration to be "
            "refitted on it (docs/credibility-history.md, 'Organs fitted to CheckMate 067's safety table: tried, not installed')"),
    assumed("susceptibility", "1", organ_vector(**{k: 1.0 for k in (
        "dermatitis", "colitis", "hepatitis", "pneumonitis", "thyroiditis", "hypophysitis", "nephritis",
        "myocarditis", "neurologic", "diabetes", "arthritis", "hematologic")}),
        "patient-level predisposition per organ; raised by pre-existing autoimmune disease "
        "(population module)", iiv=0.3),
    assumed("cross_reactivity", "1", organ_vector(**{k: 0.0 for k in (
        "dermatitis", "colitis", "hepatitis", "pneumonitis", "thyroiditis", "hypophysitis", "nephritis",
        "myocarditis", "neurologic", "diabetes", "arthritis", "hematologic")}),
        "tumour-organ shared antigen; set per cancer in the catalogue", iiv=0.5),
    assumed("autoimmune_propensity", "1", 1.0, "patient-level propensity to autoimmunity shared by "
            "all organs (HLA and other germline risk is largely shared across autoimmune diseases: "
            "Cotsapas et al., PLoS Genet 2011;7:e1002254); its spread is calibrated", iiv=0.25),
    assumed("ctla4_dependence", "1", 1.0, "patient-level scale of how much tolerance rests on CTLA-4 "
            "(CTLA4 polymorphisms; Ueda et al., Nature 2003;423:506); spread calibrated", iiv=0.3),
    assumed("pd_dependence", "1", 1.0, "patient-level scale of how much tolerance rests on PD-1/PD-L1; "
            "spread calibrated", iiv=0.3),
    assumed("epitope_spreading", "1", 0.3, "damage-driven rise of organ gain"),
    assumed("treg_control", "1", 1.0, "exponent of systemic Treg control of autoreactive gain"),
    assumed("auto_homeostasis", "1/day", 0.05, "return of an autoreactive pool to its tolerised level"),
    assumed("auto_expansion", "1/day", 0.25, "expansion of a released autoreactive pool per unit "
            "excess gain; sets onset in weeks (Weber 2017: 5-15 weeks under nivolumab)"),
    assumed("auto_max", "1", 1000.0, "fold expansion at which a pool halves its growth"),
    assumed("auto_expansion_max", "1/day", 0.5, "fastest net expansion of a released autoreactive pool, however far "
            "its gain is above 1, on the IL-2 the pool's own response makes (a doubling in 1.4 days): a sixth of the "
            "fastest CD8 T-cell expansion measured (auto_expansion_max_il2), and roughly half of a human response to a "
            "live vaccine (yellow fever 17D: specific CD8 T cells at about 1% of CD8 T cells by the second week, Co et "
            "al., Immunology 2009;128:e718; from a precursor frequency of the order of 1 in 10^5 that is about 0.7/day), "
            "for self-antigen held back by tolerance. Without a "
            "ceiling the expansion rate grew with the gain: 13% of CheckMate 067's virtual ipilimumab patients (those "
            "whose tolerance rests most on CTLA-4) had irAEs in several organs within 7 days of the first dose, and grade 3 "
            "colitis among them. With it they come in the second week (docs/credibility-history.md, irAE timing)"),
    sourced("auto_expansion_max_il2", "1/day", 3.0, "the ceiling with aldesleukin's receptors fully occupied: IL-2 is "
            "the T-cell growth factor whose supply limits clonal expansion, and high-dose aldesleukin lifts that limit "
            "to the cell cycle's own, taken as the fastest CD8 T-cell expansion measured, an average 3/day in mice with "
            "an acute virus (De Boer et al., J Virol 2001;75:10663); between the two in proportion to occupancy"),
    assumed("damage_rate", "1/day", organ_vector(
        dermatitis=0.1, colitis=0.35, hepatitis=0.3, pneumonitis=0.2, thyroiditis=0.2,
        hypophysitis=0.2, nephritis=0.15, myocarditis=0.15, neurologic=0.12, diabetes=0.2,
        arthritis=0.1, hematologic=0.2), "tissue injury at full autoreactive activity; " + _TUNED
        + ". Its spread between patients (organs independent) is the tissue's own vulnerability: the same "
        "autoreactive activity injures some guts more than others (the gut microbiome sets the risk of "
        "ipilimumab colitis: Dubin et al., Nat Commun 2016;7:10391). Without it the damaged fraction "
        "saturates at k_d/(k_d + k_rep) in every patient, below the grade-4 thresholds of colitis and "
        "hepatitis, and no irAE could reach grade 4 or be fatal. Log-SD 1.0 hand-set so that grade-4 irAEs "
        "are of the order of a sixth of grade-3 ones (5.7% against 35.9% under adjuvant ipilimumab: Eggermont et al., "
        "N Engl J Med 2016;375:1845, Table 3; 0.5 gave a thirtieth, 1.0 gives an eighth in the CheckMate 067 "
        "combination arm); that ratio is therefore not a validation figure, the fatal irAE rates are", iiv=1.0),
    assumed("repair_rate", "1/day", organ_vector(
        dermatitis=0.15, colitis=0.12, hepatitis=0.1, pneumonitis=0.05, thyroiditis=0.05,
        hypophysitis=0.05, nephritis=0.05, myocarditis=0.03, neurologic=0.03, diabetes=0.05,
        arthritis=0.03, hematologic=0.15), "tissue repair; epithelia and blood turn over in days, "
        "heart and nerve in weeks"),
    assumed("function_loss", "1/day", organ_vector(
        dermatitis=0.0, colitis=0.0, hepatitis=0.0, pneumonitis=0.0, thyroiditis=0.08,
        hypophysitis=0.08, nephritis=0.0, myocarditis=0.0, neurologic=0.0, diabetes=0.1,
        arthritis=0.0, hematologic=0.0), "irreversible loss of endocrine cells while damaged "
        "(thyroid, pituitary, islets rarely recover: ASCO 2021)"),
    assumed("antibody_production", "1/day", organ_vector(
        dermatitis=0.0, colitis=0.0, hepatitis=0.0, pneumonitis=0.0, thyroiditis=0.05,
        hypophysitis=0.0, nephritis=0.0, myocarditis=0.0, neurologic=0.1, diabetes=0.02,
        arthritis=0.02, hematologic=0.1), "organs where autoantibodies drive disease: AChR "
        "(myasthenia), red cells/platelets (cytopenias), thyroid peroxidase"),
    assumed("antibody_damage", "1/day", organ_vector(
        dermatitis=0.0, colitis=0.0, hepatitis=0.0, pneumonitis=0.0, thyroiditis=0.05,
        hypophysitis=0.0, nephritis=0.0, myocarditis=0.0, neurologic=0.3, diabetes=0.0,
        arthritis=0.05, hematologic=0.3), "antibody-mediated tissue injury"),
    assumed("il2_autoreactive", "1", 1.0, "IL-2 drives activated (including autoreactive) T cells to divide: "
            "thyroid dysfunction in 41% of initially euthyroid patients on high-dose IL-2 (Krouse et al., J Immunother "
            "1995;18:272) and vitiligo (Rosenberg & White, J Immunother 1996;19:81); gain doubled at full receptor "
            "occupancy (assumed). One gain for every organ cannot make IL-2's autoimmunity thyroid-dominant (raised 40-fold "
            "it gives thyroiditis in half of patients and hepatitis and hypophysitis in as many: docs/phenomena.md); the "
            "thyroid's own weight (cytokine_organ_weight) does"),
    assumed("ifn_autoreactive", "1", 1.0, "interferon-alpha breaks tolerance (autoantibodies and clinical "
            "autoimmunity in 26% on adjuvant high-dose interferon: Gogas et al., N Engl J Med 2006;354:709); declared "
            "doubling at full occupancy, fitted to that 26% in the interferon-melanoma scenario (a metastatic regimen: a "
            "rough comparison; data/cancer_fit.json)"),
    assumed("cytokine_organ_weight", "1", organ_vector(**{k: 1.0 for k in (
        "dermatitis", "colitis", "hepatitis", "pneumonitis", "thyroiditis", "hypophysitis", "nephritis",
        "myocarditis", "neurologic", "diabetes", "arthritis", "hematologic")}),
        "how strongly each organ's tolerance gives way to the cytokines' drive (the IL-2 and interferon gains above). "
        "1 (assumed) for every organ but the thyroid, whose weight is fitted to thyroid dysfunction in 41% of initially "
        "euthyroid patients on high-dose IL-2 (Krouse et al., J Immunother 1995;18:272; data/cancer_fit.json): "
        "thyrocytes take on HLA class II under IL-2 and interferon (Pichert et al., Br J Cancer 1990;62:100) and latent "
        "thyroid autoimmunity is the commonest in adults (thyroid peroxidase antibodies: Hollowell et al., J Clin "
        "Endocrinol Metab 2002;87:489), so the cytokines' autoimmunity is thyroid-dominant"),
    assumed("shared_antigen_antibody", "1", 1.0, "autoantibody production per unit of shared tumour antigen "
            "presented (c_B), relative to that of a fully active autoreactive T-cell pool: anti-AChR antibodies "
            "from antigen expressed by thymoma (Marx et al., Nat Rev Dis Primers 2021); acts only where an organ makes "
            "antibodies and shares antigen with the cancer (in the catalogue: thymoma and CLL); fitted "
            "(data/cancer_fit.json)"),
    assumed("vitiligo_rate", "1", 0.03, "share of the rise in per-cell T-cell killing of melanoma that a melanocyte "
            "meets, per unit of shared antigen and of antigen presented (k_v above); fitted to vitiligo in 17 of 67 melanoma "
            "patients on pembrolizumab (Hua et al., JAMA Dermatol 2016;152:45; data/cancer_fit.json)"),
    sourced("pigment_turnover", "day", 40.0, "mean time for skin to show a melanocyte loss: the melanin already "
            "passed to keratinocytes is shed with them, one epidermal transit of about 40-56 days in adults (Hoath & "
            "Leahy, J Invest Dermatol 2003;121:1440, recalled, verify; 28 days in older textbooks); the lower end taken"),
    sourced("thyroid_store", "day", 60.0, "thyroid hormone held in the follicles' colloid (thyroglobulin), in days of "
            "normal secretion: enough for the body's needs for 2 to 3 months (Hall, Guyton and Hall Textbook of Medical "
            "Physiology, 'Thyroid metabolic hormones'; recalled, verify); the lower end taken. Follicles destroyed in "
            "painless thyroiditis release it, the thyrotoxic phase"),
    sourced("thyroxine_half_life", "day", 7.0, "plasma half-life of thyroxine (T4), about a week (Hall, Guyton and "
            "Hall Textbook of Medical Physiology, 'Thyroid metabolic hormones'; recalled, verify)"),
    sourced("antibody_decay", "1/day", 0.033, "IgG half-life about 21 days (Morell, Terry & "
            "Waldmann, J Clin Invest 1970;49:673)"),
)


def _derivatives(ctx: Ctx) -> dict:
    p, s, sig = ctx.p, ctx.s, ctx.sig
    a, d, f, b = s["autoreactive"], s["damage"], s["function"], s["autoantibody"]
    isup = sig["immsup"]
    release_c = p["weight_ctla4"] * p["ctla4_dependence"] * sig["block_ctla4"]
    release_p = p["weight_pd"] * p["pd_dependence"] * sig["block_pd"]
    # (1 + c)(1 + p) - (1 - s) c p = 1 + c + p + s c p, written so that s = 1 gives the product to the last bit
    checkpoint = (1.0 + release_c) * (1.0 + release_p) - (1.0 - p["checkpoint_synergy"]) * release_c * release_p
    # T cells that are killing the tumour meet its shared antigen in the organ (vitiligo with melanoma
    # regression): the drive needs antigen and effector activity both, not tumour antigen alone.
    drive = 1.0 + 2.0 * p["cross_reactivity"] * sig["antigen"] * sig["act_tumour"] \
        + p["epitope_spreading"] * d / (d + 0.1)
    gain = p["autoimmune_propensity"] * p["susceptibility"] * p["tolerance_margin"] * checkpoint * drive * (1.0 - isup) \
        * (1.0 + p["cytokine_organ_weight"] * (p["il2_autoreactive"] * sig["il2_exo"] + p["ifn_autoreactive"] * sig["ifn_exo"])) \
        / pos(s["treg_systemic"]) ** p["treg_control"]
    excess = p["auto_expansion"] * (gain - 1.0)
    ceiling = p["auto_expansion_max"] + (p["auto_expansion_max_il2"] - p["auto_expansion_max"]) * sig["il2_exo"]
    excess = excess / (1.0 + (pos(excess) / ceiling) ** 4) ** 0.25
    da = p["auto_homeostasis"] * (1.0 - a) + excess * a / (1.0 + a / p["auto_max"])
    act = hill(a, p["a50"], 2.0)
    injury = (p["damage_rate"] * act + p["antibody_damage"] * b / (b + 1.0)) * (1.0 - d) * (1.0 - isup)
    dd = injury - p["repair_rate"] * d
    df = -p["function_loss"] * d * f
    db = p["antibody_production"] * (act + p["shared_antigen_antibody"] * p["cross_reactivity"] * sig["antigen"]) - p["antibody_decay"] * b
    skin = ORGAN_INDEX["dermatitis"]
    rise = jnp.maximum(sig["kill"] - p["baseline_kill"], 0.0)
    dv = p["vitiligo_rate"] * p["cross_reactivity"][skin] * sig["antigen"] * rise * (1.0 - s["melanocyte_loss"])
    dw = (s["melanocyte_loss"] - s["depigmentation"]) / p["pigment_turnover"]
    thy = ORGAN_INDEX["thyroiditis"]
    # serum thyroxine (normal 1): the gland's own secretion F plus the colloid of follicles being destroyed
    released = p["thyroid_store"] * p["function_loss"][thy] * d[thy] * f[thy]
    dt4 = _LN2 / p["thyroxine_half_life"] * (f[thy] + released - s["thyroxine"])
    return {"autoreactive": da, "damage": dd, "function": df, "autoantibody": db, "melanocyte_loss": dv,
            "depigmentation": dw, "thyroxine": dt4}


SUBSYSTEM = Subsystem(
    "tolerance", (("autoreactive", 12), ("damage", 12), ("function", 12), ("autoantibody", 12),
                  ("melanocyte_loss", 1), ("depigmentation", 1), ("thyroxine", 1)),
    PARAMS, derivatives=_derivatives, doc=__doc__ or "",
)

__all__ = ["SUBSYSTEM", "PARAMS", "jnp"]
