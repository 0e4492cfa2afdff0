"""The fused engine on an NVIDIA GPU (CuPy, NVRTC): the same integrator as the CPU build.

Skipped where CuPy or a GPU is missing (CI has none; the CPU build is tested in test_fused.py).
On a GPU machine: ``JAX_PLATFORMS=cpu python -m pytest tests/test_fused_gpu.py`` (JAX only
samples and burns in the patients; CuPy runs the kernels).

What is held: the GPU integrates the dosing-only model as accurately as the CPU build at the same
tolerance (the oracle is the CPU build at rtol 1e-10); persistent lanes, one thread per patient
and any split of the patients give bit-identical numbers on the GPU; a patient that fails is
reported, not raised, and does not change the others; float32 is as accurate as its tolerance.
"""

from __future__ import annotations

import numpy as np
import pytest

from immunotwin import bench
from immunotwin.fused.engine import (
    MAX_STEPS,
    _launch_gpu,
    compiler,
    dose_states,
    dosing_only,
    given_matrix,
    model_for,
    observations,
    plan_inputs,
    save_indices,
)


def _gpu_count() -> int:
    try:
        import cupy as cp

        return int(cp.cuda.runtime.getDeviceCount())
    except Exception:  # no CuPy, no driver or no device
        return 0


pytestmark = [pytest.mark.skipif(_gpu_count() == 0, reason="needs CuPy and an NVIDIA GPU"),
              pytest.mark.skipif(compiler() is None, reason="the CPU build (the oracle) needs a C compiler")]
WEEKS = 104
N = 256  # per arm: with 7 lanes each lane takes about 37 patients in turn


@pytest.fixture(scope="module")
def arms():  # type: ignore[no-untyped-def]
    """The three CheckMate 067 arms (dosing only), N patients each, with the CPU build's figures:
    the tight-tolerance oracle and the default-tolerance run."""
    spec = bench._spec(bench.DEFAULT_SPEC)
    out = []
    for a in range(len(spec.arms)):
        p, plan = bench.prepare_arm(spec, a, N, 2026)
        cpu = model_for(p, plan)
        tight, _ = dosing_only(cpu, p, plan, WEEKS, 1e-10, 1e-13)
        saved, steps = dosing_only(cpu, p, plan, WEEKS)
        out.append({"p": p, "plan": plan, "used": bench.used_slots(plan), "ref": observations(tight, p.params),
                    "cpu": observations(saved, p.params), "cpu_steps": steps})
    return out


def _err(obs: np.ndarray, arm: dict) -> float:
    return bench.rel_errors(obs, arm["ref"], arm["used"])["max_rel_error"]


def _device_args(model, p, plan, weeks: int = WEEKS):  # type: ignore[no-untyped-def]
    """The arrays FusedModel.run hands to the launcher (SoA, the model's dtype)."""
    dt = model.dtype
    theta = model.theta(p.params, plan_inputs(plan, p.n))
    return (p.n, dt, np.ascontiguousarray(p.y0[:, list(model.states)].astype(dt).T),
            np.ascontiguousarray(theta.astype(dt)), np.ascontiguousarray(plan.amount.astype(dt).T),
            np.ascontiguousarray(given_matrix(plan, weeks), dtype=np.uint8), np.ascontiguousarray(model.positions(dose_states(plan))),
            weeks)


def test_gpu_is_as_accurate_as_the_cpu_build(arms) -> None:  # type: ignore[no-untyped-def]
    for a, arm in enumerate(arms):
        gpu = model_for(arm["p"], arm["plan"], target="gpu")
        saved, steps = dosing_only(gpu, arm["p"], arm["plan"], WEEKS)
        assert np.all(steps > 0)
        e_gpu, e_cpu = _err(observations(saved, arm["p"].params), arm), _err(arm["cpu"], arm)
        # the same algorithm and tolerance; the GPU contracts multiply-adds (NVRTC's default), so the
        # step sequences part at rounding level and the errors differ by chance, not in size
        # (at rtol 1e-6 the CPU build's worst error over 256 patients, 105 weekly points and every
        # drug is about 2e-3; 1e-2 is a ceiling that an integrator gone wrong would pass by far)
        assert e_gpu < 1e-2 and e_gpu < 3 * e_cpu + 1e-7, (e_gpu, e_cpu)
        assert abs(steps.mean() / arm["cpu_steps"].mean() - 1) < 0.02
        print(f"GPU-FIGURE accuracy, arm {a}: gpu {e_gpu:.3g} "
              f"cpu {e_cpu:.3g} steps gpu {steps.mean():.1f} cpu {arm['cpu_steps'].mean():.1f}")


def test_gpu_lanes_threads_and_splits_give_identical_numbers(arms) -> None:  # type: ignore[no-untyped-def]
    arm = arms[0]
    p, plan = arm["p"], arm["plan"]
    gpu = model_for(p, plan, target="gpu")
    si = np.ascontiguousarray(gpu.positions(save_indices()))
    args = _device_args(gpu, p, plan)
    base, base_st = _launch_gpu(gpu._fn, *args, 1e-6, 1e-9, MAX_STEPS, si, 0)  # one thread per patient
    for lanes in (7, 64, N):
        out, st = _launch_gpu(gpu._fn, *args, 1e-6, 1e-9, MAX_STEPS, si, lanes)
        assert np.array_equal(out, base, equal_nan=True) and np.array_equal(st, base_st), lanes
    whole, _ = dosing_only(gpu, p, plan, WEEKS)  # the engine's own call (default lanes)
    parts = [dosing_only(gpu, *bench._slice(p, plan, lo, hi), WEEKS)[0] for lo, hi in ((0, 100), (100, N))]
    assert np.array_equal(np.concatenate(parts), whole) and np.all(np.isfinite(whole))
    assert np.array_equal(whole, base.reshape(WEEKS + 1, len(si), N).transpose(2, 0, 1))


def test_gpu_failing_patient_is_reported_not_raised(arms) -> None:  # type: ignore[no-untyped-def]
    arm = arms[1]
    p, plan = arm["p"], arm["plan"]
    gpu = model_for(p, plan, target="gpu")
    theta = gpu.theta(p.params, plan_inputs(plan, p.n))
    args = (p.y0, theta, plan.amount, given_matrix(plan, WEEKS), dose_states(plan), WEEKS, save_indices())
    saved, steps = gpu.run(*args)
    cap = int(np.sort(steps)[p.n // 2])  # half the patients need more attempts than this
    capped, st = gpu.run(*args, max_steps=cap)
    failed = st < 0
    assert 0 < failed.sum() < p.n
    assert np.all(np.isnan(capped[failed, -1])) and np.all(np.isfinite(capped[~failed]))
    assert np.array_equal(capped[~failed], saved[~failed])  # the others are untouched
    lanes_saved, lanes_st = gpu.run(*args, max_steps=cap, lanes=5)
    assert np.array_equal(lanes_st, st) and np.array_equal(lanes_saved, capped, equal_nan=True)


def test_gpu_float32_is_as_accurate_as_its_tolerance(arms) -> None:  # type: ignore[no-untyped-def]
    arm = arms[0]
    p, plan = arm["p"], arm["plan"]
    e = {}
    for prec in ("float64", "float32"):
        m = model_for(p, plan, target="gpu", precision=prec)
        saved, steps = dosing_only(m, p, plan, WEEKS, 1e-4, 1e-7)
        assert saved.dtype == m.dtype and np.all(steps > 0)
        e[prec] = _err(observations(saved, p.params), arm)
    # rounding in float32 (about 1e-7 a step, over about 500 steps) adds little to the truncation
    # error at rtol 1e-4 (the CPU build over these patients: 8.6e-2 and 8.8e-2, float32 and float64)
    print(f"GPU-FIGURE float32 at rtol 1e-4: {e}")
    assert e["float32"] < 1.5 * e["float64"] + 1e-3 and e["float64"] < 0.3, e
