"""The adverse-event reporting window: treatment-related events as a trial's safety table counts them (first dose to
30 days after the last first-line dose, cut at the first next-line dose), apart from every event over follow-up."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from immunotwin.clinic.outcomes import reported_grade
from immunotwin.clinic.run import AE_WINDOW_DAYS, ae_window_end

NAN = np.nan


def test_window_end_by_hand() -> None:
    last = np.array([63.0, 63.0, NAN, 200.0])
    nxt = np.array([NAN, 80.0, NAN, 210.0])
    # 30 days after the last dose; the day of a next-line dose that comes sooner (graded before its doses); NaN never
    # dosed; the later of the two rules never wins
    np.testing.assert_array_equal(ae_window_end(last, nxt), [63.0 + AE_WINDOW_DAYS, 80.0, NAN, 210.0])


def test_reported_grade_by_hand() -> None:
    """Grade k counts when its first visit at grade >= k falls in the window; 4 and 5 ride on the grade-3 onset."""
    end = np.array([100.0, 100.0, 100.0, 100.0, NAN])
    worst = np.array([[3], [4], [2], [1], [2]])
    onset1 = np.array([[10.0], [50.0], [90.0], [120.0], [300.0]])
    onset2 = np.array([[20.0], [60.0], [110.0], [NAN], [310.0]])
    onset3 = np.array([[150.0], [70.0], [NAN], [NAN], [NAN]])
    got = reported_grade(worst, onset1, onset2, onset3, end)[:, 0].tolist()
    # grade 3 after the window: 2 reported; grade 4 with its grade 3 inside; grade 2 after: 1; all after: 0;
    # never dosed: all follow-up
    assert got == [2, 4, 1, 0, 2]


SPEC = ('name = "reporting window"\nseed = 5\nfollow_up = "15 months"\n[population]\ncancer = "melanoma"\n'
        'size_per_arm = 120\n[[arm]]\nname = "ipi"\n'
        '  [[arm.drug]]\n  name = "ipilimumab"\n  dose = "3 mg/kg"\n  every = "3 weeks"\n  doses = 4\n'
        '  [arm.post_progression]\n  fraction = 1.0\n    [[arm.post_progression.drug]]\n    name = "nivolumab"\n'
        '    dose = "3 mg/kg"\n    every = "2 weeks"\n')


@pytest.fixture(scope="module")
def patients() -> pd.DataFrame:
    from immunotwin.spec import parse_spec
    from immunotwin.trial import ChunkId, simulate_chunk

    p, _ = simulate_chunk(parse_spec(SPEC), ChunkId(0, 0, 120))
    return p


def test_window_follows_the_first_line_and_the_next_line(patients: pd.DataFrame) -> None:
    p = patients
    end_days = p["ae_window_end_weeks"].to_numpy(float) * 7.0
    nxt = p["next_line_months"].to_numpy(float) * 30.4375
    given = ~np.isnan(nxt)
    assert given.sum() >= 20 and (~given).sum() >= 20
    # every patient got a first dose on day 0; the window ends before any next-line dose
    assert np.isfinite(end_days).all()
    assert (end_days[given] <= nxt[given] + 1e-6).all()
    # the four ipilimumab doses given and no next line: the window ends 30 days after the last dose (the day the
    # course completed), day 63 unless a hold delayed it
    full = (~given & (p["discontinued"] == "completed")).to_numpy()
    assert full.sum() >= 5
    np.testing.assert_allclose(end_days[full], p["discontinued_weeks"].to_numpy(float)[full] * 7.0 + AE_WINDOW_DAYS)
    assert np.mean(np.isclose(end_days[full], 63.0 + AE_WINDOW_DAYS)) >= 0.8


def test_events_under_next_line_therapy_are_left_out(patients: pd.DataFrame) -> None:
    p = patients
    allg, rep = p["any_irae_grade"].to_numpy(), p["any_irae_grade_reported"].to_numpy()
    assert (rep <= allg).all()
    onset = p[[c for c in p.columns if c.startswith("irae_") and c.endswith("_onset_weeks")]].min(axis=1)
    first_after = (onset > p["ae_window_end_weeks"]).to_numpy()
    # irAEs first seen only after the window (here mostly under next-line nivolumab) are not the study drug's
    assert first_after.sum() >= 3
    assert (rep[first_after] == 0).all() and (allg[first_after] >= 1).all()
    assert (rep[~first_after & (allg >= 1)] >= 1).all()
    # the treatment-related table: never more than over all follow-up, and the summary reads the window
    trae, trae_rep = p["any_trae_grade"].to_numpy(), p["any_trae_grade_reported"].to_numpy()
    assert (trae_rep <= trae).all() and (trae_rep >= rep).all()
    from immunotwin.readouts import summarize

    s = summarize(p, name="x", seed=5, version="t", spec_sha256="0", arm_order=["ipi"], control="ipi")
    assert s["arms"]["ipi"]["trae_grade3plus"] == pytest.approx((trae_rep >= 3).mean())


def test_reported_column_by_hand() -> None:
    """An organ's grade as the trial's table counts it, read back from a patient table's columns."""
    from immunotwin.clinic.outcomes import reported_column

    df = pd.DataFrame({"ae_window_end_weeks": [10.0, 10.0, NAN],
                       "irae_colitis_grade": [3, 2, 1],
                       "irae_colitis_onset_weeks": [4.0, 12.0, 50.0],
                       "irae_colitis_onset2_weeks": [8.0, 13.0, NAN],
                       "irae_colitis_onset3_weeks": [11.0, NAN, NAN],
                       "hypothyroidism_grade": [2, 1, 2],
                       "hypothyroidism_onset_weeks": [9.0, 20.0, 30.0]})
    assert reported_column(df, "irae_colitis_grade").tolist() == [2, 0, 1]
    assert reported_column(df, "hypothyroidism_grade").tolist() == [2, 0, 2]
    # without the window every grade counts
    assert reported_column(df.drop(columns="ae_window_end_weeks"), "irae_colitis_grade").tolist() == [3, 2, 1]


def test_reported_column_with_a_cutoff_and_background_reports_by_hand() -> None:
    """A data cut-off shortens the window; a background report of diarrhoea counts as grade 1 where the gut's grade
    is read, inside the window and the cut-off, and not at all with ``background=False``."""
    from immunotwin.clinic.outcomes import reported_column

    df = pd.DataFrame({"ae_window_end_weeks": [10.0, 10.0, 40.0, 40.0],
                       "irae_colitis_grade": [2, 0, 0, 2],
                       "irae_colitis_onset_weeks": [4.0, NAN, NAN, 30.0],
                       "irae_colitis_onset2_weeks": [8.0, NAN, NAN, 31.0],
                       "irae_colitis_onset3_weeks": [NAN, NAN, NAN, NAN],
                       "diarrhoea_background_onset_weeks": [2.0, 9.0, 35.0, NAN]})
    assert reported_column(df, "irae_colitis_grade").tolist() == [2, 1, 1, 2]
    assert reported_column(df, "irae_colitis_grade", background=False).tolist() == [2, 0, 0, 2]
    # a cut-off at 20 weeks: the third patient's report (week 35) and the fourth's colitis (week 30) fall after it
    assert reported_column(df, "irae_colitis_grade", cutoff_weeks=20.0).tolist() == [2, 1, 0, 0]
    # grade >= 2 never comes from a report
    assert (reported_column(df, "irae_colitis_grade") >= 2).tolist() == [True, False, False, True]
    # the skin reads rash reports, not diarrhoea ones
    skin = df.assign(irae_dermatitis_grade=0, irae_dermatitis_onset_weeks=NAN, irae_dermatitis_onset2_weeks=NAN,
                     irae_dermatitis_onset3_weeks=NAN)
    assert reported_column(skin, "irae_dermatitis_grade").tolist() == [0, 0, 0, 0]
    skin = skin.assign(rash_background_onset_weeks=[NAN, 3.0, NAN, 39.0])
    assert reported_column(skin, "irae_dermatitis_grade").tolist() == [0, 1, 0, 1]
    assert reported_column(skin, "irae_dermatitis_grade", cutoff_weeks=20.0).tolist() == [0, 1, 0, 0]


def test_reported_column_cutoff_for_a_patient_never_dosed_and_a_table_without_the_window() -> None:
    """A patient never dosed (window end NaN) keeps every grade without a cut-off and is cut by one; a table without
    the window is cut by the cut-off alone; hypothyroidism counts when its first onset is before the cut-off."""
    from immunotwin.clinic.outcomes import reported_column

    df = pd.DataFrame({"ae_window_end_weeks": [NAN, 50.0],
                       "irae_colitis_grade": [2, 2],
                       "irae_colitis_onset_weeks": [30.0, 30.0],
                       "irae_colitis_onset2_weeks": [31.0, 31.0],
                       "irae_colitis_onset3_weeks": [NAN, NAN],
                       "hypothyroidism_grade": [2, 2],
                       "hypothyroidism_onset_weeks": [10.0, 45.0]})
    assert reported_column(df, "irae_colitis_grade").tolist() == [2, 2]
    assert reported_column(df, "irae_colitis_grade", cutoff_weeks=30.5).tolist() == [1, 1]
    assert reported_column(df, "irae_colitis_grade", cutoff_weeks=20.0).tolist() == [0, 0]
    assert reported_column(df, "hypothyroidism_grade").tolist() == [2, 2]
    assert reported_column(df, "hypothyroidism_grade", cutoff_weeks=20.0).tolist() == [2, 0]
    bare = df.drop(columns="ae_window_end_weeks")
    assert reported_column(bare, "irae_colitis_grade").tolist() == [2, 2]
    assert reported_column(bare, "irae_colitis_grade", cutoff_weeks=30.5).tolist() == [1, 1]
