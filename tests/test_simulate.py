"""The single-patient command: outputs, determinism, bad input (exit 2, nothing written)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from immunotwin.cli import main

REG = "nivolumab 1 mg/kg q3w x4 + ipilimumab 3 mg/kg q3w x4 + nivolumab 3 mg/kg q2w from 12w"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim") / "p"
    assert main(["simulate", "--regimen", REG, "--days", "182", "--seed", "5", "--out", str(out)]) == 0
    return out


def test_outputs_written(run_dir: Path) -> None:
    v = pd.read_parquet(run_dir / "visits.parquet")
    ev = json.loads((run_dir / "events.json").read_text())
    assert (run_dir / "patient.png").stat().st_size > 20_000
    assert v["day"].min() == -42 and v["day"].max() <= 182
    assert v.loc[v["day"] == 0, "dosed"].iloc[0] == "nivolumab+ipilimumab"
    assert ev["response"]["best_overall_response"] in {"CR", "PR", "SD", "PD", "NE"}
    scans = v[v["scan"]]
    assert {-42.0, 0.0, 84.0}.issubset(set(scans["day"]))
    assert "vitiligo" in ev and (ev["vitiligo"] is None or ev["vitiligo"]["worst_grade"] in (1, 2))


def test_vitiligo_in_events(tmp_path: Path) -> None:
    # Seed 5 with nivolumab alone in melanoma: a partial responder who shows vitiligo at the week-14 visit (the skin
    # depigments about 2% of body surface while the tumour is cleared, and the loss stops with it).
    out = tmp_path / "v"
    assert main(["simulate", "--cancer", "melanoma", "--regimen", "nivolumab 240 mg q2w", "--days", "365", "--seed", "5",
                 "--out", str(out)]) == 0
    ev = json.loads((out / "events.json").read_text())
    assert ev["response"]["best_overall_response"] in {"CR", "PR"}
    assert ev["vitiligo"]["worst_grade"] == 1 and 4.0 <= ev["vitiligo"]["onset_week"] <= 52.0


def test_same_seed_same_numbers(run_dir: Path, tmp_path: Path) -> None:
    assert main(["simulate", "--regimen", REG, "--days", "182", "--seed", "5", "--out", str(tmp_path / "a")]) == 0
    pd.testing.assert_frame_equal(pd.read_parquet(run_dir / "visits.parquet"), pd.read_parquet(tmp_path / "a/visits.parquet"))
    assert main(["simulate", "--regimen", REG, "--days", "182", "--seed", "6", "--out", str(tmp_path / "b")]) == 0
    assert not pd.read_parquet(tmp_path / "b/visits.parquet")["sld_mm"].equals(
        pd.read_parquet(run_dir / "visits.parquet")["sld_mm"])


@pytest.mark.parametrize("args, field", [
    (["--regimen", "nivolumabb 3 mg/kg q2w"], "regimen[0].name"),
    (["--regimen", "nivolumab -3 mg/kg q2w"], "regimen[0].dose"),
    (["--regimen", "nivolumab 3 furlongs q2w"], "regimen[0].dose"),
    (["--cancer", "spleen"], "--cancer"),
    (["--days", "-5"], "--days"),
    (["--regimen", "atezolizumab 1200 mg q3w"], "regimen[0].name"),
])
def test_bad_input_exit_2_nothing_written(args: list[str], field: str, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "x"
    assert main(["simulate", *args, "--out", str(out)]) == 2
    assert field in capsys.readouterr().err
    assert not out.exists()


def test_params_lists_units_sources_and_assumed(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["params"]) == 0
    text = capsys.readouterr().out
    assert "metastasis_alpha = 0.663 1" in text and "Iwata" in text and "Bajaj" in text
    assert main(["params", "--assumed"]) == 0
    assumed = capsys.readouterr().out
    assert "ASSUMED" in assumed and "metastasis_alpha" not in assumed


def test_model_document_is_current() -> None:
    from immunotwin.modeldoc import render

    doc = Path(__file__).resolve().parents[1] / "docs" / "model.md"
    assert doc.read_text() == render(), "docs/model.md is stale: run python -m immunotwin.modeldoc"
