"""The HTML trial report: self-contained, complete, and robust to degenerate data."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from immunotwin.readouts import summarize
from immunotwin.reference import load
from immunotwin.report.trial_report import write_trial_report
from test_readouts import make_patients, summ

CM_ARMS = ["nivolumab + ipilimumab", "nivolumab", "ipilimumab"]


def make_visits(patients: pd.DataFrame) -> pd.DataFrame:
    """Scan rows: day -42, 0 and every 56 days to the end of PFS (SLD following best_pct_change)."""
    rows = []
    for r in patients.itertuples():
        best = r.best_pct_change if np.isfinite(r.best_pct_change) else 0.0
        pfs = r.pfs_months if np.isfinite(r.pfs_months) else 0.0
        for k, day in enumerate([-42, 0] + list(range(56, int(pfs * 30.4375) + 56, 56))):
            frac = 0.0 if day <= 0 else best / 100.0 * min(1.0, k / 3)
            rows.append({"arm": r.arm, "patient": r.patient, "day": day, "scan": True,
                         "sld_mm": 80.0 * (1 + frac), "response": ""})
    return pd.DataFrame(rows)


def report(tmp_path: Path, p: pd.DataFrame, *, visits: pd.DataFrame | None, reference: dict | None = None,
           design: str = "parallel", control: str | None = None) -> str:
    arms = list(dict.fromkeys(p["arm"]))
    s = summarize(p, name="test trial", seed=1, version="0", spec_sha256="x" * 64, arm_order=arms,
                  control=control or arms[-1])
    f = tmp_path / "report.html"
    write_trial_report(f, spec_text='name = "t <&>"\n', summary=s, patients=p, visits=visits, reference=reference,
                       design=design)
    text = f.read_text(encoding="utf-8")
    assert "not for patient care" in text
    assert "could not be drawn" not in text  # no figure hit its safety net
    assert "<script" not in text.lower() and "http://" not in text and "https://" not in text
    return text


def test_full_report_with_reference(tmp_path: Path) -> None:
    p = make_patients(arms=CM_ARMS, bor_counts={a: c for a, c in zip(CM_ARMS, [(6, 14, 8, 10, 2), (4, 10, 10, 14, 2),
                                                                         (1, 5, 10, 22, 2)], strict=True)},
                      scale=dict(zip(CM_ARMS, [14.0, 9.0, 3.0], strict=True)))
    text = report(tmp_path, p, visits=make_visits(p), reference=load("checkmate067"))
    for arm in CM_ARMS:
        assert arm in text
    assert "Simulated vs published" in text and "57.6%" in text and "0.42" in text and "11.5" in text
    assert "Not calibrated yet" in text
    assert "t &lt;&amp;&gt;" in text  # spec escaped
    assert len(re.findall(r"<img ", text)) >= 9  # KM x2, waterfall, spider, swimmer, irAE x2, forest, E-R


def test_twin_design_counterfactual_table(tmp_path: Path) -> None:
    p = make_patients()
    text = report(tmp_path, p, visits=None, design="twin")
    assert "Counterfactuals" in text and "only to A" in text
    assert "spider plot skipped" in text


def test_degenerate_all_censored_no_responders(tmp_path: Path) -> None:
    p = make_patients(bor_counts={a: (0, 0, 0, 40, 0) for a in ("combo", "mono", "control")})
    p[["pfs_event", "os_event", "dor_event"]] = False
    p["best_pct_change"] = np.nan
    for c in p.columns:
        if c.endswith("_grade"):
            p[c] = 0
        elif c.endswith("onset_weeks") or c.endswith("onset3_weeks"):
            p[c] = np.nan
    p[["cavg_pd1", "cavg_ctla4"]] = np.nan
    p["steroids"] = False
    text = report(tmp_path, p, visits=None)
    assert "NR" in text
    assert len(re.findall(r"<img ", text)) >= 4


def test_degenerate_one_arm_tiny_and_failed(tmp_path: Path) -> None:
    p = make_patients(arms=["solo"], n=3)
    p.loc[0, ["status", "pfs_months", "os_months", "bor"]] = ["failed", np.nan, np.nan, "NE"]
    text = report(tmp_path, p, visits=make_visits(p).iloc[:0])
    assert "solo" in text
    s = summ(p, arms=["solo"], control="solo")
    assert s["comparisons"] == {} and s["arms"]["solo"]["failed"] == 1


def test_empty_arm_and_all_failed(tmp_path: Path) -> None:
    p = make_patients(arms=["a", "b"], n=4)
    p.loc[p["arm"] == "a", ["status", "pfs_months", "os_months", "bor"]] = ["failed", np.nan, np.nan, "NE"]
    s = summarize(p, name="t", seed=0, version="0", spec_sha256="", arm_order=["a", "b", "ghost"], control="b")
    assert s["arms"]["ghost"]["n"] == 0 and s["arms"]["ghost"]["orr"] is None
    assert s["comparisons"]["a vs b"]["hr_os"] is None
    f = tmp_path / "r.html"
    write_trial_report(f, spec_text="", summary=s, patients=p, visits=None, reference=load("checkmate067"),
                       design="parallel")
    text = f.read_text()
    assert "could not be drawn" not in text and "ghost" in text


def test_calibration_status_names_the_fitted_endpoints(tmp_path: Path) -> None:
    # The shipped calibration was fitted to CheckMate 067: its report says which rows are fitted, not "not calibrated".
    import json
    from importlib import resources

    from immunotwin.reference import calibration_status

    prov = json.loads(resources.files("immunotwin.data").joinpath("calibration.json").read_text())["provenance"]
    line = calibration_status(load("checkmate067"))
    assert line is not None and prov["label"] in line and "not validation" in line
    assert all(ep in line for ep in prov["fitted_endpoints"])
    assert "none of this reference's figures" in calibration_status({"trial": "another trial"})
    p = make_patients(arms=CM_ARMS, bor_counts={a: (6, 14, 8, 10, 2) for a in CM_ARMS},
                      scale=dict(zip(CM_ARMS, [14.0, 9.0, 3.0], strict=True)))
    s = summarize(p, name="t", seed=1, version="0", spec_sha256="x" * 64, arm_order=CM_ARMS, control=CM_ARMS[-1])
    s["calibrated"] = line
    f = tmp_path / "report.html"
    write_trial_report(f, spec_text="", summary=s, patients=p, visits=None, reference=load("checkmate067"),
                       design="parallel")
    text = f.read_text(encoding="utf-8")
    assert "Calibration status:" in text and "Not calibrated yet" not in text


def test_irae_onset_figure_medians_by_hand() -> None:
    """Oracle by hand: arm A's skin irAEs start at weeks 2, 4 and 9 (median 4, quartiles 3 and 6.5) and reach
    grade 2 at weeks 5 and 7 (median 6); its gut irAE at week 8 only. Arm B has a skin irAE at week 10 and nothing
    else. The liver has no irAE in either arm: no row. No onsets at all: a note, not a figure."""
    from matplotlib.figure import Figure

    from immunotwin.model.organs import IRAES
    from immunotwin.report.figures import irae_onset_figure

    nan = np.nan
    cols = {f"irae_{k}_onset{s}_weeks": [nan] * 5 for k in IRAES for s in ("", "2")}
    cols["irae_dermatitis_onset_weeks"] = [2, 4, 9, 10, nan]
    cols["irae_dermatitis_onset2_weeks"] = [5, 7, nan, nan, nan]
    cols["irae_colitis_onset_weeks"] = [8, nan, nan, nan, nan]
    p = pd.DataFrame({"arm": ["A", "A", "A", "B", "B"], **cols})
    fig = irae_onset_figure(p, ["A", "B"])
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    marks = {ln.get_gid(): float(ln.get_xdata()[0]) for ln in ax.get_lines() if ln.get_gid()}
    assert marks == {"A|dermatitis|any": 4.0, "A|dermatitis|grade2": 6.0, "A|colitis|any": 8.0,
                     "B|dermatitis|any": 10.0}
    iqr = [tuple(ln.get_xdata()) for ln in ax.get_lines() if not ln.get_gid() and len(ln.get_xdata()) == 2]
    assert (3.0, 6.5) in iqr
    assert [t.get_text() for t in ax.get_yticklabels()] == ["dermatitis", "colitis"]
    empty = p.assign(**{c: nan for c in p.columns if c.endswith("_weeks")})
    assert isinstance(irae_onset_figure(empty, ["A", "B"]), str)
