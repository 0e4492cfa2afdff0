"""Probability of success from replicate virtual trials, against analytic power."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from immunotwin.cli import main
from immunotwin.success import probability_of_success

Z = norm.ppf(0.975)


def _patients(hr: float, orr: tuple[float, float], n: int = 20000, seed: int = 0) -> pd.DataFrame:
    """Two arms with exponential PFS/OS (no censoring) and binary response."""
    rng = np.random.default_rng(seed)
    frames = []
    for arm, scale, p in (("new", 10.0 / hr, orr[0]), ("control", 10.0, orr[1])):
        t = rng.exponential(scale, n)
        frames.append(pd.DataFrame({"arm": arm, "status": "ok", "pfs_months": t, "pfs_event": True,
                                    "os_months": 2 * t, "os_event": True,
                                    "bor": np.where(rng.random(n) < p, "PR", "PD")}))
    return pd.concat(frames, ignore_index=True)


def test_survival_endpoint_matches_schoenfeld_power() -> None:
    # Schoenfeld (Biometrika 1981): with d events split 1:1, power = Phi(sqrt(d/4) |log HR| - z).
    n, hr = 100, 0.7
    expected = norm.cdf(np.sqrt(2 * n / 4) * abs(np.log(hr)) - Z)
    r = probability_of_success(_patients(hr, (0.3, 0.3)), "new", "control", "pfs", n, replicates=600, seed=2)
    assert r.probability == pytest.approx(expected, abs=0.06), (r.probability, expected)
    assert r.probability_ci95[0] <= r.probability <= r.probability_ci95[1]
    assert r.effect_median == pytest.approx(hr, abs=0.05)
    assert r.effect_pi95[0] < hr < r.effect_pi95[1]


def test_no_effect_succeeds_at_half_alpha() -> None:
    # Under the null a two-sided test rejects in alpha of trials, half of them in the wrong direction.
    r = probability_of_success(_patients(1.0, (0.3, 0.3)), "new", "control", "os", 80, replicates=1000, seed=3)
    assert r.probability == pytest.approx(0.025, abs=0.02)


def test_response_endpoint_matches_two_proportion_power() -> None:
    n, p1, p0 = 120, 0.45, 0.25
    pbar = (p1 + p0) / 2
    se0, se1 = np.sqrt(2 * pbar * (1 - pbar) / n), np.sqrt((p1 * (1 - p1) + p0 * (1 - p0)) / n)
    expected = norm.cdf(((p1 - p0) - Z * se0) / se1)
    r = probability_of_success(_patients(1.0, (p1, p0)), "new", "control", "orr", n, replicates=600, seed=4)
    assert r.probability == pytest.approx(expected, abs=0.06), (r.probability, expected)
    assert r.effect_median == pytest.approx(p1 - p0, abs=0.03)
    # a larger trial succeeds more often
    big = probability_of_success(_patients(1.0, (p1, p0)), "new", "control", "orr", 2 * n, replicates=600, seed=4)
    assert big.probability > r.probability


def test_success_refuses_bad_input_with_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = Path(__file__).parents[1] / "examples" / "checkmate067.toml"
    out = tmp_path / "s"
    code = main(["success", str(spec), "--arm", "no such arm", "--endpoints", "pfs,dfs", "--size-per-arm", "5",
                 "--replicates", "3", "--alpha", "1.5", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    for field in ("--arm", "--endpoints", "--size-per-arm", "--replicates", "--alpha"):
        assert field in err, field
    assert not out.exists()  # nothing half-written


def test_success_refuses_a_trial_without_the_arms(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = Path(__file__).parents[1] / "examples" / "checkmate067.toml"
    trial = tmp_path / "t"
    trial.mkdir()
    _patients(0.7, (0.3, 0.3), n=50).to_parquet(trial / "patients.parquet")
    code = main(["success", str(spec), "--arm", "nivolumab", "--size-per-arm", "20", "--trial", str(trial),
                 "--out", str(tmp_path / "s")])
    assert code == 2 and "--trial" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_mean_shift_moves_only_the_named_parameter() -> None:
    from immunotwin.population import sample_cohort

    base = sample_cohort("melanoma", {}, 7, 1, range(50), 4)
    shifted = sample_cohort("melanoma", {}, 7, 1, range(50), 4, mean_shift={"immunogenicity": np.log(2.0)})
    assert np.allclose(shifted.params["immunogenicity"], 2.0 * base.params["immunogenicity"], rtol=1e-12)
    for k in ("net_growth_rate", "autoimmune_propensity", "expansion_rate"):
        assert np.array_equal(shifted.params[k], base.params[k]), k
    pd.testing.assert_frame_equal(shifted.covariates, base.covariates)


def test_parameter_draws_follow_the_calibration_standard_errors() -> None:
    import json
    from importlib import resources

    from immunotwin.success import parameter_draws

    cal = json.loads(resources.files("immunotwin.data").joinpath("calibration.json").read_text())["params"]
    draws = parameter_draws(2000, seed=3)
    assert parameter_draws(3, seed=3) == draws[:3]  # reproducible
    for name in ("immunogenicity", "autoimmune_propensity"):
        shifts = np.array([d[0][name] for d in draws])
        se = cal[name]["log_shift_se"]
        assert abs(shifts.mean()) < 4 * se / np.sqrt(len(draws))
        assert shifts.std() == pytest.approx(se, rel=0.08)
        scales = np.array([d[1][name] for d in draws]) * cal[name]["iiv"]
        assert scales.std() == pytest.approx(cal[name]["iiv_se"], rel=0.08)


def test_calibrated_growth_mean_reaches_the_patients() -> None:
    # The calibration moves net_growth_rate's population mean; each cancer's growth is relative to the
    # declared (melanoma) value, so the installed default must reach melanoma patients unchanged.
    from immunotwin.cancers import CANCERS
    from immunotwin.model.core import PARAM_INDEX
    from immunotwin.population import REFERENCE_GROWTH, sample_cohort

    c = sample_cohort("melanoma", {}, 7, 1, range(40), 4)
    ldh = c.covariates["ldh_uln"].to_numpy(float)
    expected = float(PARAM_INDEX["net_growth_rate"].value) * np.exp(c.effects["net_growth_rate"]) * np.sqrt(ldh)
    assert CANCERS["melanoma"].growth_rate == REFERENCE_GROWTH
    assert np.allclose(c.params["net_growth_rate"], expected, rtol=1e-12)
    nsclc = sample_cohort("nsclc", {}, 7, 1, range(40), 4)
    ratio = nsclc.params["net_growth_rate"] / (np.exp(nsclc.effects["net_growth_rate"])
                                                * np.sqrt(nsclc.covariates["ldh_uln"].to_numpy(float)))
    assert np.allclose(ratio, float(PARAM_INDEX["net_growth_rate"].value) * CANCERS["nsclc"].growth_rate
                       / REFERENCE_GROWTH, rtol=1e-12)


def test_cox_hr_is_nan_without_events_or_at_separation() -> None:
    from immunotwin.weighted import cox_hr

    t = np.arange(1.0, 11.0)
    ones = np.ones(10)
    assert np.isnan(cox_hr(t, np.zeros(10, bool), ones, t, np.ones(10, bool), ones))  # no events in a
    assert np.isnan(cox_hr(t, np.ones(10, bool), ones, t, np.zeros(10, bool), ones))  # no events in b
    # every event of a before any of b: the partial likelihood rises without bound
    assert np.isnan(cox_hr(t, np.ones(10, bool), ones, t + 20.0, np.ones(10, bool), ones))


def test_success_refuses_more_patients_than_the_pool(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = Path(__file__).parents[1] / "examples" / "checkmate067.toml"
    code = main(["success", str(spec), "--arm", "nivolumab", "--size-per-arm", "50", "--patients", "30",
                 "--out", str(tmp_path / "s")])
    assert code == 2 and "--size-per-arm" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_parameter_draws_leave_a_held_spread_alone() -> None:
    """A variability held at a hand-set value (no bootstrap SE) keeps its scale at 1; its mean is still drawn. A fitted
    variability without an SE is refused."""
    from immunotwin.success import parameter_draws

    cal = {"residual_clearance_time": {"iiv": 1.5, "log_shift_se": 0.2, "iiv_se": None, "iiv_held": True,
                                       "iiv_note": "by hand"},
           "immunogenicity": {"iiv": 0.9, "log_shift_se": 0.1, "iiv_se": 0.05}}
    draws = parameter_draws(500, seed=1, cal=cal)
    assert all("residual_clearance_time" not in d[1] for d in draws)
    assert np.std([d[0]["residual_clearance_time"] for d in draws]) == pytest.approx(0.2, rel=0.15)
    assert np.std([d[1]["immunogenicity"] for d in draws]) * 0.9 == pytest.approx(0.05, rel=0.15)
    with pytest.raises(ValueError, match="residual_clearance_time"):
        parameter_draws(2, seed=1, cal={"residual_clearance_time": {"iiv": 1.5, "log_shift_se": 0.2, "iiv_se": None}})


def test_parameter_draws_draw_the_fitted_drug_constants() -> None:
    """A drug constant fitted by the calibration (its ``drugs`` section) is drawn log-normally about its fitted value
    with its log SE, reproducibly; one without an SE is refused, naming it."""
    from immunotwin.success import parameter_draws

    cal = {"immunogenicity": {"iiv": 0.9, "log_shift_se": 0.1, "iiv_se": 0.05}}
    drugs = {"ipilimumab": {"ec50_mg_l": {"default": 20.0, "log_shift_se": 0.3}}}
    draws = parameter_draws(3000, seed=5, cal=cal, drugs=drugs)
    assert parameter_draws(3, seed=5, cal=cal, drugs=drugs) == draws[:3]
    logs = np.log([d.drugs["ipilimumab.ec50_mg_l"] for d in draws])
    assert abs(logs.mean() - np.log(20.0)) < 4 * 0.3 / np.sqrt(len(draws))
    assert logs.std() == pytest.approx(0.3, rel=0.08)
    assert all(d.drugs == {} for d in parameter_draws(5, seed=5, cal=cal))  # params given alone: no drug drawn
    with pytest.raises(ValueError, match="ipilimumab.ec50_mg_l"):
        parameter_draws(2, seed=1, cal=cal, drugs={"ipilimumab": {"ec50_mg_l": {"default": 20.0}}})


def test_installed_draws_include_the_fitted_ec50() -> None:
    from immunotwin.success import parameter_draws
    from immunotwin.validate import installed_calibration

    fitted = installed_calibration().get("drugs", {})
    keys = {f"{d}.{f}" for d, fields in fitted.items() for f in fields}
    assert keys, "the installed calibration fits no drug constant"
    assert all(set(d.drugs) == keys for d in parameter_draws(4, seed=2))


def test_over_parameters_simulates_each_draw_with_its_drug_values(monkeypatch: pytest.MonkeyPatch) -> None:
    # The drawn EC50 is in the catalogue while that draw's patients are simulated, and restored afterwards.
    import immunotwin.success as success
    from immunotwin.drugs.catalogue import CATALOGUE
    from immunotwin.spec import load_spec

    spec = load_spec(Path(__file__).parents[1] / "examples" / "checkmate067.toml")
    before = CATALOGUE["ipilimumab"].ec50_mg_l
    seen: list[float] = []
    p = pd.DataFrame({"arm": ["a"] * 20 + ["b"] * 20, "status": "ok", "pfs_months": np.arange(40.0) + 1,
                      "pfs_event": True})

    def fake(spec, arms, patients, shift, scale):  # type: ignore[no-untyped-def]
        seen.append(CATALOGUE["ipilimumab"].ec50_mg_l)
        return p

    monkeypatch.setattr(success, "simulate_arms", fake)
    (q,) = success.over_parameters(spec, "a", "b", ["pfs"], 10, draws=3, patients=20, replicates=5, alpha=0.05, seed=4)
    expected = [d.drugs["ipilimumab.ec50_mg_l"] for d in success.parameter_draws(3, 4)]
    assert seen == pytest.approx(expected) and len(set(seen)) == 3
    assert [v["ipilimumab.ec50_mg_l"] for v in q["drug_values"]] == pytest.approx(expected)  # reported per draw
    assert CATALOGUE["ipilimumab"].ec50_mg_l == before
