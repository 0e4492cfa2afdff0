"""Fresh-trial correction of a reweighted fit: offsets by hand, the fresh population's draws, and a correction
that removes a known gap between the reweighted readings and the fresh trials."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tests.test_calibrate import ROUND_TRIP_NAMES, SPEC

from immunotwin import calibrate_fresh
from immunotwin.calibrate import (
    FITTED,
    MEDIAN_SCALE,
    SCALE,
    Plausible,
    endpoints,
    proposal_sd,
    readings,
    residuals,
    simulate_plausible,
    target_rows,
    weights,
)
from immunotwin.model.core import PARAM_INDEX
from immunotwin.population import sample_cohort
from immunotwin.spec import parse_spec


def test_offsets_move_the_readings_the_residuals_come_from() -> None:
    t = np.array([3.0, 6.0, 9.0, 12.0, 15.0])
    s = np.array([0.8, 0.7, 0.6, 0.53, 0.45])
    sim = {"orr": {"a": 0.40}, "pfs_km": {"a": (t, s)}}
    rows = [("orr", "", "a", 0.45), ("median_pfs_months", "", "a", 12.0)]
    x = readings(sim, rows)
    assert x[0, 0] == 0.40 and np.isnan(x[0, 1])
    assert tuple(x[1]) == (0.53, 0.6)  # S(12) and S(10.8-): the curve is above 0.5 at the median by 0.03
    r = residuals(sim, rows)
    assert r == pytest.approx([-0.05 / SCALE["orr"], 0.03 / MEDIAN_SCALE])
    # A fresh trial 0.05 higher on the ORR and 0.04 lower on S(12) puts both rows on target.
    off = np.array([[0.05, np.nan], [-0.04, 0.0]])
    assert residuals(sim, rows, off) == pytest.approx([0.0, 0.0], abs=1e-12)
    # Offsets that take the curve below 0.5 before 0.9 m make it cross too early: the residual turns negative.
    assert residuals(sim, rows, np.array([[0.0, 0.0], [-0.04, -0.12]]))[1] == pytest.approx(-0.02 / MEDIAN_SCALE)


def test_shifts_draw_patients_from_the_fitted_population() -> None:
    k = len(FITTED)
    mu, s = np.zeros(k), np.array([PARAM_INDEX[n].iiv for n in FITTED], float)
    j = FITTED.index("autoimmune_propensity")
    mu[j], s[j] = 0.3, 0.5
    mean, scale = calibrate_fresh.shifts(np.concatenate([mu, np.log(s)]))
    assert mean["autoimmune_propensity"] == 0.3 and scale["autoimmune_propensity"] * PARAM_INDEX[
        "autoimmune_propensity"].iiv == pytest.approx(0.5)
    c = sample_cohort("melanoma", {}, 11, 1, range(4000), 4, iiv_scale=scale, mean_shift=mean)
    x = np.log(c.params["autoimmune_propensity"] / float(PARAM_INDEX["autoimmune_propensity"].value))
    assert x.mean() == pytest.approx(0.3, abs=0.025)  # SE 0.5/sqrt(4000) = 0.008
    assert x.std() == pytest.approx(0.5, rel=0.04)


@pytest.fixture(scope="module")
def small() -> Plausible:
    return simulate_plausible(parse_spec(SPEC), 300).select(ROUND_TRIP_NAMES)


def test_correction_removes_a_known_gap_between_reweighting_and_fresh_trials(
        small: Plausible, monkeypatch: pytest.MonkeyPatch) -> None:
    """The stand-in fresh trial is the plausible population resampled by its weights at phi, with a quarter of
    nivolumab's responders read as progressing: its ORR lies a known 25% below the reweighted one. Fitted to the
    reweighted ORR, the fit misses in fresh trials; corrected, it meets the target there. The gap scales with the
    ORR, so each round leaves a quarter of the last one's error (a fixed-point iteration): three rounds."""
    spec = parse_spec(SPEC)
    sd = np.array([proposal_sd(k) for k in ROUND_TRIP_NAMES])
    phi0 = np.concatenate([np.zeros(2), np.log(0.6 * sd)])
    w0 = weights(phi0, small)
    orr0 = endpoints(small, w0, "ipilimumab")["orr"]
    targets = {"endpoints": {"orr": dict(orr0)}}  # the reweighted fit at phi0 is exact

    def fresh(spec_, phi, patients, seed):  # type: ignore[no-untyped-def]
        idx = np.random.default_rng(seed).choice(small.n, size=20_000, p=weights(phi, small))
        sub = small.take(idx)
        out = {}
        for arm, df in sub.outcomes.items():
            df = df.copy()
            if arm == "nivolumab":
                resp = np.flatnonzero(df["bor"].isin(["CR", "PR"]).to_numpy())
                df.loc[resp[::4], "bor"] = "PD"
            out[arm] = df
        return Plausible(small.arms, out, np.zeros((len(idx), 2)), np.ones(2), ROUND_TRIP_NAMES)

    monkeypatch.setattr(calibrate_fresh, "fresh_population", fresh)
    rows = target_rows(targets)
    i = [r[2] for r in rows].index("nivolumab")
    before = calibrate_fresh.fresh_readings(fresh(spec, phi0, 0, 1), rows, "ipilimumab", (1e-4, 1e-4))[i, 0]
    assert before < orr0["nivolumab"] - 0.06  # the gap the reweighted fit cannot see
    phi, offsets, hist = calibrate_fresh.correct(small, spec, targets, phi0, rounds=3, patients=0, max_evals=400)
    assert len(hist) == 3 and hist[0].offsets[i, 0] == pytest.approx(before - orr0["nivolumab"], abs=0.01)
    after = calibrate_fresh.fresh_readings(fresh(spec, phi, 0, 99), rows, "ipilimumab", (1e-4, 1e-4))[i, 0]
    assert abs(after - orr0["nivolumab"]) < min(0.02, 0.2 * abs(before - orr0["nivolumab"])), (before, after)
    table = calibrate_fresh.rounds_table(rows, hist)
    assert isinstance(table, pd.DataFrame) and set(table["round"]) == {1, 2, 3}


def test_calibrate_cli_corrects_by_fresh_trials_and_rejects_bad_rounds(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """``immunotwin calibrate --correct 1``: one round on a 50-patient population writes the rounds' table, records
    the seeds in the provenance and shows the check trial in fit.html; a negative count is refused (exit 2, nothing
    written)."""
    import json

    from immunotwin.cli import main

    spec = tmp_path / "a.toml"
    spec.write_text(SPEC)
    targets = tmp_path / "targets.json"
    targets.write_text(json.dumps({"trial": "synthetic", "endpoints": {"orr": {"nivolumab": 0.3, "ipilimumab": 0.1}}}))
    common = ["calibrate", str(spec), "--targets", str(targets), "--patients", "50", "--quiet"]
    assert main([*common, "--out", str(tmp_path / "bad"), "--correct", "-1"]) == 2
    assert "--correct: " in capsys.readouterr().err and not (tmp_path / "bad").exists()
    assert main([*common, "--out", str(tmp_path / "bad"), "--correct", "1", "--correct-patients", "10"]) == 2
    assert "--correct-patients: " in capsys.readouterr().err and not (tmp_path / "bad").exists()
    assert main([*common, "--out", str(tmp_path / "a"), "--correct", "1", "--correct-patients", "50",
                 "--max-evals", "40", "--bootstrap", "1"]) == 0
    prov = json.loads((tmp_path / "a" / "calibration.json").read_text())["provenance"]
    assert prov["fresh_correction"]["seeds"] == [calibrate_fresh.CORRECTION_SEED]
    assert prov["fresh_correction"]["check_seed"] == calibrate_fresh.CORRECTION_SEED + 1
    table = pd.read_csv(tmp_path / "a" / "fresh_correction.csv")
    assert list(table["arm"]) == ["nivolumab", "ipilimumab"]
    assert np.allclose(table["offset"], table["fresh"] - table["reweighted"])
    assert "fresh trial at the fit" in (tmp_path / "a" / "fit.html").read_text()
