"""Trials on the fused integrator (``immunotwin trial --engine fused``): the same patients at any
chunk size, the same clinical outcomes as the JAX engine to within what the integration
tolerance can flip, and a run directory that refuses to be resumed by the other engine."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from immunotwin.cli import main
from immunotwin.fused.engine import compiler


def write_spec(tmp: Path) -> Path:
    from test_trial import write_spec as small_trial  # the fast suite's small two-arm trial

    return small_trial(tmp)


pytestmark = pytest.mark.skipif(compiler() is None, reason="the fused engine needs a C compiler")


def _trial(spec: Path, out: Path, chunk: int, engine: str) -> int:
    with pytest.MonkeyPatch.context() as mp:  # the CLI sets IMMUNOTWIN_ENGINE; undone after
        mp.setenv("IMMUNOTWIN_ENGINE", "jax")
        return main(["trial", str(spec), "--out", str(out), "--chunk-size", str(chunk), "--engine", engine, "--quiet"])


@pytest.fixture(scope="module")
def fused_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("fused_trial")
    assert _trial(write_spec(tmp), tmp / "f24", 24, "fused") == 0
    return tmp / "f24"


def test_fused_step_agrees_with_the_jax_step() -> None:
    from immunotwin import bench, engine

    p, plan = bench.prepare_arm(bench._spec(bench.DEFAULT_SPEC), 0, 6, 2026)
    inputs = engine.zero_inputs(p.n)
    inputs["tfd"] = plan.first_dose(p.n)
    inputs["steroid"][:3] = 60.0  # prednisone-equivalent mg/day for half of them
    y = p.y0.copy()
    y[:, engine.LAYOUT.slices["pk_central"]] += plan.doses_on(0.0)
    active = np.array([True, True, True, True, True, False])
    out = {}
    for name in ("jax", "fused"):
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("IMMUNOTWIN_ENGINE", name)
            out[name] = engine.step(y, p.params, inputs, 0.0, 7, active=active)
    (a, ok_a), (b, ok_b) = out["jax"], out["fused"]
    assert ok_a.all() and ok_b.all() and a.shape == b.shape == (p.n, 7, y.shape[1])
    assert np.array_equal(b[5], np.broadcast_to(y[5], (7, y.shape[1])))  # not active: held still
    scale = np.maximum(np.abs(a), 1e-6)
    assert np.max(np.abs(a - b) / scale) < 1e-3  # both at rtol 1e-6 over a week
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IMMUNOTWIN_ENGINE", "cvode")
        with pytest.raises(ValueError, match="IMMUNOTWIN_ENGINE"):
            engine.step(y, p.params, inputs, 0.0, 7)


def test_fused_trial_is_the_same_at_any_chunk_size(fused_run: Path, tmp_path: Path) -> None:
    assert _trial(write_spec(tmp_path), tmp_path / "f7", 7, "fused") == 0
    pd.testing.assert_frame_equal(pd.read_parquet(fused_run / "patients.parquet"),
                                  pd.read_parquet(tmp_path / "f7/patients.parquet"), check_exact=True)


def test_a_run_directory_keeps_its_engine(fused_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    assert json.loads((fused_run / "manifest.json").read_text())["engine"] == "fused"
    assert _trial(write_spec(tmp_path), fused_run, 24, "jax") == 2
    assert "engine" in capsys.readouterr().err


def test_fused_trial_outcomes_match_the_jax_engine(fused_run: Path, tmp_path: Path) -> None:
    assert _trial(write_spec(tmp_path), tmp_path / "j24", 24, "jax") == 0
    f = pd.read_parquet(fused_run / "patients.parquet")
    j = pd.read_parquet(tmp_path / "j24/patients.parquet")
    assert len(f) == len(j) == 48 and (f["status"] == "ok").all()
    # the same patients and clinic; only the integrator's steps differ (both rtol 1e-6): outcomes agree
    # except where a tumour sits on a RECIST threshold
    assert (f["bor"] == j["bor"]).mean() >= 0.9
    assert np.isclose(f["pfs_months"], j["pfs_months"], rtol=0.05).mean() >= 0.9


def test_an_unknown_engine_is_refused_with_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IMMUNOTWIN_ENGINE", "cvode")
        rc = main(["trial", str(write_spec(tmp_path)), "--out", str(tmp_path / "x"), "--quiet"])
    assert rc == 2 and "IMMUNOTWIN_ENGINE" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
