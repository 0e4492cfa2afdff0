"""Cytokines at quasi-steady state: IFN-γ, IL-2 and IL-6 (dimensionless, 1 = baseline).

Cytokine half-lives are minutes to hours (Lotze et al., J Immunol 1985;135:2865 for IL-2),
far shorter than the days over which cells change, so each is an algebraic function of the
cell states (quasi-steady state). Immunosuppression I = steroid + second-line effect:

    I      = Imax_s S/(S + IC50_s) + I_2 u_2                       (S: prednisone-eq mg/day)
    act_T  = q/(s_kill + q),  q = E (1 - I) / T                    effector activity in tumour
    act_A  = sum_o A_o^2/(A_o^2 + A50^2)                           autoreactive activity
    IFN-γ  = 1 + c_ifn act_T                                      in the tumour
    IL-2   = 1 + c_il2 act_T + c_exo b_2                            in the tumour (b_2: aldesleukin, :mod:`.pk`)
    IL-2_s = 1 + c_il2 act_A + c_exo b_2                            systemic: inflamed organs, aldesleukin
    IL-6   = 1 + c6_d sum_o D_o + c6_t T/(T + K6)                   (inflammation, tumour burden)

IFN-γ and IL-2 act where they are made: IL-2 is a paracrine signal with a plasma half-life of
minutes (Lotze 1985) and tumour PD-L1 is induced by the IFN-γ of the T cells inside the tumour
(Spranger et al., Sci Transl Med 2013;5:200ra116). So the tumour's effectors and regulatory T
cells see the tumour's own IL-2 and the drug's, the systemic regulatory T cells that hold organ
tolerance see the IL-2 of inflamed organs and the drug's, and an irAE in the skin does not
change PD-L1 in the tumour. IL-6 is systemic (its rise with inflammation is measured in blood).

IL-6 from tumour burden and tissue injury follows Grivennikov, Greten & Karin (Cell
2010;140:883); IFN-γ from activated effector cells induces PD-L1 (Garcia-Diaz et al., Cell
Rep 2017;19:1189).
"""

from __future__ import annotations

import jax.numpy as jnp

from .base import Ctx, Subsystem, hill
from .params import assumed, sourced

PARAMS = (
    sourced("steroid_imax", "1", 0.8,
            "Arbour et al., J Clin Oncol 2018;36:2872 (prednisone >=10 mg/day at baseline lowered ORR "
            "and PFS of PD-(L)1 blockade): strong but incomplete suppression; value assumed within that",
            ),
    assumed("steroid_ic50", "mg/day", 20.0,
            "prednisone-equivalent dose for half-maximal immunosuppression; 10 mg/day already "
            "clinically relevant (Arbour 2018), 1 mg/kg/day near maximal"),
    assumed("second_line_imax", "1", 0.6,
            "infliximab/mycophenolate add immunosuppression in steroid-refractory irAEs"),
    assumed("c_ifn", "1", 4.0, "scales IFN-γ to effector activity; only its effect on PD-L1 matters"),
    assumed("c_il2", "1", 2.0, "IL-2 from activated effectors; drives effector and Treg expansion"),
    assumed("c_il2_exo", "1", 4.0, "IL-2 signal at full receptor occupancy by aldesleukin, twice the most "
            "that activated effectors make (c_il2): high-dose IL-2 expands T cells and regulatory T cells "
            "(Ahmadzadeh & Rosenberg, Blood 2006;107:2409)"),
    assumed("c6_damage", "1", 4.0, "IL-6 rise per unit total tissue damage"),
    assumed("c6_tumour", "1", 1.0, "IL-6 rise with tumour burden (saturating)"),
    assumed("k6_tumour", "1e9 cells", 100.0, "tumour burden of half-maximal IL-6 contribution"),
    assumed("a50", "1", 30.0, "autoreactive pool (fold over tolerised) of half-maximal activity"),
)


def _signals(ctx: Ctx) -> dict:
    p, s = ctx.p, ctx.s
    st = ctx.sig["steroid"]
    immsup = p["steroid_imax"] * st / (st + p["steroid_ic50"]) + p["second_line_imax"] * ctx.u["second_line"]
    immsup = jnp.clip(immsup, 0.0, 0.95)
    tum = jnp.exp(s["log_sensitive"]) + jnp.exp(s["log_mapk_resistant"]) + jnp.exp(s["log_resistant"])
    q = s["effector"] * (1.0 - immsup) / tum
    act_t = q / (p["kill_s"] + q)
    act_a = jnp.sum(hill(s["autoreactive"], p["a50"], 2.0))
    dmg = jnp.sum(s["damage"])
    return {
        "immsup": immsup,
        "ifn": 1.0 + p["c_ifn"] * act_t,
        "il2": 1.0 + p["c_il2"] * act_t + p["c_il2_exo"] * ctx.sig["il2_exo"],
        "il2_systemic": 1.0 + p["c_il2"] * act_a + p["c_il2_exo"] * ctx.sig["il2_exo"],
        "il6": 1.0 + p["c6_damage"] * dmg + p["c6_tumour"] * tum / (tum + p["k6_tumour"]),
        "act_tumour": act_t,
    }


SUBSYSTEM = Subsystem("cytokines", (), PARAMS, derivatives=lambda ctx: {}, signals=_signals,
                      doc=__doc__ or "")
