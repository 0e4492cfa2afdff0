"""Scenarios (issue 5): summary shape, the carcinogenesis model's analytic limits, directions of
effect, and published figures within stated bands.

Bands are stated in each figure's ``band_note`` (exact 95% CI of the published proportion where
the denominator is known). Where the model currently misses a band the test is marked xfail
with the measured value (at the scenario's default size) in the reason; bands are not loosened.
Trial scenarios simulate hundreds of patients and are ``slow``; the fast share covers the
carcinogenesis model, the figure arithmetic and the CLI.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from immunotwin import carcinogenesis as cg
from immunotwin.cli import main
from immunotwin.model.organs import IRAES
from immunotwin.scenarios import SCENARIOS, run_scenario

FIGURE_KEYS = {"name", "simulated", "ci95", "published", "band", "inside", "fitted", "source"}


def check_shape(summary: dict, name: str) -> None:
    assert summary["scenario"] == name
    assert isinstance(summary["figures"], list) and summary["figures"]
    for f in summary["figures"]:
        assert FIGURE_KEYS <= set(f), f
        assert isinstance(f["fitted"], bool)
        assert len(f["ci95"]) == 2 and len(f["band"]) == 2
        if f["simulated"] is None:  # not estimable (e.g. a median not reached): never inside
            assert f["inside"] is False
        else:
            assert f["inside"] == (f["band"][0] <= f["simulated"] <= f["band"][1])
        assert f["source"]


def fig(summary: dict, prefix: str) -> dict:
    hits = [f for f in summary["figures"] if f["name"].startswith(prefix)]
    assert len(hits) == 1, (prefix, [f["name"] for f in summary["figures"]])
    return hits[0]


def obs(summary: dict, prefix: str) -> float:
    hits = [o for o in summary["observations"] if o["name"].startswith(prefix)]
    assert len(hits) == 1, prefix
    return hits[0]["value"]


# ------------------------------------------------------------------------------------------
# fast: CLI and the carcinogenesis model


def test_scenarios_listed(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenarios"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == len(SCENARIOS) >= 6
    for name in ("paraneoplastic-thymoma", "melanoma-vitiligo", "preexisting-autoimmunity", "hyperprogression",
                 "leukemia-evasion", "inflammation-to-cancer"):
        assert any(line.startswith(name) for line in out)


def test_unknown_scenario_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenario", "no-such", "--out", str(tmp_path / "x")]) == 2
    assert "unknown scenario" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_scenario_prints_direction_only_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A row with no published value (a direction check) prints its band note; this crashed the CLI once."""
    import immunotwin.scenarios as scenarios

    rows = [{"name": "peak and grade", "simulated": 0.4, "ci95": [0.3, 0.5], "published": None, "band": [0.0, 1.0],
             "inside": True, "fitted": False, "source": "s", "band_note": "direction only: above 0"},
            {"name": "ORR", "simulated": 0.8, "ci95": [0.7, 0.9], "published": 0.82, "band": [0.73, 0.89],
             "inside": True, "fitted": True, "source": "s"}]
    monkeypatch.setattr(scenarios, "run_scenario", lambda *a, **k: {"scenario": "car-t-crs", "figures": rows})
    assert main(["scenario", "car-t-crs", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "pub direction only: above 0" in out[0] and "inside" in out[0]
    assert "pub 0.82" in out[1] and out[1].endswith("(fitted)")


COLON = cg.TSCE(X=1e7, nu=3e-8, alpha=9.0, beta=8.85, mu=3e-8)


def test_tsce_numerical_matches_exact_solution() -> None:
    ages = cg.age_grid(85.0)
    s_num = cg.survival(ages, COLON)
    s_exact = cg.exact_survival(ages, COLON)
    assert np.allclose(s_num, s_exact, rtol=1e-6, atol=1e-12)
    # hazard: -d ln S / dt of the exact survival equals the closed-form hazard
    t = np.array([30.0, 50.0, 70.0])
    eps = 1e-4
    h_fd = -(np.log(cg.exact_survival(t + eps, COLON)) - np.log(cg.exact_survival(t - eps, COLON))) / (2 * eps)
    assert np.allclose(h_fd, cg.exact_hazard(t, COLON), rtol=1e-5)


def test_tsce_small_time_and_asymptotic_limits() -> None:
    # h(t) ~ nu X mu t for small t; h -> nu X mu / q for large t (q: the positive root)
    t = 1e-3
    assert cg.exact_hazard(t, COLON) == pytest.approx(COLON.nu * COLON.X * COLON.mu * t, rel=1e-3)
    _, q = COLON.roots()
    assert cg.exact_hazard(400.0, COLON) == pytest.approx(COLON.nu * COLON.X * COLON.mu / q, rel=1e-6)


def test_no_inflammation_gives_background() -> None:
    ages = cg.age_grid(80.0)
    bg = cg.survival(ages, COLON)
    for exp, s in ((cg.Exposure(onset=30.0, intensity=0.0), 1.0), (cg.Exposure(onset=30.0), 0.0),
                   (cg.Exposure(onset=30.0, fraction=0.0), 1.0), (cg.Exposure(onset=100.0), 1.0)):
        assert np.allclose(cg.survival(ages, COLON, exp, s), bg, rtol=1e-10)


def test_inflammation_raises_and_treatment_lowers_hazard() -> None:
    ages = cg.age_grid(80.0)
    bg = cg.survival(ages, COLON)
    risks = []
    for s in (0.0, 0.3, 1.0, 3.0):
        sv = cg.survival(ages, COLON, cg.Exposure(onset=30.0), s)
        risks.append(cg.conditional_risk(ages, sv, 30.0, 30.0))
    assert all(b > a for a, b in zip(risks, risks[1:], strict=False))
    treated = cg.survival(ages, COLON, cg.Exposure(onset=30.0, treated_from=30.0, treatment_effect=0.5), 1.0)
    untreated = cg.survival(ages, COLON, cg.Exposure(onset=30.0), 1.0)
    r_t, r_u = (cg.conditional_risk(ages, x, 30.0, 30.0) for x in (treated, untreated))
    assert cg.conditional_risk(ages, bg, 30.0, 30.0) < r_t < r_u
    # more inflamed tissue (extent) -> higher risk
    half = cg.survival(ages, COLON, cg.Exposure(onset=30.0, fraction=0.5), 1.0)
    assert r_t < r_u and cg.conditional_risk(ages, half, 30.0, 30.0) < r_u
    # SIR of the exposed against background > 1 and equals 1 before onset
    assert cg.sir(ages, untreated, bg, 40.0, 60.0) > 1.0
    assert cg.sir(ages, untreated, bg, 10.0, 29.0) == pytest.approx(1.0, rel=1e-9)


def test_background_fit_hits_lifetime_risk() -> None:
    m = cg.fit_background(COLON, 0.041, 85.0)
    assert 1 - cg.exact_survival(85.0, m) == pytest.approx(0.041, rel=1e-6)


@pytest.fixture(scope="module")
def inflammation(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("infl")
    assert main(["scenario", "inflammation-to-cancer", "--out", str(out)]) == 0
    assert (out / "report.html").read_text().count("data:image/png;base64,") >= 2
    return json.loads((out / "summary.json").read_text())


def test_inflammation_summary_shape_and_fit(inflammation: dict) -> None:
    check_shape(inflammation, "inflammation-to-cancer")
    ra = fig(inflammation, "RA: lymphoma SIR")
    assert ra["fitted"] is True and ra["inside"]
    fitted = {f["name"] for f in inflammation["figures"] if f["name"].startswith("UC") and f["fitted"]}
    assert fitted == {f"UC: cumulative colorectal cancer at {y} years of colitis" for y in (10, 20)}
    # something besides the fitted figure: anti-inflammatory treatment lowers the SIR toward 1
    assert 1.0 < obs(inflammation, "RA lymphoma SIR with anti-inflammatory") < ra["simulated"]


def test_inflammation_uc_direction(inflammation: dict) -> None:
    cum = [fig(inflammation, f"UC: cumulative colorectal cancer at {y} years")["simulated"] for y in (10, 20, 30)]
    assert cum[0] < cum[1] < cum[2]
    sirs = [fig(inflammation, f"UC: colorectal cancer SIR, {e}")["simulated"] for e in
            ("proctitis", "left-sided", "pancolitis")]
    assert 1.0 < sirs[0] < sirs[1] < sirs[2]  # higher with pancolitis (Ekbom 1990)


def test_inflammation_uc_30_year_risk_in_band(inflammation: dict) -> None:
    # Unfitted: the colon's strength is the measured mutation-rate ratio of IBD colon (Olafsson 2020), and the
    # spread of intensity is fitted to the 10- and 20-year risks only. Measured 2026-11-30: 19.4% against 18%
    # (band 9-27%); 15.0% without the spread.
    assert fig(inflammation, "UC: cumulative colorectal cancer at 30 years")["inside"]


def test_inflammation_uc_spread_brings_risk_forward(inflammation: dict) -> None:
    """The fitted spread meets the 10- and 20-year risks (fitted rows); without it the risk comes too late."""
    for years in (10, 20):
        assert fig(inflammation, f"UC: cumulative colorectal cancer at {years} years")["inside"]
        assert obs(inflammation, f"UC {years}-year colorectal cancer if every patient") < 0.5 * fig(
            inflammation, f"UC: cumulative colorectal cancer at {years} years")["simulated"]


def test_uc_intensity_spread_is_the_least_squares_fit() -> None:
    """The shipped log-SD minimises the squared log residuals of the 10- and 20-year risks against Eaden's."""
    from immunotwin.reference import load
    from immunotwin.scenarios.inflammation import colon_strength, uc_cumulative, uc_log_sd

    eaden = load("phenomena")["autoimmunity_to_cancer"]["ulcerative_colitis_crc_cumulative"]

    def loss(sd: float) -> float:
        return sum((np.log(uc_cumulative(colon_strength(), float(y), log_sd=sd)["all"]) - np.log(eaden[f"{y}y"])) ** 2
                   for y in (10, 20))

    sd = uc_log_sd()
    assert loss(sd) < 0.01 and loss(sd) < loss(sd - 0.1) and loss(sd) < loss(sd + 0.1)


def test_survival_mixed_limits() -> None:
    ages = cg.age_grid(80.0)
    exp = cg.Exposure(onset=30.0, fraction=0.5)
    assert np.array_equal(cg.survival_mixed(ages, COLON, exp, 1.0, 0.0), cg.survival(ages, COLON, exp, 1.0))
    # no inflammation effect: any spread of intensity leaves the background
    assert np.allclose(cg.survival_mixed(ages, COLON, exp, 0.0, 1.0), cg.survival(ages, COLON), rtol=1e-12)
    # the quadrature survival_mixed uses keeps the mean intensity and the lognormal's variance
    f, w = cg.intensity_nodes(1.0)
    assert float(np.sum(w)) == pytest.approx(1.0, rel=1e-12) and float(np.sum(w * f)) == pytest.approx(1.0, rel=1e-3)
    assert float(np.sum(w * f**2)) == pytest.approx(np.exp(1.0), rel=2e-2)
    # a spread raises the early cohort risk (the high-intensity patients' hazards rise first)
    early = [cg.conditional_risk(ages, cg.survival_mixed(ages, COLON, exp, 1.4, sd), 30.0, 10.0) for sd in (0.0, 1.0)]
    assert early[1] > early[0]


@pytest.mark.xfail(reason="SIRs 2.5-8.5x Ekbom's (proctitis 12 vs 1.7, left-sided 23.8 vs 2.8, pancolitis 37.6 vs "
                          "14.8; band a factor 2; 4.6, 15.6 and 37 before the intensity spread of 2026-11-30) while "
                          "the cumulative risks match Eaden's: on this background "
                          "Eaden's risk implies an all-UC SIR of 22, Ekbom's SIRs weighted by the extent mix 6.1 "
                          "(Eaden's meta-analysis pools referral series), and the model sides with Eaden", strict=False)
@pytest.mark.parametrize("extent", ["proctitis", "left-sided", "pancolitis"])
def test_inflammation_uc_sir_in_band(inflammation: dict, extent: str) -> None:
    assert fig(inflammation, f"UC: colorectal cancer SIR, {extent}")["inside"]


def test_inflammation_colon_background_and_measured_strength(inflammation: dict) -> None:
    from immunotwin.scenarios.inflammation import incidence_bands

    # The colon's strength is the measured factor, not the RA fit; the RA fit alone gives far less UC cancer.
    assert obs(inflammation, "colon inflammation strength s") == pytest.approx(1.4)
    assert obs(inflammation, "UC 30-year colorectal cancer with the lymphoid") < 0.5 * fig(
        inflammation, "UC: cumulative colorectal cancer at 30 years")["simulated"]
    # The background is fitted to SEER's three age bands with two parameters: each within 25% (log residuals
    # shared out), and the rate rises steeply with age as registries show.
    sims = [obs(inflammation, f"colon background incidence, ages {lo:.0f}-{hi:.0f}")
            for lo, hi, _ in incidence_bands("colon")]
    for sim, (_, _, rate) in zip(sims, incidence_bands("colon"), strict=True):
        assert sim == pytest.approx(1e5 * rate, rel=0.25)
    assert sims[0] < sims[1] < sims[2]
    # The two UC sources disagree on this background (the xfails above): Eaden's 30-year risk implies an all-UC
    # SIR over three times Ekbom's extent-weighted one.
    assert obs(inflammation, "all-UC SIR over 30 years implied") > 3 * obs(inflammation, "Ekbom's SIRs weighted")


def test_fit_incidence_recovers_known_background() -> None:
    # Oracle: band rates computed from a known model; a fit started elsewhere recovers its rates and growth.
    truth = cg.TSCE(X=1e8, nu=2e-8, alpha=9.0, beta=9.0 - 0.11, mu=2e-8)
    bands = [(lo, hi, cg.band_rate(truth, lo, hi)) for lo, hi in ((0, 50), (50, 65), (65, 85))]
    start = cg.TSCE(X=1e8, nu=1e-7, alpha=9.0, beta=9.0 - 0.15, mu=1e-7)
    fit = cg.fit_incidence(start, bands)
    assert fit.alpha - fit.beta == pytest.approx(0.11, rel=1e-4)
    assert fit.nu * fit.mu == pytest.approx(truth.nu * truth.mu, rel=1e-3)
    assert fit.alpha == start.alpha and fit.nu / fit.mu == pytest.approx(start.nu / start.mu)
    # The band rate is the mean of the closed-form hazard.
    t = np.linspace(50.05, 64.95, 150)
    assert cg.band_rate(truth, 50, 65) == pytest.approx(float(np.mean(cg.exact_hazard(t, truth))), rel=1e-9)


# ------------------------------------------------------------------------------------------
# fast: specs, covariates and figure arithmetic on small synthetic tables


def test_example_specs_match_package_specs() -> None:
    from importlib import resources

    from immunotwin.spec import parse_spec

    root = Path(__file__).resolve().parents[1] / "examples" / "scenarios"
    pkg = resources.files("immunotwin.scenarios")
    shipped = sorted(f.name for f in pkg.iterdir() if f.name.endswith(".toml"))
    assert shipped == sorted(f.name for f in root.glob("*.toml"))
    for name in shipped:
        text = pkg.joinpath(name).read_text()
        assert text == (root / name).read_text(), name
        parse_spec(text)


def test_cll_after_fludarabine_draws_the_untreated_patients() -> None:
    # The same patients by construction: one arm (arm key 0), the same cancer, population, seed, follow-up and scans
    # (population.patient_streams draws a patient from the seed, the arm key and the index alone).
    from immunotwin.scenarios.core import spec_text
    from immunotwin.spec import parse_spec

    a, b = parse_spec(spec_text("leukemia-evasion")), parse_spec(spec_text("leukemia-evasion-fludarabine"))
    assert len(a.arms) == len(b.arms) == 1 and not a.arms[0].drugs
    assert (a.seed, a.population, a.follow_up_days, a.assessment) == (b.seed, b.population, b.follow_up_days,
                                                                       b.assessment)
    courses = [d for d in b.arms[0].drugs if d.name == "fludarabine"]
    assert [d.start_days for d in courses] == [28.0 * k for k in range(6)] and all(d.doses == 5 for d in courses)


def test_thymoma_subtype_covariate_keeps_other_draws() -> None:
    import dataclasses

    from immunotwin import population
    from immunotwin.cancers import CANCERS
    from immunotwin.model.organs import IRAES

    with_sub = population.sample_cohort("thymoma", {}, 7, 1, range(200), 4)
    orig = population.CANCERS["thymoma"]
    try:
        population.CANCERS["thymoma"] = dataclasses.replace(orig, subtypes=())
        without = population.sample_cohort("thymoma", {}, 7, 1, range(200), 4)
    finally:
        population.CANCERS["thymoma"] = orig
    assert CANCERS["thymoma"].subtypes
    cov = with_sub.covariates
    assert set(cov["subtype"]) == {"A", "AB", "B1", "B2", "B3"}
    pd.testing.assert_frame_equal(cov.drop(columns="subtype"), without.covariates)
    scale = {n: x for n, _, x in CANCERS["thymoma"].subtypes}
    ratio = with_sub.params["cross_reactivity"][:, 8] / without.params["cross_reactivity"][:, 8]
    assert np.allclose(ratio, cov["subtype"].map(scale).to_numpy())
    for k in ("immunogenicity", "net_growth_rate"):
        assert np.array_equal(with_sub.params[k], without.params[k])
    # susceptibility: equal but for the organ the thymoma itself raises, which the subtype scales (next test)
    neuro = list(IRAES).index("neurologic")
    keep = [i for i in range(len(IRAES)) if i != neuro]
    assert np.array_equal(with_sub.params["susceptibility"][:, keep], without.params["susceptibility"][:, keep])
    assert "subtype" not in population.sample_cohort("melanoma", {}, 7, 1, range(5), 4).covariates


def test_thymoma_exported_t_cells_raise_neurologic_susceptibility_by_subtype() -> None:
    """The cancer's own susceptibility factor k multiplies only its organ, as 1 + (k - 1) x subtype scale."""
    import dataclasses

    from immunotwin import population
    from immunotwin.model.organs import INDEX

    orig = population.CANCERS["thymoma"]
    k = orig.susceptibility["neurologic"]
    with_export = population.sample_cohort("thymoma", {}, 7, 1, range(200), 4)
    try:
        population.CANCERS["thymoma"] = dataclasses.replace(orig, susceptibility={})
        without = population.sample_cohort("thymoma", {}, 7, 1, range(200), 4)
    finally:
        population.CANCERS["thymoma"] = orig
    ratio = with_export.params["susceptibility"] / without.params["susceptibility"]
    scale = with_export.covariates["subtype"].map({n: x for n, _, x in orig.subtypes}).to_numpy()
    assert np.allclose(ratio[:, INDEX["neurologic"]], 1.0 + (k - 1.0) * scale)
    others = [i for i in range(ratio.shape[1]) if i != INDEX["neurologic"]]
    assert np.allclose(ratio[:, others], 1.0)
    assert k > 1.0 and not population.CANCERS["melanoma"].susceptibility


def test_flare_columns_and_same_organ_contrast() -> None:
    from immunotwin.model.organs import IRAES
    from immunotwin.scenarios.trials import flare_columns, same_organ_contrast

    rows = []
    for i, (pre, g_arth, g_skin) in enumerate([("arthritis", 2, 0), ("arthritis", 0, 1), ("dermatitis", 0, 3),
                                               ("dermatitis", 1, 0)]):
        r = {f"irae_{k}_grade": 0 for k in IRAES}
        r.update({"irae_arthritis_grade": g_arth, "irae_dermatitis_grade": g_skin, "preexisting_ai": pre,
                  "discontinued": "toxicity" if i == 2 else "", "bor": "PR" if i == 0 else "SD"})
        rows.append(r)
    p = flare_columns(pd.DataFrame(rows))
    assert p["flare"].tolist() == [True, False, True, False]
    assert p["other_irae"].tolist() == [False, True, False, True]
    assert p["disc_flare"].tolist() == [False, False, True, False]
    own, other = same_organ_contrast(p)
    assert own == pytest.approx(0.5) and other == pytest.approx(0.0)


def test_landmark_excludes_early_deaths() -> None:
    from immunotwin.scenarios.trials import landmark_set

    p = pd.DataFrame({"status": ["ok"] * 4, "os_months": [1.0, 10.0, 20.0, 30.0], "os_event": [True] * 4,
                      "irae_dermatitis_onset_weeks": [2.0, 4.0, 20.0, np.nan],
                      "vitiligo_onset_weeks": [np.nan, 12.0, 8.0, 13.0]})
    d = landmark_set(p)
    assert len(d) == 3 and d["skin"].tolist() == [True, False, False]
    assert d["vitiligo"].tolist() == [True, True, False]  # by week 12 inclusive
    assert d["t_lm"].iloc[0] == pytest.approx(10.0 - 12 * 7 / 30.4375)


# ------------------------------------------------------------------------------------------
# slow: trial scenarios


def _run(tmp_path_factory: pytest.TempPathFactory, name: str, patients: int) -> dict:
    out = tmp_path_factory.mktemp(name)
    summary = run_scenario(name, out, patients=patients)
    assert (out / "report.html").exists()
    assert json.loads((out / "summary.json").read_text())["scenario"] == name
    check_shape(summary, name)
    return summary


@pytest.fixture(scope="module")
def preexisting(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return _run(tmp_path_factory, "preexisting-autoimmunity", 300)


@pytest.mark.slow
def test_preexisting_flares_in_own_organ(preexisting: dict) -> None:
    own = obs(preexisting, "grade >=2 in organ X when the pre-existing disease is in X")
    other = obs(preexisting, "grade >=2 in organ X when the pre-existing disease is elsewhere")
    assert own > 2 * other


@pytest.mark.slow
@pytest.mark.parametrize("prefix", [
    # 33% (n=300, calibration iterations 7 and 8), 25.3% with iteration 11 (at the band's floor) against the exact CI
    # 25.3-53%; 24.7% with iterations 12 (stop 41) and 13 (stop 42), just under it
    pytest.param("flare (grade", marks=pytest.mark.xfail(
        reason="24.7% (n=300, calibration iterations 12 and 13, stops 41 and 42) against Menzies 2017's 38% (exact CI "
               "25.3-53%): at the band's floor since iteration 11 (25.3%)", strict=False)),
    "other irAEs",  # 20.0% (n=300, iteration 9; 22.7% with 8, 21% with 7) against the exact CI 17-43% (15% with 5)
    "objective response rate", "discontinued for a flare",
    # 28% (n=99) against the exact CI 25.1-80.8% (7 of 13): near the lower edge; 25.3% with iteration 12
    pytest.param("flare rate, rheumatoid arthritis", marks=pytest.mark.xfail(
        reason="25.3% of 99 (n=300, stop 47: one patient more, so it XPASSes at the band's floor) and 24.2% (calibration "
               "iteration 13, stop 42) against Menzies 2017's 7 of 13 (exact CI 25.1-80.8%); 25.3% with iteration 12",
        strict=False)),
    "flare rate, psoriasis"])
def test_preexisting_published_figures(preexisting: dict, prefix: str) -> None:
    # bands: exact 95% CI of Menzies 2017's counts (n=52; by disease n=13, 8)
    assert fig(preexisting, prefix)["inside"]


@pytest.fixture(scope="module")
def hpd(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return _run(tmp_path_factory, "hyperprogression", 500)


@pytest.mark.slow
def test_hpd_overall_in_band(hpd: dict) -> None:
    # Fitted since stop 55 (the macrophages' susceptibility, model.macrophages: 13.8% at 2,000 patients and seed 11).
    # As for the other fitted figures read at another seed (test_cancers_fitted_orrs), its bootstrap CI must meet the
    # exact CI of Ferrara's count: 17.4% here (n=500, the scenario's seed; CI about 14-21%) against 10.6-17.5%. The
    # scenario's seed reads high: 11.8% without the mechanism (iteration 14, unfitted; 11.1% with 9, 12.3% with 8)
    # where the fit's seed read 11.7% at a tenth of today's susceptibility. That the drug causes some of it is below.
    f = fig(hpd, "HPD rate, NSCLC on anti-PD-1")
    assert f["fitted"]
    assert f["ci95"][0] <= f["band"][1] and f["ci95"][1] >= f["band"][0], (f["simulated"], f["band"])


@pytest.mark.slow
def test_hpd_rare_in_melanoma(hpd: dict) -> None:
    # The macrophages' reach is 0 in melanoma (cancers.FC_MACROPHAGE_SOURCE): by the AACR definition Schuiveling 2021
    # applied, 1 of 75 (exact CI 0.03-7.2%). 5.0% here (22 of 441 evaluable, n=500, stop 55); with NSCLC's reach the
    # same patients read 8.0% (35 of 437), outside, and their ORR 33.4% against 35.4%.
    assert fig(hpd, "HPD rate, melanoma on anti-PD-1")["inside"]


@pytest.mark.slow
@pytest.mark.xfail(reason="no age gradient in the model: 17.7% at >= 65 vs 17.1% below with the Fc-macrophage mechanism (n=500, stop 55: "
                          "no age term in its susceptibility, a difference within the noise, so it may XPASS). Before the "
                          "mechanism (stop 54 and earlier) 10.2% vs 11.4% (calibration iteration 10; 10.7% vs 11.5% with 9, "
                          "12.3% vs 12.3% with 8, 10.3% vs 11.6% with 7, 8.2% vs 10.2% with 5), when every call came from "
                          "natural acceleration and measurement noise, so the age effect on PD-1+ Treg expansion could not show", strict=False)
def test_hpd_more_frequent_when_old(hpd: dict) -> None:
    assert fig(hpd, "HPD rate, age >= 65")["simulated"] > fig(hpd, "HPD rate, age < 65")["simulated"]


@pytest.mark.slow
@pytest.mark.xfail(reason="15.6% above the median baseline SLD vs 19.0% at or below with the Fc-macrophage mechanism (n=500, stop 55); "
                          "11.9% vs 9.8% without it (calibration iteration 10, inside; 12.4% vs 9.9% with 9, "
                          "12.8% vs 11.8% with 8, 10.8% vs 11.2% with 7, 9.7% vs 9.0% with 5): the sign flips between "
                          "iterations within the noise (SE about 2 points a group), so no gradient is claimed", strict=False)
def test_hpd_more_frequent_with_high_burden(hpd: dict) -> None:
    assert obs(hpd, "HPD rate, baseline SLD above median") > obs(hpd, "HPD rate, baseline SLD at or below median")


@pytest.mark.slow
@pytest.mark.xfail(reason="half of it holds since stop 55: with the Fc-macrophage mechanism (model.macrophages) 17.4% on "
                          "pembrolizumab against 16.5% in the same 500 patients untreated, but 57 of the 84 pembrolizumab calls "
                          "(68%) are also called untreated: most calls by Ferrara's definition are natural acceleration and "
                          "measurement noise of fast growers; the drug adds about a third. Without the mechanism (calibration "
                          "iteration 10) 14.8% untreated vs 10.8% on pembrolizumab, 96-100% also called untreated", strict=False)
def test_hpd_more_frequent_on_anti_pd1_than_in_the_same_patients_untreated(hpd: dict) -> None:
    # The phenomenon: immunotherapy itself sometimes makes cancer grow faster (Champiat 2017, Ferrara 2018)
    assert fig(hpd, "HPD rate, NSCLC on anti-PD-1")["simulated"] > obs(hpd, "HPD rate, the same patients untreated")
    assert obs(hpd, "share of anti-PD-1 HPD calls also called untreated") < 0.5


def test_hpd_untreated_comparison_has_the_same_patients() -> None:
    from immunotwin.scenarios.core import simulate_spec

    _, treated, _ = simulate_spec("hyperprogression", 12, visits=False)
    _, untreated, _ = simulate_spec("hyperprogression-untreated", 12, visits=False)
    for col in ("age", "sld0_mm", "n_met_sites", "pdl1_tps"):
        np.testing.assert_array_equal(treated[col].to_numpy(), untreated[col].to_numpy())
    assert set(untreated["arm"]) == {"no drug"} and set(treated["arm"]) == {"pembrolizumab"}


@pytest.mark.slow
def test_hpd_rarer_under_chemotherapy(hpd: dict) -> None:
    # Ferrara 2018: 13.8% on anti-PD-(L)1 against 5.1% on chemotherapy
    assert fig(hpd, "HPD rate, NSCLC on docetaxel")["simulated"] < fig(hpd, "HPD rate, NSCLC on anti-PD-1")["simulated"]


@pytest.mark.slow
@pytest.mark.parametrize("prefix", [
    # 1.7% (n=500 on docetaxel, calibration iteration 9, sensitivity refitted to 0.1539/day; 2.1% with 8) against
    # Ferrara's 5.1% (exact CI 1.1-14.1%); 0.9% with iteration 7 (outside), 1.7% with iteration 5
    "HPD rate, NSCLC on docetaxel",
    "docetaxel ORR",  # fitted: 10.6% (n=500, iteration 9; 10.8% with 8) against 9% (KEYNOTE-010)
    pytest.param("docetaxel median PFS", marks=pytest.mark.xfail(
        reason="4.14 months, inside, with calibration iterations 10 and 9 (n=500), 2.07 with 8 and 7, against 4.0 (band "
               "3.2-4.8): read at scans 9 weeks apart the step median is 2.07 or 4.14 months, and the KM curve "
               "sits near 50% at the first scan, so it flips with each refit of docetaxel's sensitivity",
        strict=False)),
    "docetaxel grade >=3 neutropenia"])
def test_docetaxel_figures_in_band(hpd: dict, prefix: str) -> None:
    # bands: exact 95% CI of Ferrara's 3/59 and KEYNOTE-010's 31/343; median PFS ±20%; neutropenia within 2x
    f = fig(hpd, prefix)
    assert f["fitted"] == (prefix == "docetaxel ORR")
    assert f["inside"], (prefix, f["simulated"], f["band"])


@pytest.fixture(scope="module")
def thymoma(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return _run(tmp_path_factory, "paraneoplastic-thymoma", 300)


@pytest.mark.slow
def test_thymoma_myasthenia_in_band(thymoma: dict) -> None:
    # Fitted figure: shared_antigen_antibody is set so that 40% have myasthenia (calibrate_cancers, seed 11);
    # this run's seed differs. The unfitted checks are the subtype gradient and the anti-PD-1 direction below.
    f = fig(thymoma, "myasthenia (neurologic")
    assert f["fitted"] and f["inside"]


@pytest.mark.slow
@pytest.mark.parametrize("subtype", [
    "A", "AB", "B2",  # 2.9%, 30.4% and 51.3% (n=35, 79, 78; calibration iteration 9) against 15%, 20% and 50% ±0.15
    *[pytest.param(st, marks=pytest.mark.xfail(
        reason="by WHO subtype (n=300, no drug, calibration iteration 9): B1 60% (band 25-55%), B3 26.4% (35-65%); 22.6% with 8, 69% and 24.5% with iteration 7: the "
               "subtype scales of the shared antigen are assumed (B3 0.6), not fitted", strict=False)) for st in ("B1", "B3")],
])
def test_thymoma_myasthenia_by_subtype_in_band(thymoma: dict, subtype: str) -> None:
    assert fig(thymoma, f"myasthenia by WHO subtype {subtype} ")["inside"]


@pytest.mark.slow
def test_thymoma_myasthenia_higher_in_b2_b3(thymoma: dict) -> None:
    assert obs(thymoma, "myasthenia, WHO B2/B3") > obs(thymoma, "myasthenia, WHO A/AB")


@pytest.mark.slow
# 54% with pembrolizumab against 37% without, same patients (n=300, calibration iteration 9; 57% against 37% with 8,
# 59% against 41% with 7; new or worse neurologic disease on follow-up 35% against 19%): the exported autoreactive T cells PD-1 blockade releases (cancers.py). Before
# they were modelled, 33% against 40%: shrinking the thymoma removed more shared-antigen drive than blockade added.
def test_thymoma_anti_pd1_makes_myasthenia_more_frequent(thymoma: dict) -> None:
    assert obs(thymoma, "myasthenia (grade >=2, any visit): pembrolizumab") > \
        obs(thymoma, "myasthenia (grade >=2, any visit): no drug")


@pytest.fixture(scope="module")
def leukemia(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return _run(tmp_path_factory, "leukemia-evasion", 120)


@pytest.mark.slow
def test_leukemia_escapes_without_treatment(leukemia: dict) -> None:
    for label in ("CLL", "AML"):
        assert obs(leukemia, f"{label}: best response CR/PR without treatment") <= 0.05
    assert obs(leukemia, "AML: progressed by 12 months") > obs(leukemia, "CLL: progressed by 12 months")


@pytest.mark.slow
def test_leukaemia_crowds_out_neutrophils_acute_more_than_chronic(leukemia: dict) -> None:
    # Marrow crowding (model.marrow; the marrow shares and capacity assumed, no published rate compared): untreated
    # AML, all of it in the marrow and fast, leaves more patients with grade >= 3 neutropenia than untreated CLL over
    # the same follow-up (stop 64: 40% of 60 against 6.7% of 120; 34% of 150 against 8% of 300); solid tumours have
    # none (test_model).
    aml = obs(leukemia, "AML: neutropenia grade >=3 without treatment")
    cll = obs(leukemia, "CLL: neutropenia grade >=3 without treatment")
    assert aml > cll > 0.0


@pytest.mark.slow
def test_leukemia_autoimmune_cytopenia_in_band(leukemia: dict) -> None:
    # Fitted figure: the antigen CLL shares with blood cells (catalogue cross-reactivity, hematologic) is set so that
    # 7% of untreated patients have an autoimmune cytopenia (calibrate_cancers --cross cll, 300 patients, seed 11:
    # 96.4 (84.2 before shared_antigen_antibody was refitted); the hand-set 0.5 gave 0%, because the shared antigen is scaled by CLL's low immunogenicity). Here another
    # seed and size (n=120): 7.5%, band 5-10% (Hodgson 2011).
    f = fig(leukemia, "CLL: autoimmune cytopenia")
    assert f["fitted"] and f["inside"], f


@pytest.mark.slow
def test_fludarabine_in_cll_responds_and_suppresses_the_marrow(leukemia: dict) -> None:
    # Unfitted: fludarabine's PK (Knebel 1998) and its assumed marrow EC50, with docetaxel's fitted tumour kill per unit
    # effect. ORR against first-line fludarabine, 72% (Eichhorst 2009) and 71% (Leporrier 2001), band ±10 points:
    # 63.3% at n=120 (67.3% at 300, stop 64); untreated, none responds (above).
    f = fig(leukemia, "CLL after fludarabine: ORR")
    assert not f["fitted"] and f["inside"], f
    # more than the same patients untreated, whose neutropenia is the marrow crowding's alone: 46.7% against 6.7% at
    # n=120
    assert obs(leukemia, "CLL after fludarabine: neutropenia grade >=3") > \
        obs(leukemia, "CLL: neutropenia grade >=3 without treatment") + 0.2
    # the Treg loss, at its assumed size, does not release other organs (fludarabine's label warns of autoimmune
    # cytopenias, not of organ irAEs): 0.8% at n=120
    assert obs(leukemia, "CLL after fludarabine: irAE of grade >=2 in another organ") < 0.05


@pytest.mark.slow
@pytest.mark.xfail(reason="autoimmune cytopenia after fludarabine 6.7% at n=120 (4.7% at 300), against LRF CLL4's 11% (band "
                          "7-16%), and no more frequent than in the same patients untreated (difference 0.0 at 120, -0.010 "
                          "at 300): the Treg loss (model.tregs, treg_chemo_depletion, assumed) is offset by the shared "
                          "antigen that killing the CLL removes; at 14 times the assumed loss (stop 64 probe, n=300) it "
                          "reads 6.3% against 5.7%, while irAEs of grade >= 2 in other organs reach 39% (thyroid and "
                          "pituitary first), as the model's "
                          "tolerance has no organ-specific dependence on Tregs. Leporrier 2001 saw under 2% during six "
                          "courses, alike after fludarabine and anthracycline regimens", strict=False)
def test_autoimmune_cytopenia_rises_after_fludarabine(leukemia: dict) -> None:
    assert fig(leukemia, "CLL after fludarabine: autoimmune cytopenia")["inside"]
    assert obs(leukemia, "CLL: autoimmune cytopenia after fludarabine minus untreated") > 0


def test_fitted_shared_antigen_reaches_the_catalogue() -> None:
    import json
    from importlib import resources

    from immunotwin.cancers import CANCERS

    fit = json.loads(resources.files("immunotwin.data").joinpath("cancer_fit.json").read_text())["cross"]["cll"]
    assert CANCERS["cll"].cross["hematologic"] == pytest.approx(fit["value"])
    assert CANCERS["cll"].cross_vector()[IRAES.index("hematologic")] == pytest.approx(fit["value"])
    assert "Antigen shared with hematologic fitted" in CANCERS["cll"].source


@pytest.fixture(scope="module")
def vitiligo(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return _run(tmp_path_factory, "melanoma-vitiligo", 600)  # the spec's own size: at 300 the HR fell below 1 by chance


@pytest.mark.slow
@pytest.mark.xfail(reason="rash (the skin's autoreactive pool; vitiligo, modelled apart since stop 35, carries the link: "
                          "test_vitiligo_marks_responders_and_survivors): 1.21 at 600 with calibration iteration 11 "
                          "(stops 29 and 35); the direction is not in the model: 1.04 at the scenario's 600 patients with calibration "
                          "iteration 10 (skin irAEs now mostly mild), 1.04 in CheckMate 067's nivolumab arm at 1,000; with 9, 1.23 here and 1.20 in CheckMate "
                          "067's nivolumab arm at 1,000 (immunotwin validate; stop 21); 0.967 at 300 was chance. Skin "
                          "irAEs still mark patients who discontinue for toxicity (29.5% against 5.7%: the propensity is "
                          "shared between organs), and they do not mark better responders (ORR 44.3% against 43.3%; "
                          "docs/phenomena.md, item 1)", strict=True)
def test_vitiligo_skin_irae_goes_with_survival(vitiligo: dict) -> None:
    hr = fig(vitiligo, "12-week landmark OS hazard ratio, skin irAE")
    assert hr["simulated"] < 1.0


@pytest.mark.slow
def test_vitiligo_skin_irae_patients_discontinue_more(vitiligo: dict) -> None:
    """Patients with a skin irAE by week 12 discontinue for toxicity more often than those without (29.5% against 5.7%
    at 600, calibration iteration 10; 25% against 4.6% with 9): the autoimmune propensity is shared between organs, so
    one irAE marks a patient prone to others.
    It is one reason the landmark hazard ratio is above 1 here (docs/phenomena.md, item 1)."""
    assert obs(vitiligo, "discontinued for toxicity, with skin") > 2 * obs(vitiligo, "discontinued for toxicity, without")


@pytest.mark.slow
@pytest.mark.xfail(reason="1.21 (n=600, calibration iteration 11, stops 29 and 35); 1.04 (n=600, calibration iteration 10; 1.23 with 9 at 600, stop 21; 0.967 at 300 with calibration iteration 9, 0.974 with 8) against "
                          "Freeman-Keller's 0.423 (band 0.2-0.9): the irAE-survival link is absent (the discontinuations "
                          "that come with skin irAEs; no shared factor of immune responsiveness)", strict=False)
def test_vitiligo_hr_in_band(vitiligo: dict) -> None:
    assert fig(vitiligo, "12-week landmark OS hazard ratio, skin irAE")["inside"]


@pytest.mark.slow
@pytest.mark.xfail(reason="any-grade irAE 54.0% with vitiligo counted (n=600, stop 35; 35.7% without it, iteration 11); 38.8% (n=600, calibration iteration 10; 37% with 9, stop 21; 41% at 300 with calibration iteration 9, 43% with 7 and "
                          "8, 33% with iteration 5) vs Freeman-Keller 68.2% (exact CI 60-76%)",
                   strict=False)
def test_vitiligo_any_irae_in_band(vitiligo: dict) -> None:
    assert fig(vitiligo, "any-grade irAE")["inside"]


@pytest.mark.slow
def test_vitiligo_marks_responders_and_survivors(vitiligo: dict) -> None:
    """Vitiligo is melanocytes killed by the tumour-primed T cells (model.tolerance): the patients who show it
    respond more often (Hua 2016: 71% against 28%) and live longer from the 12-week landmark (Freeman-Keller 2016:
    HR 0.184). Only its frequency is fitted; both links are checked for direction and against the published bands."""
    with_v, without_v = fig(vitiligo, "ORR, patients with vitiligo"), fig(vitiligo, "ORR, patients without vitiligo")
    assert with_v["simulated"] > without_v["simulated"] + 0.2
    assert with_v["inside"] and without_v["inside"]
    hr = fig(vitiligo, "12-week landmark OS hazard ratio, vitiligo")
    assert hr["simulated"] < 1.0 and hr["ci95"][1] < 1.0 and hr["inside"]


@pytest.mark.slow
def test_vitiligo_incidence_fitted(vitiligo: dict) -> None:
    """The fitted frequency (300 patients, seed 11 in the fit) holds at the scenario's own 600 patients and seed."""
    f = fig(vitiligo, "vitiligo by 441 days")
    assert f["fitted"] and f["inside"]


@pytest.mark.slow
@pytest.mark.xfail(reason="median onset 70 days at 600 (stop 35; Hua 2016: 126 days, band 63-252): inside at the "
                          "band's lower edge, so it XPASSes; the rise in killing comes in the first weeks of treatment, "
                          "and a larger sample or another seed can fall below 63", strict=False)
def test_vitiligo_onset_in_band(vitiligo: dict) -> None:
    assert fig(vitiligo, "vitiligo: median onset")["inside"]


# ------------------------------------------------------------------------------------------
# cancers-compared, prior-chemotherapy, steroids-and-efficacy: fast checks


def test_thyroid_under_pd1_reads_replacement_order_and_survival() -> None:
    # Oracle by hand, in blocks of 100 patients: 20 started on thyroid hormone (hypothyroidism grade 2), 15 of them
    # after a thyrotoxic phase (thyroid irAE seen at week 3, hypothyroidism at week 8) and 5 straight to
    # hypothyroidism (both at week 6); 10 more with a thyrotoxic phase only (never hypothyroid), which is not
    # counted. Survival exponential, the hormone group's hazard half the others' (HR 0.5).
    from immunotwin.scenarios.compare import thyroid_under_pd1

    rng = np.random.default_rng(3)
    block = pd.DataFrame({"status": "ok", "hypothyroidism_grade": [2] * 20 + [0] * 80,
                          "irae_thyroiditis_onset_weeks": [3.0] * 15 + [6.0] * 5 + [4.0] * 10 + [np.nan] * 70,
                          "hypothyroidism_onset_weeks": [8.0] * 15 + [6.0] * 5 + [np.nan] * 80})
    p = pd.concat([block] * 100, ignore_index=True)
    hormone = p["hypothyroidism_grade"] >= 2
    p["os_months"] = np.where(hormone, rng.exponential(24.0, len(p)), rng.exponential(12.0, len(p)))
    p["os_event"] = True
    figs, obs = thyroid_under_pd1(p, seed=1)
    by = {f.name.split(": ", 1)[1].split(" (")[0]: f for f in figs}
    assert by["thyroid hormone started"].simulated == pytest.approx(0.20)
    assert by["thyroid hormone started"].inside and not by["thyroid hormone started"].fitted  # 10/48: 0.105-0.350
    assert by["thyrotoxic phase before hypothyroidism"].simulated == pytest.approx(0.75)
    assert by["OS hazard ratio, thyroid hormone started vs not"].simulated == pytest.approx(0.5, rel=0.1)
    assert obs[0]["value"] == pytest.approx(3 * 7)  # median first reading among the hormone group: week 3


def test_pdl1_score_keeps_positive_fraction_and_follows_immunogenicity() -> None:
    from scipy.stats import spearmanr

    from immunotwin.cancers import CANCERS
    from immunotwin.population import PDL1_IMMUNE_CORRELATION, pdl1_tps

    rng = np.random.default_rng(5)
    n = 20000
    u, z = rng.random(n), rng.standard_normal(n)
    c = CANCERS["nsclc"]
    tps = pdl1_tps(c, c.pdl1_positive, u, z)
    se = np.sqrt(0.25 / n)
    assert abs((tps >= c.pdl1_cutoff).mean() - c.pdl1_positive) < 4 * se  # marginal kept
    assert abs((tps < 0.01).mean() - c.pdl1_lt1) < 4 * se
    assert tps.min() >= 0.0 and tps.max() <= 1.0
    # Gaussian copula: Spearman rho of the latent = (6/pi) asin(rho/2); the score is a monotone map of it
    expected = 6 / np.pi * np.arcsin(PDL1_IMMUNE_CORRELATION / 2)
    assert spearmanr(tps, z).statistic == pytest.approx(expected, abs=0.03)
    # with the immunogenicity draw held at 0 the score is a monotone function of the uniform draw
    assert spearmanr(pdl1_tps(c, c.pdl1_positive, u, np.zeros(n)), u).statistic > 0.99


def test_steroid_dose_scale_in_spec_and_policy() -> None:
    from immunotwin.clinic.policy import Management, manage
    from immunotwin.model.organs import INDEX
    from immunotwin.scenarios.core import spec_text
    from immunotwin.spec import SpecError, parse_spec

    half = parse_spec(spec_text("steroids-and-efficacy-half"))
    full = parse_spec(spec_text("steroids-and-efficacy"))
    assert half.management.steroid_dose_scale == 0.5 and full.management.steroid_dose_scale == 1.0
    assert half.seed == full.seed and half.population == full.population and half.arms == full.arms
    bad = spec_text("steroids-and-efficacy").replace("treat_beyond_progression = false",
                                                     "treat_beyond_progression = false\nsteroid_dose_scale = -1")
    with pytest.raises(SpecError, match="management.steroid_dose_scale"):
        parse_spec(bad)
    grade = np.zeros((2, 12))
    grade[:, INDEX["colitis"]] = 3  # ASCO 2021: 1.5 mg/kg/day
    doses = []
    for scale in (1.0, 0.5):
        m = Management(2)
        manage(m, grade, np.array([80.0, 60.0]), 7.0, np.ones(2, bool), "asco2021", np.zeros(2, np.int8),
               steroid_scale=scale)
        doses.append(m.steroid_mg.copy())
        assert np.array_equal(m.steroid_max, m.steroid_mg)
    assert np.allclose(doses[0], [120.0, 90.0]) and np.allclose(doses[1], 0.5 * doses[0])


def test_prior_chemotherapy_specs_are_twins() -> None:
    from immunotwin.population import sample_cohort
    from immunotwin.scenarios.core import spec_text
    from immunotwin.spec import parse_spec

    a, b = (parse_spec(spec_text(f"prior-chemotherapy-{k}")) for k in ("naive", "pretreated"))
    assert a.seed == b.seed and a.arms == b.arms
    ca = sample_cohort("nsclc", a.population.overrides, a.seed, 1, range(50), 4)
    cb = sample_cohort("nsclc", b.population.overrides, b.seed, 1, range(50), 4)
    assert not ca.covariates["prior_chemo"].any() and cb.covariates["prior_chemo"].all()
    pd.testing.assert_frame_equal(ca.covariates.drop(columns="prior_chemo"), cb.covariates.drop(columns="prior_chemo"))
    assert np.array_equal(ca.params["immunogenicity"], cb.params["immunogenicity"])
    assert np.all(cb.params["prime_rate"] < ca.params["prime_rate"])


def test_post_irae_set_times_and_early_high_dose_flag() -> None:
    from immunotwin.model.organs import IRAES
    from immunotwin.scenarios.compare import post_irae_set

    rows = []
    # onset (weeks), steroid start (weeks), steroid max (mg), pfs months
    for onset, start, mx, pfs in [(4.0, 5.0, 80.0, 12.0), (4.0, 5.0, 40.0, 12.0), (12.0, 12.0, 80.0, 12.0),
                                  (4.0, np.nan, 0.0, 12.0), (np.nan, np.nan, 0.0, 12.0), (20.0, 20.0, 80.0, 2.0)]:
        r = {f"irae_{k}_onset_weeks": np.nan for k in IRAES}
        r.update({"irae_colitis_onset_weeks": onset, "irae_dermatitis_onset_weeks": onset + 2 if onset == onset else
                  np.nan, "steroid_start_weeks": start, "steroid_max_mg": mx, "pfs_months": pfs, "os_months": 20.0,
                  "pfs_event": True, "os_event": True, "status": "ok"})
        rows.append(r)
    d = post_irae_set(pd.DataFrame(rows))
    assert len(d) == 4  # no irAE, and irAE after progression, are left out
    assert d["early_high"].tolist() == [True, False, False, False]
    assert d["pfs_post"].iloc[0] == pytest.approx(12.0 - 4 * 7 / 30.4375)


def test_rank_agreement() -> None:
    from immunotwin.scenarios.compare import rank_agreement

    assert rank_agreement({"a": 0.1, "b": 0.5, "c": 0.3}, {"a": 0.2, "b": 0.7, "c": 0.4}) == pytest.approx(1.0)
    assert rank_agreement({"a": 0.5, "b": 0.1}, {"a": 0.2, "b": 0.7}) == pytest.approx(-1.0)


# ------------------------------------------------------------------------------------------
# slow: cancers-compared, prior-chemotherapy, steroids-and-efficacy


@pytest.fixture(scope="module")
def cancers(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return _run(tmp_path_factory, "cancers-compared", 200)


@pytest.mark.slow
@pytest.mark.parametrize("prefix", [
    "ORR, melanoma (", "ORR, NSCLC (", "ORR, renal", "ORR, MSI-high",
    # Hodgkin: read on viable tumour since stop 32, as KEYNOTE-087's PET-based criteria read it; the fit reaches 0.69
    # (immunogenicity 9.17; read by CT it needed 24.6, near the bracket's top, and with a wider spread of the residue's
    # clearance, probed in stop 32, CT response plateaued at 0.54, as with iteration 10 and before: 0.47-0.55).
    "ORR, Hodgkin"])
def test_cancers_fitted_orrs(cancers: dict, prefix: str) -> None:
    # The per-cancer ORR set that cancer's immunogenicity (calibrate_cancers, other seed, 600 patients): it is
    # marked fitted, and here (another seed, 200-400 patients) its 95% bootstrap CI must meet the exact 95% CI
    # of the trial's count: agreement within the sampling error of both.
    f = fig(cancers, prefix)
    assert f["fitted"], prefix
    assert f["ci95"][0] <= f["band"][1] and f["ci95"][1] >= f["band"][0], (prefix, f["simulated"], f["band"])


@pytest.mark.slow
def test_cancers_nsclc_response_rises_with_pdl1(cancers: dict) -> None:
    # unfitted: one NSCLC immunogenicity serves every stratum. Melanoma's strata are CheckMate 067's PD-L1 subgroups,
    # calibration targets since iteration 9: marked fitted.
    hi, mid, lo = (fig(cancers, f"ORR, NSCLC PD-L1 {k}")["simulated"] for k in (">= 50%", "1-49%", "< 1%"))
    assert hi > mid > lo
    assert not any(f["fitted"] for f in cancers["figures"] if f["name"].startswith("ORR, NSCLC PD-L1"))
    assert all(f["fitted"] for f in cancers["figures"] if f["name"].startswith("ORR, melanoma PD-L1"))


@pytest.mark.slow
@pytest.mark.xfail(reason="47.9% (PD-L1 >= 5%, n=48) vs 47.4% (< 5%, n=152) at n=200 with calibration iteration 10, "
                          "43.8% vs 46.7% with 9 (37.5% vs 42.1% with 8, 44% vs 49% with 7) against Larkin 2015's 57.5% vs 41.3%. Iteration 9 "
                          "fits those subgroups in CheckMate 067's population, where the reweighted fit reads 55.7% vs "
                          "41.6% and the 1,000-per-arm trial 46.1% vs 41.9%: at 48 patients the stratum is too small to "
                          "show a gradient of that size reliably", strict=False)
def test_cancers_melanoma_response_rises_with_pdl1(cancers: dict) -> None:
    assert fig(cancers, "ORR, melanoma PD-L1 >= 5%")["simulated"] > fig(cancers, "ORR, melanoma PD-L1 < 5%")["simulated"]


@pytest.mark.slow
@pytest.mark.parametrize("prefix", [
    pytest.param("ORR, NSCLC PD-L1 >= 50%", marks=pytest.mark.xfail(
        reason="0.27 (n=115, stop 28; 0.261 with calibration iteration 10 before it; 0.243 with 8 and 9; 0.235 with iteration 7, 0.27 with iteration 5) vs Garon 2015 0.452 "
               "(exact CI 0.34-0.57): the PD-L1 gradient is "
               "too shallow", strict=False)),
    "ORR, NSCLC PD-L1 1-49%", "ORR, NSCLC PD-L1 < 1%",
    pytest.param("ORR, melanoma PD-L1 >= 5%", marks=pytest.mark.xfail(
        reason="0.479 (n=48, stop 28, inside, near the band's low end; 0.438 at stop 27, 0.375 with iteration 8, 0.44 with 7) "
               "against the exact CI 0.46-0.69 of "
               "Larkin's 57.5% (fitted in CheckMate 067's population since iteration 9; see the gradient test)",
        strict=False)),
    pytest.param("ORR, melanoma PD-L1 < 5%", marks=pytest.mark.xfail(
        reason="0.480 (n=152, calibration iteration 11, stop 29: inside at the band's top, so it XPASSes); 0.493 (n=152, stop 28: a new lesion counts only while visible, calibration iteration 10 not redone; "
               "0.467 before, at stop 27; 0.421 with iteration 8, 0.49 with 7) against the exact CI 0.35-0.48 of Larkin's 41.3%; fitted in "
               "CheckMate 067's population, where it reads 0.433 (inside) at 1,000 per arm", strict=False))])
def test_cancers_pdl1_strata_in_band(cancers: dict, prefix: str) -> None:
    # bands: exact 95% CI of the published counts (Garon 2015; Larkin 2015)
    assert fig(cancers, prefix)["inside"]


@pytest.mark.slow
def test_cancers_thyroid_under_pd1(cancers: dict) -> None:
    # Osorio 2017 (thyroid function tested at every visit, like the model's clinic): thyroid hormone in 10 of 48,
    # band the exact 95% CI; unfitted. Survival is longer with thyroid dysfunction (HR 0.29 without a landmark, CI
    # 0.09-0.94): the model's HR (no landmark either) must lie in that CI. Measured at this fixture's 400 NSCLC
    # patients: 0.168 and HR 0.84 (its own CI 0.57-1.23); at 600: 0.163 and 0.81.
    f = fig(cancers, "NSCLC, pembrolizumab: thyroid hormone started")
    assert f["inside"] and not f["fitted"], f["simulated"]


@pytest.mark.slow
@pytest.mark.xfail(reason="HR 1.21 at this fixture (stop 47, thyroxine read from serum), 1.09 at 600; 1.39 (400 NSCLC "
                          "patients, calibration iteration 13, stop 42; 1.37, CI 0.92-2.03, with 12) "
                          "against Osorio's 0.29 (CI 0.09-0.94); 0.92 with iteration 11 and 0.84 before (inside): in the "
                          "model thyroid dysfunction does not mark better survival, and the sign moves with each refit",
                   strict=False)
def test_cancers_thyroid_dysfunction_goes_with_longer_survival(cancers: dict) -> None:
    # Osorio 2017: OS HR 0.29 (CI 0.09-0.94) without a landmark, patients who started thyroid hormone against the rest
    hr = fig(cancers, "NSCLC, pembrolizumab: OS hazard ratio")
    assert hr["inside"] and not hr["fitted"], hr["simulated"]


@pytest.mark.slow
@pytest.mark.xfail(strict=False, reason="0.882 against 6 of 10 (exact CI to 0.878) since stop 69, which halved NSCLC's pneumonitis (fewer "
                   "stop pembrolizumab early; not probed further), and the thyroid's destruction runs fast enough in most to "
                   "release a thyrotoxic phase first")
def test_cancers_thyroid_thyrotoxic_first_share(cancers: dict) -> None:
    """Osorio's 6 of 10 (exact CI 0.26-0.88) started on thyroid hormone after a thyrotoxic phase. Since stop 47 the
    clinic reads the thyrotoxic phase from serum thyroxine (model.tolerance: the colloid of follicles being destroyed,
    60 days of secretion each, T4 half-life 7 days), so a slow destruction goes straight to hypothyroidism: 0.779 at
    this fixture, 0.768 at the scenario's 600; with the store at 40 or 90 days, 0.515 or 0.86 (600 patients).
    Before, graded from any active damage above 5%, it read 0.955 (xfail). The slow suite's fixture read 0.871 at stop
    65, at the band's edge, and 0.882 since stop 69's lung (outside)."""
    assert fig(cancers, "NSCLC, pembrolizumab: thyrotoxic phase before hypothyroidism")["inside"]


@pytest.fixture(scope="module")
def prior_chemo(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return _run(tmp_path_factory, "prior-chemotherapy", 300)


@pytest.mark.slow
def test_prior_chemotherapy_lowers_response(prior_chemo: dict) -> None:
    naive = fig(prior_chemo, "ORR, treatment-naive")["simulated"]
    pre = fig(prior_chemo, "ORR, after chemotherapy")["simulated"]
    assert pre < naive  # same virtual patients: the direction is causal
    assert fig(prior_chemo, "ORR ratio")["inside"]  # band: published ratio 0.73 +- 0.25


@pytest.mark.slow
@pytest.mark.parametrize("prefix", [
    "ORR, treatment-naive",  # 0.197 (n=300, calibration iteration 11); 0.22 with iteration 9
    pytest.param("ORR, after chemotherapy", marks=pytest.mark.xfail(
        reason="0.167 (n=300, stop 55, NSCLC's immunogenicity fitted on 2,000 patients: inside; 0.143 at stop 54) and "
               "0.140 (calibration iteration 11, stop 29) against Garon 2015's 0.18 (exact CI 0.144-0.222), just "
               "below; 0.16 with iteration 9. NSCLC's immunogenicity was refitted to 0.203 (0.218) and the same virtual "
               "patients respond 0.197 untreated by chemotherapy: the ratio, 0.71 against 0.73, is inside", strict=False)),
])
def test_prior_chemotherapy_orr_in_band(prior_chemo: dict, prefix: str) -> None:
    assert fig(prior_chemo, prefix)["inside"]  # exact 95% CI of Garon 2015's counts


@pytest.fixture(scope="module")
def steroids(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return _run(tmp_path_factory, "steroids-and-efficacy", 600)


@pytest.mark.slow
def test_steroids_confounded_by_severity(steroids: dict) -> None:
    # the observational comparison is confounded: early high-dose patients have more severe irAEs
    assert obs(steroids, "grade >=3 irAE: early high-dose group") > obs(steroids, "grade >=3 irAE: other irAE")


@pytest.mark.slow
def test_half_steroid_doses_leave_more_irae_refractory(steroids: dict) -> None:
    # same patients: weaker immunosuppression resolves fewer irAEs on first-line steroids
    assert obs(steroids, "steroid-refractory (second line), half doses") > \
        obs(steroids, "steroid-refractory (second line), guideline doses")


@pytest.mark.slow
@pytest.mark.parametrize("prefix", [
    "post-irAE PFS hazard ratio",  # 1.26 (n=600, calibration iteration 9; 1.36 with 8, 1.40 with 7) against Bai's CI 1.04-2.76
    "post-irAE OS hazard ratio",  # 1.39 (bootstrap CI 0.85-2.27) against Bai's CI 1.15-3.39 (1.10 with iteration 5)
])
def test_steroids_post_irae_hr_in_band(steroids: dict, prefix: str) -> None:
    assert fig(steroids, prefix)["inside"]  # band: Bai 2021's 95% CI


def test_measured_table_reads_summaries(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from immunotwin.scenarios.table import collect, main, markdown

    def put(folder: str, name: str, figs: list[dict]) -> None:
        d = tmp_path / folder
        d.mkdir()
        (d / "summary.json").write_text(json.dumps({"scenario": name, "figures": figs}))

    fig_a = {"name": "ORR", "simulated": 0.412, "published": 0.437, "band": [0.381, 0.493], "inside": True,
             "fitted": True}
    fig_b = {"name": "CR", "simulated": 0.0029, "published": 0.02, "band": [0.01, 0.03], "inside": False,
             "fitted": False}
    fig_c = {"name": "HR", "simulated": 0.9, "published": 0.42, "band": [0.2, 0.9], "inside": True, "fitted": False}
    put("b", "zeta", [fig_c])
    put("a", "alpha", [fig_a, fig_b])
    put("c", "alpha", [fig_c])  # a second run of the same scenario: the first in path order counts
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "summary.json").write_text("{not json")
    text = markdown(collect(tmp_path))
    lines = text.splitlines()
    assert lines[0] == "2 of 3 figures are inside their bands; of the 2 unfitted ones, 1."
    assert lines[4] == "| alpha | ORR | 0.412 | 0.437 | 0.381–0.493 | yes | fitted |"
    assert lines[5] == "| alpha | CR | 0.0029 | 0.02 | 0.01–0.03 | no |  |"
    assert lines[6].startswith("| zeta | HR | 0.9 |") and len(lines) == 7
    assert main([str(tmp_path / "missing")]) == 2
    (tmp_path / "empty").mkdir()
    assert main([str(tmp_path / "empty")]) == 2


def test_measured_table_frame_and_figure(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The scenario figures as validation-shaped rows: group the scenario, lo-hi the simulated value's CI, the band
    as the criterion; ``--figure`` writes a PNG of them (a missing folder for it: exit 2)."""
    import math

    from immunotwin.scenarios.table import frame, main

    d = tmp_path / "s"
    d.mkdir()
    figs = [{"name": "ORR", "simulated": 0.412, "ci95": [0.38, 0.44], "published": 0.437, "band": [0.381, 0.493],
             "inside": True, "fitted": True, "source": "x"},
            {"name": "order", "simulated": 0.1, "ci95": None, "published": None, "band": None, "inside": False,
             "fitted": False}]
    (d / "summary.json").write_text(json.dumps({"scenario": "alpha", "figures": figs}))
    df = frame([json.loads((d / "summary.json").read_text())])
    assert df.loc[0, ["group", "lo", "hi", "criterion", "fitted"]].tolist() == ["alpha", 0.38, 0.44,
                                                                                 "band 0.381–0.493", True]
    assert math.isnan(df.loc[1, "published"]) and math.isnan(df.loc[1, "lo"])
    assert df.loc[0, ["band_lo", "band_hi"]].tolist() == [0.381, 0.493]
    from immunotwin.report.validation_figure import validation_figure

    ax = validation_figure(df).axes[0]
    (band,) = [ln for ln in ax.get_lines() if ln.get_gid() == "band|0"]
    assert tuple(band.get_xdata()) == pytest.approx((0.381 / 0.437, 0.493 / 0.437))
    assert "light blue" in ax.get_xlabel()
    assert main([str(tmp_path), "--figure", str(tmp_path / "f.png")]) == 0
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"
    assert main([str(tmp_path), "--figure", str(tmp_path / "no" / "f.png")]) == 2
