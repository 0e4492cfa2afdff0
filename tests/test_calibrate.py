"""Calibration by reweighting: weighted estimators against hand values, and a synthetic round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from immunotwin import weighted
from immunotwin.calibrate import FIT_ENDPOINTS as FITTED_ENDPOINTS
from immunotwin.calibrate import (
    FITTED,
    MEDIAN_SCALE,
    Plausible,
    endpoints,
    fit,
    median_residual,
    proposal_sd,
    simulate_plausible,
    weights,
)
from immunotwin.spec import parse_spec
from immunotwin.survival import km_median, km_rate


def test_weighted_km_with_unit_weights_equals_kaplan_meier() -> None:
    rng = np.random.default_rng(0)
    t = rng.exponential(10, 200)
    e = rng.random(200) < 0.7
    w = np.ones(200)
    assert weighted.km_rate(t, e, w, 8.0) == pytest.approx(km_rate(t, e, 8.0), abs=1e-12)
    # the median as trials report it (and as validate reads it): the step median
    assert weighted.km_median(t, e, w) == km_median(t, e)
    assert weighted.km_median(t, e, 0.01 * w) == km_median(t, e)


def test_integer_weights_equal_duplication() -> None:
    t = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    e = np.array([1, 0, 1, 1, 0], bool)
    w = np.array([1, 2, 1, 3, 1], float)
    td, ed = np.repeat(t, w.astype(int)), np.repeat(e, w.astype(int))
    for at in (1.5, 3.5, 4.5):
        assert weighted.km_rate(t, e, w, at) == pytest.approx(km_rate(td, ed, at))
    assert weighted.ess(w) == pytest.approx(64 / 16)


def test_median_residual_is_zero_exactly_when_the_curve_crosses_half_at_the_median() -> None:
    # A KM curve read at scans (weeks 12, 18, ... as months), falling through 0.5 between 11.04 and 13.8.
    t = np.array([2.76, 4.14, 5.52, 6.90, 11.04, 13.80])
    s = np.array([0.80, 0.70, 0.60, 0.55, 0.53, 0.45])
    # Its median is 13.8: a published 13.8 costs nothing; 11.5 costs S(11.5) - 0.5 = 0.03 too much survival.
    assert median_residual((t, s), 13.8) == 0.0
    assert median_residual((t, s), 11.5) == pytest.approx(0.03 / MEDIAN_SCALE)
    # A published median of 20 (after the curve crossed): S just before 18 is 0.45, 0.05 too little.
    assert median_residual((t, s), 20.0) == pytest.approx(-0.05 / MEDIAN_SCALE)
    # Sign: a curve that is too high gives a positive residual, one that is too low a negative one.
    assert median_residual((t, s + 0.1), 13.8) > 0 > median_residual((t, s - 0.1), 13.8)
    # A published median beyond the follow-up (72.1 months against 12 simulated) asks only S(12) >= 0.5:
    # the curve at 0.53 meets it, one at 0.45 falls 0.05 short (in the unit given).
    assert median_residual((t[:-1], s[:-1]), 72.1, 0.06, horizon=12.0) == 0.0
    assert median_residual((t, s), 72.1, 0.06, horizon=14.0) == pytest.approx(-0.05 / 0.06)


def test_median_residual_reads_the_median_to_the_clinics_week() -> None:
    """The clinic dates events to the week: a curve crossing 0.5 a week after the published median costs nothing
    (ipilimumab's 2.9 months against a first scan moved a week late by the visit window, day 91 = 2.99 months), one
    crossing later does."""
    from immunotwin.calibrate import CLINIC_STEP_MONTHS
    from immunotwin.clinic.run import STEP
    from immunotwin.units import DAYS_PER_MONTH

    assert CLINIC_STEP_MONTHS == STEP / DAYS_PER_MONTH
    week_late = (np.array([84.0, 91.0, 126.0]) / DAYS_PER_MONTH, np.array([0.80, 0.42, 0.30]))
    assert median_residual(week_late, 2.9) == 0.0
    two_weeks_late = (np.array([84.0, 98.0, 126.0]) / DAYS_PER_MONTH, np.array([0.80, 0.42, 0.30]))
    assert median_residual(two_weeks_late, 2.9) == pytest.approx(0.30 / MEDIAN_SCALE)


@pytest.mark.parametrize(("hr", "tie"), [(0.3, 1.5), (0.6, 0.0), (1.4, 3.0)])
def test_weighted_cox_hr_matches_lifelines_efron(hr: float, tie: float) -> None:
    import warnings

    import pandas as pd
    from lifelines import CoxPHFitter

    rng = np.random.default_rng(1)
    ta, tb = rng.exponential(10 / hr, 400), rng.exponential(10, 300)
    if tie:  # read at scheduled scans: heavy ties, where a Peto estimate goes wrong
        ta, tb = np.ceil(ta / tie) * tie, np.ceil(tb / tie) * tie
    ea, eb = ta < 30, tb < 30
    ta, tb = np.minimum(ta, 30), np.minimum(tb, 30)
    df = pd.DataFrame({"t": np.r_[ta, tb], "e": np.r_[ea, eb], "g": np.r_[np.ones(400), np.zeros(300)]})
    ref = float(np.exp(CoxPHFitter().fit(df, "t", "e").params_["g"]))
    assert weighted.cox_hr(ta, ea, np.ones(400), tb, eb, np.ones(300)) == pytest.approx(ref, rel=1e-6)
    # Normalised weights (as the calibration's) give the same estimate.
    assert weighted.cox_hr(ta, ea, np.full(400, 1e-3), tb, eb, np.full(300, 1e-3)) == pytest.approx(ref, rel=1e-6)
    assert weighted.cox_hr(ta, ea, np.ones(400), ta, ea, np.ones(400)) == pytest.approx(1.0)
    # Unequal weights: as lifelines' weighted Efron fit.
    wa, wb = rng.uniform(0.2, 3.0, 400), rng.uniform(0.2, 3.0, 300)
    df["w"] = np.r_[wa, wb]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lifelines suggests robust errors for weights; the point estimate is ours
        ref_w = float(np.exp(CoxPHFitter().fit(df, "t", "e", weights_col="w").params_["g"]))
    assert weighted.cox_hr(ta, ea, wa, tb, eb, wb) == pytest.approx(ref_w, rel=1e-5)  # lifelines stops at ~1e-6


SPEC = """
name = "round trip"
seed = 3
follow_up = "12 months"
control = "ipilimumab"
[population]
cancer = "melanoma"
size_per_arm = 10
[[arm]]
name = "nivolumab"
  [[arm.drug]]
  name = "nivolumab"
  dose = "3 mg/kg"
  every = "2 weeks"
[[arm]]
name = "ipilimumab"
  [[arm.drug]]
  name = "ipilimumab"
  dose = "3 mg/kg"
  every = "3 weeks"
  doses = 4
"""


#: Independent virtual populations for the round trip: six seeds of 300 patients per arm (about 9 s each).
ROUND_TRIP_SEEDS = (3, 4, 5, 6, 7, 8)
#: The parameters the round trip recovers, chosen because the targets identify them. Reweighting 300-patient
#: populations at calibration iteration 8 (four seeds), one proposal SD of the mean moves nivolumab's ORR by
#: -0.23 (SD 0.06 between populations) for the growth rate and grade >=3 TRAE by +0.09 (SD 0.01-0.03) for the
#: autoimmune propensity, but nivolumab's ORR by only +0.03 (SD 0.02) for immunogenicity: with immunogenicity,
#: fits to an independent population's targets averaged -0.1 SD against a truth of +0.5.
ROUND_TRIP_NAMES = ("net_growth_rate", "autoimmune_propensity")


@pytest.fixture(scope="module")
def population() -> Plausible:
    return simulate_plausible(parse_spec(SPEC), 300)  # seed 3, the first of ROUND_TRIP_SEEDS


@pytest.fixture(scope="module")
def populations(population: Plausible) -> list[Plausible]:
    rest = [simulate_plausible(parse_spec(SPEC.replace("seed = 3", f"seed = {s}")), 300) for s in ROUND_TRIP_SEEDS[1:]]
    return [population, *rest]


def _targets(sim: dict) -> dict:
    return {"endpoints": {"orr": sim["orr"], "grade3plus_trae": sim["grade3plus_trae"],
                          "median_pfs_months": sim["median_pfs_months"]}}


@pytest.mark.slow
def test_round_trip_recovers_known_population_means(populations: list[Plausible]) -> None:
    pops = [p.select(ROUND_TRIP_NAMES) for p in populations]
    sd = np.array([proposal_sd(k) for k in ROUND_TRIP_NAMES])
    shift = np.array([0.5, -0.4])  # the true means, in proposal SDs
    truth = np.concatenate([shift * sd, np.log(0.6 * sd)])
    train = pops[0]
    null = _targets(endpoints(train, weights(np.concatenate([np.zeros(2), np.log(0.6 * sd)]), train), "ipilimumab"))
    # 1. Targets from the trial the fit sees: the optimiser must find the known means.
    exact = _targets(endpoints(train, weights(truth, train), "ipilimumab"))
    assert exact["endpoints"]["orr"]["nivolumab"] != pytest.approx(null["endpoints"]["orr"]["nivolumab"], abs=0.02)
    # The targets were made at the installed event rates: they are held there (not profiled).
    res = fit(train, exact, control="ipilimumab", seed=1, max_evals=600, fix_sd=0.6 * sd, profile_events=False)
    assert np.all(np.abs(res.phi[:2] - truth[:2]) < 0.15 * sd), res.phi[:2]
    # 2. Targets from an independent virtual population carry its sampling noise. Each population in turn is
    # fitted to the next one's targets (a ring of six). The estimates scatter (SD about 0.25 proposal SDs);
    # their mean must point the right way and lie within 3 standard errors of the truth. Neighbours in the ring
    # share a population with opposite roles, which correlates them negatively: the plain SE is conservative.
    est = []
    for i, pl in enumerate(pops):
        held = pops[(i + 1) % len(pops)]
        targets = _targets(endpoints(held, weights(truth, held), "ipilimumab"))
        r = fit(pl, targets, control="ipilimumab", seed=1, max_evals=600, fix_sd=0.6 * sd, profile_events=False)
        est.append(r.phi[:2] / sd)
    est_a = np.array(est)
    mean, se = est_a.mean(axis=0), est_a.std(axis=0, ddof=1) / np.sqrt(len(est))
    assert np.all(np.sign(mean) == np.sign(shift)), est_a
    assert np.all(np.abs(mean - shift) < 3 * se), (mean, se, est_a)
    assert np.all(se < 0.2), se  # the scatter itself is bounded: the targets inform both means
    assert set(FITTED) >= set(ROUND_TRIP_NAMES)


def _synthetic_trial(n: int = 2000):  # type: ignore[no-untyped-def]
    import pandas as pd

    rng = np.random.default_rng(3)
    frames = []
    for arm, p in (("nivolumab + ipilimumab", 0.5), ("nivolumab", 0.4), ("ipilimumab", 0.2)):
        t = rng.exponential(12, n)
        frames.append(pd.DataFrame({
            "arm": arm, "status": "ok", "bor": np.where(rng.random(n) < p, "PR", "PD"),
            "response_onset_months": 3.0, "cr_onset_months": np.nan,
            "any_irae_grade": rng.integers(0, 5, n), "discontinued": "",
            "pfs_months": t, "pfs_event": True, "os_months": 2 * t, "os_event": True,
            "pdl1_tps": rng.uniform(0.0, 0.2, n)}))
    p = pd.concat(frames, ignore_index=True)
    return p.assign(any_irae_grade_reported=p["any_irae_grade"])  # every irAE within the reporting window


def test_validation_prediction_intervals_match_binomial(monkeypatch: pytest.MonkeyPatch) -> None:
    from immunotwin import validate
    from immunotwin.spec import load_spec
    from immunotwin.validate import EXAMPLE, checkmate_rows

    real = validate.installed_fitted_endpoints
    # A calibration fitted before the PD-L1 subgroups were targets (iteration 8's provenance list).
    before = tuple(e for e in FITTED_ENDPOINTS if "pdl1" not in e)
    monkeypatch.setattr(validate, "installed_fitted_endpoints", lambda: before)
    rows = checkmate_rows(_synthetic_trial(), load_spec(EXAMPLE), reps=200, seed=1)
    orr = {r.group: r for r in rows if r.check.endswith(" orr")}
    r = orr["nivolumab + ipilimumab"]
    half = 1.96 * np.sqrt(0.25 / 314)  # binomial SD at the real arm size (314)
    assert abs(r.simulated - 0.5) < 0.03
    assert abs((r.hi - r.lo) / 2 - half) < 0.012
    assert r.fitted and r.lo < r.simulated < r.hi
    med_os = {r.group: r for r in rows if "median_os" in r.check}
    assert all(r.fitted for r in med_os.values())  # fitted since the calibration reads them
    # The combination's published median (72.1 months) lies beyond the 60 months simulated: the row asks for
    # a median not reached by then. This synthetic trial's OS is 2 x exponential(12): median 16.6, reached.
    combo = med_os["nivolumab + ipilimumab"]
    assert combo.criterion == "not reached by 60 months" and not combo.inside
    assert med_os["ipilimumab"].simulated == pytest.approx(24 * np.log(2), rel=0.15)
    # Replicates whose median is not reached count as beyond follow-up in the interval, not as missing.
    from immunotwin.validate import _pi

    assert _pi([1.0, 2.0, np.inf, np.inf] * 10 + [np.nan])[1] == np.inf
    assert _pi([1.0, 2.0] * 20 + [np.nan]) == pytest.approx((1.0, 2.0))
    # ORR by tumour PD-L1: a calibration not fitted to it leaves the rows unfitted whatever FIT_ENDPOINTS now
    # holds; the band is the published subgroup's 95% interval (80 patients >= 5%).
    sub = {r.check: r for r in rows if "orr_pdl1" in r.check}
    assert set(sub) == {"CheckMate 067 orr_pdl1_ge5", "CheckMate 067 orr_pdl1_lt5"}
    ge5 = sub["CheckMate 067 orr_pdl1_ge5"]
    assert not ge5.fitted and ge5.criterion == "±11 points (unfitted)" and ge5.group == "nivolumab"
    assert abs(ge5.simulated - 0.4) < 0.04  # response here is independent of PD-L1
    assert ge5.inside == (abs(ge5.simulated - 0.575) <= 1.96 * 0.055)
    # One fitted to it labels them fitted (the installed provenance decides, not the code's list).
    monkeypatch.setattr(validate, "installed_fitted_endpoints", lambda: FITTED_ENDPOINTS)
    again = {r.check: r for r in checkmate_rows(_synthetic_trial(), load_spec(EXAMPLE), reps=20, seed=1)}
    assert again["CheckMate 067 orr_pdl1_ge5"].fitted and again["CheckMate 067 orr_pdl1_ge5"].criterion == "±11 points"
    # the installed provenance lists known endpoints: CheckMate 067's, and untreated disease's where the fit read it
    # (iteration 14 fitted the dacarbazine ceiling), and further trials' rows where the fit read them (iteration 15
    # read CA184-169's: calibrate_also)
    from immunotwin.calibrate_also import FURTHER
    from immunotwin.natural_history import FIT_KEYS, fit_rows

    known = {row for kind in FIT_KEYS for row in fit_rows(kind)} | {row for f in FURTHER.values() for row in f.rows}
    assert set(real()) <= set(FITTED_ENDPOINTS) | known
    # Complete responses by the 3-year cut-off, with the CR band; this trial has no CR at all. Once the scar's share
    # is fitted to pooled five-year complete responses of nivolumab-containing arms (CheckMate 067's among them),
    # those two arms' rows are fitted; ipilimumab's stays unfitted.
    from immunotwin.calibrate_cancers import installed_fits

    cr3 = {r.group: r for r in rows if r.check.endswith("cr_rate_36mo")}
    assert set(cr3) == {"nivolumab + ipilimumab", "nivolumab", "ipilimumab"}
    scar = "scar_fraction" in installed_fits()
    for arm, r in cr3.items():
        fitted = scar and arm != "ipilimumab"
        assert r.fitted == fitted and r.criterion == "±4 points" + ("" if fitted else " (unfitted)")
        assert r.simulated == 0.0 and not r.inside
    # PFS rates at the 3- and 4-year landmarks: unfitted (no calibration reads them), OS's ±6-point band, and the
    # Kaplan-Meier rate of this trial's exponential(12-month) PFS: exp(-36/12) and exp(-48/12) (oracle).
    pfs = {(r.check, r.group): r for r in rows if "PFS rate" in r.check}
    assert {c for c, _ in pfs} == {"CheckMate 067 PFS rate 36 mo", "CheckMate 067 PFS rate 48 mo"} and len(pfs) == 6
    for (check, _arm), r in pfs.items():
        lm = float(check.split()[-2])
        assert not r.fitted and r.criterion == "±6 points (unfitted)"
        assert r.simulated == pytest.approx(np.exp(-lm / 12.0), abs=0.012)
        assert r.lo <= r.simulated <= r.hi
        assert r.inside == (abs(r.simulated - r.published) <= 0.06)
    assert all(r.fitted and r.criterion == "±6 points" for r in rows if "OS rate" in r.check)
    monkeypatch.setattr("immunotwin.calibrate_cancers.installed_fits", lambda: set())
    plain = {r.group: r for r in checkmate_rows(_synthetic_trial(), load_spec(EXAMPLE), reps=5, seed=1)
             if r.check.endswith("cr_rate_36mo")}
    assert not any(r.fitted for r in plain.values())


def test_response_read_at_the_data_cutoff() -> None:
    import pandas as pd

    from immunotwin.readouts import response_by

    df = pd.DataFrame({"bor": ["CR", "CR", "PR", "PR", "SD"], "response_onset_months": [2.0, 3.0, 4.0, 20.0, np.nan],
                       "cr_onset_months": [5.0, 18.0, np.nan, np.nan, np.nan]})
    resp, cr = response_by(df, 12.5)
    assert resp.tolist() == [True, True, True, False, False]
    assert cr.tolist() == [True, False, False, False, False]  # the second is a partial response at the cut-off
    resp_all, cr_all = response_by(df, None)
    assert resp_all.sum() == 4 and cr_all.sum() == 2


@pytest.mark.slow
def test_sensitivity_ranks_response_drivers(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from immunotwin.sensitivity import run_sensitivity

    res = run_sensitivity(parse_spec(SPEC), ["orr", "os_rate.12"], tmp_path, patients=200, samples=32)
    st = res["results"]["orr"]["nivolumab"]["ST"]
    # response does not depend on the lethal burden (which only sets when death comes)
    assert st["lethal_burden"] < max(st["immunogenicity"], st["resistant_fraction"], st["net_growth_rate"])
    assert (tmp_path / "sensitivity.png").stat().st_size > 10_000


def test_effective_sample_size_of_reweighting_matches_the_gaussian_integral() -> None:
    from immunotwin.calibrate import MIN_ESS_FRACTION, expected_ess_fraction
    from immunotwin.model.core import PARAM_INDEX
    from immunotwin.weighted import ess

    rng = np.random.default_rng(0)
    target = np.array([0.5, 0.9, 1.2])
    ratio = np.array([1.25, 1.6, 1.1])
    n = 400_000
    effects = rng.normal(size=(n, 3)) * target * ratio
    pl = Plausible(("a",), {}, effects, target * ratio, ("x", "y", "z"))
    w = weights(np.concatenate([np.zeros(3), np.log(target)]), pl)
    assert ess(w) / n == pytest.approx(expected_ess_fraction(ratio), rel=0.03)
    assert expected_ess_fraction(np.ones(4)) == pytest.approx(1.0)
    # The design itself: at the centre of the proposal (the current defaults), the ESS floor the
    # fit must respect is reachable without widening any variability. (Iteration 8: 0.31 against the
    # floor's 0.25; expansion_rate's fitted IIV, 0.185, lies under the proposal's 0.4 minimum SD, which
    # costs most of the margin. Iteration 7 had 0.47.)
    ratios = np.array([proposal_sd(k) / PARAM_INDEX[k].iiv for k in FITTED])
    assert expected_ess_fraction(ratios) > MIN_ESS_FRACTION


def test_profiled_event_rates_recover_the_rates_that_made_the_targets() -> None:
    import pandas as pd

    from immunotwin.calibrate import default_rates, profile_event_rates, trae_grade3plus

    rng = np.random.default_rng(8)
    frames = {}
    # Arms unlike each other in exposure and in autoreactive activity, as CheckMate 067's are: the two rates are
    # identifiable only because of that.
    for arm, p_immune, months, activity in (("combo", 0.45, 10.0, 1.5), ("nivo", 0.05, 14.0, 0.2),
                                            ("ipi", 0.22, 2.5, 1.0)):
        reported = np.where(rng.random(3000) < p_immune, 3, 1)
        # the whole follow-up sees more (events after the reporting window); the TRAE rows read the window only
        frames[arm] = pd.DataFrame({"any_irae_grade_reported": reported,
                                    "any_irae_grade": np.where(rng.random(3000) < 0.2, 3, reported),
                                    "neutropenia_grade": 0,
                                    "checkpoint_exposure_months": rng.exponential(months, 3000),
                                    "autoreactive_activity_months": rng.exponential(activity, 3000)})
    pl = Plausible(tuple(frames), frames, np.zeros((3000, 1)), np.ones(1), ("immunogenicity",))
    w = rng.uniform(0.5, 1.5, 3000)
    # Analytic: each patient's probability 1 - (1 - immune) exp(-r_n x exposure - r_s x activity).
    df = frames["nivo"]
    hand = np.sum(w * (1 - (df["any_irae_grade_reported"] < 3) * np.exp(-0.02 * df["checkpoint_exposure_months"]
                                                               - 0.3 * df["autoreactive_activity_months"]))) / w.sum()
    assert trae_grade3plus(df, w, (0.02, 0.3)) == pytest.approx(hand, rel=1e-12)
    rows = [("grade3plus_trae", "", arm, trae_grade3plus(frames[arm], w, (0.02, 0.3))) for arm in frames]
    assert profile_event_rates(pl, w, rows) == pytest.approx((0.02, 0.3), rel=0.02)
    # No TRAE target: the installed defaults are kept.
    assert profile_event_rates(pl, w, [("orr", "", "nivo", 0.4)]) == default_rates()


def test_fit_report_judges_a_median_beyond_follow_up_by_whether_it_is_reached(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from immunotwin.report.fit_report import write_fit_report

    fitted = {"immunogenicity": {"default": 0.4, "iiv": 0.5, "log_shift": 0.0}}
    rule = "not reached by 60 months"
    for sim, verdict in ((float("nan"), "inside"), (56.8, "outside")):  # 56.8 is within ±25% of 72.1
        rows = [("median_os_months", "", "nivolumab + ipilimumab", 72.1, sim, 18.0, rule),
                ("orr", "", "nivolumab", 0.437, 0.45, 0.04)]
        write_fit_report(tmp_path / "fit.html", rows=rows, history=[2.0, 1.0], fitted=fitted, provenance={},
                         ess=100.0, n=200)
        text = (tmp_path / "fit.html").read_text()
        row = text[text.index("median_os_months"):]
        row = row[:row.index("</tr>")]
        assert rule in row and row.endswith(f"<td>{verdict}</td>"), row
        assert "<td>0.45</td><td>±0.04</td><td>inside</td>" in text


def test_pooled_populations_reweight_to_the_target_distribution() -> None:
    """Two plausible populations drawn around different centres, pooled with the mixture density, reweight to
    the moments of the target log-normal population; each alone is still unbiased, and the pool has the larger
    effective sample size where the target lies between them."""
    import pandas as pd

    from immunotwin.calibrate import centre_now, pool

    rng = np.random.default_rng(5)
    now = centre_now()
    k = len(FITTED)
    sd = np.array([now[p]["proposal_sd"] for p in FITTED])

    def population(shift: float, widen: float, n: int):  # type: ignore[no-untyped-def]
        centre = np.zeros(k)
        centre[0] = shift
        re = rng.normal(size=(n, k)) * sd * widen  # effects relative to the population's own defaults
        rec = {"params": {p: {"default": now[p]["default"] * np.exp(centre[j]), "proposal_sd": sd[j] * widen}
                          for j, p in enumerate(FITTED)}}
        df = pd.DataFrame({f"re_{p}": re[:, j] for j, p in enumerate(FITTED)})
        df["x0"] = re[:, 0] + shift  # the first effect relative to the current defaults: the outcome read
        return {"arm": df}, rec

    a, b = population(0.0, 1.0, 60_000), population(0.5, 0.8, 60_000)
    both = pool([a, b])
    assert both.n == 120_000 and both.effects[:, 0] == pytest.approx(both.outcomes["arm"]["x0"].to_numpy())
    mu = np.zeros(k)
    mu[0] = 0.25
    s = 0.6 * sd
    phi = np.concatenate([mu, np.log(s)])
    for pl in (pool([a]), pool([b]), both):
        w = weights(phi, pl)
        x = pl.outcomes["arm"]["x0"].to_numpy()
        m = float(np.sum(w * x))
        assert m == pytest.approx(0.25, abs=4 * s[0] / np.sqrt(weighted.ess(w)))
        assert np.sqrt(float(np.sum(w * (x - m) ** 2))) == pytest.approx(s[0], rel=0.05)
    ess_pool = weighted.ess(weights(phi, both))
    assert ess_pool > weighted.ess(weights(phi, pool([a]))) and ess_pool > weighted.ess(weights(phi, pool([b])))
    # One population centred on the current defaults is the plain proposal of earlier passes.
    single = pool([a])
    plain = Plausible(single.arms, single.outcomes, single.effects, sd)
    assert weights(phi, single) == pytest.approx(weights(phi, plain), rel=1e-9)


def test_a_plausible_population_records_its_centre_and_reloads(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    from immunotwin.calibrate import CENTRE_FILE, centre_now, load_plausible, pool

    spec = parse_spec(SPEC.replace("size_per_arm = 10", "size_per_arm = 4"))
    first = simulate_plausible(spec, 6, out=tmp_path, chunk_size=3)
    rec = json.loads((tmp_path / CENTRE_FILE).read_text())
    assert rec["params"] == json.loads(json.dumps(centre_now()))
    outcomes, rec2 = load_plausible(tmp_path, first.arms)
    assert rec2 == rec
    again = pool([(outcomes, rec2)])
    assert again.effects == pytest.approx(first.effects) and again.centres == pytest.approx(0.0)
    # A second run with more patients overlaps the first's chunks: each patient is read once.
    simulate_plausible(spec, 8, out=tmp_path, chunk_size=4)
    assert list(load_plausible(tmp_path, first.arms)[0][first.arms[0]]["patient"]) == list(range(8))
    (tmp_path / CENTRE_FILE).unlink()
    with pytest.raises(ValueError, match=CENTRE_FILE):
        load_plausible(tmp_path, first.arms)
    with pytest.raises(ValueError, match=CENTRE_FILE):  # a cache whose centre is unknown is not reused silently
        simulate_plausible(spec, 6, out=tmp_path, chunk_size=3)


def test_reweighting_carries_the_pdl1_link_to_immunogenicity() -> None:
    """PD-L1 is drawn from a copula variable w correlated with the standard-normal immunogenicity draw, not with
    the effect: reweighting a wider plausible population must reweight w given the effect too. Oracle: in the
    target population E[w x] = rho s (x = s z, w = rho z + ...); reweighting the effects alone gives rho s^2 / sd."""
    from immunotwin.population import PDL1_IMMUNE_CORRELATION as rho

    rng = np.random.default_rng(11)
    n, sd_q, s = 400_000, 1.0, 0.6
    z = rng.normal(size=n)
    x = sd_q * z
    w = rho * z + np.sqrt(1 - rho**2) * rng.normal(size=n)
    phi = np.array([0.0, np.log(s)])
    with_latent = Plausible(("a",), {}, x[:, None], np.array([sd_q]), ("immunogenicity",), latent=w)
    without = Plausible(("a",), {}, x[:, None], np.array([sd_q]), ("immunogenicity",))
    assert float(np.sum(weights(phi, with_latent) * w * x)) == pytest.approx(rho * s, abs=0.01)
    assert float(np.sum(weights(phi, without) * w * x)) == pytest.approx(rho * s**2 / sd_q, abs=0.01)
    # The marginal of the effects is the target's either way.
    assert float(np.sum(weights(phi, with_latent) * x**2)) == pytest.approx(s**2, rel=0.03)
    # Two components of other centres and SDs, a shifted target: each patient's w was drawn from its own
    # component's standardised draw; the mixture's conditional densities must give E[w (x - mu)] = rho s.
    c, sd = np.array([0.0, 0.4]), np.array([1.0, 0.7])
    comp = rng.integers(0, 2, n)
    z = rng.normal(size=n)
    x = c[comp] + sd[comp] * z
    w = rho * z + np.sqrt(1 - rho**2) * rng.normal(size=n)
    mixed = Plausible(("a",), {}, x[:, None], sd.max(keepdims=True), ("immunogenicity",), centres=c[:, None],
                      sds=sd[:, None], shares=np.array([0.5, 0.5]), latent=w)
    mu = 0.2
    ww = weights(np.array([mu, np.log(s)]), mixed)
    assert float(np.sum(ww * x)) == pytest.approx(mu, abs=0.01)
    assert float(np.sum(ww * (x - mu) ** 2)) == pytest.approx(s**2, rel=0.03)
    assert float(np.sum(ww * w * (x - mu))) == pytest.approx(rho * s, abs=0.01)
    # take() keeps each patient's w with its effects; select() without immunogenicity drops the w term.
    idx = rng.integers(0, n, n)
    assert weights(np.array([mu, np.log(s)]), mixed.take(idx)) == pytest.approx(
        ww[idx] / ww[idx].sum(), rel=1e-9)
    two = Plausible(("a",), {}, np.stack([x, z], axis=1), np.array([1.0, 1.0]), ("immunogenicity", "other"),
                    latent=w)
    plain = Plausible(("a",), {}, z[:, None], np.array([1.0]), ("other",))
    assert weights(np.array([0.1, np.log(0.8)]), two.select(("other",))) == pytest.approx(
        weights(np.array([0.1, np.log(0.8)]), plain), rel=1e-9)


def test_pdl1_subgroup_orr_partitions_the_arm(population: Plausible) -> None:
    """ORR by tumour PD-L1 (>= 5%, < 5%): by hand with unit weights, and under any weights the arm's ORR is the
    subgroups' mix (a partition of the patients)."""
    from immunotwin.readouts import CHECKMATE067_RESPONSE_CUTOFF_MONTHS, response_by

    k = len(population.names)
    for phi in (np.concatenate([np.zeros(k), np.log(population.sd)]),
                np.concatenate([0.3 * population.sd, np.log(0.6 * population.sd)])):
        w = weights(phi, population)
        sim = endpoints(population, w, "ipilimumab")
        for arm, df in population.outcomes.items():
            pos = df["pdl1_tps"].to_numpy(float) >= 0.05
            assert 0 < pos.sum() < len(pos)
            share = w[pos].sum() / w.sum()
            mix = share * sim["orr_pdl1_ge5"][arm] + (1 - share) * sim["orr_pdl1_lt5"][arm]
            assert mix == pytest.approx(sim["orr"][arm], abs=1e-12)
    resp, _ = response_by(population.outcomes["nivolumab"], CHECKMATE067_RESPONSE_CUTOFF_MONTHS)
    pos = population.outcomes["nivolumab"]["pdl1_tps"].to_numpy(float) >= 0.05
    flat = endpoints(population, np.ones(population.n), "ipilimumab")
    assert flat["orr_pdl1_ge5"]["nivolumab"] == pytest.approx(resp[pos].mean())
    assert flat["orr_pdl1_lt5"]["nivolumab"] == pytest.approx(resp[~pos].mean())


def test_the_regenerated_pdl1_latent_is_the_one_the_sampler_used(population: Plausible) -> None:
    pl = population
    assert pl.latent is not None
    tps = next(iter(pl.outcomes.values()))["pdl1_tps"].to_numpy(float)
    order = np.argsort(pl.latent)
    assert np.all(np.diff(tps[order]) >= -1e-12)  # the score is a non-decreasing function of the latent
    assert np.corrcoef(pl.latent, pl.effects[:, FITTED.index("immunogenicity")])[0, 1] > 0.4


def test_calibrate_cli_pools_an_earlier_population_and_rejects_a_folder_without_centre(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """``immunotwin calibrate --pool``: a small population simulated with another seed is pooled in (both
    counted in the provenance); a folder without a recorded centre is refused with exit code 2, nothing written."""
    import json

    from immunotwin.cli import main

    spec_a = tmp_path / "a.toml"
    spec_a.write_text(SPEC)
    targets = tmp_path / "targets.json"
    targets.write_text(json.dumps({"trial": "synthetic", "endpoints": {"orr": {"nivolumab": 0.3, "ipilimumab": 0.1}}}))
    from immunotwin.spec import with_overrides

    simulate_plausible(with_overrides(parse_spec(SPEC), seed=4), 50, out=tmp_path / "b")  # --population-seed 4
    other = tmp_path / "other"  # another spec (a different file) is refused
    simulate_plausible(parse_spec(SPEC.replace("seed = 3", "seed = 5")), 50, out=other)
    (tmp_path / "empty").mkdir()
    assert main(["calibrate", str(spec_a), "--targets", str(targets), "--out", str(tmp_path / "bad"),
                 "--patients", "50", "--pool", str(tmp_path / "empty"), "--quiet"]) == 2
    assert "--pool: " + str(tmp_path / "empty") + " holds no plausible population" in capsys.readouterr().err
    assert main(["calibrate", str(spec_a), "--targets", str(targets), "--out", str(tmp_path / "bad"),
                 "--patients", "50", "--pool", str(tmp_path / "b"), "--pool", str(tmp_path / "b"), "--quiet"]) == 2
    assert "given twice" in capsys.readouterr().err and not (tmp_path / "bad").exists()
    assert main(["calibrate", str(spec_a), "--targets", str(targets), "--out", str(tmp_path / "bad"),
                 "--patients", "50", "--pool", str(other), "--quiet"]) == 2
    assert "another spec" in capsys.readouterr().err and not (tmp_path / "bad").exists()
    assert main(["calibrate", str(spec_a), "--targets", str(targets), "--out", str(tmp_path / "a"), "--patients", "50",
                 "--pool", str(tmp_path / "b"), "--max-evals", "40", "--bootstrap", "1", "--quiet"]) == 0
    prov = json.loads((tmp_path / "a" / "calibration.json").read_text())["provenance"]
    assert prov["plausible_patients_per_arm"] == 100 and prov["pooled_with"] == [str(tmp_path / "b")]
    assert (tmp_path / "a" / "fit.html").is_file()
    # A population of the same seed would count its patients twice; --population-seed gives another.
    assert main(["calibrate", str(spec_a), "--targets", str(targets), "--out", str(tmp_path / "c"),
                 "--patients", "50", "--pool", str(tmp_path / "b"), "--population-seed", "4", "--quiet"]) == 2
    assert "seed 4" in capsys.readouterr().err and not (tmp_path / "c").exists()
    # --out's own population keeps its seed.
    assert main(["calibrate", str(spec_a), "--targets", str(targets), "--out", str(tmp_path / "a"),
                 "--patients", "50", "--population-seed", "9", "--quiet"]) == 2
    assert "holds a plausible population of seed 3" in capsys.readouterr().err


def test_a_prior_on_a_variability_adds_its_squared_log_distance_and_pulls_an_unidentified_iiv_to_it() -> None:
    """Outcomes that do not depend on the effects leave the variabilities unidentified by the data: the loss then
    differs between two IIVs of the growth rate by the prior term alone, ((log s - log IIV) / SD)^2, and a fit
    started away from the prior ends at its IIV."""
    import pandas as pd

    from immunotwin.calibrate import PRIORS, loss, prior_penalty, target_rows

    rng = np.random.default_rng(2)
    n, names = 4000, ("immunogenicity", "net_growth_rate")
    sd = np.array([proposal_sd(k) for k in names])
    effects = rng.normal(size=(n, 2)) * sd
    row = {**dict(_synthetic_trial(1).drop(columns="arm").iloc[0]), "neutropenia_grade": 0,
           "checkpoint_exposure_months": 6.0, "autoreactive_activity_months": 0.5}
    frames = {a: pd.DataFrame([{**row, "arm": a}] * n) for a in ("nivolumab", "ipilimumab")}
    pl = Plausible(tuple(frames), frames, effects, sd, names)
    targets = {"endpoints": {"orr": {"nivolumab": 0.3, "ipilimumab": 0.1}}}
    rows = target_rows(targets)
    iiv, log_sd = PRIORS["net_growth_rate"]
    phi = np.array([0.0, 0.0, np.log(0.5 * sd[0]), np.log(iiv)])
    wider = phi.copy()
    wider[3] += log_sd  # one prior SD away
    assert prior_penalty(phi, names, PRIORS) == pytest.approx(0.0)
    assert loss(wider, pl, rows, "ipilimumab", False, PRIORS) - loss(phi, pl, rows, "ipilimumab", False, PRIORS) \
        == pytest.approx(1.0, abs=1e-9)
    assert loss(wider, pl, rows, "ipilimumab", False) == pytest.approx(loss(phi, pl, rows, "ipilimumab", False))
    res = fit(pl, targets, control="ipilimumab", seed=3, max_evals=400, profile_events=False, priors=PRIORS,
              x0=np.array([0.0, 0.0, np.log(0.5 * sd[0]), np.log(0.9 * sd[1])]))
    assert np.exp(res.phi[3]) == pytest.approx(iiv, rel=0.05)


def test_organ_mix_rows_against_checkmate067_table() -> None:
    """Oracle by hand: a nivolumab arm of 100 patients with skin grades 0 (70), 1 (25), 3 (5), colitis never and
    hypothyroidism grade 2 in 9 and a thyrotoxic phase alone (thyroid irAE grade 2, never hypothyroid) in 20 more, which
    is not hypothyroidism; the published rash is 26% any grade (exact 95% CI of 81/313, 0.211-0.311) and 1% grade >= 3
    (3/313, 0.002-0.028)."""
    import pandas as pd

    from immunotwin.model.organs import IRAES
    from immunotwin.scenarios.trials import clopper_pearson
    from immunotwin.validate import organ_mix_rows

    n = 100
    d = {f"irae_{k}_grade": np.zeros(n) for k in IRAES}
    d["irae_dermatitis_grade"] = np.array([0] * 70 + [1] * 25 + [3] * 5, float)
    d["irae_thyroiditis_grade"] = np.array([2] * 29 + [0] * 71, float)
    d["hypothyroidism_grade"] = np.array([2] * 9 + [0] * 91, float)
    p = pd.DataFrame({"arm": "nivolumab", "status": "ok", **d})
    rows = {r.check.split(": ", 1)[1]: r for r in organ_mix_rows(p)}
    assert all(r.group == "nivolumab" for r in rows.values())  # the other arms are absent
    # rash and liver have grade >= 3 rows; hypothyroidism's published grade >= 3 under nivolumab is 0: no row
    assert set(rows) == {"rash, any grade", "rash, grade >=3", "diarrhoea/colitis, any grade",
                         "diarrhoea/colitis, grade >=3", "hepatitis, any grade", "hepatitis, grade >=3",
                         "hypothyroidism, any grade"}
    rash = rows["rash, any grade"]
    assert rash.simulated == pytest.approx(0.30) and rash.published == pytest.approx(0.26) and rash.inside
    assert clopper_pearson(81, 313) == pytest.approx((0.211, 0.311), abs=1e-3)
    assert rows["rash, grade >=3"].simulated == pytest.approx(0.05) and not rows["rash, grade >=3"].inside  # above 2.8%
    assert rows["hypothyroidism, any grade"].simulated == pytest.approx(0.09) and rows["hypothyroidism, any grade"].inside
    assert not rows["diarrhoea/colitis, any grade"].inside  # 0 against 20%
    # grade >= 3 gut is compared with the larger of diarrhoea's (2%) and colitis's (1%)
    assert rows["diarrhoea/colitis, grade >=3"].published == pytest.approx(0.02)


def test_organ_mix_any_grade_rows_are_fitted_only_where_the_organ_fit_read_them(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """An organ's any-grade rows are fitted figures when its margin was fitted to CheckMate 067's table
    (calibrate_organs, spec "checkmate067"); its grade >= 3 rows and the other organs' rows stay unfitted, and a margin
    fitted to another spec does not count."""
    import pandas as pd

    from immunotwin import calibrate_cancers
    from immunotwin.model.organs import IRAES
    from immunotwin.validate import organ_mix_rows

    d = {f"irae_{k}_grade": np.array([0.0, 1.0, 3.0]) for k in IRAES}
    p = pd.DataFrame({"arm": "ipilimumab", "status": "ok", "hypothyroidism_grade": [0.0, 1.0, 0.0], **d})
    monkeypatch.setattr(calibrate_cancers, "installed_fit_specs", lambda: {
        **{f"{prm}.dermatitis": "checkmate067" for prm in ("tolerance_margin", "weight_pd", "weight_ctla4")},
        "tolerance_margin.hepatitis": "checkpoint-myocarditis",
        # the gut's CTLA-4 weight refitted to MDX010-20 afterwards: the gut is no longer fitted to CheckMate 067's table
        "tolerance_margin.colitis": "checkmate067", "weight_pd.colitis": "checkmate067",
        "weight_ctla4.colitis": "cancer-vaccine"})
    fitted = {r.check.split(": ", 1)[1] for r in organ_mix_rows(p) if r.fitted}
    assert fitted == {"rash, any grade"}
    from immunotwin.validate import organ_fitted

    assert organ_fitted() == {"dermatitis"}  # the class-difference rows of a fitted organ are marked fitted too
    monkeypatch.setattr(calibrate_cancers, "installed_fit_specs", lambda: {})
    assert not any(r.fitted for r in organ_mix_rows(p))


def test_other_trial_organ_rows_by_hand(monkeypatch: pytest.MonkeyPatch) -> None:
    """Oracle by hand: nivolumab, 100 patients, 13 with a skin irAE and none with a gut one; ipilimumab, 100 patients,
    31 with a gut irAE and 2 with a liver one. Weber 2017's 13% rash (75/576, exact CI 0.104-0.160): inside; its 13%
    diarrhoea: 0 is outside; MDX010-20's 160/511 (0.273-0.355): 0.31 inside; Tarhini's 24/1498 (0.010-0.024): 0.02
    inside. None is fitted."""
    import pandas as pd

    from immunotwin import calibrate_cancers
    from immunotwin.model.organs import IRAES
    from immunotwin.scenarios.trials import clopper_pearson
    from immunotwin.validate import other_trial_organ_rows

    def arm(name: str, **counts: int) -> pd.DataFrame:
        d = {f"irae_{k}_grade": np.zeros(100) for k in IRAES}
        for organ, k in counts.items():
            d[f"irae_{organ}_grade"][:k] = 1.0
        return pd.DataFrame({"arm": name, "status": "ok", "hypothyroidism_grade": 0.0, **d})

    p = pd.concat([arm("nivolumab", dermatitis=13), arm("ipilimumab", colitis=31, hepatitis=2)], ignore_index=True)
    monkeypatch.setattr(calibrate_cancers, "installed_fit_specs", lambda: {})
    rows = {(r.group, r.check): r for r in other_trial_organ_rows(p)}
    assert len(rows) == 4 and not any(r.fitted for r in rows.values())
    # the opt-in fit of the skin's PD-1 weight to Weber's figure makes that row fitted; a fit to another figure does not
    monkeypatch.setattr(calibrate_cancers, "installed_fit_specs", lambda: {
        "weight_pd.dermatitis": "melanoma-vitiligo", "weight_ctla4.colitis": "checkmate067"})
    assert {(r.group, r.check) for r in other_trial_organ_rows(p) if r.fitted} == {
        ("nivolumab", "rash, any grade, against another trial")}
    monkeypatch.setattr(calibrate_cancers, "installed_fit_specs", lambda: {})
    assert rows[("nivolumab", "rash, any grade, against another trial")].inside
    assert not rows[("nivolumab", "diarrhoea, any grade, against another trial")].inside
    gut = rows[("ipilimumab", "diarrhoea, any grade, against another trial")]
    assert gut.simulated == pytest.approx(0.31) and gut.inside and clopper_pearson(160, 511)[0] == pytest.approx(0.273,
                                                                                                              abs=1e-3)
    liver = rows[("ipilimumab", "hepatitis, any grade, against another trial")]
    assert liver.published == pytest.approx(0.016) and liver.inside
    # diarrhoea reported without an immune cause in 13 more of each arm: Weber's table counts treatment-related events
    # (0.13 inside now), MDX010-20's immune-related ones (still 0.31)
    reports = np.where(np.arange(200) % 100 >= 87, 5.0, np.nan)
    rows = {(r.group, r.check): r for r in other_trial_organ_rows(p.assign(diarrhoea_background_onset_weeks=reports))}
    nivo_gut = rows[("nivolumab", "diarrhoea, any grade, against another trial")]
    assert nivo_gut.simulated == pytest.approx(0.13) and nivo_gut.inside
    assert rows[("ipilimumab", "diarrhoea, any grade, against another trial")].simulated == pytest.approx(0.31)


def test_thyroid_test_rows_by_hand() -> None:
    """Oracle by hand: a nivolumab arm of 100 patients, 10 with a thyrotoxic phase first seen at week 4 (5 of them
    hypothyroid from week 8), 20 with hypothyroidism alone from week 6, 70 with neither: 30 abnormal (Patel 2018:
    28/89, exact 95% CI 0.220-0.422), onsets at 28 days (10) and 42 days (20)."""
    import pandas as pd

    from immunotwin.scenarios.trials import clopper_pearson
    from immunotwin.validate import median_within_sampling, thyroid_onset_days, thyroid_test_rows

    nan = np.nan
    thy = np.array([4.0] * 10 + [nan] * 90)
    hypo = np.array([8.0] * 5 + [nan] * 5 + [6.0] * 20 + [nan] * 70)
    p = pd.DataFrame({"arm": "nivolumab", "status": "ok", "irae_thyroiditis_onset_weeks": thy,
                      "hypothyroidism_onset_weeks": hypo})
    days = thyroid_onset_days(p)
    assert np.isfinite(days).sum() == 30 and (days == 28).sum() == 10 and (days == 42).sum() == 20
    rows = thyroid_test_rows(p)
    arm = [r for r in rows if r.group == "nivolumab"]
    assert len(arm) == 1 and len(rows) == 2  # the other arms are absent; the pooled onset row
    assert arm[0].simulated == pytest.approx(0.30) and arm[0].published == pytest.approx(28 / 89) and arm[0].inside
    assert clopper_pearson(28, 89) == pytest.approx((0.220, 0.422), abs=1e-3)
    onset = rows[1]
    assert onset.simulated == pytest.approx(42.0) and onset.published == 46.0 and not onset.fitted
    # Medians of 76 draws from {28 (1/3), 42 (2/3)} are 28 or 42 (35 when the two middle draws differ): never 46.
    assert not onset.inside
    # The sampling range of a median: 76 draws from an exponential of median 46 days hold 46, not 92.
    sim = np.random.default_rng(1).exponential(46.0 / np.log(2.0), size=20000)
    lo, hi, ok = median_within_sampling(sim, 46.0, 76)
    assert ok and lo < 46.0 < hi and hi < 70.0
    assert not median_within_sampling(sim, 92.0, 76)[2]


def test_pituitary_row_by_hand() -> None:
    """Oracle by hand: an ipilimumab arm of 100 patients, 5 with hypophysitis first seen at week 8 and 20 with it
    first seen at week 40, the reporting window ending at week 16: 5 reported, 0.05, inside the meta-analysis's
    0.039-0.081; all 25 counted without a window, outside, and their median onset (40 weeks) against 9."""
    import pandas as pd

    from immunotwin.validate import pituitary_rows

    nan = np.nan
    grade = np.array([2.0] * 25 + [0.0] * 75)
    onset = np.array([8.0] * 5 + [40.0] * 20 + [nan] * 75)
    base = {"arm": "ipilimumab", "status": "ok", "irae_hypophysitis_grade": grade,
            "irae_hypophysitis_onset_weeks": onset, "irae_hypophysitis_onset2_weeks": nan,
            "irae_hypophysitis_onset3_weeks": nan}
    (row,) = pituitary_rows(pd.DataFrame({**base, "ae_window_end_weeks": 16.0}))  # 5 onsets: too few for a median
    assert row.simulated == pytest.approx(0.05) and row.published == pytest.approx(0.056)
    from immunotwin.calibrate_cancers import installed_fits

    assert row.inside and row.fitted == ("weight_ctla4.hypophysitis" in installed_fits()) and row.group == "ipilimumab"
    whole, onset = pituitary_rows(pd.DataFrame(base))  # no reporting window: every grade counts
    assert not onset.fitted  # the onset is never a fitted figure
    assert whole.simulated == pytest.approx(0.25) and not whole.inside
    # 25 onsets, 5 at week 8 and 20 at week 40: every median of 25 draws is 8 or 40, never the published 9
    assert onset.simulated == pytest.approx(40.0) and onset.published == 9.0 and not onset.inside
    later = pituitary_rows(pd.DataFrame({**base, "irae_hypophysitis_onset_weeks": np.where(grade > 0, 9.0, nan)}))
    assert later[1].simulated == 9.0 and later[1].inside
    assert pituitary_rows(pd.DataFrame({**base, "arm": "nivolumab"})) == []  # no ipilimumab arm, no row


def _nivolumab_arm(organ: str, grades: list[int], onset: float = 10.0):  # type: ignore[no-untyped-def]
    """A nivolumab arm of 1,000 patients for the organ rows by hand: ``grades`` then zeros, each grade first seen in
    week ``onset``, the reporting window closing at week 30."""
    import pandas as pd

    grade = np.array(grades + [0] * (1000 - len(grades)), float)
    first = {k: np.where(grade >= k, onset, np.nan) for k in (1, 2, 3)}
    return pd.DataFrame({"arm": "nivolumab", "status": "ok", f"irae_{organ}_grade": grade,
                         f"irae_{organ}_onset_weeks": first[1], f"irae_{organ}_onset2_weeks": first[2],
                         f"irae_{organ}_onset3_weeks": first[3], "ae_window_end_weeks": 30.0})

def test_diabetes_row_by_hand() -> None:
    """Oracle by hand: a nivolumab arm of 1,000 patients, 2 with insulin-dependent diabetes (grade 3) in the reporting
    window and 1 at grade 2: 0.002, inside 3x of 0.9% only from 0.003, so outside; 9 at grade 3: 0.009, inside; a grade
    3 first seen after the window is not counted."""
    from immunotwin.validate import diabetes_rows

    def arm(grades: list[int], onset: float = 10.0):  # type: ignore[no-untyped-def]
        return _nivolumab_arm("diabetes", grades, onset)

    (few,) = diabetes_rows(arm([3, 3, 2]))
    assert few.simulated == pytest.approx(0.002) and few.published == pytest.approx(0.009) and not few.inside
    (nine,) = diabetes_rows(arm([3] * 9))
    assert nine.simulated == pytest.approx(0.009) and nine.inside and not nine.fitted and nine.criterion == "within 3x"
    (late,) = diabetes_rows(arm([3] * 9, onset=40.0))  # first seen after the window closed
    assert late.simulated == 0.0 and not late.inside


def test_pneumonitis_rows_by_hand() -> None:
    """Oracle by hand, against Nishino 2016's subgroups (PD-1 alone in melanoma 1.6% / 0.2%, with ipilimumab 6.6% /
    1.5%, PD-1 alone in NSCLC 4.1% / 1.8%; each inside within 3x). Arms of 1,000: nivolumab 20 with pneumonitis in the
    reporting window, 1 of them at grade 3: 0.020 (band 0.0053-0.048) and 0.001 (band 0.00067-0.006), both inside;
    the combination 60, 10 at grade 3: 0.060 and 0.010, inside, and more than nivolumab alone; NSCLC (pembrolizumab) 10,
    none at grade 3: 0.010, below 0.041/3, outside, and fewer than melanoma's 0.020 (the sign row fails). 30 at grade
    3 under nivolumab: 0.030 > 0.006, outside. Onsets after the window are not counted (nor, in the NSCLC sign row, a
    melanoma onset after the NSCLC trial's 6 months); without the NSCLC table its
    rows and its sign row are left out; without a nivolumab or combination arm, no row."""
    import pandas as pd

    from immunotwin.calibrate_cancers import installed_fits
    from immunotwin.validate import pneumonitis_rows

    def arm(grades: list[int], name: str = "nivolumab", onset: float = 10.0):  # type: ignore[no-untyped-def]
        return _nivolumab_arm("pneumonitis", grades, onset).assign(arm=name)

    melanoma = pd.concat([arm([3] + [1] * 19), arm([3] * 10 + [2] * 50, "nivolumab + ipilimumab")])
    nsclc = arm([1] * 10, "pembrolizumab")
    rows = {r.check: r for r in pneumonitis_rows(melanoma, nsclc)}
    assert len(rows) == 8
    nivo_any, nivo_g3 = rows["pneumonitis, any grade: PD-1 inhibitor alone, melanoma"], \
        rows["pneumonitis, grade >= 3: PD-1 inhibitor alone, melanoma"]
    assert nivo_any.simulated == pytest.approx(0.020) and nivo_any.published == pytest.approx(0.016) and nivo_any.inside
    assert nivo_g3.simulated == pytest.approx(0.001) and nivo_g3.published == pytest.approx(0.002) and nivo_g3.inside
    assert nivo_any.fitted == ("tolerance_margin.pneumonitis" in installed_fits())
    assert nivo_g3.fitted == ("damage_rate.pneumonitis" in installed_fits())
    combo_any, combo_g3 = rows["pneumonitis, any grade: PD-1 inhibitor with ipilimumab, melanoma"], \
        rows["pneumonitis, grade >= 3: PD-1 inhibitor with ipilimumab, melanoma"]
    assert combo_any.simulated == pytest.approx(0.060) and combo_any.inside and combo_any.group == "nivolumab + ipilimumab"
    assert combo_g3.simulated == pytest.approx(0.010) and combo_g3.published == pytest.approx(0.015) and combo_g3.inside
    assert not combo_g3.fitted  # the lung fit reads melanoma's share under PD-1 alone: the other grade >= 3 rows stay unfitted
    lung_any = rows["pneumonitis, any grade: PD-1 inhibitor alone, NSCLC"]
    assert lung_any.simulated == pytest.approx(0.010) and lung_any.published == pytest.approx(0.041)
    assert not lung_any.inside and lung_any.criterion == "within 3x"
    assert not combo_any.fitted and not lung_any.fitted  # the lung fits read melanoma under PD-1 alone only
    combo_sign = rows["pneumonitis (any grade) more frequent with ipilimumab added (melanoma)"]
    assert combo_sign.simulated == pytest.approx(0.040) and combo_sign.inside
    lung_sign = rows["pneumonitis (any grade) more frequent in NSCLC than in melanoma (PD-1 alone, the first 6 months)"]
    assert lung_sign.simulated == pytest.approx(-0.010) and not lung_sign.inside
    # melanoma's events counted to the NSCLC trial's 6 months (26.1 weeks) in the sign row only: 15 of the 20 first
    # seen in week 28, inside the reporting window (to week 30), leave 0.005 there, and NSCLC's 0.010 is higher
    late_melanoma = melanoma.copy()
    late_melanoma.iloc[1:16, late_melanoma.columns.get_loc("irae_pneumonitis_onset_weeks")] = 28.0
    rows = {r.check: r for r in pneumonitis_rows(late_melanoma, nsclc)}
    assert rows["pneumonitis, any grade: PD-1 inhibitor alone, melanoma"].simulated == pytest.approx(0.020)
    lung_sign = rows["pneumonitis (any grade) more frequent in NSCLC than in melanoma (PD-1 alone, the first 6 months)"]
    assert lung_sign.simulated == pytest.approx(0.005) and lung_sign.inside

    severe = {r.check: r for r in pneumonitis_rows(arm([3] * 30))}
    assert len(severe) == 2 and not severe["pneumonitis, grade >= 3: PD-1 inhibitor alone, melanoma"].inside
    late = pneumonitis_rows(arm([3] * 30, onset=40.0))  # first seen after the window closed
    assert [r.simulated for r in late] == [0.0, 0.0] and not any(r.inside for r in late)
    assert pneumonitis_rows(arm([3] * 5, "ipilimumab")) == []  # neither a nivolumab nor a combination arm, no row


def test_pneumonitis_onset_rows_by_hand() -> None:
    """Oracle by hand: the combination's 20 pneumonitis onsets all in week 5 and nivolumab's 20 in week 20: every
    mix of 15 + 5 has median 5 (Nishino's 2.6 months, 11.3 weeks, outside) and the simulated median of the mix is 5; the
    combination is earlier (sign inside, -15 weeks). Half the combination's in week 8 and half in week 14, nivolumab's
    in week 14: the medians of such mixes run from 8 to 14, and 11.3 lies inside; the combination's median (11) is
    still earlier than nivolumab's. Onsets after the reporting window
    (week 30) are not counted, and an arm with fewer than 5 onsets gives no row."""
    import pandas as pd

    from immunotwin.units import DAYS_PER_MONTH
    from immunotwin.validate import pneumonitis_onset_rows

    def arm(name: str, onset: float, n: int = 20):  # type: ignore[no-untyped-def]
        return _nivolumab_arm("pneumonitis", [1] * n, onset).assign(arm=name)

    combo = "nivolumab + ipilimumab"
    median, sign = pneumonitis_onset_rows(pd.concat([arm(combo, 5.0), arm("nivolumab", 20.0)]))
    assert median.published == pytest.approx(2.6 * DAYS_PER_MONTH / 7) and median.simulated == pytest.approx(5.0)
    assert not median.inside and median.criterion.endswith("5.0-5.0")
    assert sign.simulated == pytest.approx(-15.0) and sign.inside and sign.published == pytest.approx(10.3 - 27.5)
    median, sign = pneumonitis_onset_rows(pd.concat([arm(combo, 8.0), arm(combo, 14.0), arm("nivolumab", 14.0)]))
    assert median.inside and median.criterion.endswith("8.0-14.0")
    assert sign.simulated == pytest.approx(11.0 - 14.0) and sign.inside  # the combination's median, 11, is earlier
    assert pneumonitis_onset_rows(pd.concat([arm(combo, 5.0), arm("nivolumab", 40.0)])) == []  # after the window
    assert pneumonitis_onset_rows(pd.concat([arm(combo, 5.0), arm("nivolumab", 20.0, n=4)])) == []


def test_complete_response_rows_by_hand(monkeypatch: pytest.MonkeyPatch) -> None:
    """Oracle by hand: nivolumab 20 complete responses of 100 at months 1, 2, ..., 20 (median 10.5, upper quartile
    15.25); the combination 25 of 100 at month 6 each; ipilimumab's patients are not pooled. The pooled published
    share is 198/935 = 0.212 (±4 points)."""
    import pandas as pd

    from immunotwin.calibrate_cancers import installed_fits
    from immunotwin.validate import complete_response_rows, spread_set_by_hand

    def arm(name: str, onsets: list[float], n: int = 100) -> pd.DataFrame:
        bor = ["CR"] * len(onsets) + ["PR"] * (n - len(onsets))
        return pd.DataFrame({"arm": name, "bor": bor, "cr_onset_months": onsets + [np.nan] * (n - len(onsets))})

    p = pd.concat([arm("nivolumab", [float(m) for m in range(1, 21)]), arm("nivolumab + ipilimumab", [6.0] * 25),
                   arm("ipilimumab", [3.0] * 90)], ignore_index=True)
    rows = {(r.check, r.group): r for r in complete_response_rows(p)}
    pooled = rows[("complete response by 5 years, nivolumab-containing arms pooled", "nivolumab-containing")]
    assert pooled.simulated == pytest.approx(45 / 200) and pooled.published == pytest.approx(198 / 935, abs=1e-4)
    assert pooled.inside and pooled.fitted == ("scar_fraction" in installed_fits())
    med = rows[("months to complete response, median (complete responders)", "nivolumab")]
    assert med.simulated == pytest.approx(10.5) and med.published == 11.8 and med.inside
    # fitted exactly when the residue's clearance spread was set by hand against these figures, or the installed
    # calibration lists them among its targets
    from immunotwin import validate

    by_hand = spread_set_by_hand("residual_clearance_time")
    assert med.fitted == (by_hand or "months_to_cr_median" in validate.installed_fitted_endpoints())
    assert ("set by hand" in med.criterion) == by_hand
    monkeypatch.setattr(validate, "installed_fitted_endpoints", lambda: ("orr", "months_to_cr_median", "months_to_cr_q3"))
    again = {(r.check, r.group): r for r in complete_response_rows(p)}
    assert all(r.fitted for (c, _), r in again.items() if c.startswith("months to complete response"))
    monkeypatch.setattr(validate, "installed_fitted_endpoints", lambda: ("orr",))
    if not by_hand:
        again = {(r.check, r.group): r for r in complete_response_rows(p)}
        assert not any(r.fitted for (c, _), r in again.items() if c.startswith("months to complete response"))
    q3 = rows[("months to complete response, upper quartile (complete responders)", "nivolumab")]
    assert q3.simulated == pytest.approx(15.25) and not q3.inside  # 26.5 published
    combo = rows[("months to complete response, median (complete responders)", "nivolumab + ipilimumab")]
    assert combo.simulated == 6.0 and not combo.inside  # 9.1 published: 6.0 is more than 25% below
    assert not any(g == "ipilimumab" for _, g in rows)


def test_acquired_resistance_row_by_hand() -> None:
    """Oracle by hand: nivolumab's responders progress at months 2, 4, ..., 40 (20 of them) and 5 more do not; a
    progressing non-responder and the combination's responders are left out; progressions after 32.8 months are not
    counted (16 remain: months 2-32, median 17). Published 11.1 months, ±25% (8.3-13.9): outside. Months 1-14 give
    7.5, outside below; ten progressions at 10-13 months (median 11.5) are inside."""
    import pandas as pd

    from immunotwin.validate import acquired_resistance_rows

    def arm(name: str, prog: list[float], stay: int, bor: str = "PR") -> pd.DataFrame:
        return pd.DataFrame({"arm": name, "status": "ok", "bor": bor, "pfs_months": prog + [60.0] * stay,
                             "pfs_event": [True] * len(prog) + [False] * stay})

    def row(prog: list[float]):  # type: ignore[no-untyped-def]
        p = pd.concat([arm("nivolumab", prog, 5), arm("nivolumab", [1.0] * 30, 0, "PD"),
                       arm("nivolumab + ipilimumab", [3.0] * 40, 0)], ignore_index=True)
        (r,) = acquired_resistance_rows(p)
        return r

    r = row([2.0 * k for k in range(1, 21)])
    assert r.simulated == pytest.approx(17.0) and r.published == 11.1 and not r.inside and not r.fitted
    low = row([float(k) for k in range(1, 15)])
    assert low.simulated == pytest.approx(7.5) and not low.inside
    inside = row([10.0, 10.5, 11.0, 11.5, 12.0, 12.5, 13.0, 11.5, 11.5, 11.5])
    assert inside.simulated == pytest.approx(11.5) and inside.inside
    assert acquired_resistance_rows(pd.concat([arm("nivolumab", [5.0] * 9, 3)])) == []  # too few to read a median


def test_one_year_ct_and_pet_rows() -> None:
    """Tan 2018's readings on a small run: three unfitted rows against the published shares, each judged by the exact
    interval of its count; CT reads at least what PET reads, so a CT complete response is always a complete metabolic
    one and the PET share cannot be below the CT share."""
    from immunotwin.reference import load
    from immunotwin.scenarios.trials import clopper_pearson
    from immunotwin.validate import one_year_imaging_rows

    ref = load("scenario_refs")["complete_response_long_term"]["tan_2018_one_year"]
    rows = one_year_imaging_rows(7, 40)
    assert [r.published for r in rows] == [ref["ct_cr"], ref["pet_cmr"], ref["cmr_in_ct_pr"]]
    assert all(not r.fitted and 0.0 <= r.simulated <= 1.0 for r in rows)
    ct_cr, cmr, cmr_pr = rows
    assert cmr.simulated >= ct_cr.simulated
    lo, hi = clopper_pearson(47, 69)  # 68% of the 66% of 104 with a CT partial response
    assert cmr_pr.criterion == f"exact 95% CI of 47/69: {lo:.3f}-{hi:.3f}" and cmr_pr.inside == (lo <= cmr_pr.simulated <= hi)


def test_spread_set_by_hand_reads_the_calibration_note() -> None:
    """A spread carries an ``iiv_note`` only when set by hand after the fit; the note reaches the parameter's source
    and the spread is the one applied."""
    from immunotwin.model.core import _apply_calibration, all_params
    from immunotwin.validate import installed_calibration, spread_set_by_hand

    note = "set by hand against the months to complete response"
    cal = {"provenance": {"label": "test"},
           "params": {"residual_clearance_time": {"default": 70.0, "iiv": 1.5, "iiv_note": note},
                      "immunogenicity": {"default": 0.2, "iiv": 0.8}}}
    assert spread_set_by_hand("residual_clearance_time", cal) and not spread_set_by_hand("immunogenicity", cal)
    assert not spread_set_by_hand("no_such_parameter", cal)
    applied = {p.name: p for p in _apply_calibration(all_params(), cal)}
    assert note in applied["residual_clearance_time"].source and applied["residual_clearance_time"].iiv == 1.5
    assert "set by hand" not in applied["immunogenicity"].source and applied["immunogenicity"].iiv == 0.8
    installed = installed_calibration().get("params", {})
    assert [n for n in installed if spread_set_by_hand(n)] == [n for n, v in installed.items() if v.get("iiv_note")]


def test_held_spread_stays_put_and_keeps_its_note(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A spread set by hand (``iiv_note``) is held at its value through the CMA-ES fit while the others move; it is
    written back with its note and no bootstrap SE; a held spread outside the search box or of a parameter not
    fitted is refused."""
    import json
    from types import SimpleNamespace

    from immunotwin.calibrate import Fit, held_spreads, write_calibration

    names = ("immunogenicity", "residual_clearance_time")
    df = _synthetic_trial(400).assign(neutropenia_grade=0, checkpoint_exposure_months=6.0,
                                      autoreactive_activity_months=1.0)
    sd = np.array([proposal_sd(k) for k in names])
    effects = np.random.default_rng(1).standard_normal((400, 2)) * sd
    pl = Plausible(tuple(df["arm"].unique()), {a: g.reset_index(drop=True) for a, g in df.groupby("arm", sort=False)},
                   effects, sd, names)
    targets = {"endpoints": {"orr": {"nivolumab + ipilimumab": 0.5, "nivolumab": 0.4, "ipilimumab": 0.2}}}
    held = 0.5 * sd[1]
    res = fit(pl, targets, control="ipilimumab", max_evals=60, hold={"residual_clearance_time": held},
              profile_events=False)
    assert np.exp(res.phi[3]) == pytest.approx(held, rel=1e-12)
    free = fit(pl, targets, control="ipilimumab", max_evals=60, profile_events=False)
    assert np.exp(free.phi[3]) != pytest.approx(held, rel=1e-3)  # not held, it moves from its start (0.7 SD)
    with pytest.raises(ValueError, match="outside the search box"):
        fit(pl, targets, control="ipilimumab", max_evals=20, hold={"residual_clearance_time": 2.0 * sd[1]})
    with pytest.raises(ValueError, match="not fitted: net_growth_rate"):
        fit(pl, targets, control="ipilimumab", max_evals=20, hold={"net_growth_rate": 0.3})
    # Only noted spreads of fitted parameters are held.
    cal = {"params": {"residual_clearance_time": {"iiv": 1.5, "iiv_note": "by hand"}, "immunogenicity": {"iiv": 0.8},
                      "nonimmune_trae_rate": {"iiv": 0.0, "iiv_note": "not a fitted parameter"}}}
    assert held_spreads(cal) == {"residual_clearance_time": 1.5}
    # Written back with the note; the bootstrap SE of a held spread is not written (the bootstrap held it too).
    phi = np.zeros(2 * len(FITTED))
    phi[len(FITTED) + FITTED.index("residual_clearance_time")] = np.log(1.5)
    boot = np.tile(np.append(phi, [0.01, 0.1]), (3, 1)) + np.random.default_rng(2).normal(0, 0.01, (3, len(phi) + 2))
    spec = SimpleNamespace(name="test", sha256="0")
    doc = write_calibration(tmp_path / "c.json", phi, boot, spec=spec, targets_path="t.json", targets={}, n=10, seed=1,
                            result=Fit(phi, 1.0, [1.0], 1, 0.0), rates=(0.01, 0.1),
                            hold={"residual_clearance_time": 1.5}, notes={"residual_clearance_time": "by hand"})
    rct = json.loads((tmp_path / "c.json").read_text())["params"]["residual_clearance_time"]
    assert rct["iiv"] == pytest.approx(1.5) and rct["iiv_note"] == "by hand" and rct["iiv_held"]
    assert rct["iiv_se"] is None and doc["params"]["immunogenicity"]["iiv_se"] > 0
    assert doc["provenance"]["fitted_endpoints"] == []  # only the endpoints the targets file holds (none here)


def test_weighted_quantile_is_numpys_with_unit_weights_and_ignores_zero_weight() -> None:
    x = np.random.default_rng(5).exponential(10.0, 201)
    for q in (0.25, 0.5, 0.75, 0.9):
        assert weighted.quantile(x, np.ones_like(x), q) == pytest.approx(np.quantile(x, q), rel=1e-12)
        assert weighted.quantile(x, np.full_like(x, 3.7), q) == pytest.approx(np.quantile(x, q), rel=1e-12)
    w = np.ones_like(x)
    w[::2] = 0.0  # zero weight is absence
    assert weighted.quantile(x, w, 0.5) == pytest.approx(np.quantile(x[1::2], 0.5), rel=1e-12)
    assert np.isnan(weighted.quantile(x, np.zeros_like(x), 0.5))
    # weight on the late values moves the quantile later
    assert weighted.quantile(x, np.where(x > 10.0, 3.0, 1.0), 0.5) > np.quantile(x, 0.5)


def test_months_to_complete_response_are_read_and_fitted_on_a_relative_scale() -> None:
    """The months-to-CR targets read the weighted quantiles of the onset among patients whose best response over the
    follow-up is CR; one residual unit is a quarter of the published value."""
    from immunotwin.calibrate import RELATIVE_SCALE, endpoints, residuals, target_rows

    df = _synthetic_trial(400).assign(neutropenia_grade=0, checkpoint_exposure_months=6.0,
                                      autoreactive_activity_months=1.0)
    rng = np.random.default_rng(9)
    cr = rng.random(len(df)) < 0.3
    df["bor"] = np.where(cr, "CR", df["bor"])
    df["cr_onset_months"] = np.where(cr, rng.choice([2.76, 5.52, 8.28, 13.8, 24.8], len(df)), np.nan)
    outcomes = {a: g.reset_index(drop=True) for a, g in df.groupby("arm", sort=False)}
    pl = Plausible(tuple(outcomes), outcomes, np.zeros((400, 1)), np.ones(1), ("immunogenicity",))
    w = np.full(400, 1.0 / 400)
    sim = endpoints(pl, w, "ipilimumab")
    g = outcomes["nivolumab"]
    onset = g.loc[g["bor"] == "CR", "cr_onset_months"].to_numpy(float)
    assert sim["months_to_cr_median"]["nivolumab"] == pytest.approx(np.quantile(onset, 0.5))
    assert sim["months_to_cr_q3"]["nivolumab"] == pytest.approx(np.quantile(onset, 0.75))
    targets = {"endpoints": {"months_to_cr_median": {"nivolumab": 2.0 * np.quantile(onset, 0.5), "source": "x"},
                             "months_to_cr_q3": {"nivolumab": np.quantile(onset, 0.75), "source": "x"}}}
    rows = target_rows(targets)
    assert [r[0] for r in rows] == ["months_to_cr_median", "months_to_cr_q3"]
    r = residuals(sim, rows)
    assert r[0] == pytest.approx(-0.5 / RELATIVE_SCALE["months_to_cr_median"]) and r[1] == pytest.approx(0.0)


def test_onset_order_rows_by_hand() -> None:
    """Oracle by hand: an ipilimumab arm whose skin irAEs start at week 3, colitis at 7, hepatitis at 6 and
    hypophysitis at 10 (median of each organ's onsets). Published order (Weber 2012, read from its text): skin 2.5,
    gut 6.5, liver 6.5, endocrine 9 weeks, ranks 1, 2.5, 2.5, 4 against the simulated 1, 3, 2, 4: Spearman's rho is
    4.5 / sqrt(4.5 x 5) = 3/sqrt(10). If every organ starts in the same week there is no order: rho 0, outside. No
    nivolumab arm: no nivolumab row."""
    import pandas as pd

    from immunotwin.model.organs import IRAES
    from immunotwin.validate import onset_order_rows

    def arm(weeks: dict[str, list[float]]) -> pd.DataFrame:
        d = {f"irae_{k}_onset_weeks": [np.nan] * 3 for k in IRAES}
        d.update({f"irae_{k}_onset_weeks": v for k, v in weeks.items()})
        return pd.DataFrame({"arm": "ipilimumab", **d})

    ordered = arm({"dermatitis": [2, 3, 4], "colitis": [6, 7, 8], "hepatitis": [5, 6, np.nan], "hypophysitis": [9, 10, 11]})
    (row,) = onset_order_rows(ordered)
    assert row.group == "ipilimumab" and not row.fitted
    assert row.simulated == pytest.approx(3 / np.sqrt(10)) and row.inside
    assert "hepatic 5.5" in row.criterion  # the median of the onsets seen, 5 and 6
    flat = arm({k: [2, 2, 2] for k in ("dermatitis", "colitis", "hepatitis", "hypophysitis")})
    (row,) = onset_order_rows(flat)
    assert row.simulated == 0.0 and not row.inside


def test_validation_figure_by_hand(tmp_path: Path) -> None:
    """Oracle by hand: a fitted row at 0.44 against 0.40 (ratio 1.1, prediction interval 0.36-0.48, ratios 0.9 and
    1.2), an unfitted one at 3 against 6 months (ratio 0.5, no interval), a sign row (published placeholder 1) and a
    row published as 0: two markers where the ratio says, the other two counted, not drawn. A PNG is written."""
    import pandas as pd
    from matplotlib.figure import Figure

    from immunotwin.report.validation_figure import drawable, validation_figure, write_png

    nan = np.nan
    df = pd.DataFrame([
        {"check": "orr", "group": "a", "published": 0.40, "simulated": 0.44, "lo": 0.36, "hi": 0.48,
         "criterion": "±4 points", "inside": True, "fitted": True, "source": "s"},
        {"check": "months", "group": "a", "published": 6.0, "simulated": 3.0, "lo": nan, "hi": nan,
         "criterion": "±25%", "inside": False, "fitted": False, "source": "s"},
        {"check": "order", "group": "a vs b", "published": 1.0, "simulated": -0.2, "lo": nan, "hi": nan,
         "criterion": "sign: a higher", "inside": False, "fitted": False, "source": "s"},
        {"check": "rate", "group": "a", "published": 0.0, "simulated": 0.01, "lo": nan, "hi": nan,
         "criterion": "within 3x", "inside": False, "fitted": False, "source": "s"},
    ])
    assert drawable(df).tolist() == [True, True, False, False]
    fig = validation_figure(df)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    marks = {ln.get_gid(): float(ln.get_xdata()[0]) for ax in fig.axes for ln in ax.get_lines() if ln.get_gid()}
    assert marks == {"fitted|0": pytest.approx(1.1), "unfitted|1": pytest.approx(0.5)}
    bars = [tuple(ln.get_xdata()) for ln in fig.axes[0].get_lines() if not ln.get_gid() and len(ln.get_xdata()) == 2
            and ln.get_ydata()[0] == ln.get_ydata()[1]]
    assert any(b == pytest.approx((0.9, 1.2)) for b in bars)
    assert "not drawn (no ratio): 1 order or sign, 1 not reached or not positive" in fig.axes[1].get_title()
    assert write_png(df, tmp_path / "v.png")
    assert (tmp_path / "v.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert isinstance(validation_figure(df.iloc[2:]), str)


def test_response_timing_rows_by_hand() -> None:
    """Oracle by hand. Combination: 40 patients, 30 partial responders (20 seen at 2.76 months, 9 at 5.52 and one at
    13.8: 20 of 30 responses, 0.667, within 3 months, not above 0.70) and 10 with stable disease. Deaths: 4 of the
    stable ones before 12 months (left out of the landmark), the other 6 at 18-30 months, the late responder at 24;
    the other responders censored at 60. The late responder counts as a non-responder at the 12-month landmark.
    The hazard ratio is the Cox estimate on the landmark set as built here, so the row must equal
    ``survival.hazard_ratio`` on that set: not estimable while no responder dies, then below 1."""
    import pandas as pd

    from immunotwin.survival import hazard_ratio
    from immunotwin.validate import response_timing_rows

    onset = [2.76] * 20 + [5.52] * 9 + [13.8] + [np.nan] * 10
    bor = ["PR"] * 30 + ["SD"] * 10
    os_m = [60.0] * 29 + [24.0] + [6.0, 8.0, 10.0, 11.0] + [18.0, 20.0, 22.0, 26.0, 28.0, 30.0]
    ev = [False] * 29 + [True] + [True] * 10
    p = pd.DataFrame({"arm": "nivolumab + ipilimumab", "status": "ok", "bor": bor, "response_onset_months": onset,
                      "os_months": os_m, "os_event": ev})
    rows = response_timing_rows(p)
    share = [r for r in rows if r.check.startswith("share")][0]
    assert share.simulated == pytest.approx(20 / 30) and share.published == pytest.approx(0.70) and not share.inside
    hr_row = [r for r in rows if r.check.startswith("12-month")]
    assert len(hr_row) == 1 and hr_row[0].group == "nivolumab + ipilimumab" and hr_row[0].published == 0.23
    land = p[p["os_months"] > 12]
    assert len(land) == 36
    resp = (land["bor"].isin(["PR"]) & (land["response_onset_months"] <= 12)).to_numpy()
    assert resp.sum() == 29
    t, e = land["os_months"].to_numpy() - 12, land["os_event"].to_numpy()
    expect = hazard_ratio(t[resp], e[resp], t[~resp], e[~resp])[0]
    assert np.isnan(expect) and np.isnan(hr_row[0].simulated) and not hr_row[0].inside  # no responder died
    # A responder dying at 40 months, after every non-responder: still a monotone likelihood, not estimable.
    p.loc[0, "os_months"], p.loc[0, "os_event"] = 40.0, True
    assert np.isnan([r for r in response_timing_rows(p) if r.check.startswith("12-month")][0].simulated)
    # Five responders dying over the follow-up (17-57 months) make it estimable: the row is the Cox estimate on the
    # landmark set, below 1, and inside exactly when within the published 0.15-0.35.
    for i, month in enumerate((17.0, 27.0, 37.0, 47.0, 57.0)):
        p.loc[i, "os_months"], p.loc[i, "os_event"] = month, True
    hr = [r for r in response_timing_rows(p) if r.check.startswith("12-month")][0]
    land = p[p["os_months"] > 12]
    t, e = land["os_months"].to_numpy(float) - 12, land["os_event"].to_numpy(bool)
    assert hr.simulated == pytest.approx(hazard_ratio(t[resp], e[resp], t[~resp], e[~resp])[0])
    assert 0 < hr.simulated < 1 and hr.inside == (0.15 <= hr.simulated <= 0.35)


def test_myocarditis_row_by_hand(monkeypatch: pytest.MonkeyPatch) -> None:
    """Oracle by hand: 1,000 combination patients, 8 with myocarditis of any grade (0.8%, within 3x of 0.27%: inside),
    then 9 (0.9%, above 0.81%: outside); a failed patient is left out; the other arms do not count. The row is fitted
    exactly when the heart's CTLA-4 weight is (its target is the combination's incidence in another cohort)."""
    import pandas as pd

    from immunotwin.validate import myocarditis_rows

    grade = np.zeros(1000, int)
    grade[:5], grade[5:8] = 1, 5
    p = pd.DataFrame({"arm": "nivolumab + ipilimumab", "status": "ok", "irae_myocarditis_grade": grade})
    other = pd.DataFrame({"arm": ["nivolumab"] * 50, "status": "ok", "irae_myocarditis_grade": 3})
    failed = pd.DataFrame({"arm": ["nivolumab + ipilimumab"], "status": "failed", "irae_myocarditis_grade": [4]})
    (row,) = myocarditis_rows(pd.concat([p, other, failed], ignore_index=True))
    assert row.published == pytest.approx(0.0027) and row.simulated == pytest.approx(0.008) and row.inside
    assert row.group == "nivolumab + ipilimumab"
    for fits, fitted in (({"weight_ctla4.myocarditis", "scar_fraction"}, True), ({"scar_fraction"}, False)):
        monkeypatch.setattr("immunotwin.calibrate_cancers.installed_fits", lambda f=fits: f)
        assert myocarditis_rows(p)[0].fitted == fitted
    p.loc[8, "irae_myocarditis_grade"] = 2
    (row,) = myocarditis_rows(p)
    assert row.simulated == pytest.approx(0.009) and not row.inside
    assert myocarditis_rows(other) == []


def test_fatal_spectrum_rows_by_hand() -> None:
    """Oracle by hand: ipilimumab's 5 irAE deaths, 3 with grade-5 colitis and 2 hepatitis: colitis commonest (as Wang
    2018's 70%), share 0.6, inside; the combination's 3 deaths, 2 neurologic and 1 colitis: outside, colitis's share
    1/3; no irAE death under nivolumab: no row; a failed patient and a tumour death do not count."""
    import pandas as pd

    from immunotwin.reference import load
    from immunotwin.validate import fatal_spectrum_rows

    def patient(arm: str, organ: str, cause: str = "irae", status: str = "ok") -> dict:
        row = {"arm": arm, "status": status, "death_cause": cause}
        row.update({f"irae_{o}_grade": (5 if o == organ else 0) for o in ("colitis", "hepatitis", "pneumonitis",
                                                                          "neurologic", "hypophysitis", "myocarditis")})
        return row

    rows = [patient("ipilimumab", "colitis")] * 3 + [patient("ipilimumab", "hepatitis")] * 2
    rows += [patient("nivolumab + ipilimumab", "neurologic")] * 2 + [patient("nivolumab + ipilimumab", "colitis")]
    rows += [patient("nivolumab + ipilimumab", "colitis", status="failed")] * 3
    rows += [patient("nivolumab", "pneumonitis", cause="tumour")]
    spectrum = load("irae")["fatal"]["spectrum_percent_of_fatal_cases"]
    got = {r.group: r for r in fatal_spectrum_rows(pd.DataFrame(rows), spectrum)}
    assert set(got) == {"ipilimumab", "nivolumab + ipilimumab"}
    ipi, combo = got["ipilimumab"], got["nivolumab + ipilimumab"]
    assert ipi.published == pytest.approx(0.70) and ipi.simulated == pytest.approx(0.6) and ipi.inside
    assert combo.published == pytest.approx(0.37) and combo.simulated == pytest.approx(1 / 3) and not combo.inside
    assert not ipi.fitted and ipi.check == "fatal irAE spectrum: colitis commonest" and "5 irAE deaths" in ipi.criterion


def test_natural_history_readout_and_spec() -> None:
    """The untreated-disease reading: on patients dying at known times the median is the KM step median and the
    1-year OS the share alive past 12 months (censored patients counted at risk until censored); patients whose
    simulation failed are left out. The check's spec is a single no-drug arm of the catalogue population with the
    reference's overrides."""
    import pandas as pd

    from immunotwin.natural_history import FOLLOW_UP_MONTHS, readout, untreated_spec_text
    from immunotwin.spec import parse_spec

    months = [2.0, 4.0, 6.0, 8.0, 10.0, 14.0, 18.0, 24.0]
    event = [1, 1, 1, 1, 1, 1, 1, 0]
    p = pd.DataFrame({"status": ["ok"] * 8 + ["error"], "os_months": months + [0.5], "os_event": event + [1]})
    med, one_year = readout(p)
    assert med == 8.0 and one_year == pytest.approx(3 / 8)
    never = pd.DataFrame({"status": ["ok"] * 3, "os_months": [24.0] * 3, "os_event": [0] * 3})
    med, one_year = readout(never)
    assert np.isnan(med) and one_year == 1.0
    spec = parse_spec(untreated_spec_text("nsclc", 12, 5, {"prior_chemotherapy_fraction": 1.0}))
    assert spec.population.cancer == "nsclc" and spec.population.size_per_arm == 12 and spec.seed == 5
    assert spec.population.overrides["prior_chemotherapy_fraction"] == 1.0
    assert [a.name for a in spec.arms] == ["no drug"] and spec.arms[0].drugs == ()
    assert spec.follow_up_days == pytest.approx(FOLLOW_UP_MONTHS * 30.4375, rel=1e-3)


def test_natural_history_rows_follow_their_criteria() -> None:
    """A small run: two unfitted rows per entry in the reference, published values from it, and each row inside
    exactly when its criterion holds (median within 25%, 1-year OS within 6 points; for a ceiling, at most that much
    above it). The ceilings are treated arms of matching populations (first-line dacarbazine in BRAF wild-type
    melanoma, second-line docetaxel in NSCLC after platinum)."""
    from immunotwin.natural_history import MEDIAN_TOL, RATE_TOL, installed_fitted_keys, rows, untreated_spec
    from immunotwin.reference import load

    ref = {k: v for k, v in load("scenario_refs")["natural_history"].items() if isinstance(v, dict)}
    assert sum(r.get("bound") == "upper" for r in ref.values()) == 2
    out = rows(3, 12)
    fitted = installed_fitted_keys()
    assert len(out) == 2 * len(ref)
    for key, r in ref.items():
        med, one_year = (x for x in out if x.group == r.get("label", f"{key}, no drug"))
        assert med.fitted == one_year.fitted == (key in fitted)
        assert med.published == r["median_os_months"] and one_year.published == r["os_12_months"]
        assert 0.0 <= one_year.simulated <= 1.0
        d_med, d_1y = med.simulated - med.published, one_year.simulated - one_year.published
        if r.get("bound") == "upper":
            assert med.inside == bool(np.isfinite(d_med) and d_med <= MEDIAN_TOL * med.published)
            assert one_year.inside == (d_1y <= RATE_TOL) and one_year.criterion.startswith("at most")
        else:
            assert med.inside == bool(np.isfinite(d_med) and abs(d_med) <= MEDIAN_TOL * med.published)
            assert one_year.inside == (abs(d_1y) <= RATE_TOL)
    spec = untreated_spec("melanoma_first_line_dacarbazine", 12, 3)
    assert spec.population.cancer == "melanoma" and spec.population.overrides["braf_v600_fraction"] == 0.0


def test_natural_history_rows_are_fitted_only_when_the_calibration_fitted_them() -> None:
    """A calibration's provenance names the rows it fitted: the ceiling's two rows make the dacarbazine entry fitted,
    the target's the historical one, one row alone neither; the installed calibration (iteration 14) fitted the
    ceiling."""
    from immunotwin.natural_history import fit_rows, installed_fitted_keys

    assert installed_fitted_keys(("orr", *fit_rows("ceiling"))) == {"melanoma_first_line_dacarbazine"}
    assert installed_fitted_keys(fit_rows("target")) == {"melanoma"}
    assert installed_fitted_keys(("orr", fit_rows("ceiling")[0])) == set()
    assert installed_fitted_keys() == {"melanoma_first_line_dacarbazine"}


def test_natural_history_ceiling_is_one_sided() -> None:
    """A ceiling passes anything at or below it (plus the tolerance) and fails above it; a target fails both ways; a
    median not reached (NaN) fails either."""
    from immunotwin.natural_history import judge

    assert judge(5.0, 10.8, 2.7, upper=True) and judge(13.4, 10.8, 2.7, upper=True)
    assert not judge(13.6, 10.8, 2.7, upper=True) and not judge(np.nan, 10.8, 2.7, upper=True)
    assert not judge(5.0, 10.8, 2.7, upper=False) and judge(8.2, 10.8, 2.7, upper=False)
    assert not judge(np.nan, 10.8, 2.7, upper=False)
