"""The cancer- and drug-level fits' helpers: one organ's element of a per-organ parameter, and the severity and incidence
metrics."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from immunotwin import calibrate_cancers as cc
from immunotwin.calibrate_cancers import (
    METRICS,
    PARAM_ARMS,
    PARAM_TARGETS,
    WEIGHTS_OPT_IN,
    organ_incidence,
    organ_severity,
    with_value,
)
from immunotwin.model import core
from immunotwin.model.organs import INDEX


def test_with_value_replaces_one_organ_only() -> None:
    before = core.PARAM_INDEX["damage_rate"].value
    after = {p.name: p for p in with_value(core.PARAMS, "damage_rate.colitis", 0.0123)}["damage_rate"].value
    assert after[INDEX["colitis"]] == 0.0123
    keep = np.arange(len(before)) != INDEX["colitis"]
    assert np.array_equal(after[keep], before[keep])
    # a scalar parameter takes the plain name
    assert {p.name: p for p in with_value(core.PARAMS, "nk_kill", 0.5)}["nk_kill"].value == 0.5


@pytest.mark.parametrize("key, message", [("damage_rate.spleen", "unknown organ"), ("nk_kill.colitis", "not a per-organ"),
                                          ("no_such_thing", "no parameter")])
def test_with_value_names_the_bad_key(key: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        with_value(core.PARAMS, key, 1.0)


def test_organ_severity_by_hand() -> None:
    # 5 patients ran with a skin irAE (grades 1, 2, 3, 4, 1), 2 ran without, 1 failed with grade 4: severity 2/5.
    p = pd.DataFrame({"status": ["ok"] * 7 + ["failed"], "irae_dermatitis_grade": [1, 2, 3, 4, 1, 0, np.nan, 4]})
    assert organ_severity(p, "dermatitis") == pytest.approx(0.4)
    assert METRICS["severity.dermatitis"](p) == pytest.approx(0.4)
    assert np.isnan(organ_severity(p.assign(irae_dermatitis_grade=0), "dermatitis"))


def test_organ_incidence_by_hand() -> None:
    # 7 patients ran (grades 1, 2, 3, 0, 0, 0, missing = none), 1 failed: any grade 3/7, grade >= 2 2/7.
    p = pd.DataFrame({"status": ["ok"] * 7 + ["failed"], "irae_thyroiditis_grade": [1, 2, 3, 0, 0, 0, np.nan, 4]})
    assert organ_incidence(p, "thyroiditis") == pytest.approx(3 / 7)
    assert METRICS["incidence.thyroiditis"](p) == pytest.approx(3 / 7)
    assert METRICS["grade2.thyroiditis"](p) == pytest.approx(2 / 7)
    # thyroid hormone started reads hypothyroidism alone: the thyroid's grade 2 or 3 above may be a thyrotoxic phase
    p["hypothyroidism_grade"] = [0, 0, 2, 0, 0, 0, np.nan, 2]
    assert METRICS["hypothyroid_replacement"](p) == pytest.approx(1 / 7)


def test_checkpoint_weight_targets_are_outside_checkmate067() -> None:
    # Each organ's checkpoint weight is fitted to that organ's incidence under the one checkpoint it names, in a trial
    # other than CheckMate 067 (whose organ rows stay validation figures), and before the damage rates.
    from immunotwin.reference import load

    ref = load("scenario_refs")["checkpoint_organ_incidence"]
    keys = [k for k in PARAM_TARGETS if k.startswith("weight_")
            and k not in ("weight_ctla4.myocarditis", "weight_ctla4.hypophysitis")]  # the heart and pituitary: below
    assert keys and max(map(list(PARAM_TARGETS).index, keys)) < min(
        list(PARAM_TARGETS).index(k) for k in PARAM_TARGETS if k.startswith("damage_rate."))
    for key in keys:
        spec, file, path, metric, _ = PARAM_TARGETS[key]
        name, _, organ = key.partition(".")
        assert file == "scenario_refs" and path[0] == "checkpoint_organ_incidence"
        entry = ref[path[1]]
        # the thyroid's figure is thyroid hormone started (hypothyroidism of grade >= 2, not the thyrotoxic phase); a
        # table of treatment-related events is read with the reports without an immune cause, one of immune-related
        # events without them
        expected = ("hypothyroid_replacement" if organ == "thyroiditis" else
                    f"reported.{organ}" if entry.get("counts") == "treatment-related" else f"incidence.{organ}")
        assert metric == expected
        assert "067" not in entry["source"] and "Larkin" not in entry["source"]
        assert 0 < entry[path[2]] < 1
        # CTLA-4 weights are read on ipilimumab arms only, PD-1 weights on anti-PD-1 specs without ipilimumab
        if name == "weight_ctla4":
            assert spec == "cancer-vaccine" and set(PARAM_ARMS[key]) == {"ipilimumab", "ipilimumab + gp100"}
        else:
            assert spec in ("melanoma-vitiligo", "cancers-compared-nsclc") and key not in PARAM_ARMS
    # the weights are fitted only when named (stop 24's fit was not installed: calibrate_cancers.WEIGHTS_OPT_IN)
    # the MAPK parameters read one arm together and are fitted by immunotwin.calibrate_joint (JOINT)
    from immunotwin.calibrate_cancers import JOINT, parser

    default = parser().parse_args([]).params.split(",")
    assert tuple(keys) == WEIGHTS_OPT_IN
    from immunotwin.calibrate_cancers import ORGAN_OPT_IN

    assert not set(default) & (set(keys) | set(JOINT) | set(ORGAN_OPT_IN))
    assert set(default) | set(keys) | set(JOINT) | set(ORGAN_OPT_IN) == set(PARAM_TARGETS)
    assert default == [k for k in PARAM_TARGETS if k not in keys and k not in JOINT and k not in ORGAN_OPT_IN]
    # MDX010-20's gut target pools the two ipilimumab arms of Hodi's Table 3
    arms = load("scenario_refs")["ipilimumab_organ_severity"]["mdx010_20_arms"]
    k = sum(arms[a]["colitis"][0] for a in ("ipilimumab", "ipilimumab + gp100"))
    n = sum(arms[a]["n"] for a in ("ipilimumab", "ipilimumab + gp100"))
    assert ref["ipilimumab_mdx010_20"]["colitis_k"] == k and ref["ipilimumab_mdx010_20"]["n"] == n
    assert ref["ipilimumab_mdx010_20"]["colitis"] == pytest.approx(k / n, abs=1e-4)


def test_heart_is_fitted_to_one_claims_cohort_monotherapy_first() -> None:
    # The heart's margin is fitted to myocarditis on a single checkpoint inhibitor (read on the anti-PD-1 arm, which
    # does not see the CTLA-4 weight) and then its CTLA-4 weight to the combination's, both on the spec that follows
    # the claims cohort for its mean follow-up, both in the default fit and before the damage rates.
    from immunotwin.calibrate_cancers import PARAM_PATIENTS, parser
    from immunotwin.reference import load
    from immunotwin.scenarios.core import spec_text
    from immunotwin.spec import parse_spec

    ref = load("scenario_refs")["myocarditis_claims"]
    margin, weight = "tolerance_margin.myocarditis", "weight_ctla4.myocarditis"
    order = parser().parse_args([]).params.split(",")
    assert order.index(margin) < order.index(weight) < min(order.index(k) for k in order if k.startswith("damage_rate."))
    assert PARAM_TARGETS[margin][:4] == ("checkpoint-myocarditis", "scenario_refs", ("myocarditis_claims", "monotherapy"),
                                         "incidence.myocarditis")
    assert PARAM_TARGETS[weight][:4] == ("checkpoint-myocarditis", "scenario_refs", ("myocarditis_claims", "combination"),
                                         "incidence.myocarditis")
    spec = parse_spec(spec_text("checkpoint-myocarditis"))
    drugs = {a.name: {d.name for d in a.drugs} for a in spec.arms}
    assert drugs[PARAM_ARMS[margin]] == {"nivolumab"} and drugs[PARAM_ARMS[weight]] == {"nivolumab", "ipilimumab"}
    assert spec.follow_up_days == pytest.approx(ref["follow_up_mean_days"])
    # the published rates per 1,000 (7.40 and 2.37) give the published risk ratio, inside its interval
    assert ref["combination"] / ref["monotherapy"] == pytest.approx(ref["risk_ratio"], abs=0.01)
    assert ref["risk_ratio_ci95"][0] < ref["risk_ratio"] < ref["risk_ratio_ci95"][1]
    # enough virtual patients that the monotherapy target is a count of at least 20, and a warm refit's tolerance (one
    # patient's share) a tenth of it or less
    for key in (margin, weight):
        n = PARAM_PATIENTS[key]
        assert n * ref["monotherapy"] >= 20 and 1.0 / n <= 0.1 * ref["monotherapy"]


def test_pituitary_and_lung_are_fitted_outside_checkmate067() -> None:
    # The pituitary's CTLA-4 weight is fitted to a meta-analysis of ipilimumab trials (de Filette 2019: 5.6%) read as a
    # table counts it on MDX010-20's two ipilimumab arms; the lung's margin and damage rate to pneumonitis under PD-1
    # alone in melanoma and its share reaching grade 3-4 (Nishino 2016's melanoma subgroup: 1.6%, 0.2 of 1.6) on the
    # anti-PD-1 melanoma spec; all fitted only when named (ORGAN_OPT_IN), the weight before the damage rates in
    # PARAM_TARGETS' order (they read how severe events run once they occur).
    from immunotwin.calibrate_cancers import ORGAN_OPT_IN, PARAM_PATIENTS, param_target, parser
    from immunotwin.reference import load

    order = list(PARAM_TARGETS)
    weight, lung = "weight_ctla4.hypophysitis", "damage_rate.pneumonitis"
    assert order.index(weight) < min(order.index(k) for k in order if k.startswith("damage_rate.")) and lung in order
    margin = "tolerance_margin.pneumonitis"
    assert set(ORGAN_OPT_IN) == {weight, margin, lung}
    assert not set(ORGAN_OPT_IN) & set(parser().parse_args([]).params.split(","))
    # the lung's margin, before its damage rate, to melanoma's own rate under PD-1 alone (Nishino's subgroup)
    assert order.index(margin) < order.index(lung) and margin not in PARAM_ARMS
    assert PARAM_TARGETS[margin][:4] == ("melanoma-vitiligo", "scenario_refs",
                                         ("pneumonitis_pd1", "by_group", "melanoma_pd1", "any_grade"),
                                         "reported.pneumonitis")
    assert param_target(margin)[0] == pytest.approx(0.016) and PARAM_PATIENTS[margin] * 0.016 >= 50
    assert PARAM_TARGETS[weight][:4] == ("cancer-vaccine", "scenario_refs", ("hypophysitis_ipilimumab", "value"),
                                         "reported.hypophysitis")
    assert set(PARAM_ARMS[weight]) == {"ipilimumab", "ipilimumab + gp100"}
    # the lung reads melanoma's own share of grade 3-4 on a melanoma arm, not the pooled trials' (which mix NSCLC's)
    assert PARAM_TARGETS[lung][:4] == ("melanoma-vitiligo", "scenario_refs",
                                       ("pneumonitis_pd1", "by_group", "melanoma_pd1", "severity"),
                                       "severity.pneumonitis") and lung not in PARAM_ARMS
    refs = load("scenario_refs")
    assert param_target(weight)[0] == pytest.approx(0.056)
    melanoma = refs["pneumonitis_pd1"]["by_group"]["melanoma_pd1"]
    assert param_target(lung)[0] == pytest.approx(melanoma["grade3plus"] / melanoma["any_grade"])
    assert param_target(lung)[1] == melanoma["source"]
    for key in (weight, margin, lung):  # the source each fit records: none from CheckMate 067
        source = param_target(key)[1]
        assert source and "067" not in source and "Larkin" not in source
    # enough patients that some 100 events are read: hypophysitis at its target over two arms, and pneumonitis at 5% or
    # more of a nivolumab arm (7% in CheckMate 067's)
    assert 2 * PARAM_PATIENTS[weight] * param_target(weight)[0] >= 100 and PARAM_PATIENTS[lung] * 0.05 >= 100


def test_severity_targets_come_from_the_counts() -> None:
    from immunotwin.reference import load

    ref = load("scenario_refs")["ipilimumab_organ_severity"]
    # the skin and gut targets pool MDX010-20's two ipilimumab arms
    arms = ref["mdx010_20_arms"]
    for organ in ("dermatitis", "colitis"):
        assert ref[organ]["any"] == sum(arms[a][organ][0] for a in ("ipilimumab", "ipilimumab + gp100"))
        assert ref[organ]["grade3plus"] == sum(arms[a][organ][1] for a in ("ipilimumab", "ipilimumab + gp100"))
    for key, (spec, _, path, metric, _) in PARAM_TARGETS.items():
        if metric.startswith("severity.") and key != "damage_rate.pneumonitis":  # the lung: under PD-1, tested above
            organ = key.partition(".")[2]
            assert spec == "cancer-vaccine" and path[1] == organ and metric == f"severity.{organ}"
            assert ref[organ]["severity"] == pytest.approx(ref[organ]["grade3plus"] / ref[organ]["any"])


def test_fitted_organ_elements_are_applied(monkeypatch: pytest.MonkeyPatch) -> None:
    # _apply_drug_fit sets only the fitted organs' elements of a per-organ parameter and says so in its source.
    import json

    fit = {"params": {"damage_rate.colitis": {"value": 0.05, "target_orr": 0.2, "source": "S", "spec": "x",
                                              "metric": "severity.colitis"}}}

    class F:
        def is_file(self) -> bool:
            return True

        def read_text(self) -> str:
            return json.dumps(fit)

    class R:
        def joinpath(self, _: str) -> F:
            return F()

    monkeypatch.setattr("importlib.resources.files", lambda _: R())
    base = {p.name: p for p in core.all_params()}["damage_rate"]
    got = {p.name: p for p in core._apply_drug_fit(core.all_params())}["damage_rate"]
    assert got.value[INDEX["colitis"]] == 0.05
    keep = np.arange(len(base.value)) != INDEX["colitis"]
    assert np.array_equal(got.value[keep], base.value[keep])
    assert "colitis irAEs reaching grade >= 3 0.2 of S" in got.source and not got.assumed


def test_scar_target_is_the_pooled_five_year_count_on_checkmate067s_nivolumab_arms() -> None:
    from immunotwin.reference import load
    from immunotwin.spec import load_spec
    from immunotwin.validate import EXAMPLE, NIVO_ARMS

    spec, file, path, metric, _ = cc.PARAM_TARGETS["scar_fraction"]
    assert (spec, file, metric) == ("checkmate067", "scenario_refs", "not_cr") and "scar_fraction" in cc.DEFAULT_PARAMS
    ref = load(file)[path[0]][path[1]]
    cr = sum(ref[k]["cr"] for k in NIVO_ARMS.values())
    n = sum(ref[k]["n"] for k in NIVO_ARMS.values())
    assert (cr, n) == (198, 935) and ref[path[2]] == pytest.approx(1.0 - cr / n, abs=1e-4)
    arms = {a.name for a in load_spec(EXAMPLE).arms}
    assert set(cc.PARAM_ARMS["scar_fraction"]) == set(NIVO_ARMS) and set(NIVO_ARMS) <= arms


def test_more_scar_fewer_complete_responses_same_patients() -> None:
    # The bisection needs the metric to rise with the value: with the same virtual patients, a larger scar share
    # can only turn CT complete responses into partial ones (it changes what CT shows, not the disease).
    # A scar can only make CT read more, so objective responses cannot rise either (a large one keeps a shrinking
    # tumour above the partial-response threshold, 0.7 of the baseline diameters).
    arms = cc.PARAM_ARMS["scar_fraction"]
    runs = []
    for value in (1e-6, 0.05):  # one simulation per value, both metrics read from it
        p, _ = cc.simulate_with_param("scar_fraction", "checkmate067", value, 16, 5)
        runs.append(p[p["arm"].isin(arms)])
    lo, hi = (METRICS["not_cr"](p) for p in runs)
    orr = [METRICS["orr"](p) for p in runs]
    assert hi > lo + 0.2  # a median of 5% left (log-SD 2.0: some patients far less, who can still reach a CR)
    assert orr[1] <= orr[0]


def _counting(fn):  # type: ignore[no-untyped-def]
    calls: list[float] = []

    def evaluate(x: float) -> float:
        calls.append(x)
        return fn(x)

    return evaluate, calls


def test_warm_refit_converges_on_a_smooth_metric_by_regula_falsi() -> None:
    # Oracle: x / (1 + x) = 0.5 at x = 1. Started at 0.7 the Illinois steps converge superlinearly: far inside ten
    # evaluations, to within the tolerance.
    evaluate, calls = _counting(lambda x: x / (1.0 + x))
    res = cc.bisect(evaluate, 0.5, 0.05, 30.0, start=0.7, tol=1e-6)
    assert abs(res["orr"] - 0.5) <= 1e-6 and res["value"] == pytest.approx(1.0, rel=1e-3)
    assert len(calls) <= 7 and res["reached"]
    assert res["trace"][0][0] == pytest.approx(0.7)  # it starts where it was told


def test_warm_refit_on_a_step_metric_stops_within_one_patient() -> None:
    # A response rate read from 300 virtual patients with common random numbers is a step function of the value.
    # Root near 2.0; a refit after a small model change starts near it and stops within one patient's share.
    def rate(x: float) -> float:
        return float(np.floor(300.0 / (1.0 + (2.0 / x) ** 1.5)) / 300.0)

    warm, calls = _counting(rate)
    res = cc.bisect(warm, 0.5, 0.05, 30.0, start=2.6, tol=1.0 / 300)
    assert abs(res["orr"] - 0.5) <= 1.0 / 300 and len(calls) <= 5
    cold, cold_calls = _counting(rate)
    ref = cc.bisect(cold, 0.5, 0.05, 30.0)  # ten bisections of the whole bracket, as before
    assert len(cold_calls) == 10 and cold_calls[0] == pytest.approx(np.sqrt(0.05 * 30.0))
    assert abs(ref["orr"] - 0.5) <= 1.0 / 300
    assert np.log(res["value"] / ref["value"]) == pytest.approx(0.0, abs=0.02)  # the same root, to 2%


def test_warm_refit_far_from_the_root_expands_then_closes_in() -> None:
    evaluate, calls = _counting(lambda x: x / (1.0 + x))
    res = cc.bisect(evaluate, 0.9, 0.05, 30.0, start=0.06, tol=1e-3)  # root at 9, 150 times the start
    assert abs(res["orr"] - 0.9) <= 1e-3 and len(calls) <= 10
    xs = [t[0] for t in res["trace"]]
    assert xs[1] == pytest.approx(0.06 * 1.5) and xs[2] == pytest.approx(0.06 * 1.5 ** 3)  # steps double on log x


def test_warm_refit_at_a_plateau_short_of_the_target_keeps_the_bound() -> None:
    # The metric never reaches the target inside the bracket: the search stops at the bound, reports it not reached
    # and keeps the smallest value on the best plateau (as the bisection does).
    evaluate, calls = _counting(lambda x: min(x / (1.0 + x), 0.6))
    res = cc.bisect(evaluate, 0.9, 0.05, 30.0, start=1.0, tol=1e-3)
    assert not res["reached"] and res["orr"] == pytest.approx(0.6)
    assert res["value"] <= 30.0 and len(calls) <= 10


@pytest.mark.parametrize("argv", [["--tol", "0.01"], ["--warm", "--tol", "1.5"], ["--patients", "5"]])
def test_refit_cli_refuses_bad_options(argv: list[str], tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "fit.json"
    with pytest.raises(SystemExit) as e:
        cc.main([*argv, "--out", str(out), "--cancers", "", "--cross", "", "--params", ""])
    assert e.value.code == 2 and not out.exists()
    error = capsys.readouterr().err.strip().splitlines()[-1]  # the message names the option at fault
    assert ("--tol" if "--tol" in argv else "--patients") in error


def test_nsclc_response_is_fitted_on_its_own_number_of_patients(monkeypatch, tmp_path) -> None:
    """CANCER_PATIENTS: NSCLC's low ORR is fitted on 2,000 patients (its sampling error at 300 showed at the scenario's
    seed), with the warm tolerance one of those patients' share, and the fit records the number it used; a cancer not
    listed uses --patients."""
    from immunotwin import calibrate_cancers as cc

    seen = {}

    def fake_fit(cancer, spec_name, target, patients, seed, arm="", start=None, tol=0.0):  # type: ignore[no-untyped-def]
        seen[cancer] = (patients, tol)
        return {"immunogenicity": 1.0, "orr": target, "target_orr": target, "reached": True, "trace": []}

    monkeypatch.setattr(cc, "fit_one", fake_fit)
    out = tmp_path / "fit.json"
    assert cc.main(["--cancers", "nsclc,rcc", "--cross", "", "--params", "", "--patients", "300", "--warm",
                    "--out", str(out)]) == 0
    assert cc.CANCER_PATIENTS["nsclc"] == 2000
    assert seen["nsclc"] == (2000, pytest.approx(1 / 2000)) and seen["rcc"] == (300, pytest.approx(1 / 300))
    written = json.loads(out.read_text())["cancers"]
    assert written["nsclc"]["patients"] == 2000 and written["rcc"]["patients"] == 300


def test_organ_reported_counts_the_window_and_the_reports_by_hand() -> None:
    """Oracle by hand: four patients who ran and one who failed; the gut's immune event in the window (1), one after
    it (2), a diarrhoea report without an immune cause (3), neither (4): 2 of the 4 who ran, where the raw incidence
    reads 2 of 4 from patients 1 and 2."""
    from immunotwin.calibrate_cancers import organ_incidence, organ_reported

    nan = float("nan")
    p = pd.DataFrame({"status": ["ok"] * 4 + ["failed"], "ae_window_end_weeks": [20.0] * 5,
                      "irae_colitis_grade": [1, 1, 0, 0, 3], "irae_colitis_onset_weeks": [5.0, 30.0, nan, nan, 1.0],
                      "irae_colitis_onset2_weeks": [nan] * 5, "irae_colitis_onset3_weeks": [nan, nan, nan, nan, 1.0],
                      "diarrhoea_background_onset_weeks": [nan, nan, 10.0, nan, nan]})
    assert organ_reported(p, "colitis") == pytest.approx(0.5)
    assert organ_incidence(p, "colitis") == pytest.approx(0.5)
    assert organ_reported(p.assign(diarrhoea_background_onset_weeks=nan), "colitis") == pytest.approx(0.25)
