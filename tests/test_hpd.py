"""Oracle tests for TGR and HPD definitions (clinical_rules.md §2)."""

from __future__ import annotations

import math

import pytest

from immunotwin.clinic.hpd import hyperprogression, tgr

MONTH = 30.4375


def test_tgr_hand_computation() -> None:
    # d0 = 50, d1 = 60 over 2 months: TG = 3 ln(1.2) / 2, exp(TG) = 1.2 ** 1.5
    # = 1.2 * sqrt(1.2) = 1.2 * 1.0954451150103321 = 1.3145341380123985 -> TGR = 31.4534...%/month.
    assert tgr(50.0, 60.0, 2.0) == pytest.approx(31.45341380123985, rel=1e-12)
    # Over 3 months the exponent is 1: TGR = 100 (d1/d0 - 1).
    assert tgr(100.0, 110.0, 3.0) == pytest.approx(10.0, rel=1e-12)
    # Shrinkage gives negative growth: 1 month, 0.9 ** 3 = 0.729 -> -27.1%.
    assert tgr(100.0, 90.0, 1.0) == pytest.approx(-27.1, rel=1e-12)
    assert tgr(50.0, 50.0, 1.0) == 0.0


@pytest.mark.parametrize(
    "args", [(0.0, 10.0, 1.0), (10.0, 0.0, 1.0), (10.0, 12.0, 0.0), (-1.0, 2.0, 1.0), (math.nan, 2.0, 1.0)]
)
def test_tgr_nan_cases(args: tuple[float, float, float]) -> None:
    assert math.isnan(tgr(*args))


def _case(pre: float, base: float, first: float, pd: bool, definition: str) -> tuple[str, float, float]:
    # Scans 3 months apart (91.3125 days = 3 * 30.4375), so TGR = 100 (ratio - 1).
    return hyperprogression(pre, -3 * MONTH, base, 0.0, first, 3 * MONTH, pd, definition)


def test_champiat_vs_ferrara_disagree() -> None:
    # Case 1: 100 -> 110 -> 143 mm: TGR_ref = 10, TGR_exp = 30 %/month.
    # Champiat: 30 / 10 = 3 >= 2 -> yes. Ferrara: 30 - 10 = 20, not > 50 -> no.
    call, ref, exp = _case(100.0, 110.0, 143.0, True, "champiat")
    assert (call, ref, exp) == ("yes", pytest.approx(10.0), pytest.approx(30.0))
    assert _case(100.0, 110.0, 143.0, True, "ferrara")[0] == "no"
    # Case 2: 50 -> 100 -> 260 mm: TGR_ref = 100, TGR_exp = 160 %/month.
    # Champiat: ratio 1.6 < 2 -> no. Ferrara: delta 60 > 50 -> yes. Kas: 60, not > 100 -> no.
    call, ref, exp = _case(50.0, 100.0, 260.0, True, "champiat")
    assert (call, ref, exp) == ("no", pytest.approx(100.0), pytest.approx(160.0))
    assert _case(50.0, 100.0, 260.0, True, "ferrara")[0] == "yes"
    assert _case(50.0, 100.0, 260.0, True, "kas")[0] == "no"
    # Case 3: 50 -> 100 -> 310: delta 110 > 100 -> Kas yes.
    assert _case(50.0, 100.0, 310.0, True, "kas")[0] == "yes"


def test_hpd_requires_pd_at_first_evaluation() -> None:
    for definition in ("champiat", "ferrara", "kas", "aacr"):
        assert _case(50.0, 100.0, 310.0, False, definition)[0] == "no"


def test_ne_when_pretreatment_growth_not_positive() -> None:
    # Shrinking (120 -> 100) or stable (100 -> 100) before treatment: Champiat ratio undefined.
    call, ref, _ = _case(120.0, 100.0, 200.0, True, "champiat")
    assert call == "NE" and ref < 0
    assert _case(100.0, 100.0, 200.0, True, "champiat")[0] == "NE"
    # Ferrara's difference is still defined: 0 -> 100 %/month, delta 100 > 50.
    assert _case(100.0, 100.0, 200.0, True, "ferrara")[0] == "yes"


def test_ne_when_no_prebaseline_scan() -> None:
    call, ref, exp = hyperprogression(math.nan, math.nan, 100.0, 0.0, 200.0, 3 * MONTH, True, "ferrara")
    assert call == "NE" and math.isnan(ref) and exp == pytest.approx(100.0)


def test_unknown_definition_raises() -> None:
    with pytest.raises(ValueError, match="lo_russo"):
        _case(50.0, 100.0, 260.0, True, "lo_russo")


def test_aacr_needs_a_doubled_burden_and_an_early_failure() -> None:
    """AACR 2019 consensus (Schuiveling 2021): Champiat's ratio, the volume (D^3) at the first evaluation at least twice
    the pre-baseline one, and treatment failure within 2 months."""
    six_weeks = 42.0
    # 100 -> 105 -> 125 mm over 6-week intervals: TG = 3 ln(1.05) / 1.38 = 0.1061 -> TGR_ref 11.2 %/month;
    # 3 ln(125 / 105) / 1.38 = 0.3792 -> TGR_exp 46.09: ratio 4.1 >= 2. Volume (125 / 100)^3 = 1.95 < 2: no.
    call, ref, exp = hyperprogression(100.0, -six_weeks, 105.0, 0.0, 125.0, six_weeks, True, "aacr")
    assert (call, ref, exp) == ("no", pytest.approx(11.19, abs=0.01), pytest.approx(46.09, abs=0.01))
    assert hyperprogression(100.0, -six_weeks, 105.0, 0.0, 125.0, six_weeks, True, "champiat")[0] == "yes"
    # 100 -> 105 -> 127 mm: volume 2.048 >= 2, ratio still >= 2 -> yes; not without PD; not if the first evaluation
    # comes after 2 months (61 days is 2.004 months), however fast the growth
    assert hyperprogression(100.0, -six_weeks, 105.0, 0.0, 127.0, six_weeks, True, "aacr")[0] == "yes"
    assert hyperprogression(100.0, -six_weeks, 105.0, 0.0, 127.0, six_weeks, False, "aacr")[0] == "no"
    assert hyperprogression(100.0, -61.0, 105.0, 0.0, 160.0, 61.0, True, "aacr")[0] == "no"
    # a shrinking or stable pre-treatment course leaves the ratio undefined, as for Champiat's
    assert hyperprogression(100.0, -six_weeks, 100.0, 0.0, 200.0, six_weeks, True, "aacr")[0] == "NE"
