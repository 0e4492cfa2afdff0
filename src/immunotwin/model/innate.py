"""Innate effectors: IL-2-activated NK/LAK cells, antibody-dependent cytotoxicity, capillary leak.

High-dose interleukin-2 (aldesleukin, PK slot ``il2``) activates natural killer cells into
lymphokine-activated killers that lyse tumour cells without MHC restriction (Grimm et al., J Exp Med
1982;155:1823; Rosenberg, J Immunol 2014;192:5451), and it injures endothelium, so that plasma
leaks into tissues: the capillary leak syndrome that limits its dose (Rosenstein, Ettinghausen &
Rosenberg, J Immunol 1986;137:1735; Baluna & Vitetta, Immunopharmacology 1997;37:117). With
b_2 = C/(C + EC50) the occupancy of the intermediate-affinity IL-2 receptor (:mod:`.pk`):

    dN/dt = k_N (b_2 + c_BCG b_BCG) - d_N N          activated NK/LAK pool (0 at rest, 1 at full activation)
    kill_NK = k_NK N                                 per tumour cell, both clones (MHC-independent)
    dV/dt = k_V s_V b_2 - d_V V                      vascular leak (s_V: the patient's susceptibility)

A tumour-targeting antibody (``cd20`` slot: rituximab) kills the cells that carry its antigen by
antibody-dependent cellular cytotoxicity through Fc-gamma receptor IIIa on NK cells (Clynes et al.,
Nat Med 2000;6:443); the FCGR3A 158V allele binds IgG1 more tightly and goes with better response
(Cartron et al., Blood 2002;99:754), and IL-2-activated NK cells add to it:

    kill_ADCC = k_ADCC f_Fc a_20 b_20 (1 + N)          (a_20: fraction of tumour cells with the antigen)

Normal B cells carry CD20 and CD19 too: anti-CD20 antibody clears them (complement and
phagocytosis as well as ADCC, far faster than tumour cells, at serum levels of its own: below), so do
CD19 CAR T cells (:mod:`.celltherapy`), and they regenerate from the marrow over months:

    dB/dt = k_B (B_0 - B) - (k_B20 C_20/(C_20 + EC50_B) + kill_CAR) B

(C_20: serum antibody, mg/L; EC50_B: the in-vivo level for half the maximal clearance of normal B cells,
well above the binding constant that sets b_20; k_B and k_B20 from Pan et al. 2019, rituximab's B-cell
turnover model.)

Intravesical BCG (slot ``bcg``: the bladder wall as depot) sets off local innate inflammation: NK cells,
macrophages and neutrophils attack the tumour and present its antigens (Redelman-Sidi, Glickman & Bochner,
Nat Rev Urol 2014;11:153); the same inflammation is the cystitis that most patients get, graded by the
clinic from b_BCG times the patient's susceptibility (``bcg_cystitis_susceptibility``).

IL-2 also adds to the IL-2 signal of :mod:`.cytokines` (effector and regulatory T-cell expansion).
"""

from __future__ import annotations

from .base import Ctx, Subsystem, pos
from .params import assumed, sourced
from .slots import SLOTS

PARAMS = (
    assumed("nk_activation", "1/day", 0.5,
            "NK cells acquire LAK activity over 3-5 days of IL-2 exposure (Grimm 1982, in vitro); "
            "equal to the decay rate so that full receptor occupancy drives the pool to 1"),
    assumed("nk_decay", "1/day", 0.5, "lymphocyte counts and NK activity return to baseline within "
            "days of stopping IL-2 (rebound lymphocytosis about 1-3 days after the last dose)"),
    assumed("nk_kill", "1/day", 0.06, "per-cell tumour kill at full NK/LAK activation; fitted later to "
            "the melanoma response to high-dose IL-2 if marked so (see data/cancer_fit.json)"),
    assumed("adcc_kill", "1/day", 0.05, "per-cell kill of antigen-bearing tumour cells at full antibody "
            "binding (high-affinity Fc receptor); fitted later to the rituximab response if marked so"),
    sourced("fcgr_low_affinity", "1", 0.5,
            "FCGR3A 158F carriers: relative ADCC of IgG1 against 158V/V, about half in vitro (Koene et al., "
            "Blood 1997;90:1109; recalled, verify); a patient-level covariate (genotype frequencies in "
            "the population module)"),
    assumed("fcgr_factor", "1", 1.0, "the patient's relative ADCC by FCGR3A genotype: 1 for 158V/V, "
            "fcgr_low_affinity for F carriers (set per patient by the population module)"),
    assumed("tumour_cd20", "1", 0.0, "fraction of tumour cells carrying CD20 (set from the cancer catalogue: "
            "1 for B-cell lymphomas, 0 for solid tumours)"),
    assumed("leak_rate", "1/day", 1.0, "vascular leak at full IL-2 receptor occupancy per day of exposure "
            "(scale: the leak index is 1 at steady state under full occupancy)"),
    assumed("leak_resolution", "1/day", 1.0, "capillary leak reverses within 1-2 days of stopping IL-2 "
            "(Rosenstein 1986; clinical course in Schwartz et al., Oncology 2002;16:11)"),
    assumed("leak_susceptibility", "1", 1.0, "patient-level scale of the leak (wide variation in tolerance "
            "of high-dose IL-2: the number of doses patients tolerate varies from 2 to 14)", iiv=0.4),
    assumed("bcg_innate", "1", 1.0, "innate activation by BCG in the bladder wall relative to full IL-2 receptor "
            "occupancy; fitted if marked so"),
    assumed("bcg_cystitis_susceptibility", "1", 1.0, "patient-level scale of BCG cystitis (most patients have "
            "some, few a serious reaction: Lamm et al., J Urol 1992;147:596)", iiv=0.5),
    sourced("b_cell_antibody_kill", "1/day", 0.7, "maximal clearance of normal B cells by anti-CD20 antibody "
            "(complement, phagocytosis and ADCC): 35 times the B-cell turnover of 0.02/day, the increase of the "
            "CD19+ death rate under rituximab in Pan et al., Br J Clin Pharmacol 2019;85:1790 (children with "
            "autoimmune disease, 4 x 375 mg/m2 or 2 x 750 mg/m2). Transferred: Pan's drug effect decays from each "
            "dose without measured serum levels, so it is read here as the maximum of a serum-level Emax model"),
    assumed("b_cell_depletion_ec50", "mg/L", 1.0, "serum rituximab giving half the maximal clearance of normal B "
            "cells in vivo. Not the binding constant (Kd about 1 mg/L, the catalogue's EC50 for tumour ADCC): "
            "circulating B cells come back about 6 months after 4 x 375 mg/m2 (label; McLaughlin 1998) while the "
            "serum level is still of the order of 1 mg/L (detectable 3-6 months after the last dose, label), "
            "so clearance must fade at levels far above the Kd (limited effector capacity; in vivo). Fitted "
            "if marked so, to the start of recovery"),
    assumed("b_cell_normal", "1e9 cells", 25.0, "normal body B-cell pool (blood B cells about 0.2e9/L, a "
            "few per cent of the body's B cells; order of magnitude)"),
    sourced("b_cell_renewal", "1/day", 0.02, "turnover of the CD19+ B-cell pool, half-life 35 days (Pan et al., "
            "Br J Clin Pharmacol 2019;85:1790, 41% RSE); B cells start to return about 6 months after rituximab "
            "and are near normal by 9-12 months (McLaughlin 1998; label)"),
)


def _signals(ctx: Ctx) -> dict:
    p, s, sig = ctx.p, ctx.s, ctx.sig
    nk = s["nk_active"]
    kill_nk = p["nk_kill"] * nk
    fc = ctx.p["fcgr_factor"]
    adcc = p["adcc_kill"] * fc * sig["cd20_bound"] * (1.0 + nk)
    return {"kill_nk": kill_nk, "adcc": adcc, "kill_adcc": adcc * p["tumour_cd20"], "leak": s["vascular_leak"]}


def _derivatives(ctx: Ctx) -> dict:
    p, s, sig = ctx.p, ctx.s, ctx.sig
    b = s["b_cells"]
    c20 = pos(sig["conc"][SLOTS.index("cd20")])  # serum anti-CD20 antibody, mg/L
    return {
        "nk_active": p["nk_activation"] * (sig["il2_exo"] + p["bcg_innate"] * sig["bcg"]) - p["nk_decay"] * s["nk_active"],
        "vascular_leak": p["leak_rate"] * p["leak_susceptibility"] * sig["il2_exo"]
        - p["leak_resolution"] * s["vascular_leak"],
        "b_cells": p["b_cell_renewal"] * (p["b_cell_normal"] - b)
        - (p["b_cell_antibody_kill"] * c20 / (c20 + p["b_cell_depletion_ec50"]) + sig["car_kill_b"]) * b,
    }


SUBSYSTEM = Subsystem(
    "innate", (("nk_active", 1), ("vascular_leak", 1), ("b_cells", 1)), PARAMS,
    derivatives=_derivatives, signals=_signals, doc=__doc__ or "",
)
