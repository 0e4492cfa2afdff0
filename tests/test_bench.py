"""The benchmark: its accuracy measure, its report, and (slow) the command end to end on tiny N.

No test asserts a speed: timings depend on the machine.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from immunotwin import bench
from immunotwin.cli import main

ONE_ARM_SPEC = """
name = "bench test"
seed = 1
follow_up = "24 months"
design = "parallel"
control = "nivolumab"

[population]
cancer = "melanoma"
size_per_arm = 10

[[arm]]
name = "nivolumab"
  [[arm.drug]]
  name = "nivolumab"
  dose = "3 mg/kg"
  every = "2 weeks"
"""


def test_arm_sizes_split_evenly() -> None:
    assert bench.arm_sizes(10, 3) == [4, 3, 3]
    assert sum(bench.arm_sizes(2000, 3)) == 2000


def test_relative_errors_use_floors_and_count_failures() -> None:
    ref = np.ones((2, 3, 4))
    ref[..., 2] = 0.0  # an unused slot
    obs = ref.copy()
    obs[0, 1, 0] = 1.001
    obs[1, 2, 1] = 0.9
    e = bench.rel_errors(obs, ref, used_slots=[0])
    assert e["tumour_rel_error"] == pytest.approx(1e-3)
    assert e["conc_rel_error"] == pytest.approx(0.1)
    assert e["max_rel_error"] == pytest.approx(0.1)
    tiny = ref.copy()
    tiny[..., 0] = 1e-12
    assert bench.rel_errors(tiny * 2, tiny, [])["tumour_rel_error"] < 1e-5  # below the floor: no blow-up
    obs[0, 0, 0] = np.nan
    assert bench.rel_errors(obs, ref, [0])["max_rel_error"] == float("inf")


def _fake_results() -> dict:
    def engine(speed: float, errors: list[float]) -> dict:
        points = [{"rtol": r, "atol": r * 1e-3, "n": 6, "wall_s": 1.0, "cpu_s": 1.0, "patients_per_s": speed / (i + 1),
                   "patients_per_cpu_s": speed / (i + 1), "tumour_rel_error": e, "conc_rel_error": e / 2,
                   "max_rel_error": e} for i, (r, e) in enumerate(zip((1e-4, 1e-6, 1e-8), errors, strict=True))]
        return {"points": points, "peak_rss_mb": 500.0, "compile_s": 3.0, "device": "cpu"}

    engines = {"immunotwin": bench._summarise(engine(100.0, [1e-3, 1e-5, 1e-7])),
               "roadrunner": bench._summarise(engine(1.0, [1e-2, 1e-4, 1e-6])),
               "scipy": bench._summarise(engine(3.0, [1e-1, 1e-2, 1e-3]))}
    return {"n": 6, "backend": "cpu", "device": "cpu: cpu", "command": "immunotwin bench --patients 6",
            "started": "now", "elapsed_s": 60.0, "machine": bench.machine(), "versions": bench.versions(),
            "model": {"states": 63, "horizon_days": 728.0, "spec": "x.toml", "arms": ["a"], "patients_per_arm": [6]},
            "accuracy": {"reference": "ref", "patients_per_arm": 2, "tumour_floor": 1e-6, "conc_floor_mg_l": 1e-3,
                         "reference_wall_s": 1.0, "reference_finite": True},
            "engines": engines, "equal_accuracy": bench.equal_accuracy(engines), "engine_chunk": 512,
            "scaling": [], "memory": [], "trial_path": None}


def test_equal_accuracy_reads_speeds_at_one_error_level() -> None:
    res = _fake_results()
    eq = res["equal_accuracy"]
    # scipy's best error (1e-3) is the tightest every engine reaches.
    assert eq["target_max_rel_error"] == pytest.approx(1e-3)
    assert eq["engines"]["scipy"]["patients_per_s"] == pytest.approx(1.0)  # its rtol 1e-8 point
    it = eq["engines"]["immunotwin"]
    assert it["patients_per_s"] == pytest.approx(100.0)
    rr = eq["engines"]["roadrunner"]  # between its 1e-4 (error 1e-4, 1/2 per s) and 1e-2 points: log-log
    assert rr["patients_per_s"] == pytest.approx(np.exp(0.5 * np.log(1.0) + 0.5 * np.log(0.5)))
    assert rr["immunotwin_speedup_wall"] == pytest.approx(100.0 / rr["patients_per_s"])
    assert bench._speed_at(res["engines"]["scipy"]["work_precision"], 1e-5) is None


def test_report_is_rendered_from_the_results() -> None:
    res = _fake_results()
    assert bench.check_shape(res) == []
    md = bench.render_markdown(res)
    assert "immunotwin bench --patients 6" in md and res["machine"]["cpu"] in md
    assert "| roadrunner | 1e-08 |" in md and "## At equal accuracy: max rel. error 0.001" in md
    assert bench.check_shape({"n": 1, "engines": {"x": {"patients_per_s": "fast"}}})


def test_bench_command_rejects_bad_input(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rc = main(["bench", "--patients", "1", "--engines", "immunotwin,cvode", "--tolerances", "x",
               "--json", str(tmp_path / "r.json")])
    err = capsys.readouterr().err
    assert rc == 2
    assert "--patients" in err and "cvode" in err and "--tolerances" in err
    assert not (tmp_path / "r.json").exists()


@pytest.mark.slow
def test_bench_command_writes_json_and_report(tmp_path: Path) -> None:
    spec = tmp_path / "one_arm.toml"
    spec.write_text(ONE_ARM_SPEC)
    engines = "immunotwin,scipy,diffrax_vmap"
    from immunotwin.fused.engine import compiler

    if compiler() is not None:
        engines += ",fused"
    try:
        import roadrunner  # noqa: F401

        engines += ",roadrunner"
    except ImportError:
        pass
    out, md = tmp_path / "results.json", tmp_path / "RESULTS.md"
    rc = main(["bench", "--patients", "3", "--accuracy-patients", "1", "--tolerances", "1e-4:1e-7,1e-6:1e-9",
               "--engines", engines, "--scaling", "3", "--memory", "3", "--trial-patients", "3", "--spec", str(spec),
               "--json", str(out), "--markdown", str(md), "--quiet"])
    assert rc == 0
    res = json.loads(out.read_text())
    assert bench.check_shape(res) == []
    assert res["n"] == 3 and res["backend"] == "cpu" and res["device"]
    assert set(res["engines"]) == set(engines.split(","))
    for name, e in res["engines"].items():
        assert e["patients_per_s"] > 0 and e["peak_rss_mb"] > 0, name
        assert e["max_rel_error"] < 1e-3, name  # every engine is close to the reference at rtol 1e-6
        assert len(e["work_precision"]) == 2
    assert res["scaling"][0]["n"] == 3 and res["memory"][0]["weeks"] == 4
    assert res["trial_path"]["rows"] == 3
    text = md.read_text()
    assert "Work-precision" in text and res["machine"]["cpu"] in text


def test_stored_gpu_measurements_render_with_their_roofline() -> None:
    from immunotwin.fused.gpubench import LOOP_FLOPS_PER_STATE, LOOP_WORDS_PER_STATE, render_stored, roofline

    folder = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu"
    text = render_stored(folder)
    assert "## GPU: NVIDIA H200" in text and "### Roofline" in text and "run4_lanes_h200.json" in text
    assert render_stored(folder / "missing") == ""
    # by hand: 10 states, 100 operations per right-hand side, 50 steps over 4 weeks, 1000 patients/s
    arm = {"n_integrated": 10, "ops_per_rhs": 100, "n_theta": 3}
    ceil = {"fma64_tflops": 1.0, "fma32_tflops": 2.0, "copy_tb_s": 1.0}
    r = roofline(arm, 50.0, "float64", 1000.0, ceil, weeks=4)
    flops = 100 * (6 * 50 + 4) + LOOP_FLOPS_PER_STATE * 10 * 50
    assert r["rhs_evals"] == 304 and r["flops"] == flops
    assert r["local_bytes"] == LOOP_WORDS_PER_STATE * 10 * 50 * 8
    assert abs(r["flop_fraction"] - flops * 1000 / 1e12) < 1e-15
    assert roofline(arm, 50.0, "float32", 1000.0, ceil, weeks=4)["local_bytes"] == r["local_bytes"] / 2


def test_lockstep_cost_by_hand() -> None:
    steps = np.array([10, 10, 10, 40, 10, 10, 10, 10])
    c = bench.lockstep_cost([steps], groups=(2, 4, 16))
    # pairs (10,10) (10,40) (10,10) (10,10): 2*(10+40+10+10) / 110 = 140/110
    assert c["group_2"] == 140 / 110
    assert c["group_4"] == 4 * (40 + 10) / 110
    assert c["group_2_sorted"] == 2 * (10 + 10 + 10 + 40) / 110  # sorting puts the slow one with a fast one
    assert c["group_16"] is None  # no whole group of 16
    assert c["all"] == 8 * 40 / 110
    assert bench.lockstep_cost([np.full(8, 7.0)], groups=(4,))["group_4"] == 1.0
    # groups never mix arms: two arms of 2, each uniform, waste nothing in pairs
    two = bench.lockstep_cost([np.array([5.0, 5.0]), np.array([9.0, 9.0])], groups=(2,))
    assert two["group_2"] == 1.0 and two["all"] == 1.0
