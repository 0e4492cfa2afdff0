"""Regulatory T cells: intratumoral and systemic.

``treg_tumour`` R (1e9 cells) is recruited with antigen, expands on IL-2 and, where the
patient's intratumoral Tregs express PD-1, expands further under PD-1 blockade (Kamada
et al., PNAS 2019;116:9999: PD-1+ Treg proliferation in hyperprogressive gastric cancer);
anti-CTLA-4 depletes it by Fc-mediated cytotoxicity (Simpson et al., J Exp Med
2013;210:1695; Arce Vargas et al., Cancer Cell 2018;33:649):

    dR/dt = k_in P + R (r_R IL2/(IL2+1) (1 + f_PD1 b_PD1)/(1 + R/R_cap) - d_R - k_dep b_CTLA4)
    S_R   = R / (R + K_R)

``treg_systemic`` R_s (1 = healthy level) holds autoreactive pools down in every organ
(:mod:`.tolerance`); IL-2 expands it:

    dR_s/dt = d_s (1 - R_s) + r_s (IL2_s - 1) R_s/(1 + R_s) - k_dep,s b_CTLA4 R_s - k_chemo E_L R_s
    (IL2_s: systemic IL-2, :mod:`.cytokines`)

E_L is the effect of a lymphotoxic cytotoxic drug (the cytotoxic slot's E where the drug is a purine analogue,
``pk_lympho``; zero for docetaxel): fludarabine lowers the frequency and the suppressive function of regulatory T
cells in CLL (Beyer et al., Blood 2005;106:2018), which every organ's tolerance reads (:mod:`.tolerance`). Where a
tumour already primes an organ's autoreactive pool through shared antigen (CLL and blood cells) that loss could tip
it into an autoimmune cytopenia after chemotherapy; in the leukemia-evasion scenario it does not outweigh the shared
antigen that killing the CLL removes (docs/phenomena.md, item 5).
"""

from __future__ import annotations

from .base import Ctx, Subsystem
from .params import assumed

PARAMS = (
    assumed("treg_influx", "1e9 cells/day", 0.05, "recruitment of Tregs to antigen-bearing tumour"),
    assumed("treg_expansion", "1/day", 0.1, "IL-2-driven Treg expansion"),
    assumed("treg_death", "1/day", 0.1, "Treg turnover of about a week"),
    assumed("treg_cap", "1e9 cells", 20.0, "crowding limit of intratumoral Tregs"),
    assumed("treg_pd1_fraction", "1", 0.15, "expansion gained by PD-1+ Tregs under PD-1 blockade; "
            "high in a minority of patients (Kamada 2019)", iiv=1.2),
    assumed("treg_depletion", "1/day", 0.08, "Fc-mediated depletion at full CTLA-4 occupancy; "
            "modest, since depletion in human tumours is disputed (Sharma et al., Clin Cancer Res "
            "2019;25:1233)"),
    assumed("treg_k", "1e9 cells", 0.5, "Treg level of half-maximal suppression"),
    assumed("treg_sys_return", "1/day", 0.05, "return of systemic Tregs to their set point"),
    assumed("treg_sys_expansion", "1/day", 0.03, "IL-2-driven systemic Treg expansion"),
    assumed("treg_sys_depletion", "1/day", 0.02, "systemic Treg loss under anti-CTLA-4"),
    assumed("treg_chemo_depletion", "1/day", 0.07, "systemic Treg loss per unit of a lymphotoxic drug's effect "
            "(E_L above); direction from Beyer et al., Blood 2005;106:2018 (Treg frequencies and function fall after "
            "fludarabine in CLL); magnitude assumed: one 5-day course of fludarabine 25 mg/m2 daily (effect about 2 "
            "while the drug is in) halves the systemic Tregs, which return at treg_sys_return between courses"),
)


def _signals(ctx: Ctx) -> dict:
    r = ctx.s["treg_tumour"]
    return {"treg_suppression": r / (r + ctx.p["treg_k"])}


def _derivatives(ctx: Ctx) -> dict:
    p, s, sig = ctx.p, ctx.s, ctx.sig
    r, rs = s["treg_tumour"], s["treg_systemic"]
    il2f = sig["il2"] / (sig["il2"] + 1.0)
    grow = p["treg_expansion"] * il2f * (1.0 + p["treg_pd1_fraction"] * sig["block_pd1"]) / (1.0 + r / p["treg_cap"])
    dr = p["treg_influx"] * sig["antigen"] + r * (grow - p["treg_death"] - p["treg_depletion"] * sig["block_ctla4"])
    drs = (p["treg_sys_return"] * (1.0 - rs) + p["treg_sys_expansion"] * (sig["il2_systemic"] - 1.0) * rs / (1.0 + rs)
           - p["treg_sys_depletion"] * sig["block_ctla4"] * rs - p["treg_chemo_depletion"] * sig["chemo_lympho"] * rs)
    return {"treg_tumour": dr, "treg_systemic": drs}


SUBSYSTEM = Subsystem(
    "tregs", (("treg_tumour", 1), ("treg_systemic", 1)), PARAMS,
    derivatives=_derivatives, signals=_signals, doc=__doc__ or "",
)
