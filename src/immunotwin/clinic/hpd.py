"""Tumour growth rate (TGR) and hyperprogressive disease (HPD) calls.

Sources (see ``immunotwin/data/clinical_rules.md`` §2):

* TGR — Ferté et al., Clin Cancer Res 2014;20:246 (PMC3947306), as written in the author's
  public R code: with D the RECIST sum of longest diameters and t in months, assuming
  exponential growth of a sphere of diameter D, TG = 3 ln(D_t / D_0) / t and
  TGR = 100 (exp(TG) - 1), the % increase in tumour volume per month. The reference
  period runs from the pre-baseline scan to baseline (off therapy), the experimental
  period from baseline to the first on-treatment scan.
* Champiat et al., Clin Cancer Res 2017;23:1920: RECIST PD at the first evaluation and a
  >= 2-fold increase of TGR from the reference to the experimental period.
* Ferrara et al., JAMA Oncol 2018;4:1543: PD at the first evaluation and
  delta TGR = TGR_exp - TGR_ref > 50 (% per month).
* Kas et al., JAMA Oncol 2020;6:1039 (PMC7290708): delta TGR > 100; applied here, like the
  Ferrara definition, to patients with PD at the first evaluation (interpretation).
* AACR 2019 consensus, as applied by Schuiveling et al., Cancer Immunol Immunother 2021;70:1491 (abstract): time to
  treatment failure under 2 months, tumour burden doubled against the pre-baseline scan and a >= 2-fold increase of
  TGR. Read here (interpretation) as PD at a first evaluation within 2 months of the first dose (the model has no
  clinical progression before it), the volume implied by the diameter sum (D^3, as in the TGR) at least twice the
  pre-baseline one, and TGR_exp / TGR_ref >= 2 ("NE" when TGR_ref <= 0, as for Champiat's ratio).
* Gaps and cautions 5 (clinical_rules.md): emit "NE" when there is no usable pre-baseline
  scan or, for the ratio-based definition, when pre-treatment growth is <= 0.
"""

from __future__ import annotations

import math

__all__ = ["DAYS_PER_MONTH", "DEFINITIONS", "hyperprogression", "tgr"]

#: Days per month (365.25 / 12), as in docs/schema.md.
DAYS_PER_MONTH = 30.4375
#: Supported HPD definitions.
DEFINITIONS = ("champiat", "ferrara", "kas", "aacr")

_FERRARA_DELTA = 50.0
_KAS_DELTA = 100.0
_CHAMPIAT_RATIO = 2.0
_AACR_MONTHS = 2.0


def tgr(d0: float, d1: float, months: float) -> float:
    """Ferté 2014 tumour growth rate in % tumour volume per month.

    ``TGR = 100 * (exp(3 * ln(d1 / d0) / months) - 1)`` (Ferté et al. 2014). Returns NaN
    when a diameter sum or the interval is missing or not positive.
    """
    if not all(math.isfinite(x) for x in (d0, d1, months)):
        return float("nan")
    if d0 <= 0.0 or d1 <= 0.0 or months <= 0.0:
        return float("nan")
    return 100.0 * (math.exp(3.0 * math.log(d1 / d0) / months) - 1.0)


def hyperprogression(
    sld_pre: float,
    day_pre: float,
    sld_base: float,
    day_base: float,
    sld_first: float,
    day_first: float,
    first_is_pd: bool,
    definition: str = "champiat",
) -> tuple[str, float, float]:
    """Classify hyperprogression with one of the published TGR-based definitions.

    Args:
        sld_pre, day_pre: pre-baseline (off-treatment) target sum (mm) and its day.
        sld_base, day_base: baseline target sum and day.
        sld_first, day_first: first on-treatment evaluation target sum and day.
        first_is_pd: whether the first evaluation was RECIST 1.1 PD.
        definition: "champiat" (TGR_exp / TGR_ref >= 2), "ferrara" (TGR_exp - TGR_ref > 50),
            "kas" (TGR_exp - TGR_ref > 100) or "aacr" (TGR_exp / TGR_ref >= 2, (D_first / D_pre)^3 >= 2 and the
            first evaluation within 2 months); all require PD at the first evaluation.

    Returns:
        ``(call, tgr_ref, tgr_exp)`` with call "yes", "no" or "NE". "NE" when either TGR
        cannot be computed (missing pre-baseline scan, non-positive sums or intervals) or,
        for "champiat", when TGR_ref <= 0 (the ratio is not meaningful; clinical_rules.md
        gaps 5). Months are days / 30.4375.

    Raises:
        ValueError: for an unknown definition.
    """
    key = definition.lower()
    if key not in DEFINITIONS:
        raise ValueError(f"unknown HPD definition {definition!r}; expected one of {DEFINITIONS}")
    tgr_ref = tgr(sld_pre, sld_base, (day_base - day_pre) / DAYS_PER_MONTH)
    tgr_exp = tgr(sld_base, sld_first, (day_first - day_base) / DAYS_PER_MONTH)
    if math.isnan(tgr_ref) or math.isnan(tgr_exp):
        return "NE", tgr_ref, tgr_exp
    if key in ("champiat", "aacr"):
        if tgr_ref <= 0.0:
            return "NE", tgr_ref, tgr_exp
        accelerated = tgr_exp / tgr_ref >= _CHAMPIAT_RATIO
        if key == "aacr":
            accelerated = (accelerated and (sld_first / sld_pre) ** 3 >= 2.0
                           and (day_first - day_base) / DAYS_PER_MONTH < _AACR_MONTHS)
    elif key == "ferrara":
        accelerated = tgr_exp - tgr_ref > _FERRARA_DELTA
    else:
        accelerated = tgr_exp - tgr_ref > _KAS_DELTA
    return ("yes" if bool(first_is_pd) and accelerated else "no"), tgr_ref, tgr_exp
