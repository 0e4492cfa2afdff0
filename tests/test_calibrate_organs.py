"""The organ fit (immunotwin.calibrate_organs): targets read from the safety table, the probit transform, the
least-squares block recovering known parameters of a threshold model, the reporting-window reading, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from immunotwin import calibrate_organs as co


def test_targets_are_the_safety_tables_any_grade_rows() -> None:
    t = co.targets(["colitis", "thyroiditis"])
    # CheckMate 067 (Larkin 2015) as tabulated in CMAJ 2019 Table 2: diarrhoea 44/20/33%, hypothyroidism 15/9/4%
    assert t["colitis"] == {"nivolumab + ipilimumab": 0.44, "nivolumab": 0.2, "ipilimumab": 0.33}
    assert t["thyroiditis"] == {"nivolumab + ipilimumab": 0.15, "nivolumab": 0.09, "ipilimumab": 0.04}
    with pytest.raises(ValueError, match="pneumonitis"):
        co.targets(["pneumonitis"])


def test_probit_and_its_standard_error() -> None:
    assert co.probit(np.array([0.5]), 100)[0] == pytest.approx(0.0)
    assert co.probit(np.array([0.0]), 100)[0] == pytest.approx(norm.ppf(0.005))  # half a patient inside
    # delta method at 0.5 and n = 100: sqrt(0.25/100) / phi(0) = 0.05 / 0.39894
    assert co.probit_se(np.array([0.5]), 100)[0] == pytest.approx(0.05 / 0.3989423, rel=1e-6)


def threshold_model(n: int):  # type: ignore[no-untyped-def]
    """Three arms of a latent-gain threshold model with known organ parameters, read on n patients each (so the
    rates are step functions of the parameters, as a simulated trial's are): log G = log m + log(1 + w x) + noise."""
    rng = np.random.default_rng(3)
    base, dp, dc = rng.normal(0, 0.5, n), np.exp(rng.normal(0, 0.4, n)), np.exp(rng.normal(0, 1.5, n))

    def rates(v: np.ndarray) -> np.ndarray:
        m, wp, wc = v
        p, c = wp * dp, wc * dc
        g = np.log(m) + base
        return np.array([np.mean(g + np.log1p(p + c) > 0), np.mean(g + np.log1p(p) > 0),
                         np.mean(g + np.log1p(c) > 0)])

    return rates


def test_product_background_is_the_untreated_rate_of_a_product_threshold_model() -> None:
    # oracle: event when log(a m) + log(1 + c) + log(1 + p) + e > 0, e ~ N(0, sigma^2): every rate is a normal tail
    sigma, log_am, c, p = 0.8, -1.5, 1.2, 0.7
    rate = {"nivolumab + ipilimumab": norm.cdf((log_am + np.log1p(c) + np.log1p(p)) / sigma),
            "nivolumab": norm.cdf((log_am + np.log1p(p)) / sigma), "ipilimumab": norm.cdf((log_am + np.log1p(c)) / sigma)}
    assert co.product_background(rate) == pytest.approx(norm.cdf(log_am / sigma), rel=1e-9)
    # the same model with the releases added (1 + c + p): a smaller combination, which the product reads as a
    # larger untreated rate
    added = {**rate, "nivolumab + ipilimumab": norm.cdf((log_am + np.log1p(c + p)) / sigma)}
    assert co.product_background(added) > 1.5 * co.product_background(rate)
    # CheckMate 067's table: the liver fits the product with almost no untreated events; the gut and skin do not
    tg = co.targets(["dermatitis", "colitis", "hepatitis"])
    assert co.product_background(tg["hepatitis"]) == pytest.approx(0.0049, abs=5e-4)
    assert co.product_background(tg["colitis"]) == pytest.approx(0.129, abs=1e-3)
    assert co.product_background(tg["dermatitis"]) == pytest.approx(0.203, abs=1e-3)
    # a rate of 0 or a missing arm has no probit: refused, naming the arm
    with pytest.raises(ValueError, match="ipilimumab must be"):
        co.product_background({**rate, "ipilimumab": 0.0})
    with pytest.raises(ValueError, match="nivolumab must be"):
        co.product_background({k: v for k, v in rate.items() if k != "nivolumab"})
    # independent background reports on top of the product's immune events: read back out exactly
    b = {"nivolumab + ipilimumab": 0.04, "nivolumab": 0.07, "ipilimumab": 0.03}
    seen = {arm: 1.0 - (1.0 - rate[arm]) * (1.0 - b[arm]) for arm in rate}
    assert co.product_background(seen, b) == pytest.approx(norm.cdf(log_am / sigma), rel=1e-9)
    assert co.product_background(seen) > co.product_background(seen, b)  # unread, the reports look immune
    with pytest.raises(ValueError, match="background: nivolumab must be"):
        co.product_background(seen, {**b, "nivolumab": seen["nivolumab"]})


def test_fit_block_recovers_known_parameters_of_a_threshold_model() -> None:
    n = 2000
    rates = threshold_model(n)
    truth = np.array([0.3, 2.5, 1.5])
    target = rates(truth)
    res = co.fit_block(rates, np.array([0.45, 0.8, 0.5]), target, n, np.array([0.02, 0.005, 0.005]),
                       np.array([0.5, 50.0, 50.0]), max_evals=40)
    # every arm within two binomial standard errors of its target, and the parameters near the truth
    se = np.sqrt(target * (1 - target) / n)
    assert np.all(np.abs(res["rates"] - target) <= 2 * se + 1e-12), (res["rates"], target)
    assert np.allclose(np.log(res["values"]), np.log(truth), atol=0.15), res["values"]
    assert res["loss"] < res["start_loss"]
    assert len(res["trace"]) <= 40


def test_fit_block_stops_at_its_budget_and_keeps_the_best_point() -> None:
    n = 500
    rates = threshold_model(n)
    target = rates(np.array([0.3, 2.5, 1.5]))
    res = co.fit_block(rates, np.array([0.45, 0.8, 0.5]), target, n, np.array([0.02, 0.005, 0.005]),
                       np.array([0.5, 50.0, 50.0]), max_evals=5)
    assert len(res["trace"]) == 5
    zt, se = co.probit(target, n), co.probit_se(target, n)
    losses = [np.sum(((co.probit(np.array(t[3:]), n) - zt) / se) ** 2) for t in res["trace"]]
    assert res["loss"] == pytest.approx(min(losses))


def test_incidence_counts_events_first_seen_in_the_reporting_window() -> None:
    nan = np.nan
    p = pd.DataFrame({
        "arm": ["a", "a", "a", "a", "b"], "status": ["ok", "ok", "ok", "error", "ok"],
        "ae_window_end_weeks": [20.0, 20.0, 20.0, 20.0, 20.0],
        "irae_colitis_grade": [2, 1, 0, 3, 1],
        "irae_colitis_onset_weeks": [4.0, 30.0, nan, 2.0, 1.0],  # the second patient's event came after the window
        "irae_colitis_onset2_weeks": [nan] * 5, "irae_colitis_onset3_weeks": [nan] * 5,
    })
    assert co.incidence(p, "colitis", "a") == pytest.approx(1 / 3)  # the errored patient is not counted
    assert co.incidence(p, "colitis", "b") == pytest.approx(1.0)


@pytest.mark.parametrize("argv, field", [(["--organs", "lung"], "--organs"), (["--patients", "10"], "--patients"),
                                         (["--fixed", "checkpoint_synergy"], "--fixed"),
                                         (["--evals", "2"], "--evals")])
def test_bad_arguments_name_the_field_and_exit_2(argv: list[str], field: str, capsys: pytest.CaptureFixture[str]
                                                 ) -> None:
    with pytest.raises(SystemExit) as e:
        co.main(argv)
    assert e.value.code == 2
    assert field in capsys.readouterr().err


def test_bad_evaluation_budget_and_unreadable_rates_are_refused() -> None:
    lo, hi = np.array([0.02, 0.005, 0.005]), np.array([0.8, 50.0, 50.0])
    with pytest.raises(ValueError, match="max_evals"):
        co.fit_block(lambda v: np.zeros(3), np.array([0.3, 1.0, 1.0]), np.array([0.2, 0.1, 0.1]), 100, lo, hi, 0)
    with pytest.raises(ValueError, match="could not be read"):  # an arm with no patient who ran reads NaN
        co.fit_block(lambda v: np.array([0.2, np.nan, 0.1]), np.array([0.3, 1.0, 1.0]), np.array([0.2, 0.1, 0.1]),
                     100, lo, hi, 5)


def test_a_fixed_value_may_not_be_one_the_fit_frees(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        co.main(["--organs", "colitis", "--fixed", "weight_pd.colitis=1.0"])
    assert e.value.code == 2 and "weight_pd.colitis" in capsys.readouterr().err


def test_written_entries_carry_their_provenance_and_install_into_the_model(
        tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """main writes each organ's three values with the form they were fitted under, and model.core installs them as the
    organ's elements of the per-organ parameters, the source naming the fit (the file read from a stand-in package
    data folder)."""
    import importlib.resources
    import json

    from immunotwin.model import core

    trace = [[0.3, 1.0, 2.0, 0.4, 0.2, 0.3]]
    fake = {"values": {"tolerance_margin.colitis": 0.3, "weight_pd.colitis": 1.0, "weight_ctla4.colitis": 2.0},
            "results": {"colitis": {"values": np.array([0.3, 1.0, 2.0]), "rates": np.array([0.4, 0.2, 0.3]),
                                    "loss": 1.5, "start_loss": 9.0, "first_start_loss": 12.0, "trace": trace}},
            "history": {"colitis": trace}, "targets": co.targets(["colitis"])}
    monkeypatch.setattr(co, "run", lambda *a, **k: fake)
    monkeypatch.setattr(co, "untreated_incidence", lambda *a, **k: {o: 0.0 for o in co.TERMS})
    out = tmp_path / "cancer_fit.json"
    out.write_text(json.dumps({"params": {"scar_fraction": {"value": 0.01, "spec": "checkmate067", "metric": "not_cr",
                                                                "target_orr": 0.79, "source": "stand-in"}}}))
    assert co.main(["--organs", "colitis", "--out", str(out)]) == 0
    params = json.loads(out.read_text())["params"]
    m = params["tolerance_margin.colitis"]
    assert m["value"] == 0.3 and m["start_loss"] == 12.0 and m["trace"] == trace and m["untreated_incidence"] == 0.0
    assert m["model"] == {"checkpoint_synergy": co.installed_scalar("checkpoint_synergy"), "margin_max": co.MARGIN_MAX}
    assert params["weight_ctla4.colitis"]["trace_in"] == "tolerance_margin.colitis"
    assert params["scar_fraction"]["value"] == 0.01  # other fits kept
    monkeypatch.setattr(importlib.resources, "files", lambda package: tmp_path)
    installed = {p.name: p for p in core._apply_drug_fit(core.all_params())}
    k = co.cc.INDEX["colitis"]
    assert installed["weight_ctla4"].default[k] == 2.0 and installed["tolerance_margin"].default[k] == 0.3
    assert "calibrate_organs" in installed["weight_pd"].source and "diarrhoea" in installed["weight_pd"].source
