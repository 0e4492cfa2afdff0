"""The protocol's visit window for scans: each patient's on-treatment scan falls within the window of its scheduled day
(rounded to the clinic's week), drawn from a fourth stream per patient, so a spec without a window is unchanged and a
patient's scan days do not depend on the chunk."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tests.test_spec import VALID, errors_of, has_error

from immunotwin.clinic.run import STEP, scan_schedule
from immunotwin.spec import parse_spec


def test_window_parsed_and_defaults_to_none() -> None:
    assert parse_spec(VALID).assessment.window_days == 0.0
    spec = parse_spec(VALID + '[assessment]\nimaging = [{first = "12 weeks"}, {every = "6 weeks"}]\nwindow = "7 days"\n')
    assert spec.assessment.window_days == 7.0


@pytest.mark.parametrize("window, fragment", [('"-7 days"', "negative"), ('"3 weeks"', "half the shortest interval"),
                                              ("7", "")])
def test_window_errors_name_the_field(window: str, fragment: str) -> None:
    # every 6 weeks: a 3-week window either side would let two scans meet
    errors = errors_of(VALID + f'[assessment]\nimaging = [{{every = "6 weeks"}}]\nwindow = {window}\n')
    assert has_error(errors, "assessment.window", fragment), errors


def test_no_window_keeps_the_schedule() -> None:
    sched = np.array([84.0, 126.0, 168.0])
    u = np.random.default_rng(0).random((5, 10))
    np.testing.assert_array_equal(scan_schedule(sched, 0.0, u), np.tile(sched, (5, 1)))
    # under half a week either side rounds back to the scheduled week
    np.testing.assert_array_equal(scan_schedule(sched, 3.0, u), np.tile(sched, (5, 1)))


def test_window_moves_scans_by_whole_weeks_in_the_right_shares() -> None:
    """A 7-day window: the drawn day U(-7, 7) rounded to the week moves a scan a week earlier with probability 1/4,
    a week later with 1/4, and leaves it with 1/2 (within 4 binomial standard errors); scans keep their order."""
    sched = np.array([84.0, 126.0, 168.0, 210.0])
    n = 20000
    days = scan_schedule(sched, 7.0, np.random.default_rng(1).random((n, 6)))
    shift = days - sched[None, :]
    assert set(np.unique(shift)) == {-STEP, 0.0, STEP}
    for value, share in ((-STEP, 0.25), (0.0, 0.5), (STEP, 0.25)):
        got = np.mean(shift == value)
        se = np.sqrt(share * (1 - share) / shift.size)
        assert abs(got - share) < 4 * se, (value, got)
    assert (np.diff(days, axis=1) > 0).all()
    # 10 days either side still moves at most a week (round(10/7) = 1), now more often: |U| > 3.5 with probability 0.65
    wide = scan_schedule(sched, 10.0, np.random.default_rng(2).random((n, 6))) - sched[None, :]
    assert np.abs(wide).max() == STEP and abs(np.mean(wide != 0) - 0.65) < 0.02


def test_scan_draws_are_a_patients_own_and_leave_the_other_draws_unchanged() -> None:
    from immunotwin.population import sample_cohort

    whole = sample_cohort("melanoma", {}, 7, 2, range(8), 30)
    part = sample_cohort("melanoma", {}, 7, 2, [5, 6, 7], 30)
    assert whole.scan_uniforms.shape == (8, 30)
    np.testing.assert_array_equal(whole.scan_uniforms[5:], part.scan_uniforms)
    # the first stream's draws and the third (background reports) are those of a cohort drawn before this stream
    # existed (commit f5085bf): sums pinned
    before = sample_cohort("melanoma", {}, 7, 2, range(8), 3)
    assert float(before.uniforms.sum()) == pytest.approx(47.9457833582809, rel=1e-12)
    assert float(whole.report_uniforms.sum()) == pytest.approx(float(before.report_uniforms.sum()), rel=0, abs=0)
    assert not np.allclose(whole.scan_uniforms[:, :2], whole.report_uniforms)


SPEC = ('name = "scan window"\nseed = 3\nfollow_up = "12 months"\n[population]\ncancer = "melanoma"\n'
        'size_per_arm = 40\n[assessment]\nimaging = [{{first = "12 weeks"}}, {{every = "6 weeks"}}]\n{window}'
        '[[arm]]\nname = "nivo"\n  [[arm.drug]]\n  name = "nivolumab"\n  dose = "3 mg/kg"\n  every = "2 weeks"\n')


def _scan_days(visits: pd.DataFrame) -> pd.Series:
    on = visits[visits["scan"] & (visits["day"] > 0)]
    return on.groupby("patient")["day"].apply(list)


@pytest.fixture(scope="module")
def runs() -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    from immunotwin.trial import ChunkId, simulate_chunk

    out = {}
    for key, window in (("none", ""), ("week", 'window = "7 days"\n')):
        spec = parse_spec(SPEC.format(window=window))
        out[key] = simulate_chunk(spec, ChunkId(0, 0, 40))
    spec = parse_spec(SPEC.format(window='window = "7 days"\n'))
    parts = [simulate_chunk(spec, ChunkId(0, a, b)) for a, b in ((0, 13), (13, 40))]
    out["week, two chunks"] = (pd.concat([p for p, _ in parts], ignore_index=True),
                               pd.concat([v for _, v in parts], ignore_index=True))
    return out


def test_scans_fall_within_the_window_per_patient(runs: dict) -> None:
    sched = np.array([84.0 + 42.0 * k for k in range(7)])
    plain, jittered = _scan_days(runs["none"][1]), _scan_days(runs["week"][1])
    for days in plain:  # without a window every scan is on its scheduled day
        np.testing.assert_array_equal(days, sched[: len(days)])
    moved = 0
    for days in jittered:
        near = sched[np.abs(sched[:, None] - np.asarray(days)[None, :]).argmin(axis=0)]
        assert (np.abs(np.asarray(days) - near) <= STEP).all() and (np.diff(days) > 0).all()
        moved += int(np.sum(np.asarray(days) != near))
    n_scans = sum(len(d) for d in jittered)
    assert 0.3 * n_scans < moved < 0.7 * n_scans  # half of the scans move a week (a binomial share of about 100)
    # progression is dated at the patient's own scan
    p, v = runs["week"]
    prog = p[p["pfs_event"] & (p["death_cause"] == "")] if "death_cause" in p else p[p["pfs_event"]]
    scan_days = v[v["scan"]].groupby("patient")["day"].apply(set)
    for _, row in prog.iterrows():
        day = round(row["pfs_months"] * 30.4375)
        if row["patient"] in scan_days.index and row["os_months"] > row["pfs_months"]:
            assert min(abs(day - d) for d in scan_days[row["patient"]]) <= 1


def test_window_result_does_not_depend_on_the_chunk(runs: dict) -> None:
    a, b = runs["week"][0], runs["week, two chunks"][0]
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True), check_exact=True)


def test_window_moves_progression_dates(runs: dict) -> None:
    """The same patients, the same disease: with the window some progressions are seen a week earlier or later."""
    a, b = runs["none"][0], runs["week"][0]
    both = (a["pfs_event"] & b["pfs_event"]).to_numpy()
    diff = (b["pfs_months"] - a["pfs_months"]).to_numpy()[both] * 30.4375
    assert both.sum() >= 10 and np.any(np.abs(diff) > 3)
