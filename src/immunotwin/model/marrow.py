"""Neutrophils under cytotoxic chemotherapy: the semi-mechanistic myelosuppression model of
Friberg et al. (J Clin Oncol 2002;20:4713).

A proliferating progenitor pool feeds three maturation transit compartments and the
circulating neutrophils (ANC, 1e9/L); feedback from low counts speeds proliferation; the drug
effect E (:mod:`.pk`, cytotoxic slot) acts on proliferating cells:

    k_tr = 4 / MTT
    dProl/dt = k_tr Prol (1 - E) (Circ0/Circ)^gamma - k_tr Prol
    dT1/dt = k_tr (Prol - T1),  dT2/dt = k_tr (T1 - T2),  dT3/dt = k_tr (T2 - T3)
    dCirc/dt = k_tr T3 - k_tr Circ

Every compartment starts at Circ0 (steady state without drug). The clinic grades neutropenia
from Circ by CTCAE v5 (absolute neutrophil count).

A leukaemia crowds the marrow: the share of its burden T that lives there (``marrow_share``, from the cancer
catalogue; 0 for solid tumours) takes space from normal haematopoiesis, C = s T/(T + K_M), and progenitors
proliferate in the space left, dProl/dt = k_tr Prol (1 - E)(1 - C)(Circ0/Circ)^gamma - k_tr Prol, so neutrophils fall
as the leukaemia grows. The same crowding lowers the supply of new T cells that priming draws on
(:mod:`.tcells`): normal lymphopoiesis is displaced too, one more way the leukaemia escapes.
"""

from __future__ import annotations

import jax.numpy as jnp

from .base import Ctx, Subsystem
from .params import assumed, sourced

_F = "Friberg et al., J Clin Oncol 2002;20:4713, Table 4 (docetaxel)"

PARAMS = (
    sourced("anc_baseline", "1e9/L", 5.05, _F + "; IIV 42% CV", iiv=0.42),
    sourced("marrow_mtt", "day", 89.3 / 24.0, _F + ": mean transit time 89.3 h; IIV 16% CV", iiv=0.16),
    sourced("marrow_feedback", "1", 0.163, _F + ": feedback exponent gamma"),
    assumed("marrow_share", "1", 0.0, "share of the tumour burden in the marrow, where it displaces normal "
            "haematopoiesis and lymphopoiesis; set per cancer from the catalogue (cancers.Cancer.marrow_share: the "
            "leukaemias), 0 for solid tumours"),
    assumed("marrow_capacity", "1e9 cells", 1000.0, "marrow burden of leukaemia that halves the space left to normal "
            "progenitors: the order of the marrow's own haematopoietic cellularity, about 1e12 cells (assumed order of "
            "magnitude); an acute leukaemia of that size is near its lethal burden"),
)


def _signals(ctx: Ctx) -> dict:
    tum = ctx.sig["tumour"]
    return {"marrow_crowding": ctx.p["marrow_share"] * tum / (tum + ctx.p["marrow_capacity"])}


def _derivatives(ctx: Ctx) -> dict:
    p, s = ctx.p, ctx.s
    ktr = 4.0 / p["marrow_mtt"]
    prol, tr, circ = s["marrow_prol"], s["marrow_transit"], s["neutrophils"]
    feedback = (p["anc_baseline"] / jnp.maximum(circ, 1e-6)) ** p["marrow_feedback"]
    d_prol = ktr * prol * (1.0 - ctx.sig["chemo"]) * (1.0 - ctx.sig["marrow_crowding"]) * feedback - ktr * prol
    upstream = jnp.concatenate([jnp.atleast_1d(prol), tr[:-1]])
    return {"marrow_prol": d_prol, "marrow_transit": ktr * (upstream - tr), "neutrophils": ktr * (tr[-1] - circ)}


SUBSYSTEM = Subsystem(
    "marrow", (("marrow_prol", 1), ("marrow_transit", 3), ("neutrophils", 1)), PARAMS,
    derivatives=_derivatives, signals=_signals, doc=__doc__ or "",
)
