"""Scenarios of non-checkpoint immunotherapies (issue 5): CAR T cells, high-dose IL-2, rituximab next to
nivolumab, a peptide vaccine, interferon-alpha, intravesical BCG.

Each runs at a modest size (``slow``). Bands are stated in each figure's ``band_note``: the exact 95%
CI of the published proportion where its denominator is known, otherwise a stated tolerance or a
direction. Fitted figures (one scale per mechanism, ``immunotwin.calibrate_cancers``) are checked
to show the fit holds at the test's size; everything else is unfitted. Where the model misses a band
the test is xfail with the value measured at the test's size; bands are not loosened.
"""

from __future__ import annotations

import pytest

from test_scenarios import _run, fig, obs

pytestmark = pytest.mark.slow


def _miss(prefix: str, reason: str) -> object:
    return pytest.param(prefix, marks=pytest.mark.xfail(reason=reason, strict=False))


@pytest.fixture(scope="module")
def cart(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return _run(tmp_path_factory, "car-t-crs", 300)


@pytest.mark.parametrize("prefix", [
    "ORR (best",
    "complete response",  # 47.7% (n=300) against the exact CI 44.2-64.4%: near the lower edge
    "CRS, any grade", "CRS, grade >= 3", "neurotoxicity, any grade",
    _miss("neurotoxicity, grade >= 3", "1.3% (n=300) vs 28% (exact CI 19-38%): the neurotoxicity index rarely "
          "climbs the assumed ladder; severe ICANS is more all-or-none than the model's graded driver"),
    _miss("tocilizumab given", "80% (n=300) vs 43% (CI 33-53%): CRS reaches grade 2 too often for the ladder, and "
          "the label's rule (tocilizumab from grade 2) is applied to everyone"),
    _miss("corticosteroids given", "38% (n=300) vs 27% (CI 18-37%): follows the neurotoxicity grade-2 rate"),
    "median CRS onset", "median neurotoxicity onset", "median day of peak",
    _miss("peak CAR T cells, responders", "4.5 (bootstrap 95% CI 1.1-10, n=300) vs 2.2 (band 1.2-4): the right "
          "direction, but a ratio of medians over about 70 non-responders is unstable (2.0 and 6.4 in earlier runs)"),
    _miss("overall survival at 5 years", "53% (n=300) vs 42.6% (exact CI 32.8-52.8%): 51% before the calibrated "
          "growth mean took effect; the survival curve flattens too high (median OS not reached either)"),
    _miss("median overall survival", "not reached (5-year OS 50%) vs 25.8 months: the survival curve flattens "
          "too high after the first year"),
    "CRS grade >= 2: high minus low", "Spearman correlation, peak CAR T",
])
def test_car_t_figures(cart: dict, prefix: str) -> None:
    f = fig(cart, prefix)
    assert f["inside"], f


def test_car_t_fitted_figures_are_marked(cart: dict) -> None:
    fitted = {f["name"] for f in cart["figures"] if f["fitted"]}
    assert fitted == {"ORR (best response CR or PR)", "CRS, any grade", "neurotoxicity, any grade"}


def test_car_t_b_cell_aplasia(cart: dict) -> None:
    assert obs(cart, "B cells at 6 months") < 0.2


@pytest.fixture(scope="module")
def il2(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return _run(tmp_path_factory, "high-dose-il2", 150)


@pytest.mark.parametrize("prefix", [
    "melanoma: ORR", "melanoma: complete response",
    _miss("melanoma: treatment-related deaths", "1 of 150 (0.7%) vs 2% (exact CI 0.8-4.8%): 2 of 150 before calibration "
          "iteration 5; at this size one death is the difference"),
    _miss("renal cell carcinoma: ORR", "22% (n=150) vs 14% (exact CI 10-19%): not diagnosed. Not RCC's immunogenicity: "
          "refitted to nivolumab's ORR after calibration iteration 5 (0.39 -> 0.25) it left this at 22%, so the "
          "response comes from the NK/LAK killing fitted in melanoma"),
    "renal cell carcinoma: complete response",
    _miss("melanoma: responders still", "73% (n=150, 26 responders) vs 28% (band 10-46%): responses are too "
          "durable once NK/LAK killing has cleared the sensitive clone"),
    _miss("melanoma: thyroid dysfunction", "0% (n=150) vs 41% (band 20-60%): IL-2 is given for days, and "
          "the assumed IL-2 gain on autoreactive pools (doubling at full occupancy) does not break thyroid "
          "tolerance in that time"),
])
def test_il2_figures(il2: dict, prefix: str) -> None:
    f = fig(il2, prefix)
    assert f["inside"], f


def test_il2_fitted_figure_is_marked(il2: dict) -> None:
    assert {f["name"] for f in il2["figures"] if f["fitted"]} == {"melanoma: ORR"}


def test_il2_capillary_leak_limits_doses(il2: dict) -> None:
    # Leak grade >= 3 is common under high-dose IL-2 and withholds doses: the median patient gets fewer
    # than all the doses scheduled (Atkins 1999: doses are routinely withheld for toxicity).
    assert obs(il2, "melanoma: capillary leak grade >= 3") > 0.3
    assert obs(il2, "melanoma: share of scheduled doses given") < 1.0


@pytest.fixture(scope="module")
def mabs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return _run(tmp_path_factory, "monoclonal-antibodies", 300)


@pytest.mark.parametrize("prefix", [
    "rituximab: ORR", "rituximab: complete response", "rituximab: median PFS",
    "rituximab: FCGR3A", "nivolumab: ORR", "any irAE: nivolumab minus rituximab",
    "rituximab: B cells at 3 months",
    _miss("rituximab: B cells at 12 months", "median 39% of normal (n=300) vs near normal (band >= 50%): the assumed "
          "two-month recovery half-life starts late, while rituximab (25-day half-life) still binds"),
])
def test_monoclonal_antibody_figures(mabs: dict, prefix: str) -> None:
    f = fig(mabs, prefix)
    assert f["inside"], f


@pytest.fixture(scope="module")
def vaccine(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return _run(tmp_path_factory, "cancer-vaccine", 200)


@pytest.mark.parametrize("prefix", [
    "gp100: ORR", "ipilimumab: ORR", "gp100: median OS",
    _miss("ipilimumab + gp100: ORR", "10% (n=200) vs 5.7% (exact CI 3.7-8.4%): the vaccine neither adds nor takes "
          "away response (difference from ipilimumab alone 0.0); ipilimumab's own 10% is inside its band"),
    "ipilimumab + gp100: median OS",  # 7.8 months (n=200) against the band 7.5-12.5: near its lower edge
    "ipilimumab: median OS", "ORR, ipilimumab + gp100 minus", "ORR, nivolumab + gp100 minus",
])
def test_vaccine_figures(vaccine: dict, prefix: str) -> None:
    f = fig(vaccine, prefix)
    assert f["inside"], f


@pytest.fixture(scope="module")
def ifn(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return _run(tmp_path_factory, "interferon-melanoma", 200)


@pytest.mark.parametrize("prefix", [
    "ORR",
    _miss("autoimmunity during interferon", "18.5% (n=200) vs 26% (band 20-33%): inside (23.5%) before calibration "
          "iteration 5 lowered the autoimmune propensity to fit CheckMate 067's toxicity"),
    _miss("OS HR, autoimmunity", "HR 1.43 (bootstrap CI 0.92-2.26, n=200) vs bias-corrected 0.81 (band 0.3-1.0): "
          "1.04 before calibration iteration 5, 1.55 before the cytokine change; no benefit of autoimmunity, as "
          "for skin irAEs under anti-PD-1 (melanoma-vitiligo)"),
])
def test_interferon_figures(ifn: dict, prefix: str) -> None:
    f = fig(ifn, prefix)
    assert f["inside"], f


@pytest.fixture(scope="module")
def bcg(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return _run(tmp_path_factory, "bcg-bladder", 300)


@pytest.mark.parametrize("prefix", [
    "complete response",
    _miss("cystitis, any grade", "85% (n=300) vs 67% (band 57-76%): the assumed cystitis ladder grades too many "
          "instillations as cystitis"),
    "cystitis, grade >= 3",
])
def test_bcg_figures(bcg: dict, prefix: str) -> None:
    f = fig(bcg, prefix)
    assert f["inside"], f
