"""Slow: the CheckMate 067 example at full follow-up, and what management changes."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from immunotwin.cli import main

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "checkmate067.toml"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cm067(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cm067") / "run"
    assert main(["trial", str(EXAMPLE), "--out", str(out), "--patients-per-arm", "300", "--visits", "none",
                 "--quiet"]) == 0
    return out


def test_checkmate067_runs_without_failures(cm067: Path) -> None:
    s = json.loads((cm067 / "summary.json").read_text())
    for arm in s["arms"].values():
        assert arm["n"] == 300 and arm["failed"] == 0


def test_checkmate067_arm_ordering_matches_published(cm067: Path) -> None:
    # Published (Larkin 2015; Wolchok 2017): ORR combination > nivolumab > ipilimumab;
    # PFS hazard ratios against ipilimumab below 1; grade 3+ toxicity combination > ipilimumab > nivolumab.
    s = json.loads((cm067 / "summary.json").read_text())["arms"]
    c = json.loads((cm067 / "summary.json").read_text())["comparisons"]
    combo, nivo, ipi = s["nivolumab + ipilimumab"], s["nivolumab"], s["ipilimumab"]
    assert combo["orr"] > nivo["orr"] > ipi["orr"]
    assert c["nivolumab + ipilimumab vs ipilimumab"]["hr_pfs"] < 1
    assert c["nivolumab vs ipilimumab"]["hr_pfs"] < 1
    assert combo["irae"]["grade3plus"] > ipi["irae"]["grade3plus"] > nivo["irae"]["grade3plus"]


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
    managed, unmanaged = rows["asco2021"], rows["none"]
    assert (managed["any_irae_grade"] >= 4).mean() < (unmanaged["any_irae_grade"] >= 4).mean()
    assert managed["steroids"].mean() > 0.2 and unmanaged["steroids"].mean() == 0
