"""Least squares on fresh trials with common random numbers (``calibrate --direct``): a round trip on a stand-in
trial whose outcomes are known functions of the parameters, the standard errors against scipy's linear regression,
the coordinates' names, and the command line (bad input refused before anything is written; a real one-step fit)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import linregress
from tests.test_calibrate import SPEC

from immunotwin import calibrate_direct as cd
from immunotwin.calibrate import FITTED, Plausible, target_rows
from immunotwin.spec import parse_spec

IMM, GROWTH = FITTED.index("immunogenicity"), FITTED.index("net_growth_rate")


def stand_in(spec, phi, patients, seed):  # type: ignore[no-untyped-def]
    """A trial whose patients keep their random draws across phi (common random numbers): each responds when its
    uniform is below a logistic of the immunogenicity shift, and its PFS is an exponential time scaled by the
    growth-rate shift (faster growth, earlier progression)."""
    rng = np.random.default_rng(seed)
    out = {}
    for arm, base in (("nivolumab", -0.3), ("ipilimumab", -1.4)):
        u, e = rng.random(patients), rng.exponential(1.0, patients)
        resp = u < 1.0 / (1.0 + np.exp(-(base + 4.0 * phi[IMM])))
        pfs = 8.0 * e * np.exp(-3.0 * phi[GROWTH])
        out[arm] = pd.DataFrame({
            "patient": np.arange(patients), "bor": np.where(resp, "PR", "PD"), "response_onset_months": 2.8,
            "cr_onset_months": np.nan, "pdl1_tps": 0.1, "any_irae_grade": 0, "any_irae_grade_reported": 0,
            "neutropenia_grade": 0,
            "checkpoint_exposure_months": 3.0, "autoreactive_activity_months": 0.0, "discontinued": "",
            "pfs_months": pfs, "pfs_event": True, "os_months": 3 * pfs, "os_event": True})
    return Plausible(tuple(out), out, np.zeros((patients, len(FITTED))), np.ones(len(FITTED)))


def test_round_trip_recovers_the_shifts_that_made_the_targets() -> None:
    """Targets read from the stand-in trial at known shifts (immunogenicity +0.2, growth -0.15) at another seed;
    the fit, started from zero at 2,000 patients per arm, lands within 0.03 of both (a shift of 0.03 moves an ORR by
    about 0.03 here, the sampling SD of a 2,000-patient rate is 0.011)."""
    spec = parse_spec(SPEC)
    truth = np.zeros(2 * len(FITTED))
    truth[IMM], truth[GROWTH] = 0.2, -0.15
    made = stand_in(spec, truth, 4000, 99)
    n = 4000
    from immunotwin.calibrate import endpoints

    sim = endpoints(made, np.full(n, 1.0 / n), "ipilimumab")
    targets = {"endpoints": {"orr": dict(sim["orr"]), "median_pfs_months": dict(sim["median_pfs_months"])}}
    fit = cd.direct_fit(spec, targets, free=["immunogenicity", "net_growth_rate"], patients=2000, seeds=(5,),
                        phi0=np.zeros(2 * len(FITTED)), iterations=8, simulate=stand_in)
    assert abs(fit.phi[IMM] - 0.2) < 0.03 and abs(fit.phi[GROWTH] + 0.15) < 0.03, fit.phi[[IMM, GROWTH]]
    assert fit.loss < fit.history[0]["loss"] and fit.loss == min(h["loss"] for h in fit.history)
    assert fit.se is not None and np.all(np.isfinite(fit.se)) and np.all(fit.se > 0)
    # Only the free coordinates move.
    others = np.delete(np.arange(2 * len(FITTED)), [IMM, GROWTH])
    assert np.all(fit.phi[others] == 0.0)


def test_two_seeds_average_the_residuals() -> None:
    """With two seeds the sum of squares is the mean of each seed's."""
    spec = parse_spec(SPEC)
    targets = {"endpoints": {"orr": {"nivolumab": 0.5, "ipilimumab": 0.2}}}
    rows = target_rows(targets)
    phi = np.zeros(2 * len(FITTED))
    one = [float(np.sum(cd.trial_residuals(spec, rows, phi, 300, (s,), stand_in)[0] ** 2)) for s in (1, 2)]
    both = float(np.sum(cd.trial_residuals(spec, rows, phi, 300, (1, 2), stand_in)[0] ** 2))
    assert both == pytest.approx(np.mean(one))


def test_held_out_check_reads_fresh_seeds_at_the_start_and_at_the_fit() -> None:
    """At held-out seeds, the parameters that made the targets read a lower loss than a start away from them, and a
    point further away reads higher (the check says so); each seed's loss is that seed's own trial residuals."""
    spec = parse_spec(SPEC)
    truth = np.zeros(2 * len(FITTED))
    truth[IMM], truth[GROWTH] = 0.2, -0.15
    from immunotwin.calibrate import endpoints

    made = stand_in(spec, truth, 4000, 99)
    sim = endpoints(made, np.full(4000, 1.0 / 4000), "ipilimumab")
    targets = {"endpoints": {"orr": dict(sim["orr"]), "median_pfs_months": dict(sim["median_pfs_months"])}}
    start = np.zeros(2 * len(FITTED))
    good = cd.held_out_check(spec, targets, start=start, fitted=truth, patients=1000, seeds=(11, 12),
                             simulate=stand_in)
    assert good["improved"] and good["mean_loss_fit"] < good["mean_loss_start"]
    assert [p["seed"] for p in good["fit"]] == [11, 12] and good["patients_per_arm"] == 1000
    r, _ = cd.trial_residuals(spec, target_rows(targets), truth, 1000, (12,), stand_in)
    assert good["fit"][1]["loss"] == pytest.approx(float(np.sum(r**2)), rel=1e-12)
    assert good["fit"][1]["outside"] == int(np.sum(np.abs(r) > 1.0))
    away = truth.copy()
    away[IMM] = -0.3
    bad = cd.held_out_check(spec, targets, start=start, fitted=away, patients=1000, seeds=(11, 12), simulate=stand_in)
    assert not bad["improved"] and bad["mean_loss_start"] == pytest.approx(good["mean_loss_start"], rel=1e-12)
    for h in (good, bad):  # the paired reading is the per-seed differences'
        d = [f["loss"] - s0["loss"] for f, s0 in zip(h["fit"], h["start"], strict=True)]
        assert h["difference"] == pytest.approx(np.mean(d), rel=1e-12)
        assert h["difference_se"] == pytest.approx(np.std(d, ddof=1) / np.sqrt(2), rel=1e-12)


def test_paired_difference_against_hand_figures() -> None:
    """Stop 46's six held-out seeds: cal63 against iteration 13 (losses rounded to one decimal). Differences +3.5,
    +2.4, -0.2, -1.4, +2.4, -2.9: mean 3.8/6, SE about 1.0: no detectable difference; a uniform gain of about 1 with a
    small spread is lower, a uniform loss higher; one seed has no standard error and so no verdict."""
    start = [11.2, 9.7, 17.4, 14.3, 9.4, 15.0]
    fit = [14.7, 12.1, 17.2, 12.9, 11.8, 12.1]
    h = cd.paired_difference(start, fit)
    assert h["difference"] == pytest.approx(3.8 / 6, abs=1e-12)
    d = np.array([3.5, 2.4, -0.2, -1.4, 2.4, -2.9])
    assert h["difference_se"] == pytest.approx(np.std(d, ddof=1) / np.sqrt(6), rel=1e-9)
    assert h["verdict"] == "no detectable difference"
    assert cd.paired_difference([10.0, 12.0, 15.0], [9.0, 10.9, 14.1])["verdict"] == "lower"
    assert cd.paired_difference([10.0, 12.0, 15.0], [11.0, 13.1, 15.9])["verdict"] == "higher"
    one = cd.paired_difference([10.0], [5.0])
    assert one["difference"] == -5.0 and one["difference_se"] is None and one["verdict"] == "no detectable difference"


def test_standard_errors_match_linear_regression() -> None:
    """For a linear model the Gauss-Newton standard error is the regression's: residuals of y on x with the slope
    and intercept as the coordinates (J = [x, 1])."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=40)
    y = 1.5 * x + 0.3 + rng.normal(scale=0.4, size=40)
    fit = linregress(x, y)
    r = y - (fit.slope * x + fit.intercept)
    se = cd.gauss_newton_se(np.column_stack([x, np.ones_like(x)]), r)
    assert se[0] == pytest.approx(fit.stderr, rel=1e-10)
    assert se[1] == pytest.approx(fit.intercept_stderr, rel=1e-10)
    assert np.all(np.isnan(cd.gauss_newton_se(np.ones((2, 3)), np.zeros(2))))  # fewer rows than coordinates


def test_coordinates_name_means_and_spreads() -> None:
    k = len(FITTED)
    assert cd.coordinates(["immunogenicity", "s:resistant_kill"]) == [IMM, k + FITTED.index("resistant_kill")]
    with pytest.raises(ValueError, match="not fitted parameters: kill_max, s:nope"):
        cd.coordinates(["kill_max", "s:nope"])
    with pytest.raises(ValueError, match="twice"):
        cd.coordinates(["immunogenicity", "immunogenicity"])


def test_cli_refuses_bad_direct_input_and_writes_a_one_step_fit(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Bad names, seeds or options exit 2 naming the field, with nothing written; one trust-region step on 200 patients
    per arm (three fresh trials) writes the calibration with the method and the free coordinate in its provenance,
    leaves every other parameter at the installed values, and writes fit.html and the trials' history; the held-out
    seed's check (two more trials) goes into the provenance, fit.html and the last line printed."""
    from immunotwin.cli import main
    from immunotwin.validate import installed_calibration

    spec = tmp_path / "a.toml"
    spec.write_text(SPEC)
    targets = tmp_path / "targets.json"
    targets.write_text(json.dumps({"trial": "synthetic", "endpoints": {"orr": {"nivolumab": 0.3, "ipilimumab": 0.1}}}))
    common = ["calibrate", str(spec), "--targets", str(targets), "--quiet"]
    for extra, field in ((["--direct", "--free", "kill_max"], "--free: "), (["--direct", "--free", "p:weight_pd"], "--free: "),
                         (["--direct", "--seeds", "x"], "--seeds: "),
                         (["--direct", "--iterations", "-1"], "--iterations: "), (["--free", "immunogenicity"], "--free"),
                         (["--direct", "--correct", "1"], "--direct: "),
                         (["--direct", "--check-seeds", "7101"], "--check-seeds: "),
                         (["--direct", "--check-seeds", "6,x"], "--check-seeds: "),
                         (["--check-seeds", "68"], "--also go with --direct"),
                         (["--natural-history"], "--also go with --direct"),
                         (["--also", "ipilimumab-dose"], "--also go with --direct"),
                         (["--direct", "--also", "nope"], "--also: not further trials: nope"),
                         (["--direct", "--free", "d:ipilimumab.vc_l"], "--free: ipilimumab.vc_l")):
        assert main([*common, "--out", str(tmp_path / "bad"), *extra]) == 2
        assert field in capsys.readouterr().err and not (tmp_path / "bad").exists()
    with pytest.raises(SystemExit) as bad_kind:  # argparse's choices: exit 2 naming the option
        main([*common, "--out", str(tmp_path / "bad"), "--direct", "--natural-history", "korn"])
    assert bad_kind.value.code == 2 and "--natural-history" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
    # 200 per arm: at 50, calibration iteration 14's patients gave the same responses at the start and a tenth higher,
    # a zero Jacobian, and the optimiser stopped without a step; at 100 the same after stop 69's lung (one response
    # in 150 moves, four in 200)
    assert main([*common, "--out", str(tmp_path / "d"), "--direct", "--free", "immunogenicity", "--patients", "200",
                 "--iterations", "1", "--check-seeds", "5"]) == 0
    doc = json.loads((tmp_path / "d" / "calibration.json").read_text())
    prov, params = doc["provenance"], doc["params"]
    assert "common random numbers" in prov["method"] and prov["free"] == ["immunogenicity"]
    assert prov["seeds"] == [cd.DIRECT_SEED] and prov["patients_per_arm"] == 200
    installed = installed_calibration()["params"]
    for name in FITTED:
        if name != "immunogenicity":
            assert params[name]["log_shift"] == 0.0
            assert params[name]["default"] == pytest.approx(installed[name]["default"], rel=1e-12)
            assert params[name]["iiv"] == pytest.approx(installed[name]["iiv"], rel=1e-12)
    history = json.loads((tmp_path / "d" / "direct_history.json").read_text())["history"]
    assert len(history) >= 3 and prov["evaluations"] == len(history)
    report = (tmp_path / "d" / "fit.html").read_text()
    assert "fresh trial" in report and "Held-out check" in report
    held = prov["held_out"]
    assert held["seeds"] == [5] and held["patients_per_arm"] == 200 and len(held["start"]) == len(held["fit"]) == 1
    assert held["improved"] == (held["mean_loss_fit"] < held["mean_loss_start"])
    assert "held-out seeds 5: mean loss" in capsys.readouterr().out
    assert held["verdict"] == "no detectable difference" and held["difference_se"] is None
    assert "two standard errors decide" in report and "NaN" not in (tmp_path / "d" / "calibration.json").read_text()


SYN = "checkpoint_synergy"


def stand_in_with_synergy(spec, phi, patients, seed):  # type: ignore[no-untyped-def]
    """The stand-in trial, with the combination's response also rising with the model parameter checkpoint_synergy
    as the simulated patients see it (model.core.default_params, which calibrate_direct.model_values patches)."""
    from immunotwin.model.core import default_params

    trial = stand_in(spec, phi, patients, seed)
    s = float(default_params()[SYN])
    rng = np.random.default_rng(seed + 1)
    u = rng.random(patients)
    resp = u < 1.0 / (1.0 + np.exp(-(1.5 + 4.0 * np.log(s))))
    combo = trial.outcomes["nivolumab"].copy()
    combo["bor"] = np.where(resp, "PR", "PD")
    out = {**trial.outcomes, "nivolumab + ipilimumab": combo}
    return Plausible(tuple(out), out, np.zeros((patients, len(FITTED))), np.ones(len(FITTED)))


def test_model_coordinates_name_scalar_parameters_without_variability() -> None:
    from immunotwin.model.core import PARAMS

    assert cd.model_coordinates(["immunogenicity", f"p:{SYN}", "s:resistant_kill"]) == [SYN]
    assert cd.coordinates(["immunogenicity", f"p:{SYN}"]) == [IMM]  # the population coordinates alone
    with_iiv = next(p.name for p in PARAMS if not p.is_vector and p.iiv > 0 and p.name not in FITTED)
    zero = next(p.name for p in PARAMS if not p.is_vector and p.iiv == 0 and float(p.default) == 0.0)
    bad = ["p:weight_pd", "p:immunogenicity", "p:nope", f"p:{with_iiv}", f"p:{zero}"]
    with pytest.raises(ValueError, match="not scalar model parameters") as e:
        cd.model_coordinates(bad)
    assert all(b in str(e.value) for b in bad)
    with pytest.raises(ValueError, match="twice"):
        cd.model_coordinates([f"p:{SYN}", f"p:{SYN}"])


def test_round_trip_recovers_a_model_parameter_and_writes_it_into_the_calibration() -> None:
    """Targets made at checkpoint_synergy 0.5 (log -0.69; installed 1) and growth -0.15; the fit frees both and lands
    within 0.06 on the log scale (a log-shift of 0.06 moves the combination's ORR, 0.22 there, by about 0.04; the
    sampling SD of the two trials' rates together, about 0.011, is 0.017 on that scale); the model's
    parameters are back at their installed values afterwards, and the calibration document carries the fitted value
    with no variability and its log-shift from the installed value."""
    from immunotwin.calibrate import endpoints
    from immunotwin.model.core import default_params

    spec = parse_spec(SPEC)
    truth = np.zeros(2 * len(FITTED))
    truth[GROWTH] = -0.15
    with cd.model_values({SYN: 0.5}):
        assert float(default_params()[SYN]) == 0.5
        made = stand_in_with_synergy(spec, truth, 4000, 99)
    assert float(default_params()[SYN]) == 1.0
    sim = endpoints(made, np.full(4000, 1.0 / 4000), "ipilimumab")
    targets = {"endpoints": {"orr": dict(sim["orr"]), "median_pfs_months": dict(sim["median_pfs_months"])}}
    fit = cd.direct_fit(spec, targets, free=[f"p:{SYN}", "net_growth_rate"], patients=2000, seeds=(5,),
                        phi0=np.zeros(2 * len(FITTED)), iterations=8, simulate=stand_in_with_synergy)
    assert fit.free == ["net_growth_rate", f"p:{SYN}"]  # population coordinates first
    assert abs(np.log(fit.model[SYN]) - np.log(0.5)) < 0.06 and abs(fit.phi[GROWTH] + 0.15) < 0.03, fit.model
    assert float(default_params()[SYN]) == 1.0
    assert fit.se is not None and len(fit.se) == 2 and np.all(np.isfinite(fit.se))
    doc = cd.calibration_document(fit, spec=spec, targets=targets, targets_path="t.json", patients=2000, seeds=(5,),
                                  engine="jax")
    entry = doc["params"][SYN]
    assert entry["default"] == pytest.approx(fit.model[SYN]) and entry["iiv"] == 0.0
    assert entry["log_shift"] == pytest.approx(np.log(fit.model[SYN])) and entry["log_shift_se"] == fit.se[1]
    # installed, it becomes the model's default (model.core._apply_calibration)
    from immunotwin.model.core import _apply_calibration, all_params

    installed = {p.name: p for p in _apply_calibration(all_params(), doc)}
    assert installed[SYN].default == pytest.approx(fit.model[SYN]) and installed[SYN].iiv == 0.0


def stand_in_with_untreated(spec, phi, patients, seed):  # type: ignore[no-untyped-def]
    """The stand-in trial, and for the natural-history spec (one no-drug arm) deaths at exponential times whose
    median, 10 months at the installed values, shortens with faster growth."""
    if [a.name for a in spec.arms] != ["no drug"]:
        return stand_in(spec, phi, patients, seed)
    e = np.random.default_rng(seed + 1).exponential(1.0, patients)
    os_months = 10.0 / np.log(2.0) * e * np.exp(-3.0 * phi[GROWTH])
    g = pd.DataFrame({"patient": np.arange(patients), "status": "ok", "os_months": np.minimum(os_months, 24.0),
                      "os_event": os_months < 24.0})
    return Plausible(("no drug",), {"no drug": g}, np.zeros((patients, len(FITTED))), np.ones(len(FITTED)))


def test_natural_history_residuals_by_hand() -> None:
    """Untreated melanoma's two rows against hand figures (published median 6.2 months, 1-year OS 0.255, unit 0.06):
    deaths at months 1-10, one each, cross 0.5 at month 5, inside a tenth before 6.2 (residual 0) with nobody alive
    at a year (-0.255/0.06); deaths at months 11-20 leave S(6.2) = 1 (+0.5/0.06) and S(12) = 0.8."""
    from immunotwin import natural_history as nh

    def frame(months: list[float]) -> pd.DataFrame:
        return pd.DataFrame({"status": "ok", "os_months": months, "os_event": True})

    assert nh.fit_residuals(frame([float(k) for k in range(1, 11)])) == pytest.approx([0.0, -0.255 / 0.06])
    assert nh.fit_residuals(frame([float(k) for k in range(11, 21)])) == pytest.approx([0.5 / 0.06, (0.8 - 0.255) / 0.06])


def test_natural_history_ceiling_residuals_are_one_sided() -> None:
    """The ceiling (CheckMate 066's dacarbazine arm: median 10.8 months, 1-year OS 0.421, unit 0.06): deaths at months
    1-10 are shorter on both counts (residuals 0, not negative); deaths at months 11-20 leave 0.9 alive a week after
    10.8 months (S(11.03), the median read to the clinic's week: one died at 11; +0.4/0.06) and S(12) = 0.8
    (+(0.8 - 0.421)/0.06). The rows are named apart from the target's, and an unknown kind fails."""
    from immunotwin import natural_history as nh

    def frame(months: list[float]) -> pd.DataFrame:
        return pd.DataFrame({"status": "ok", "os_months": months, "os_event": True})

    assert nh.fit_residuals(frame([float(k) for k in range(1, 11)]), "ceiling") == pytest.approx([0.0, 0.0])
    assert nh.fit_residuals(frame([float(k) for k in range(11, 21)]), "ceiling") == pytest.approx(
        [0.4 / 0.06, (0.8 - 0.421) / 0.06])
    assert set(nh.fit_rows("ceiling")).isdisjoint(nh.fit_rows("target"))
    assert nh.fit_spec(20, 1, "ceiling").population.overrides["braf_v600_fraction"] == 0.0
    with pytest.raises(ValueError, match="natural-history"):
        nh.fit_rows("korn")


def test_natural_history_ceiling_pulls_the_growth_rate_only_while_above_it() -> None:
    """The stand-in's untreated median is 10 months at zero shift, under CheckMate 066's 10.8, but its 1-year OS,
    exp(-12 ln2 / 10) = 0.435, is above 0.421: the ceiling's rows read (0, positive) there, far less than the target
    of 6.2 months, and (0, 0) once the shift is ln 1.2. Fitting the growth rate to the ceiling alone reaches zero loss
    with a faster growth, no more than one finite-difference step away."""
    from immunotwin import natural_history as nh

    spec = parse_spec(SPEC)
    rows = target_rows({"endpoints": {}})
    at = {}
    for shift in (0.0, np.log(1.2)):
        phi = np.zeros(2 * len(FITTED))
        phi[GROWTH] = shift
        for kind in ("ceiling", "target"):
            at[shift, kind], _ = cd.trial_residuals(spec, rows, phi, 4000, (5,), stand_in_with_untreated, kind)
    faster = np.log(1.2)
    assert at[0.0, "ceiling"][0] == 0.0 and at[0.0, "ceiling"][1] > 0.0
    assert np.all(at[faster, "ceiling"] == 0.0)
    assert np.sum(at[0.0, "target"] ** 2) > 10 * np.sum(at[0.0, "ceiling"] ** 2)  # Korn's 6.2 months pulls far harder
    fit = cd.direct_fit(spec, {"endpoints": {}}, free=["net_growth_rate"], patients=4000, seeds=(5,),
                        phi0=np.zeros(2 * len(FITTED)), iterations=6, simulate=stand_in_with_untreated,
                        natural_history="ceiling")
    assert fit.rows == list(nh.fit_rows("ceiling"))
    assert fit.loss == 0.0 and 0.0 < fit.phi[GROWTH] <= cd.STEP + 1e-12, fit.phi[GROWTH]


def test_natural_history_rows_end_each_block_and_pull_the_growth_rate() -> None:
    """With ``natural_history`` each seed's block is the trial's residuals followed by the untreated trial's two rows;
    fitting the growth rate to them alone moves it to where the untreated median meets 6.2 months (here 10 months at
    zero shift, so a shift of ln(10/6.2)/3, within the 0.05 a median read on 2,000 exponential deaths allows)."""
    from immunotwin import natural_history as nh

    spec = parse_spec(SPEC)
    targets = {"endpoints": {"orr": {"nivolumab": 0.5, "ipilimumab": 0.2}}}
    rows = target_rows(targets)
    phi = np.zeros(2 * len(FITTED))
    plain, _ = cd.trial_residuals(spec, rows, phi, 300, (1,), stand_in_with_untreated)
    both, sims = cd.trial_residuals(spec, rows, phi, 300, (1,), stand_in_with_untreated, natural_history=True)
    untreated = stand_in_with_untreated(nh.fit_spec(300, 1), phi, 300, 1).outcomes["no drug"]
    assert np.array_equal(both[:len(plain)], plain)
    assert np.array_equal(both[len(plain):], nh.fit_residuals(untreated))
    assert list(sims[0]["natural_history"]) == list(nh.FIT_ROWS)
    fit = cd.direct_fit(spec, {"endpoints": {}}, free=["net_growth_rate"], patients=2000, seeds=(5,),
                        phi0=np.zeros(2 * len(FITTED)), iterations=6, simulate=stand_in_with_untreated,
                        natural_history=True)
    assert fit.rows == list(nh.FIT_ROWS)
    assert abs(fit.phi[GROWTH] - np.log(10.0 / 6.2) / 3.0) < 0.05, fit.phi[GROWTH]
