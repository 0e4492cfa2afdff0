"""The ipilimumab-dose scenario (CA184-169: ipilimumab 10 mg/kg against 3 mg/kg, the same virtual patients at both
doses). Nothing in it is fitted unless the installed calibration read its difference and hazard ratio
(calibrate --also ipilimumab-dose; the shipped one has since calibration iteration 15). The fast tests check the spec (the arms differ in dose alone) and the band arithmetic;
the slow ones run the scenario at its own size, 300 per arm, and hold each figure to its ``band_note``: the exact 95%
CI of a published proportion, ±25% for a median OS, the published CI for the hazard ratio, the Wald interval of the
published difference. Misses are xfail with the value measured; bands are not loosened."""

from __future__ import annotations

import numpy as np
import pytest

from immunotwin.scenarios import SCENARIOS
from immunotwin.scenarios.core import spec_text
from immunotwin.scenarios.dose import HIGH, LOW, difference_band
from immunotwin.spec import parse_spec
from test_scenarios import _run, fig


def test_the_arms_differ_in_dose_alone() -> None:
    spec = parse_spec(spec_text("ipilimumab-dose"))
    assert "ipilimumab-dose" in SCENARIOS and spec.design == "twin"
    arms = {a.name: a for a in spec.arms}
    assert set(arms) == {HIGH, LOW}
    (hi,), (lo,) = arms[HIGH].drugs, arms[LOW].drugs
    assert hi.name == lo.name == "ipilimumab"
    assert hi.dose.value / lo.dose.value == pytest.approx(10.0 / 3.0) and hi.dose.kind == lo.dose.kind == "mg/kg"
    assert (hi.every_days, hi.doses, hi.until_progression) == (lo.every_days, lo.doses, lo.until_progression) \
        == (21.0, 4, False)


def test_difference_band_is_the_wald_interval() -> None:
    lo, hi = difference_band(0.36, 365, 0.20, 362)
    se = np.sqrt(0.36 * 0.64 / 365 + 0.2 * 0.8 / 362)
    assert (lo + hi) / 2 == pytest.approx(0.16)
    assert hi - lo == pytest.approx(2 * 1.96 * se)
    assert 0.09 < lo < 0.10 and 0.22 < hi < 0.23  # se 0.0328


def test_severe_pairs_match_each_patient_across_arms() -> None:
    """The paired table puts each patient's two arms on one row: the difference of its column means is the difference
    of the arms' rates, and resampling its rows keeps each patient's pair together."""
    import pandas as pd

    from immunotwin.scenarios.core import bootstrap
    from immunotwin.scenarios.dose import _severe_difference, severe_pairs

    d = pd.DataFrame({"arm": [HIGH] * 4 + [LOW] * 4, "patient": [0, 1, 2, 3, 3, 2, 1, 0],
                      "any_trae_grade_reported": [3, 1, 4, 0, 0, 2, 1, 3]})
    pairs = severe_pairs(d)
    assert pairs.loc[0].tolist() == [True, True] and pairs.loc[2].tolist() == [True, False]
    assert _severe_difference(pairs) == pytest.approx(0.25)
    # one patient more toxic at the higher dose and none less: every resample's difference is >= 0
    est, (lo, hi) = bootstrap(pairs, _severe_difference, seed=1, strata=None, reps=200)
    assert est == pytest.approx(0.25) and lo >= 0.0 and hi <= 0.75


@pytest.fixture(scope="module")
def dose_summary(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return _run(tmp_path_factory, "ipilimumab-dose", 300)


def _miss(prefix: str, reason: str) -> object:
    return pytest.param(prefix, marks=pytest.mark.xfail(reason=reason, strict=False))


_OS = ("the model's untreated melanoma lives too long (natural history) and the trial's population (previously "
       "treated patients, brain metastases) is not matched")
_LEVEL = ("CheckMate 067's ipilimumab arm, a fitted row, reports 28% grade >= 3 TRAEs at the same dose (the model 0.269 with iteration 16, runs/val89): "
          "the two trials' populations and reporting differ, and the arms' levels are not fitted here")


@pytest.mark.slow
@pytest.mark.parametrize("prefix", [
    "OS hazard ratio",  # 0.980 (0.84, CI 0.71-0.99) with iteration 16; 0.933 with 15, 0.946 with 14
    # 19.3 months (15.7, band 11.8-19.6) with iteration 16; 19.5 with 14
    f"{HIGH}: median OS",
    f"{HIGH}: grade 3/4 treatment-related adverse events",  # 0.400 (0.36, band 0.310-0.410); 0.330 with 15
    # fitted (calibration iteration 16 read it, with the spread of CTLA-4 sensitivity free): 0.147 (0.16, band
    # 0.096-0.224); 0.063 with iteration 15 and 0.027 with 14, when that spread (log-SD 2.09) let a 1.5-fold rise in
    # trough occupancy move few patients across their thresholds (docs/credibility-history.md, 'The dose slope of toxicity')
    "grade 3/4 treatment-related adverse events, 10 minus 3",
    _miss(f"{LOW}: grade 3/4 treatment-related adverse events", "0.253 against 0.20 (exact CI 0.159-0.244) with "
          "iteration 16 (0.267 with 15, 0.220 with 14): " + _LEVEL),
    _miss(f"{LOW}: median OS", "18.2 months against 11.5 (band to 14.4) with iteration 16 (17.7 with 15, 18.4 with 14): "
          + _OS),
])
def test_ipilimumab_dose_figures(dose_summary: dict, prefix: str) -> None:
    assert fig(dose_summary, prefix)["inside"], fig(dose_summary, prefix)


@pytest.mark.slow
def test_only_what_the_calibration_read_is_marked_fitted(dose_summary: dict) -> None:
    """The arms' levels are never fitted; the difference and the hazard ratio are exactly when the installed
    calibration read CA184-169 (calibrate --also ipilimumab-dose)."""
    from immunotwin.calibrate_also import installed_further

    read = "ipilimumab-dose" in installed_further()
    for f in dose_summary["figures"]:
        assert f["fitted"] == (read and f["name"].startswith(("grade 3/4 treatment-related adverse events, 10 minus",
                                                                 "OS hazard ratio"))), f["name"]
    assert len(dose_summary["figures"]) == 6


@pytest.mark.slow
@pytest.mark.xfail(reason="calibration iteration 16 (stop 60): HR 0.980, paired interval 0.932-1.040 at 300 per arm "
                   "(0.933 with iteration 15, 0.946 with 14, both with the interval below 1); the point estimate and "
                   "the median OS (19.3 against 18.2 months) still favour 10 mg/kg. The fit that narrowed the spread "
                   "of CTLA-4 sensitivity traded the hazard ratio (a fitted row, inside the published CI at +0.7 to "
                   "+0.9 of its band on the held-out seeds) for the toxicity difference: more patients at 10 mg/kg "
                   "are severely ill, stop treatment and get steroids", strict=False)
def test_the_higher_dose_lives_longer(dose_summary: dict) -> None:
    """Direction, from PK and occupancy alone on the same patients: longer survival at 10 mg/kg (published HR 0.84),
    the paired interval below 1 (measured 0.946, 0.912-0.978 with iteration 14: a third of the published effect on the
    log scale)."""
    assert fig(dose_summary, "OS hazard ratio")["ci95"][1] < 1.0
    assert fig(dose_summary, f"{HIGH}: median OS")["simulated"] > fig(dose_summary, f"{LOW}: median OS")["simulated"]


@pytest.mark.slow
def test_the_higher_dose_is_more_toxic(dose_summary: dict) -> None:
    """Direction on the same patients: more grade 3/4 TRAEs at 10 mg/kg, the paired interval above zero (measured
    0.147, 0.110-0.197 with calibration iteration 16; 0.027, 0.010-0.047 with iteration 14)."""
    assert fig(dose_summary, "grade 3/4 treatment-related adverse events, 10 minus 3")["ci95"][0] > 0.0
