"""Slow: the CheckMate 067 example at 1,000 patients per arm on the shipped (calibrated)
defaults — arm ordering, the calibration bands of issue 4, and what management changes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from immunotwin.cli import main
from immunotwin.model.organs import IRAES
from immunotwin.readouts import CHECKMATE067_RESPONSE_CUTOFF_MONTHS, response_by
from immunotwin.reference import load
from immunotwin.survival import km_median, km_rate

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "checkmate067.toml"
pytestmark = pytest.mark.slow
REF = load("checkmate067")["endpoints"]
ARMS = ("nivolumab + ipilimumab", "nivolumab", "ipilimumab")

# Endpoints outside the issue-4 bands after calibration, as measured by `immunotwin validate`
# (docs/credibility.md). They are expected failures, kept visible: if one starts to pass,
# pytest reports XPASS and the list should shrink.
C, N, I = "nivolumab + ipilimumab", "nivolumab", "ipilimumab"
# Measured (1,000 per arm, calibration iteration 13 with its refits, stop 42, runs/val60): median PFS combination 19.3
# months (11.5; 16.8 with iteration 12, stop 41), nivolumab 5.52 (the week-24 scan, 5.5195 months, under the band's floor 5.52 by 0.0005); ipilimumab's
# CR rate 0.065 (0.022, band to 0.062). Before (iteration 11, stop 29; a new lesion counted only while visible):
# median PFS combination 24.8 months (11.5; 24.8 with iteration 10 under the rule, 19.3 before it). Nivolumab's reads
# 8.28 (the week-36 scan, 8.279 months, inside the band's top 8.28 by 0.0007, so it XPASSes; 8.28 with iteration 10
# too, 5.52, the week-24 scan just under the band, before stop 28): a KM curve near 0.5 for months, read at scans,
# puts the step median on a scan day at either edge of the band, so it stays listed (non-strict).
# Stop 51: next-line therapy is one draw per patient and reaches patients who stopped the first line for toxicity
# (both bugs before), given by BRAF status to 70% of progressors; with the calibration fitted under the old rules the
# combination's 24-month OS reads 0.702 (0.64, band to 0.70): the combination's many toxicity stops now get a next line.
# Stop 52: treatment-related events are read within the reporting window (first dose to 30 days after the last
# first-line dose, cut at the first next-line dose), as CheckMate 067's tables count them; with the calibration fitted
# on every event over follow-up, ipilimumab's grade >= 3 TRAE share reads 0.235 (0.28, band from 0.24; 0.266 before).
# Calibration iteration 14 (runs/val73, the same trial): the combination's median PFS 19.3 months (11.5),
# nivolumab's 5.52 (6.9, a scan step under the band), ipilimumab's grade >= 3 TRAEs 0.235 (0.28); ipilimumab's CR
# rate (0.061) and the combination's 24-month OS (0.659) came inside, so they are no longer listed.
KNOWN_MISSES: set[tuple[str, str]] = {
    # the combination's median PFS 22.3 against 11.5 (validate at 1,000 per arm): its curve runs level near 0.5
    # from the first year, a few points above the published one. Nivolumab's, 5.52 (the week-24 scan, the band's
    # edge) while every scan fell on its scheduled day, reads 5.75 since the spec gives the protocol's visit window
    # (stop 63), inside
    ("median_pfs_months", C),
    # calibration iteration 16 (stop 60): 0.072 against 0.022 (validate, runs/val89; band ±0.04); 0.069 with
    # iteration 15, 0.061 with iteration 14 (inside by 0.001);
    # ipilimumab's grade >= 3 TRAEs, a miss until iteration 14 (0.235 against 0.28), now read 0.281
    ("cr_rate", I),
}


@pytest.fixture(scope="module")
def cm067(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    out = tmp_path_factory.mktemp("cm067") / "run"
    assert main(["trial", str(EXAMPLE), "--out", str(out), "--patients-per-arm", "1000", "--visits", "none",
                 "--quiet"]) == 0
    return pd.read_parquet(out / "patients.parquet")


def _value(p: pd.DataFrame, endpoint: str, arm: str) -> float:
    a = p[(p["arm"] == arm) & (p["status"] == "ok")]
    if endpoint in ("orr", "cr_rate"):
        # Larkin 2015's response figures: best response read at that paper's data cut-off
        resp, cr = response_by(a, CHECKMATE067_RESPONSE_CUTOFF_MONTHS)
        return float((resp if endpoint == "orr" else cr).mean())
    if endpoint == "grade3plus_trae":
        # irAEs, neutropenia and the events outside the organs, within the reporting window (readouts.trae_column)
        return float((a["any_trae_grade_reported"] >= 3).mean())
    if endpoint == "discontinued_for_trae":
        return float((a["discontinued"] == "toxicity").mean())
    if endpoint == "median_pfs_months":
        return float(km_median(a["pfs_months"], a["pfs_event"]) or float("inf"))
    if endpoint == "median_os_months":
        return float(km_median(a["os_months"], a["os_event"]) or float("inf"))
    if endpoint.startswith("os_rate_"):
        return km_rate(a["os_months"], a["os_event"], float(endpoint.split("_")[-1]))
    raise KeyError(endpoint)


BANDS = {"orr": 0.04, "cr_rate": 0.04, "grade3plus_trae": 0.04, "discontinued_for_trae": 0.04,
         "os_rate_24": 0.06, "os_rate_36": 0.06, "os_rate_60": 0.06}


def _published(endpoint: str, arm: str) -> float:
    if endpoint.startswith("os_rate_"):
        return float(REF["os_rate"][endpoint.split("_")[-1]][arm])
    return float(REF[endpoint][arm])


CASES = [(e, a) for e in (*BANDS, "median_pfs_months", "median_os_months") for a in ARMS]


@pytest.mark.parametrize("endpoint, arm", [
    pytest.param(e, a, marks=pytest.mark.xfail(reason="outside band after calibration (see credibility.md)"))
    if (e, a) in KNOWN_MISSES else (e, a) for e, a in CASES])
def test_calibration_bands(cm067: pd.DataFrame, endpoint: str, arm: str) -> None:
    sim, pub = _value(cm067, endpoint, arm), _published(endpoint, arm)
    if endpoint == "median_os_months" and pub > 60.0:  # the combination's 72.1 months, beyond the 60 simulated
        assert sim == float("inf"), f"median OS {arm}: {sim:.1f} months, published {pub} (not reached by 60)"
        return
    band = {"median_pfs_months": 0.2 * pub, "median_os_months": 0.25 * pub}.get(endpoint) or BANDS[endpoint]
    assert abs(sim - pub) <= band, f"{endpoint} {arm}: simulated {sim:.3f}, published {pub:.3f}, band ±{band:.3f}"


@pytest.mark.parametrize("arm", [C, N])
def test_pfs_hazard_ratio_in_band(cm067: pd.DataFrame, arm: str) -> None:
    # Larkin 2015: stratified Cox hazard ratio against ipilimumab; issue-4 band ±0.10. Read here as
    # the calibration reads it (Cox, Efron ties; measured 0.381 and 0.506 in runs/val11; Larkin's is stratified).
    from immunotwin.weighted import cox_hr

    ok = cm067[cm067["status"] == "ok"]
    a, c = ok[ok["arm"] == arm], ok[ok["arm"] == I]
    hr = cox_hr(a["pfs_months"].to_numpy(float), a["pfs_event"].to_numpy(bool), np.ones(len(a)),
                c["pfs_months"].to_numpy(float), c["pfs_event"].to_numpy(bool), np.ones(len(c)))
    pub = float(REF["hr_pfs"][f"{arm} vs {I}"])
    assert abs(hr - pub) <= 0.10, f"PFS HR {arm} vs {I}: simulated {hr:.3f}, published {pub:.3f}"


@pytest.mark.parametrize("endpoint", ["orr", "cr_rate", "median_pfs_months", "os_rate_24", "os_rate_36"])
def test_arm_ordering_matches_published(cm067: pd.DataFrame, endpoint: str) -> None:
    # Published: combination > nivolumab > ipilimumab for response, PFS and OS.
    vals = [_value(cm067, endpoint, a) for a in ARMS]
    assert vals[0] >= vals[1] > vals[2], vals


def test_toxicity_ordering_matches_published(cm067: pd.DataFrame) -> None:
    # Published grade 3+ TRAE 59% / 21% / 28% and discontinuation 36% / 8% / 15%.
    for endpoint in ("grade3plus_trae", "discontinued_for_trae"):
        c, n, i = (_value(cm067, endpoint, a) for a in ARMS)
        assert c > i > n, (endpoint, c, n, i)


def test_no_failed_patients(cm067: pd.DataFrame) -> None:
    assert (cm067["status"] == "ok").all()
    assert cm067.groupby("arm").size().tolist() == [1000, 1000, 1000]


def test_management_lowers_severe_toxicity(tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace('follow_up = "60 months"', 'follow_up = "12 months"')
    rows = {}
    for guideline in ("asco2021", "none"):
        spec = tmp_path / f"{guideline}.toml"
        spec.write_text(text.replace('guideline = "asco2021"', f'guideline = "{guideline}"'))
        out = tmp_path / guideline
        assert main(["trial", str(spec), "--out", str(out), "--patients-per-arm", "150", "--visits", "none",
                     "--quiet"]) == 0
        p = pd.read_parquet(out / "patients.parquet")
        rows[guideline] = p[p["arm"] == "nivolumab + ipilimumab"]
        s = json.loads((out / "summary.json").read_text())
        assert s["arms"]["nivolumab + ipilimumab"]["n"] == 150
    managed, unmanaged = rows["asco2021"], rows["none"]
    assert (managed["any_irae_grade"] >= 4).mean() < (unmanaged["any_irae_grade"] >= 4).mean()
    assert managed["steroids"].mean() > 0.2 and unmanaged["steroids"].mean() == 0


def test_probability_of_success_orders_regimens_by_effect(cm067: pd.DataFrame) -> None:
    # Replicate trials of 40 per arm drawn from the 1,000-per-arm run: the combination (PFS HR about 0.37
    # against ipilimumab) succeeds more often than nivolumab (about 0.49); both far above the null's 2.5%.
    from immunotwin.success import probability_of_success

    combo = probability_of_success(cm067, C, I, "pfs", 40, replicates=300, seed=5)
    nivo = probability_of_success(cm067, N, I, "pfs", 40, replicates=300, seed=5)
    assert combo.probability > nivo.probability > 0.3
    assert combo.effect_median < nivo.effect_median < 1.0


def test_success_command_writes_its_table(tmp_path: Path) -> None:
    out = tmp_path / "pos"
    assert main(["success", str(EXAMPLE), "--arm", N, "--endpoints", "pfs,orr,pfs", "--size-per-arm", "30",
                 "--replicates", "50", "--patients", "40", "--out", str(out)]) == 0
    doc = json.loads((out / "success.json").read_text())
    assert [r["endpoint"] for r in doc["results"]] == ["pfs", "orr"]  # the repeated pfs is read once
    for r in doc["results"]:
        assert r["control"] == I and 0.0 <= r["probability"] <= 1.0
        assert r["probability_ci95"][0] <= r["probability"] <= r["probability_ci95"][1]
    assert (out / "trial" / "patients.parquet").is_file()
    assert doc["parameter_uncertainty"] == []


def test_success_command_with_parameter_draws(tmp_path: Path) -> None:
    out = tmp_path / "pos"
    assert main(["success", str(EXAMPLE), "--arm", C, "--size-per-arm", "30", "--replicates", "40",
                 "--patients", "30", "--parameter-draws", "2", "--out", str(out)]) == 0
    (q,) = json.loads((out / "success.json").read_text())["parameter_uncertainty"]
    assert q["endpoint"] == "pfs" and len(q["per_draw"]) == 2 and q["patients_per_arm"] == 30
    assert all(0.0 <= x <= 1.0 for x in q["per_draw"])
    assert q["range95"][0] <= q["mean"] <= q["range95"][1]


def test_severe_iraes_apart_from_events_outside_the_organs(cm067: pd.DataFrame) -> None:
    # Unfitted: select immune-related grade >= 3 events under nivolumab, 4% (Weber et al., J Clin Oncol 2017;
    # reference/irae.json), ±4 points. The fitted grade >= 3 TRAE figure adds events outside the modelled organs;
    # the immune-related ones among them are drawn at a hazard proportional to the patient's autoreactive activity,
    # so in every arm they fall on the patients whose pools were activated (upper half of the activity), not on
    # the rest.
    ok = cm067[cm067["status"] == "ok"]
    nivo = ok[ok["arm"] == N]
    assert abs((nivo["any_irae_grade_reported"] >= 3).mean() - 0.04) <= 0.04
    for a in ARMS:
        g = ok[ok["arm"] == a]
        hi = g["autoreactive_activity_months"] > g["autoreactive_activity_months"].median()
        assert g.loc[hi, "systemic_irae_grade3"].mean() > 2 * g.loc[~hi, "systemic_irae_grade3"].mean() + 0.02, a
    extra = {a: (ok.loc[ok["arm"] == a, "any_trae_grade_reported"] >= 3).mean()
             - (ok.loc[ok["arm"] == a, "any_irae_grade_reported"] >= 3).mean() for a in ARMS}
    assert all(v > 0 for v in extra.values()), extra


def test_grade4_and_fatal_iraes_occur(cm067: pd.DataFrame) -> None:
    # With tissue vulnerability varying between patients, irAEs reach grade 4 (colitis and hepatitis among them)
    # and some are fatal (none could before); the combination, with the most severe irAEs, has the most. Since the
    # skin, gut and liver damage rates were fitted to their severities (calibration iteration 10), colitis or
    # hepatitis reaches grade 4 in 0.4% of combination patients (1.5-2% before) and any irAE in 3.6%
    # (runs/val30; 1.1% with ipilimumab, 0.6% with nivolumab).
    ok = cm067[cm067["status"] == "ok"]
    g4 = {a: (ok.loc[ok["arm"] == a, "any_irae_grade"] >= 4).mean() for a in ARMS}
    assert g4[C] > 0.01 and g4[C] > max(g4[N], g4[I]), g4
    combo = ok[ok["arm"] == C]
    assert (combo[["irae_colitis_grade", "irae_hepatitis_grade"]] >= 4).any(axis=1).any()
    fatal = {a: (ok.loc[ok["arm"] == a, "death_cause"] == "irae").mean() for a in ARMS}
    assert fatal[C] > 0 and fatal[C] >= max(fatal[N], fatal[I]), fatal
    # A fatal irAE is seen at death even without a visit that step: it has a grade >= 3 onset, and it counts in the
    # reporting window when death came within it (stop 52: before, a jump to grade 4 between visits left no onset)
    dead = ok[ok["death_cause"] == "irae"]
    onset3 = dead[[f"irae_{k}_onset3_weeks" for k in IRAES]].min(axis=1)
    assert onset3.notna().all()
    within = (onset3 <= dead["ae_window_end_weeks"]).to_numpy()
    assert (dead["any_irae_grade_reported"].to_numpy()[within] >= 3).all()
