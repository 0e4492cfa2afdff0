"""CD19 CAR T cells: expansion, contraction and persistence, killing, cytokine release syndrome and
immune effector cell-associated neurotoxicity (ICANS).

The cell product is given as a jump into the effector pool C (1e9 CAR+ cells). Cellular kinetics
follow the structure of the tisagenlecleucel model of Stein et al. (CPT:PSP 2019;8:285): antigen-
driven exponential expansion to a peak about a week after infusion, a fast contraction and a slowly
declining persistent (memory) pool. Here expansion is driven by the CD19 antigen CAR T cells meet,
tumour cells carrying CD19 and normal B cells (B: :mod:`.innate`), so that more tumour gives more
expansion, and the peak is reached when antigen runs out:

    a     = (a_19 T_s + B)/(a_19 T_s + B + K_car)                antigen engagement
    dC/dt = r_C a (1 - E) (1 - w_s I) C/(1 + C/C_cap) - (d_C + k_m) C + r_M a M_C
    dM_C/dt = k_m C - d_M M_C - r_M a M_C
    dE/dt = k_E (1 - E)                  while CAR T cells are present: support lost since infusion
    kill_CAR = k_CAR q/(s_CAR + q),  q = C/(a_19 T_s + rho_CAR a_19 T_r + B)   per CD19+ cell (sensitive clone, B cells)

The CAR T cells share their killing among the cells they meet, so the E:T ratio q counts the resistant clone's
cells at its reach rho_CAR; its expansion (a above) does not. CD19 CAR activity falls with antigen density and
antigen-low cells escape (Majzner et al., Cancer Discov 2020;10:702), and lysis asks less antigen than cytokine
release and proliferation (Walker et al., Mol Ther 2017;25:2189, recalled, verify), so an antigen-low relapse is
still a target but does not re-expand the CAR T cells. (Until stop 47 q counted CD19+ cells only: once they were
cleared, however few CAR T cells remained killed the resistant clone at the full k_CAR rho_CAR, whatever its size,
so a relapse grew back at a fixed net rate instead of outgrowing the CAR T cells.)

Support after lymphodepletion, E: fludarabine and cyclophosphamide empty the lymphoid compartment, and the
homeostatic cytokines that rise after it (IL-15, IL-7) drive CAR T expansion (serum IL-15 after conditioning goes
with remission: Kochenderfer et al., J Clin Oncol 2017;35:1803). As normal lymphocytes return, the CAR T cells
lose that support and compete with them (Kimmel, Locke & Altrock, Proc R Soc B 2021;288:20210229), so their
proliferation on antigen fades with time since infusion, as the tisagenlecleucel model has an expansion
phase only up to its peak. E is the share of support lost (0 at infusion; it runs only while CAR T cells are
present). Without it, CAR T cells that kept proliferating on returning normal B cells held the B-cell pool
at a few per cent of normal for ever, and the tumour under guard with it, where B cells came back in most
patients in remission within a year or two (Neelapu et al., Blood 2023;141:2307).

The immune-resistant clone of :mod:`.tumour` escapes T cells by MHC or interferon-pathway loss, which
CAR T cells do not need, or by antigen loss, which they do (CD19-negative relapses: Orlando et al.,
Nat Med 2018;24:1504): it meets a fraction rho_CAR of the CAR T killing.

Cytokine release: target cells lysed by CAR T cells (pyroptosis) activate macrophages, which
release IL-1 and IL-6 (Liu et al., Sci Immunol 2020;5:eaax7969; Giavridis et al., Nat Med
2018;24:731; Norelli et al., Nat Med 2018;24:739). The drive is therefore the lysis rate Λ (CD19+
tumour and B cells killed per day), which peaks while the tumour is being cleared, days before the
CAR T cells peak, and falls once the targets are gone: CRS starts within days, rises with tumour
burden and resolves while the CAR T cells are still expanding on B cells. (Until 2026-11-30 the
drive was the activated CAR T load C a, which peaks with the expansion; under the Lee 2014 rules
it let CRS reach grade 3 in half the patients.) Corticosteroids suppress the release (I,
:mod:`.cytokines`); tocilizumab blocks IL-6 receptor signalling (b_6, :mod:`.pk`), which carries a
fraction f_6 of the syndrome's signs (fever, hypotension, hypoxia), and does not reach the brain.
The neurotoxicity driver Z integrates the same cytokine load (endothelial activation and
blood-brain barrier disruption: Gust et al., Cancer Discov 2017;7:1404) and resolves more slowly,
so ICANS follows CRS and outlasts it; steroids speed its resolution:

    Λ = kill_CAR (a_19 T_s + rho_CAR a_19 T_r + B)      (a_19: tumour_cd19, the CD19+ share of tumour cells)
    dX/dt = k_X s_X Λ/(Λ + Λ_50) (1 - I) - d_X X,               CRS signs S = X (1 - f_6 b_6)
    dZ/dt = k_Z s_Z X - d_Z (1 + c_Z I) Z

The clinic grades CRS from S and ICANS from Z (ASTCT consensus grades: Lee et al., Biol Blood
Marrow Transplant 2019;25:625) on a ladder of thresholds.
"""

from __future__ import annotations

import math

from .base import Ctx, Subsystem, pos
from .params import assumed, sourced

#: CAR T cells (1e9 cells) at which the loss of support runs at half speed: 1,000 cells, far below any infused
#: product (about 1e8 cells) and its persisting pool, so E runs from infusion on and never without CAR T cells.
CAR_PRESENT = 1e-6

_STEIN = "Stein et al., CPT Pharmacometrics Syst Pharmacol 2019;8:285 (tisagenlecleucel; structural guide)"

PARAMS = (
    sourced("car_expansion", "1/day", math.log(2.0) / 0.78,
            f"{_STEIN}: doubling time 0.78 day in the expansion phase (pk.json); axicabtagene's own "
            "expansion is not published as a rate, so this is the structural guide's value. Its variability "
            "(log-SD) is set by hand against ZUMA-1's median peak CAR T cells in responders and non-responders "
            "(43.6 and 20.2 cells/uL; their ratio is a fitted figure since): 0.8, assumed until stop 29, made "
            "non-response mostly poor expansion (non-responders' median peak 2.4, ratio 15.6); 0.4 with the CAR T "
            "chain refitted gives 51.1 and 13.8 (ratio 3.7; 300 patients), and 29.7 and 9.7 (ratio 3.05) after stop "
            "30's refit with the resistant clone's reach fitted. Peaks still differ a hundredfold between "
            "patients with burden and B cells (Locke et al., Blood Adv 2020;4:4898: expansion relative to burden "
            "goes with durable response)", iiv=0.4),
    assumed("car_k_antigen", "1e9 cells", 10.0, "CD19+ cells (tumour and B cells) of half-maximal CAR T "
            "stimulation; set so that tumour burden adds to expansion beyond the normal B-cell pool "
            "(peak expansion rises with burden: Locke et al., Blood Adv 2020;4:4898)"),
    assumed("car_cap", "1e9 cells", 20.0, "CAR T load at which expansion halves (crowding, cytokine "
            "competition); sets the height of the peak"),
    sourced("car_contraction", "1/day", 0.16 * (1.0 - 0.0079),
            f"{_STEIN}: contraction rate 0.16/day (half-life 4.3 days), of which a fraction 0.0079 enters the "
            "slow (persistent) phase"),
    sourced("car_memory_conversion", "1/day", 0.16 * 0.0079, f"{_STEIN}: fraction 0.0079 of the contraction enters the "
            "persistent phase"),
    sourced("car_memory_death", "1/day", 0.0032, f"{_STEIN}: persistence rate 0.0032/day (half-life about 220 days)"),
    assumed("car_recall", "1/day", 0.05, "antigen-driven re-expansion of persisting CAR T cells"),
    assumed("car_support_decay", "1/day", 0.0, "rate at which CAR T cells lose the homeostatic support of "
            "lymphodepletion (normal lymphocytes returning; not measured as a rate). Fitted if marked so, to the "
            "share of patients in remission whose B cells have come back a year after axicabtagene"),
    assumed("car_kill", "1/day", 1.0, "maximal per-cell kill of CD19+ cells by CAR T cells (two-fold "
            "faster than the checkpoint model's kill_max: CAR T cells need no priming or MHC)"),
    assumed("car_kill_s", "1", 3.0, "CAR T:target ratio of half-maximal killing (de Pillis 2005 form). Set by hand "
            "against ZUMA-1's median day of peak CAR T cells (day 7-14): 0.1, assumed until stop 30, put the peak on "
            "day 5 once car_kill was refitted with the resistant clone's reach (car_resistant_kill) fitted to ZUMA-1's "
            "durability, as the tumour was cleared within days; at 1.0 the killing waits for the expansion (peak day "
            "9-10; 300 patients), so that figure is fitted. 3.0 since stop 47: with the resistant clone's reach spread "
            "between patients, car_kill refitted to the ORR rose to 12-20/day and put the peak on day 5-6 at 1.0; at 3.0 "
            "it reads day 7 (300 and 400 patients)"),
    assumed("car_steroid_weight", "1", 0.15, "CAR T expansion is little affected by steroids given for "
            "toxicity (no loss of efficacy with early steroids in ZUMA-1 cohort 4: Topp et al., Br J "
            "Haematol 2021;195:388); same weight as the tumour effectors'"),
    assumed("car_resistant_kill", "1", 0.1, "fraction of CAR T killing that reaches the immune-resistant clone: "
            "that clone escapes T cells by MHC or interferon-pathway loss, which CAR T cells do not need, or by "
            "antigen loss, which they do; about a third of relapses after axicabtagene were CD19-negative "
            "(7 of 21 biopsies: Neelapu 2017). How much CAR T killing the clone's cells still meet is not measured: "
            "0.1 was assumed until stop 30, when it held responses for years (PET partial responses shrinking "
            "slowly under the persisting CAR T cells). Fitted if marked so, with car_kill, to the share of ZUMA-1's "
            "patients still in response at its median follow-up of 15.4 months (42%: Neelapu 2017): how much of the "
            "tumour the CAR T cells cannot reach sets how long responses last. Its spread between patients (log-SD "
            "0.7, assumed since stop 47) stands for the mix of escape mechanisms, which CAR T cells reach to different "
            "degrees (antigen loss or low antigen density against MHC or interferon-pathway loss): without it every "
            "patient's resistant clone fell back at the same pace and ZUMA-1's early failures were too few. The "
            "log-SD was chosen for the fitted ORR (1.0 left it at 73%, outside); disease control at month 3 and OS at "
            "18 months read inside at 0.5, 0.7 and 1.0 alike (400 patients; docs/phenomena-history.md, stop 47)", iiv=0.7),
    assumed("car_lysis_half", "1e9 cells/day", 5.0, "CD19+ cells lysed per day by CAR T cells for half-maximal cytokine "
            "release: macrophage activation and IL-6 production saturate (assumed: the order of a 1e11-cell burden "
            "cleared over three weeks)"),
    assumed("tumour_cd19", "1", 0.0, "fraction of tumour cells carrying CD19 (set from the cancer "
            "catalogue: 1 for B-cell lymphomas)"),
    assumed("crs_drive", "1/day", 6.0, "cytokine release at saturating lysis (scale of X, whose "
            "grade-1 threshold is 1); fitted if marked so"),
    assumed("crs_susceptibility", "1", 1.0, "patient-level scale of the cytokine release (host myeloid "
            "response, endothelial state)", iiv=0.7),
    assumed("crs_decay", "1/day", 0.5, "CRS resolves over days once target lysis falls (median "
            "duration about a week in ZUMA-1, Neelapu 2017)"),
    assumed("crs_il6_share", "1", 0.8, "share of CRS signs carried by IL-6 receptor signalling: tocilizumab "
            "resolves most CRS within days (about 70% responded: Le et al., Oncologist 2018;23:943)"),
    assumed("icans_drive", "1/day", 0.4, "neurotoxicity drive per unit cytokine load"),
    assumed("icans_susceptibility", "1", 1.0, "patient-level scale of neurotoxicity (endothelial state, blood-brain "
            "barrier; Gust et al., Cancer Discov 2017;7:1404). Its variability is set against ZUMA-1's grade >= 3 "
            "neurotoxicity, so that figure is fitted: with icans_drive refitted to the any-grade rate each time, a "
            "log-SD of 0.7 (the value assumed until 2026-11-30) gave 9.7% grade >= 3 and 1.4 gave 23% (28% "
            "published; 300 patients, Lee 2014 rules)", iiv=1.4),
    assumed("icans_decay", "1/day", 0.15, "ICANS lasts longer than CRS (median duration about two weeks "
            "in ZUMA-1, Neelapu 2017)"),
    assumed("icans_steroid", "1", 2.0, "corticosteroids speed the resolution of ICANS (standard first-line "
            "treatment: Lee 2019); tripled resolution at full immunosuppression"),
)


def _signals(ctx: Ctx) -> dict:
    p, s, sig = ctx.p, ctx.s, ctx.sig
    import jax.numpy as jnp

    ts = jnp.exp(s["log_sensitive"]) + jnp.exp(s["log_mapk_resistant"])
    target = p["tumour_cd19"] * ts + s["b_cells"]
    engage = target / (target + p["car_k_antigen"])
    # the cells a CAR T cell meets and kills: the resistant clone's among them at its reach
    met = target + p["tumour_cd19"] * p["car_resistant_kill"] * jnp.exp(s["log_resistant"])
    q = s["car_effector"] / (met + 1e-9)
    kill = p["car_kill"] * q / (p["car_kill_s"] + q)
    return {"car_engage": engage, "car_kill_b": kill, "kill_car": kill * p["tumour_cd19"],
            "kill_car_resistant": kill * p["tumour_cd19"] * p["car_resistant_kill"],
            "crs": s["crs_cytokine"] * (1.0 - p["crs_il6_share"] * sig["il6r_block"]), "icans": s["icans_driver"]}


def _derivatives(ctx: Ctx) -> dict:
    p, s, sig = ctx.p, ctx.s, ctx.sig
    c, mc = s["car_effector"], s["car_memory"]
    a, isup = sig["car_engage"], sig["immsup"]
    lost = s["car_support_lost"]
    grow = p["car_expansion"] * a * (1.0 - lost) * (1.0 - p["car_steroid_weight"] * isup) / (1.0 + c / p["car_cap"])
    recall = p["car_recall"] * a * mc
    x = s["crs_cytokine"]
    # target cells lysed per day (1e9/day): pyroptotic CAR T killing activates macrophages (Liu et al., Sci Immunol 2020)
    lysis = sig["kill_car"] * sig["sensitive"] + sig["kill_car_resistant"] * sig["resistant"] + sig["car_kill_b"] * s["b_cells"]
    return {
        "car_effector": grow * c - (p["car_contraction"] + p["car_memory_conversion"]) * c + recall,
        "car_memory": p["car_memory_conversion"] * c - p["car_memory_death"] * mc - recall,
        # runs only while CAR T cells are present (a patient without them keeps E = 0)
        "car_support_lost": p["car_support_decay"] * (1.0 - lost) * pos(c + mc) / (pos(c + mc) + CAR_PRESENT),
        "crs_cytokine": p["crs_drive"] * p["crs_susceptibility"] * lysis / (lysis + p["car_lysis_half"]) * (1.0 - isup)
        - p["crs_decay"] * x,
        "icans_driver": p["icans_drive"] * p["icans_susceptibility"] * x
        - p["icans_decay"] * (1.0 + p["icans_steroid"] * isup) * s["icans_driver"],
    }


SUBSYSTEM = Subsystem(
    "celltherapy", (("car_effector", 1), ("car_memory", 1), ("car_support_lost", 1), ("crs_cytokine", 1),
                    ("icans_driver", 1)), PARAMS,
    derivatives=_derivatives, signals=_signals, doc=__doc__ or "",
)
