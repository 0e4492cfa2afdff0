"""The protocol's visit window for scans: each patient's on-treatment scan falls within the window of its scheduled day
(rounded to the clinic's week), drawn from a fourth stream per patient, so a spec without a window is unchanged and a
patient's scan days do not depend on the chunk."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tests.test_spec import VALID, errors_of, has_error

from immunotwin.clinic.run import STEP, scan_schedule, scheduled_scan_days
from immunotwin.spec import parse_spec


def test_window_parsed_and_defaults_to_none() -> None:
    assert parse_spec(VALID).assessment.window_days == 0.0
    spec = parse_spec(VALID + '[assessment]\nimaging = [{first = "12 weeks"}, {every = "6 weeks"}]\nwindow = "7 days"\n')
    assert spec.assessment.window_days == 7.0


@pytest.mark.parametrize("every, window, fragment", [
    ("6 weeks", '"-7 days"', "negative"), ("6 weeks", "7", "expected a duration"),
    ("6 weeks", '"3 weeks"', "meet or swap"),  # a 3-week move either side lets scans 6 weeks apart meet
    # the clinic moves scans by whole weeks: 6 days rounds to a week, 13 days to two
    ("2 weeks", '"6 days"', "up to 7 days"), ("4 weeks", '"13 days"', "up to 14 days"),
    ("10 days", '"4 days"', "scans 7 days apart")])  # every 10 days lies on the weekly grid 7 days apart at best
def test_window_errors_name_the_field(every: str, window: str, fragment: str) -> None:
    errors = errors_of(VALID + f'[assessment]\nimaging = [{{every = "{every}"}}]\nwindow = {window}\n')
    assert has_error(errors, "assessment.window", fragment), errors


def test_window_under_half_a_week_is_accepted_on_any_schedule() -> None:
    spec = parse_spec(VALID + '[assessment]\nimaging = [{every = "3 days"}]\nwindow = "3 days"\n')
    assert spec.assessment.window_days == 3.0


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
    # the first stream's and the third stream's (background reports) draws are those of commit f5085bf, the last
    # without this stream: sums pinned from it
    assert float(whole.uniforms.sum()) == pytest.approx(476.10801549200573, rel=1e-12)
    assert float(whole.report_uniforms.sum()) == pytest.approx(8.958364159986685, rel=1e-12)
    assert not np.allclose(whole.scan_uniforms[:, :2], whole.report_uniforms)


def test_no_window_reads_as_before_the_window_existed(runs: dict) -> None:
    """Without a window the small trial reads as it did at commit f5085bf (sums pinned from a run of it there), with
    the lung as it was then: stop 69 gave the lung its patients' risk factors and a fitted margin, which change these
    patients' course, not how their scans are read."""
    from immunotwin.calibrate_cancers import model_values
    from immunotwin.calibrate_lung import effect_values
    from immunotwin.trial import ChunkId, simulate_chunk

    with model_values({"tolerance_margin.pneumonitis": 0.35}), \
            effect_values({"smoker_lung": 1.0, "thoracic_rt_lung": 1.0}):
        p, v = simulate_chunk(parse_spec(SPEC.format(window="")), ChunkId(0, 0, 40))
    assert float(p["pfs_months"].sum()) == pytest.approx(272.2956878850103, rel=1e-12)
    assert float(p["os_months"].sum()) == pytest.approx(389.58521560574945, rel=1e-12)
    assert int(p["pfs_event"].sum()) == 25
    assert float(p["best_pct_change"].sum()) == pytest.approx(-803.5895935881007, rel=1e-12)
    assert len(v) == 989 and float(np.nansum(v["sld_mm"])) == pytest.approx(29891.4776749133, rel=1e-12)


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
    # a patient not scanned on another patient's scan day gets no reading: no diameter, no response
    v = runs["week"][1]
    unscanned = v[~v["scan"].astype(bool)]
    assert len(unscanned) > 100 and unscanned["sld_mm"].isna().all() and (unscanned["response"] == "").all()
    # the clinic's progression (its PD row) is the day outcomes read from the patient's scans
    p = runs["week"][0].set_index("patient")
    first_pd = v[v["response"] == "PD"].groupby("patient")["day"].min()
    assert len(first_pd) >= 10
    np.testing.assert_allclose(p.loc[first_pd.index, "pfs_months"].to_numpy() * 30.4375, first_pd.to_numpy(),
                               atol=1e-6)


def test_schedule_reaches_past_follow_up_by_the_largest_move() -> None:
    """A scan scheduled past follow-up is kept when the window can pull it inside (by its largest move, rounded to the
    week), as one pushed past follow-up is lost; without a window the schedule ends at follow-up."""
    rules = '[assessment]\nimaging = [{first = "12 weeks"}, {every = "6 weeks"}]\n'
    sched = [84.0 + 42.0 * k for k in range(8)]  # ..., 336, 378
    for window, last in (("", 336.0), ('window = "7 days"\n', 336.0), ('window = "14 days"\n', 378.0)):
        a = parse_spec(VALID + rules + window).assessment
        np.testing.assert_array_equal(scheduled_scan_days(a, 365.25), [d for d in sched if d <= last])


END = ('name = "scan window at the end"\nseed = 4\nfollow_up = "53 weeks"\n[population]\ncancer = "melanoma"\n'
       'size_per_arm = 40\n[assessment]\nimaging = [{{first = "12 weeks"}}, {{every = "6 weeks"}}]\n{window}'
       '[[arm]]\nname = "nivo"\n  [[arm.drug]]\n  name = "nivolumab"\n  dose = "3 mg/kg"\n  every = "2 weeks"\n')


def test_window_pulls_the_scan_after_follow_up_inside() -> None:
    """Follow-up ends on day 371, a week before the scan scheduled on day 378: with a 7-day window the patients whose
    draw moves that scan a week earlier (a quarter) are scanned on day 371; without it nobody is scanned after 336."""
    from immunotwin.trial import ChunkId, simulate_chunk

    days = {}
    for key, window in (("none", ""), ("week", 'window = "7 days"\n')):
        _, v = simulate_chunk(parse_spec(END.format(window=window)), ChunkId(0, 0, 40))
        days[key] = v.loc[v["scan"].astype(bool) & (v["day"] > 0), ["patient", "day"]]
    assert days["none"]["day"].max() == 336.0
    last = days["week"][days["week"]["day"] > 343.0]
    assert set(last["day"]) == {371.0}  # the scan on 378 pulled a week earlier; none past follow-up
    alive = days["week"].groupby("patient")["day"].max() >= 329.0  # scanned in the window of the 336 scan
    assert 0 < len(last) < alive.sum()  # about a quarter of them (a binomial share of about 40)


def test_window_result_does_not_depend_on_the_chunk(runs: dict) -> None:
    a, b = runs["week"][0], runs["week, two chunks"][0]
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True), check_exact=True)


def test_window_moves_progression_dates(runs: dict) -> None:
    """The same patients, the same disease: with the window some progressions are seen a week earlier or later."""
    a, b = runs["none"][0], runs["week"][0]
    both = (a["pfs_event"] & b["pfs_event"]).to_numpy()
    diff = (b["pfs_months"] - a["pfs_months"]).to_numpy()[both] * 30.4375
    assert both.sum() >= 10 and np.any(np.abs(diff) > 3)


IRECIST = ('name = "irecist window"\nseed = 10\nfollow_up = "15 months"\n[population]\ncancer = "melanoma"\n'
           'size_per_arm = 200\n[assessment]\nimaging = [{every = "6 weeks"}]\ncriteria = "irecist"\nwindow = "17 days"\n'
           '[[arm]]\nname = "nivo"\n  [[arm.drug]]\n  name = "nivolumab"\n  dose = "3 mg/kg"\n  every = "2 weeks"\n'
           '  until = "progression"\n  [arm.post_progression]\n  fraction = 1.0\n    [[arm.post_progression.drug]]\n'
           '    name = "ipilimumab"\n    dose = "3 mg/kg"\n    every = "3 weeks"\n    doses = 4\n')


def test_irecist_with_a_window_the_clinic_reads_progression_as_the_scans_are_read() -> None:
    """Scans 6 weeks apart moved up to 2 weeks each can come 2 weeks apart. The clinic reads iRECIST scan by scan
    (recist.IrecistState: a scan under 28 days after an iUPD neither confirms nor resets it, and what confirms depends
    on what triggered the iUPD) as clinic/recist.py reads the whole series for PFS: each progression the clinic
    confirms is dated at the iUPD the reading dates, and every progression the reading finds before death the clinic
    confirmed. (Before stop 63 the clinic's simpler rules dated 3-12 of about 90 confirmed progressions otherwise, at
    200 patients, with or without a window.) The next-line drug, given to every progressing patient, starts at the
    confirming scan unless an irAE's permanent stop still bars it."""
    from immunotwin.trial import ChunkId, simulate_chunk

    p, v = simulate_chunk(parse_spec(IRECIST), ChunkId(0, 0, 200))
    days = v[v["scan"].astype(bool) & (v["day"] > 0)].groupby("patient")["day"].apply(lambda d: np.diff(np.sort(d)))
    assert min(d.min() for d in days if len(d)) < 28  # the window does bring scans that close
    confirmed = v[v["response"] == "iCPD"].groupby("patient")["day"].min()
    assert len(confirmed) >= 50
    iupd = v[v["response"] == "iUPD"]
    clinic_day = [iupd[(iupd["patient"] == i) & (iupd["day"] < d)]["day"].max() for i, d in confirmed.items()]
    q = p.set_index("patient")
    np.testing.assert_allclose(q.loc[confirmed.index, "pfs_months"].to_numpy() * 30.4375, clinic_day, atol=1e-6)
    read = q[q["pfs_event"] & ((q["pfs_months"] < q["os_months"]) | ~q["os_event"])].index
    assert set(read) <= set(confirmed.index)
    nl = (q["next_line_months"] * 30.4375).loc[confirmed.index]
    given = nl.notna()
    assert given.sum() >= 30
    np.testing.assert_allclose(nl[given].to_numpy(), confirmed[given].to_numpy(), atol=7.0 + 1e-6)
    for i in confirmed.index[~given]:
        after = v[(v["patient"] == i) & (v["day"] >= confirmed[i])]
        assert after["stopped"].astype(bool).any(), i
