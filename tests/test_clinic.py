"""Clinic: CTCAE grading from observations, ASCO 2021 management, dose holds and stops."""

from __future__ import annotations

import numpy as np
import pytest

from immunotwin.clinic import observe
from immunotwin.clinic.policy import Management, manage
from immunotwin.clinic.schedule import Dosing
from immunotwin.model.organs import INDEX
from immunotwin.spec import parse_regimen


def _grades_for(organ: str, damage: float, function: float = 1.0) -> int:
    d = np.zeros((1, 12))
    f = np.ones((1, 12))
    d[0, INDEX[organ]] = damage
    f[0, INDEX[organ]] = function
    lab = observe.labs(d, f, np.zeros((1, 3), dtype=bool), f[:, INDEX["thyroiditis"]])
    return int(observe.grades(lab, d, f)[0, INDEX[organ]])


def test_ctcae_alt_thresholds() -> None:
    # CTCAE v5 ALT increase: G1 >ULN-3, G2 >3-5, G3 >5-20, G4 >20 x ULN; ALT = 0.6 + 25 D.
    for alt, grade in ((0.9, 0), (2.0, 1), (4.0, 2), (10.0, 3), (21.0, 4)):
        assert _grades_for("hepatitis", (alt - 0.6) / 25.0) == grade


def test_ctcae_diarrhoea_and_platelets() -> None:
    assert _grades_for("colitis", 2.0 / 12) == 1  # 2 stools over baseline
    assert _grades_for("colitis", 5.0 / 12) == 2  # 4-6
    assert _grades_for("colitis", 8.0 / 12) == 3  # >= 7
    # platelets = 2 (1-D)^2 x LLN; G3 below 50e9/L = 1/3 LLN
    d = 1 - np.sqrt(0.3 / 2)
    assert _grades_for("hematologic", d) == 3


def test_endocrine_loss_persists_after_damage_heals() -> None:
    assert _grades_for("thyroiditis", 0.0, function=0.3) == 2  # TSH 22 > 10: replacement indicated
    assert _grades_for("diabetes", 0.0, function=0.25) == 3  # insulin


def test_sld_detection_limit_and_scaling() -> None:
    s = observe.sld(np.array([8.0, 1e-6]), np.array([1.0, 1.0]), np.array([50.0, 50.0]), np.array([2.0, 2.0]),
                    np.zeros(2))
    np.testing.assert_allclose(s[0], 100.0)  # 8x volume = 2x diameter
    assert s[1] == 0.0


def _g(organ: str, grade: int, n: int = 1) -> np.ndarray:
    g = np.zeros((n, 12), dtype=int)
    g[:, INDEX[organ]] = grade
    return g


def test_grade3_colitis_stops_ctla4_holds_and_starts_steroids() -> None:
    m = Management(1)
    manage(m, _g("colitis", 3), np.array([80.0]), 14.0, np.array([True]), "asco2021", np.zeros(1, np.int8))
    assert m.ctla4_stopped[0] and m.held[0] and not m.stopped[0]
    assert m.steroid_mg[0] == 1.5 * 80.0
    # steroid-refractory after a week at grade 3: second line
    manage(m, _g("colitis", 3), np.array([80.0]), 21.0, np.array([True]), "asco2021", np.zeros(1, np.int8))
    assert m.second_line_ever[0]
    # resolves: taper over 6 weeks after a grade-3 event; resume only once <= 10 mg/day
    days = 28.0
    while m.steroid_mg[0] > 10.0:
        assert m.held[0]
        manage(m, _g("colitis", 1), np.array([80.0]), days, np.array([True]), "asco2021",
               np.zeros(1, np.int8))
        days += 7
    manage(m, _g("colitis", 0), np.array([80.0]), days, np.array([True]), "asco2021",
               np.zeros(1, np.int8))
    assert not m.held[0] and m.rechallenged[0]
    assert 28 + 7 * 4 <= days <= 28 + 7 * 7


def test_grade4_stops_everything_and_none_policy_does_nothing() -> None:
    m = Management(2)
    manage(m, _g("myocarditis", 2, 2), np.array([70.0, 70.0]), 7.0, np.array([True, False]), "asco2021",
           np.zeros(2, np.int8))
    assert m.stopped.tolist() == [True, False]
    m2 = Management(1)
    manage(m2, _g("pneumonitis", 4), np.array([70.0]), 7.0, np.array([True]), "none", np.zeros(1, np.int8))
    assert not m2.stopped[0] and m2.steroid_mg[0] == 0


def test_endocrine_gets_replacement_not_steroids() -> None:
    # A thyrotoxic phase of grade 2 (hypothyroidism grade 0) gets neither thyroid hormone nor steroids (ASCO 2021:
    # beta-blockers); hypothyroidism of grade 2 (TSH above 10) gets thyroid hormone.
    m = Management(2)
    thyroid2 = _g("thyroiditis", 2, 2)
    manage(m, thyroid2, np.array([70.0, 70.0]), 7.0, np.array([True, True]), "asco2021", np.array([0, 2], np.int8))
    assert m.replaced[:, 0].tolist() == [False, True]
    assert m.steroid_mg.tolist() == [0.0, 0.0] and not m.held.any()


def test_hypothyroid_grade_reads_tsh_and_replacement() -> None:
    # TSH = 2/T4^2 (T4 serum thyroxine, the gland's function F once nothing is being destroyed): 0.8 -> 3.1 (grade 0),
    # 0.6 -> 5.6 (1), 0.4 -> 12.5 (2), 0.04 -> 1250 (3); on hormone: grade 2.
    f = np.array([0.8, 0.6, 0.4, 0.04, 0.04])
    replaced = np.array([False, False, False, False, True])
    assert observe.hypothyroid_grade(f, replaced).tolist() == [0, 1, 2, 3, 2]


def test_thyrotoxic_phase_is_read_from_serum_thyroxine() -> None:
    # CTCAE hyperthyroidism from T4 (relative to normal) above the reference range (observe.THYROTOXIC_LADDER: 1.5,
    # symptomatic 2.5), with TSH suppressed (2/T4^2 below 2); the gland's damage itself no longer grades it.
    d = np.zeros((4, 12))
    f = np.ones((4, 12))
    d[:, INDEX["thyroiditis"]] = 0.5  # the same damage in all four
    t4 = np.array([1.0, 1.4, 1.6, 2.6])
    lab = observe.labs(d, f, np.zeros((4, 3), dtype=bool), t4)
    assert observe.grades(lab, d, f)[:, INDEX["thyroiditis"]].tolist() == [0, 0, 1, 2]
    assert lab["tsh"][3] < 0.4 and lab["tsh"][0] == 2.0


def test_held_dose_shifts_later_doses() -> None:
    reg = parse_regimen("nivolumab 240 mg q2w x4")
    d = Dosing.create(reg, (), np.array([80.0]), np.array([175.0]))
    given = []
    for day in range(0, 120, 7):
        held = np.array([day == 14])
        out = d.due(float(day), np.array([True]), held, np.array([False]), np.array([False]), False, 1, 7.0)
        if out[0, 0] > 0:
            given.append(day)
    assert given == [0, 21, 35, 49]


def test_progression_stops_drug_given_until_progression() -> None:
    reg = parse_regimen("nivolumab 240 mg q2w")
    d = Dosing.create(reg, (), np.array([80.0]), np.array([175.0]))
    out = d.due(0.0, np.array([True]), np.array([False]), np.array([False]), np.array([True]), False, 1, 7.0)
    assert out.sum() == 0
    out = d.due(0.0, np.array([True]), np.array([False]), np.array([False]), np.array([True]), True, 1, 7.0)
    assert out[0, 0] == 240.0


def test_replaced_endocrine_loss_is_grade2_and_does_not_hold() -> None:
    d = np.zeros((1, 12))
    f = np.ones((1, 12))
    f[0, INDEX["thyroiditis"]] = 0.02
    lab = observe.labs(d, f, np.array([[True, False, False]]), f[:, INDEX["thyroiditis"]])
    assert observe.grades(lab, d, f)[0, INDEX["thyroiditis"]] == 3
    g = observe.grades(lab, d, f, np.array([[True, False, False]]))
    assert g[0, INDEX["thyroiditis"]] == 2
    m = Management(1)
    m.replaced[0, 0] = True
    manage(m, g, np.array([70.0]), 7.0, np.array([True]), "asco2021", np.zeros(1, np.int8))
    assert not m.held[0] and not m.stopped[0]


def test_active_thyroiditis_on_replacement_stays_grade2_but_pituitary_can_be_severe() -> None:
    # Painless thyroiditis is graded as its thyrotoxic phase (<= grade 2) whether or not hormone is replaced;
    # an inflamed pituitary keeps grade 3 above D = 0.5 (observe.ACTIVE_LADDER).
    d = np.zeros((1, 12))
    f = np.full((1, 12), 0.3)
    d[0, INDEX["thyroiditis"]] = d[0, INDEX["hypophysitis"]] = 0.8
    replaced = np.array([[True, True, False]])
    g = observe.grades(observe.labs(d, f, replaced, f[:, INDEX["thyroiditis"]]), d, f, replaced)
    assert g[0, INDEX["thyroiditis"]] == 2
    assert g[0, INDEX["hypophysitis"]] == 3


def test_other_events_follow_the_exposure_and_their_hazards() -> None:
    from immunotwin.clinic.run import AE_WINDOW_DAYS, checkpoint_exposure, other_trae
    from immunotwin.units import DAYS_PER_MONTH

    n = 200_000
    rng = np.random.default_rng(5)
    first = np.where(np.arange(n) % 4 == 0, np.nan, 0.0)  # a quarter never dosed
    last = np.full(n, 270.0)
    death = np.where(np.arange(n) % 4 == 1, 100.0, np.nan)  # a quarter die on treatment
    exposure = checkpoint_exposure(first, last, death, 1800.0)
    groups = {"never": np.arange(n) % 4 == 0, "died": np.arange(n) % 4 == 1, "full": np.arange(n) % 4 >= 2}
    assert np.all(exposure[groups["never"]] == 0)
    assert np.all(exposure[groups["died"]] == 100.0)
    assert np.all(exposure[groups["full"]] == 270.0 + AE_WINDOW_DAYS)
    activity = np.where((np.arange(n) // 4) % 2 == 0, 60.0, 0.0)  # organ-days: half the patients with two months of one organ
    nonimmune, systemic = other_trae(exposure, activity, np.full(n, 0.05), np.full(n, 0.4), rng.random(n))
    assert not (nonimmune & systemic).any()
    assert not (nonimmune | systemic)[groups["never"] & (activity == 0)].any()
    for key in ("died", "full"):
        for act in (0.0, 60.0):
            g = groups[key] & (activity == act)
            h_n, h_s = 0.05 * exposure[g][0] / DAYS_PER_MONTH, 0.4 * act / DAYS_PER_MONTH
            p = 1.0 - np.exp(-(h_n + h_s))  # competing exponential hazards
            k = g.sum()
            assert abs((nonimmune | systemic)[g].mean() - p) < 4 * np.sqrt(p * (1 - p) / k)
            q = p * h_s / (h_n + h_s)  # the immune-related share of the events
            assert abs(systemic[g].mean() - q) < 4 * np.sqrt(max(q * (1 - q), 1e-12) / k) + 1e-12


def test_autoreactive_activity_counts_activated_organs() -> None:
    from immunotwin.clinic.run import autoreactive_activity
    from immunotwin.model.core import LAYOUT

    states = np.zeros((2, 3, LAYOUT.size))
    sl = LAYOUT.slices["autoreactive"]
    states[:, :, sl] = 1.0  # tolerised
    states[1, 2, sl.start] = 30.0  # one organ at A50: half active
    states[1, 2, sl.start + 1] = 1e6  # another fully active
    a = autoreactive_activity(states, {"a50": np.array([30.0, 30.0])})
    tolerised = 12 * 1.0 / (1.0 + 900.0)
    assert a[0] == pytest.approx(np.full(3, tolerised))
    assert a[1, 2] == pytest.approx(10 / 901.0 + 0.5 + 1.0, rel=1e-9)


def test_background_reports_match_the_constant_hazard() -> None:
    """Reports without an immune cause: probability 1 - exp(-rate * exposure) (the analytic oracle, within 4 binomial
    SE), on a day inside the exposure; none without exposure or at a zero rate; more with a longer exposure."""
    from immunotwin.clinic.run import background_reports
    from immunotwin.units import DAYS_PER_MONTH

    n = 40_000
    u = np.random.default_rng(3).random((n, 2))
    first = np.full(n, 7.0)
    for months in (3.0, 12.0):
        exposure = np.full(n, months * DAYS_PER_MONTH)
        day = background_reports(first, exposure, (0.0097, 0.0068), u)
        for j, rate in enumerate((0.0097, 0.0068)):
            p = 1.0 - np.exp(-rate * months)
            seen = ~np.isnan(day[:, j])
            assert abs(seen.mean() - p) < 4.0 * np.sqrt(p * (1 - p) / n)
            assert (day[seen, j] >= 7.0).all() and (day[seen, j] < 7.0 + months * DAYS_PER_MONTH).all()
    assert np.isnan(background_reports(first, np.zeros(n), (0.0097, 0.0068), u)).all()
    assert np.isnan(background_reports(first, np.full(n, 300.0), (0.0, 0.0), u)).all()
    short = ~np.isnan(background_reports(first, np.full(n, 90.0), (0.0097, 0.0068), u))
    long = ~np.isnan(background_reports(first, np.full(n, 900.0), (0.0097, 0.0068), u))
    assert (long >= short).all() and long.sum() > short.sum()  # the same draws: a report once made stays made


def test_report_draws_are_a_patients_own_and_leave_the_other_draws_unchanged() -> None:
    """The background-report draws come from a third stream per patient: the same for a patient in any chunk, and
    every other draw as it was before that stream existed (sums pinned from commit 2a2f65d, the last without it: the
    clinic's uniforms, the scan noise, the lesion thresholds, the first stream's and the second stream's parameters
    and covariates)."""
    from immunotwin.population import sample_cohort

    whole = sample_cohort("melanoma", {}, 7, 2, range(8), 3)
    part = sample_cohort("melanoma", {}, 7, 2, [5, 6, 7], 3)
    assert whole.report_uniforms.shape == (8, 2)
    np.testing.assert_array_equal(whole.report_uniforms[5:], part.report_uniforms)
    pinned = {"uniforms": (whole.uniforms.sum(), 47.9457833582809),
              "scan_noise": (whole.scan_noise.sum(), -0.5662118592338904),
              "lesion_thresholds": (whole.lesion_thresholds.sum(), 947.1016869161947),
              "tumour0": (whole.tumour0.sum(), 1623.5967942278369),
              "immunogenicity": (np.sum(whole.params["immunogenicity"]), 2.512206924164182),
              "damage_rate": (np.sum(whole.params["damage_rate"]), 20.386819108927675),
              "mapk_persistence": (np.sum(whole.params["mapk_persistence"]), 122.92899784127742),
              "sld0_mm": (whole.covariates["sld0_mm"].sum(), 985.5921390305681),
              "braf_v600": (whole.covariates["braf_v600"].sum(), 4)}
    for name, (now, before) in pinned.items():
        assert float(now) == pytest.approx(before, rel=1e-12, abs=1e-12), name
