"""Oracle tests for RECIST 1.1 / iRECIST (rules in src/immunotwin/data/clinical_rules.md §1)."""

from __future__ import annotations

import numpy as np
import pytest

from immunotwin.clinic.recist import (
    best_overall_response,
    irecist_best_response,
    irecist_timepoints,
    progression_day,
    response_onset_and_duration,
    timepoint_response,
)

NAN = float("nan")


def tp(sld: list[float], baseline: float, new: list[int] | None = None, **kw: float) -> list[str]:
    return timepoint_response(np.array(sld, float), np.array(new or [0] * len(sld), float), baseline, **kw)


# --------------------------------------------------------------------------- RECIST 1.1 timepoints


def test_pr_at_exactly_minus_30_percent() -> None:
    # PR: "at least a 30% decrease"; -30% exactly qualifies, -29.99% does not.
    assert tp([70.0], 100.0) == ["PR"]
    assert tp([70.01], 100.0) == ["SD"]
    # 0.7 * 50 is not exactly 35 in binary floating point; the boundary must still hold.
    assert tp([35.0], 50.0) == ["PR"]
    assert tp([35.0 * 1.0001], 50.0) == ["SD"]


def test_nadir_rule_eortc_faq_example() -> None:
    # EORTC FAQ: baseline 165, week 8 63 mm, week 16 65 mm -> continued PR (judged vs nadir 63).
    assert tp([63.0, 65.0], 165.0) == ["PR", "PR"]
    # 63 -> 76: +20.6% (>= 20%: 1.2 * 63 = 75.6) and +13 mm (>= 5 mm) over the nadir -> PD,
    # although 76 is still 54% below baseline.
    assert tp([63.0, 65.0, 76.0], 165.0) == ["PR", "PR", "PD"]
    # 63 -> 75: +19% only -> not PD, still PR vs baseline.
    assert tp([63.0, 75.0], 165.0) == ["PR", "PR"]


def test_pd_exactly_20_percent_and_5_mm() -> None:
    # nadir 50 (baseline) -> 60: +20% and +10 mm -> PD; 59.9 -> SD.
    assert tp([60.0], 50.0) == ["PD"]
    assert tp([59.9], 50.0) == ["SD"]
    # nadir 25 -> 30: +20% and exactly +5 mm -> PD.
    assert tp([25.0, 30.0], 100.0) == ["PR", "PD"]


def test_five_mm_rule() -> None:
    # Nadir 10 mm -> 14 mm is +40% but only +4 mm: not PD (stays PR vs baseline 30 mm).
    assert tp([10.0, 14.0], 30.0) == ["PR", "PR"]
    # 15 mm: +50% and +5 mm -> PD.
    assert tp([10.0, 14.0, 15.0], 30.0) == ["PR", "PR", "PD"]


def test_new_lesions_make_pd() -> None:
    assert tp([50.0, 40.0], 50.0, new=[0, 1]) == ["SD", "PD"]
    # A new lesion is PD even with shrinking targets, and even if the SLD was not measured.
    assert tp([30.0, NAN], 50.0, new=[1, 1]) == ["PD", "PD"]


def test_cr_and_tolerance() -> None:
    assert tp([0.0], 40.0) == ["CR"]
    assert tp([0.3], 40.0) == ["PR"]
    assert tp([0.3], 40.0, cr_threshold_mm=0.5) == ["CR"]
    # After CR (nadir 0) reappearance of >= 5 mm is PD; 4 mm is not.
    assert tp([0.0, 4.0, 5.0], 40.0) == ["CR", "PR", "PD"]


def test_not_evaluable_and_points_after_pd() -> None:
    assert tp([NAN, 50.0], 50.0) == ["NE", "SD"]
    # After PD later scans are still evaluated (the nadir stays the smallest sum on study).
    assert tp([70.0, 30.0, 49.0], 50.0) == ["PD", "PR", "PD"]
    assert tp([10.0], NAN) == ["NE"]
    assert tp([], 50.0) == []


def test_length_mismatch_raises() -> None:
    with pytest.raises(ValueError):
        timepoint_response(np.array([1.0, 2.0]), np.array([0.0]), 10.0)


# --------------------------------------------------------------------------- RECIST 1.1 BOR


def test_confirmation_changes_bor() -> None:
    # baseline 100: day 42 65 mm (PR), day 84 75 mm (SD: > 70 and +15% over nadir 65).
    cats = tp([65.0, 75.0], 100.0)
    assert cats == ["PR", "SD"]
    days = np.array([42.0, 84.0])
    assert best_overall_response(days, cats) == "PR"
    # Unconfirmed PR falls back to SD (SD duration met at day 42).
    assert best_overall_response(days, cats, confirm=True) == "SD"


def test_confirmation_interval_and_categories() -> None:
    # PR confirmed only by a scan >= 28 days later: 14 days is too early.
    assert best_overall_response(np.array([42.0, 56.0]), ["PR", "PR"], confirm=True) == "SD"
    assert best_overall_response(np.array([42.0, 56.0, 70.0]), ["PR", "PR", "PR"], confirm=True) == "PR"
    # PR is confirmed by a later CR; CR only by a later CR.
    assert best_overall_response(np.array([42.0, 84.0]), ["PR", "CR"], confirm=True) == "PR"
    assert best_overall_response(np.array([42.0, 84.0]), ["CR", "CR"], confirm=True) == "CR"
    assert best_overall_response(np.array([42.0, 84.0]), ["CR", "PR"], confirm=True) == "SD"
    assert best_overall_response(np.array([42.0, 84.0]), ["CR", "PR"]) == "CR"
    # An intervening SD breaks the confirmation; an intervening NE does not.
    assert best_overall_response(np.array([42.0, 56.0, 84.0]), ["PR", "SD", "PR"], confirm=True) == "SD"
    assert best_overall_response(np.array([42.0, 56.0, 84.0]), ["PR", "NE", "PR"], confirm=True) == "PR"
    # PD cannot confirm, and the unconfirmed PR at day 28 is before the SD minimum -> PD.
    assert best_overall_response(np.array([28.0, 56.0]), ["PR", "PD"], confirm=True) == "PD"
    assert best_overall_response(np.array([28.0, 56.0]), ["PR", "PD"]) == "PR"


def test_sd_minimum_duration() -> None:
    # SD only at day 28 (< 42) and nothing else: NE; followed by PD: PD (Eisenhauer 2009).
    assert best_overall_response(np.array([28.0]), ["SD"]) == "NE"
    assert best_overall_response(np.array([28.0, 56.0]), ["SD", "PD"]) == "PD"
    assert best_overall_response(np.array([28.0, 56.0]), ["SD", "SD"]) == "SD"
    assert best_overall_response(np.array([28.0]), ["SD"], sd_min_days=21.0) == "SD"
    assert best_overall_response(np.array([42.0]), ["SD"]) == "SD"


def test_bor_stops_at_first_pd() -> None:
    cats = tp([70.0, 30.0], 50.0)
    assert cats == ["PD", "PR"]
    assert best_overall_response(np.array([42.0, 84.0]), cats) == "PD"
    assert best_overall_response(np.array([]), []) == "NE"
    assert best_overall_response(np.array([42.0, 84.0]), ["NE", "NE"]) == "NE"


def test_bor_rejects_bad_days() -> None:
    with pytest.raises(ValueError):
        best_overall_response(np.array([84.0, 42.0]), ["SD", "SD"])
    with pytest.raises(ValueError):
        best_overall_response(np.array([42.0]), ["SD", "SD"])


def test_progression_day_and_dor_recist() -> None:
    days = np.array([42.0, 84.0, 126.0])
    cats = tp([60.0, 55.0, 70.0], 100.0)
    assert cats == ["PR", "PR", "PD"]
    pday = progression_day(days, cats)
    assert pday == 126.0
    assert response_onset_and_duration(days, cats, pday) == (42.0, 84.0)
    # Not progressed: onset known, duration left to the caller (censored).
    assert progression_day(days[:2], cats[:2]) is None
    assert response_onset_and_duration(days[:2], cats[:2], None) == (42.0, None)
    # No response.
    assert response_onset_and_duration(days, ["SD", "SD", "PD"], 126.0) == (None, None)
    # A PR recorded after the first PD is not a response.
    assert response_onset_and_duration(np.array([42.0, 84.0]), ["PD", "PR"], 42.0) == (None, None)


# --------------------------------------------------------------------------- iRECIST


def itp(sld: list[float], baseline: float, days: list[float], new: list[int] | None = None) -> list[str]:
    return irecist_timepoints(
        np.array(sld, float), np.array(new or [0] * len(sld), float), baseline, np.array(days, float)
    )


def test_irecist_additive_4_plus_2_confirms_icpd() -> None:
    # baseline 100: day 84 125 mm (+25%, +25 mm -> iUPD); day 126 +4 mm -> remains iUPD;
    # day 168 a further +2 mm: 4 + 2 = 6 >= 5 mm over the iUPD -> iCPD (EORTC FAQ).
    days = [42.0, 84.0, 126.0, 168.0]
    cats = itp([100.0, 125.0, 129.0, 131.0], 100.0, days)
    assert cats == ["iSD", "iUPD", "iUPD", "iCPD"]
    assert progression_day(np.array(days), cats) == 84.0  # date of the confirmed iUPD
    assert irecist_best_response(np.array(days), cats) == "iSD"
    # RECIST 1.1 on the same series: PD at day 84.
    rcats = tp([100.0, 125.0, 129.0, 131.0], 100.0)
    assert rcats == ["SD", "PD", "PD", "PD"]
    assert progression_day(np.array(days), rcats) == 84.0


def test_irecist_iupd_then_icpd_gives_icpd_bor() -> None:
    days = [21.0, 63.0]
    cats = itp([62.0, 70.0], 50.0, days)
    assert cats == ["iUPD", "iCPD"]
    assert irecist_best_response(np.array(days), cats) == "iCPD"
    assert progression_day(np.array(days), cats) == 21.0


def test_irecist_reset_after_isd() -> None:
    # baseline 50: 61 mm -> iUPD (>= 60 and +11 mm); 55 mm no longer PD vs nadir 50 -> iSD
    # (reset); 62 mm is a new iUPD (RECIST PD again) and becomes the new reference, so +4 mm
    # to 66 remains iUPD (it would be +5 mm against the stale first-iUPD value 61).
    days = [42.0, 84.0, 126.0, 168.0]
    cats = itp([61.0, 55.0, 62.0, 66.0], 50.0, days)
    assert cats == ["iUPD", "iSD", "iUPD", "iUPD"]
    assert progression_day(np.array(days), cats) is None
    assert irecist_best_response(np.array(days), cats) == "iSD"
    # Under a pending iUPD, +5 mm at the next scan confirms.
    assert itp([61.0, 55.0, 62.0, 67.0], 50.0, days)[-1] == "iCPD"


def test_irecist_iupd_followed_only_by_ne() -> None:
    days = [42.0, 84.0, 126.0]
    cats = itp([70.0, NAN, NAN], 50.0, days)
    assert cats == ["iUPD", "NE", "NE"]
    assert irecist_best_response(np.array(days), cats) == "iUPD"
    assert progression_day(np.array(days), cats) is None
    # NE between iUPD and iCPD: progression dates back to the iUPD.
    assert progression_day(np.array([42.0, 84.0, 126.0]), ["iUPD", "NE", "iCPD"]) == 42.0


def test_irecist_new_lesions_and_four_week_window() -> None:
    # New lesion at day 42 -> iUPD. Day 56 (14 days later) shows a further new lesion but is
    # < 4 weeks after the iUPD: disregarded. Day 84 (42 days later): additional new lesion
    # relative to the iUPD -> iCPD.
    days = [42.0, 56.0, 84.0]
    cats = itp([45.0, 44.0, 43.0], 50.0, days, new=[1, 2, 2])
    assert cats == ["iUPD", "iUPD", "iCPD"]
    assert progression_day(np.array(days), cats) == 42.0


def test_irecist_new_lesion_then_target_shrinkage_scenarios() -> None:
    # EORTC FAQ scenarios: PR, then iUPD from a new lesion. Further target shrinkage at the
    # next assessment gives iPR (scenario B); no change keeps iUPD (scenario F).
    days = [42.0, 84.0, 126.0]
    assert itp([60.0, 60.0, 50.0], 100.0, days, new=[0, 1, 1]) == ["iPR", "iUPD", "iPR"]
    assert itp([60.0, 60.0, 60.0], 100.0, days, new=[0, 1, 1]) == ["iPR", "iUPD", "iUPD"]
    # After the reset the recorded new lesion no longer counts; a further one is a new iUPD.
    cats = itp([60.0, 60.0, 50.0, 48.0, 47.0], 100.0, days + [168.0, 210.0], new=[0, 1, 1, 1, 2])
    assert cats == ["iPR", "iUPD", "iPR", "iPR", "iUPD"]
    # Under RECIST 1.1 the first new lesion is final PD.
    assert tp([60.0, 60.0, 50.0], 100.0, new=[0, 1, 1]) == ["PR", "PD", "PD"]


def test_irecist_bor_with_confirmation_and_dor() -> None:
    days = np.array([42.0, 84.0, 126.0, 168.0])
    cats = itp([60.0, 55.0, 70.0, 80.0], 100.0, list(days))
    # 70 vs nadir 55: +27%, +15 mm -> iUPD; 80 is +10 mm over 70 -> iCPD.
    assert cats == ["iPR", "iPR", "iUPD", "iCPD"]
    assert irecist_best_response(days, cats, confirm=True) == "iPR"
    assert irecist_best_response(days[[0, 2, 3]], [cats[i] for i in (0, 2, 3)], confirm=True) == "iSD"
    pday = progression_day(days, cats)
    assert pday == 126.0
    assert response_onset_and_duration(days, cats, pday) == (42.0, 84.0)


def test_irecist_empty() -> None:
    assert itp([], 50.0, []) == []
    assert irecist_best_response(np.array([]), []) == "NE"


def test_lymph_node_targets_reach_cr_under_10_mm_each() -> None:
    # RECIST 1.1 (Eisenhauer 2009, 4.3.1): nodes count as gone under 10 mm short axis, so the sum need not be 0.
    # Three nodes of 20 mm at baseline (60 mm): 9 mm each (27 mm) is a CR for nodes, a PR for other targets.
    sld = np.array([27.0, 31.0])
    assert timepoint_response(sld, np.zeros(2), 60.0, cr_threshold_mm=30.0) == ["CR", "PR"]
    assert timepoint_response(sld, np.zeros(2), 60.0) == ["PR", "PR"]
    days = np.array([84.0, 168.0])
    assert irecist_timepoints(sld, np.zeros(2), 60.0, days, cr_threshold_mm=30.0)[0] == "iCR"


def test_lymphomas_enrol_measurable_nodes_and_read_their_cr_threshold() -> None:
    from immunotwin.population import NODE_MEASURABLE_MM, NODE_NORMAL_MM, sample_cohort

    nodal = sample_cohort("follicular", {}, 7, 0, range(2000), 2)
    per_node = nodal.covariates["sld0_mm"].to_numpy() / nodal.n_lesions
    assert per_node.min() >= NODE_MEASURABLE_MM - 1e-9
    assert np.allclose(nodal.ct_cr_sld_mm, NODE_NORMAL_MM * nodal.n_lesions)
    solid = sample_cohort("melanoma", {}, 7, 0, range(2000), 2)
    assert np.all(solid.ct_cr_sld_mm == 0.0)
    assert (solid.covariates["sld0_mm"].to_numpy() / solid.n_lesions).min() < NODE_MEASURABLE_MM  # no floor there
    # a pinned baseline is kept as given, even below measurability
    pinned = sample_cohort("follicular", {}, 7, 0, range(3), 2, fixed={"sld0_mm": 12.0})
    assert np.all(pinned.covariates["sld0_mm"] == 12.0)


def test_clinic_irecist_state_reads_as_the_timepoints() -> None:
    """The clinic's scan-by-scan iRECIST (IrecistState, many patients at once) against irecist_timepoints read
    patient by patient (the oracle): its iUPDs among the reading's, the same confirmations at the same scan, the same
    progression day, on random
    series of target sums (some unmeasured), growing new-lesion counts and scan days some under 28 days apart."""
    from immunotwin.clinic.recist import IrecistState, progression_day

    rng = np.random.default_rng(5)
    n, k = 400, 12
    baseline = rng.uniform(20.0, 120.0, n)
    sld = baseline[:, None] * np.exp(np.cumsum(rng.normal(0.0, 0.15, (n, k)), axis=1))
    sld[rng.random((n, k)) < 0.05] = np.nan
    counts = np.cumsum(rng.random((n, k)) < 0.08, axis=1).astype(float)
    days = np.cumsum(rng.choice([14.0, 21.0, 42.0], (n, k)), axis=1)
    state = IrecistState(baseline)
    done = np.zeros(n, dtype=bool)
    got = np.full(n, np.nan)
    labels = [[""] * k for _ in range(n)]
    for j in range(k):
        for i in range(n):  # one patient's scan day at a time, as the clinic meets them
            scanned = np.zeros(n, dtype=bool)
            scanned[i] = not done[i]
            newly, confirm = state.scan(scanned, sld[:, j], counts[:, j], days[i, j])
            labels[i][j] = "iUPD" if newly[i] else "iCPD" if confirm[i] else ""
            got[confirm] = state.upd_day[confirm]
            done |= confirm
    confirmed = 0
    for i in range(n):
        cats = irecist_timepoints(sld[i], counts[i], baseline[i], days[i])
        assert ("iCPD" in cats) == done[i], i
        # every new iUPD of the clinic is an iUPD of the reading
        assert all(cats[j] == "iUPD" for j in range(k) if labels[i][j] == "iUPD"), i
        if "iCPD" in cats:
            confirmed += 1
            assert got[i] == progression_day(days[i], cats), i
            assert labels[i].index("iCPD") == cats.index("iCPD"), i
    assert confirmed >= 100
