"""Tumour macrophages reprogrammed by anti-PD-1 antibodies' Fc: a cause of hyperprogression.

In non-small cell lung cancer, every tumour that hyperprogressed on checkpoint blockade held M2-like
CD163+CD33+PD-L1+ macrophages in epithelioid clusters before treatment; in T-cell-deficient mice grafted with
patients' tumours anti-PD-1 made them grow faster, and its F(ab)2 fragments (no Fc) did not: the antibody's Fc
engaging the macrophages' Fc-gamma receptors reprograms them to feed the tumour (Lo Russo et al., Clin Cancer Res
2019;25:989, abstract: hyperprogression in 39 of 152 patients). Nivolumab and pembrolizumab are IgG4 S228P, which
binds Fc-gamma RI (CD64) with high affinity and cross-links PD-1 to it (Zhang et al., Cancer Immunol Immunother
2018;67:1079, abstract); an anti-PD-1 engineered without Fc-gamma receptor binding does not. The model keeps one
state, the reprogrammed share M of the tumour's Fc-receptor-bearing macrophages, driven by the occupancy of PD-1
by an Fc-engaging antibody (b_PD1 times the drug's ``fcgr``, :mod:`.pk`), and lets it raise the tumour's growth:

    dM/dt = k_M (f_FcR b_PD1 - M),    growth x (1 + h M)

h, the patient's susceptibility, stands for how many such macrophages the tumour holds and how strongly they feed it;
most tumours hold few (h near 0), a minority many. The growth it adds is independent of T cells, so it shows where
the immune response is weak (it is why hyperprogression needs no immune mechanism: Lo Russo's mice had no T cells),
and a responding tumour outruns it. Only an anti-PD-1's Fc drives M (the PD-1 slot's ``pk_fcgr``): the mechanism
was shown for anti-PD-1, the catalogue holds no anti-PD-L1 antibody (atezolizumab and durvalumab are Fc-silenced,
avelumab is an IgG1), and anti-CTLA-4's Fc acts on regulatory T cells (:mod:`.tregs`).
"""

from __future__ import annotations

from .base import Ctx, Subsystem
from .params import assumed
from .slots import SLOTS

_PD1 = SLOTS.index("pd1")

PARAMS = (
    assumed("fc_reprogramming_rate", "1/day", 0.1,
            "rate at which tumour macrophages take on (and lose) the growth-promoting state under an Fc-engaging "
            "anti-PD-1: a week's time scale, the order of macrophage polarisation in culture and of the faster "
            "growth Lo Russo 2019 saw in the weeks after the first dose (no rate measured in patients)"),
    assumed("hpd_susceptibility", "1", 0.05,
            "rise of the tumour's intrinsic growth rate when its Fc-receptor-bearing macrophages are fully "
            "reprogrammed (h above: growth x (1 + h)); a patient-level trait, the density of such macrophages. "
            "The median is fitted to the share of NSCLC patients hyperprogressing on anti-PD-(L)1 (Ferrara et al., "
            "JAMA Oncol 2018;4:1543: 56 of 406; data/cancer_fit.json), so that figure is not a validation. The "
            "log-SD of 2 is assumed: Lo Russo 2019 found the macrophage phenotype in every hyperprogressing tumour, a "
            "minority, and growth accelerations from 2- to 40-fold in the few patients measured (Kato et al., Clin "
            "Cancer Res 2017;23:4242, abstract); most tumours gain almost nothing", iiv=2.0),
)


def _signals(ctx: Ctx) -> dict:
    return {"fc_growth": 1.0 + ctx.p["hpd_susceptibility"] * ctx.s["fc_reprogrammed"]}


def _derivatives(ctx: Ctx) -> dict:
    p = ctx.p
    drive = p["pk_fcgr"][_PD1] * ctx.sig["block_pd1"]
    return {"fc_reprogrammed": p["fc_reprogramming_rate"] * (drive - ctx.s["fc_reprogrammed"])}


SUBSYSTEM = Subsystem(
    "macrophages", (("fc_reprogrammed", 1),), PARAMS,
    derivatives=_derivatives, signals=_signals, doc=__doc__ or "",
)
