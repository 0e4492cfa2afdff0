"""Anti-tumour T cells: priming, expansion, killing, PD-1 inhibition, exhaustion, memory.

States (1e9 cells): ``effector`` E, ``exhausted`` X, ``memory`` M. With P the antigen
presentation (:mod:`.tumour`), inh the PD-1/PD-L1 inhibition, S_R the Treg suppression
(:mod:`.tregs`), I the immunosuppression by steroids (:mod:`.cytokines`), b the receptor
occupancies (:mod:`.pk`):

    c     = 1 - h_ctla4 (1 - b_CTLA4)                           CTLA-4 outcompetes CD28 for B7
    prime = k_p P c (1 - I)(1 - C)                                priming (C: marrow crowding, :mod:`.marrow`)
    stim  = P c (1 - inh)(1 - S_R)(1 - w_s I) IL2/(IL2 + 1) / (1 + E/(q_max T))
    dE/dt = prime + E (r_E stim - d_E - k_ex inh P - k_c E_c) + r_re b_PD X + k_rec P M (1 - I)
    dX/dt = k_ex inh P E - d_X X - r_re b_PD X                     exhaustion, reinvigoration
    dM/dt = f_M d_E E - d_M M - k_rec P M (1 - I)                  contraction to memory

E_c is the cytotoxic drug effect (:mod:`.pk`): activated, proliferating effectors are killed by
chemotherapy (lymphodepletion), k_c times the effect on marrow progenitors' scale.

Killing per tumour cell is ratio-dependent (de Pillis, Radunskaya & Wiseman, Cancer Res
2005;65:7950):

    q = E (1 - inh)(1 - S_R)(1 - w_s I) / T,   kill = k_kill q^l/(s + q^l)

PD-1 blockade acts by lowering inh (more killing and expansion, less exhaustion) and by
reinvigorating exhausted cells (Huang et al., Nature 2017;545:60); CTLA-4 blockade by
releasing the priming brake (Wei, Duffy & Allison, Cancer Discov 2018;8:1069).
"""

from __future__ import annotations

from .base import Ctx, Subsystem
from .params import assumed
from .tumour import antigen

PARAMS = (
    assumed("kill_max", "1/day", 0.5, "maximal per-cell killing rate; hand-set so that full "
            "responses shrink a tumour 1000-fold within about a year (CR under ICI)"),
    assumed("kill_s", "1", 0.3, "effector:target ratio of half-maximal killing (de Pillis 2005 form)"),
    assumed("kill_l", "1", 1.0, "ratio exponent (de Pillis 2005 form; 1 = Michaelis-Menten)"),
    assumed("prime_rate", "1e9 cells/day", 0.5, "antigen-driven priming influx; hand-set to give "
            "an effector:tumour ratio near 0.01-0.03 in untreated disease"),
    assumed("ctla4_brake", "1", 0.45, "fraction of CD28 co-stimulation (priming and the "
            "proliferation it drives) held back by CTLA-4; full blockade raises it 1.8-fold"),
    assumed("expansion_rate", "1/day", 0.45, "maximal antigen-driven expansion per effector "
            "(T-cell doubling about 1.5 days at full stimulation)", iiv=0.2),
    assumed("effector_death", "1/day", 0.1, "effector half-life of about a week "
                             "(contraction phase; Macallan et al. report days-weeks for effector "
                             "cells)"),
    assumed("exhaustion_rate", "1/day", 0.1, "PD-1-driven exhaustion under chronic antigen"),
    assumed("exhausted_death", "1/day", 0.05, "exhausted cells persist for weeks"),
    assumed("reinvigoration", "1/day", 0.05, "PD-1 blockade returns exhausted cells to function "
            "(Huang 2017)"),
    assumed("effector_cap", "1", 1.0, "effector:tumour ratio at which expansion halves (crowding)"),
    assumed("steroid_tumour_weight", "1", 0.15, "established anti-tumour effectors are less steroid-"
            "sensitive than newly activated autoreactive cells: steroids for irAEs did not shorten survival "
            "on ipilimumab (Horvat et al., J Clin Oncol 2015;33:3193) though high doses did for "
            "hypophysitis (Faje et al., Cancer 2018;124:3706)"),
    assumed("chemo_lymph_kill", "1/day", 0.2, "kill of proliferating effector T cells per unit of the "
            "cytotoxic drug effect; a fifth of the marrow progenitors' rate (4/MTT = 1.07/day, Friberg "
            "2002) because lymphopenia after docetaxel is milder than neutropenia (magnitude assumed)"),
    assumed("memory_fraction", "1", 0.05, "fraction of contracting effectors kept as memory"),
    assumed("memory_death", "1/day", 0.002, "memory half-life about a year"),
    assumed("recall_rate", "1/day", 0.05, "antigen-driven recall of memory into effectors"),
)



def _signals(ctx: Ctx) -> dict:
    p, s, sig = ctx.p, ctx.s, ctx.sig
    factor = (1.0 - sig["pd1_inhibition"]) * (1.0 - sig["treg_suppression"]) * (1.0 - p["steroid_tumour_weight"] * sig["immsup"])
    q = s["effector"] * factor / sig["tumour"]
    ql = q ** p["kill_l"]
    kill = p["kill_max"] * ql / (p["kill_s"] ** p["kill_l"] + ql)
    return {"kill": kill, "antigen": antigen(ctx, kill), "effector_factor": factor}


def _derivatives(ctx: Ctx) -> dict:
    p, s, sig = ctx.p, ctx.s, ctx.sig
    e, x, m = s["effector"], s["exhausted"], s["memory"]
    ag, inh, isup = sig["antigen"], sig["pd1_inhibition"], sig["immsup"]
    costim = 1.0 - p["ctla4_brake"] * (1.0 - sig["block_ctla4"])
    prime = p["prime_rate"] * ag * costim * (1.0 - isup) * (1.0 - sig["marrow_crowding"])
    il2f = sig["il2"] / (sig["il2"] + 1.0)
    crowd = 1.0 / (1.0 + e / (p["effector_cap"] * sig["tumour"]))
    stim = ag * sig["effector_factor"] * il2f * crowd * costim
    exhaust = p["exhaustion_rate"] * inh * ag * e
    reinv = p["reinvigoration"] * sig["block_pd"] * x
    recall = p["recall_rate"] * ag * m * (1.0 - isup)
    death = p["effector_death"] * e
    chemo_kill = p["chemo_lymph_kill"] * sig["chemo"] * e
    return {
        "effector": prime + p["expansion_rate"] * stim * e - death - exhaust + reinv + recall - chemo_kill,
        "exhausted": exhaust - p["exhausted_death"] * x - reinv,
        "memory": p["memory_fraction"] * death - p["memory_death"] * m - recall,
    }


SUBSYSTEM = Subsystem(
    "tcells", (("effector", 1), ("exhausted", 1), ("memory", 1)), PARAMS,
    derivatives=_derivatives, signals=_signals, doc=__doc__ or "",
)

