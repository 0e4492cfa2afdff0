"""Speed and accuracy of immunotwin's engine next to its peers, on the same model.

``immunotwin bench --patients N --backend cpu|gpu --json FILE [--markdown FILE]`` measures,
in one run on one machine, patients simulated per second on the **dosing-only model**
(the model's ODEs with the CheckMate 067 regimens of ``examples/checkmate067.toml`` given
on schedule; no clinic decisions, no steroids) over 2 years (104 weeks), for:

``immunotwin``
    the engine as the clinic uses it: ``engine.step`` over weekly steps on batches of up to
    512 patients (the trial's chunk size), doses added between steps.
``fused``
    immunotwin's fused per-patient integrator (:mod:`immunotwin.fused`): the right-hand side
    generated as C from the traced equations, each patient's own adaptive Tsit5 loop, doses
    on the weekly grid, patients spread over the cores with OpenMP. The same source runs one
    GPU thread per patient (``python -m immunotwin.fused.gpubench``; its stored measurements
    in ``benchmarks/gpu/`` are rendered into RESULTS.md).
``diffrax_vmap``
    a plain ``jax.vmap`` of ``diffrax.diffeqsolve`` (Tsit5, PID controller, automatic first
    step) over all patients of an arm at once, integrating from dose to dose.
``scipy``
    ``scipy.integrate.solve_ivp`` (LSODA) one patient at a time on the same right-hand side
    (the JAX vector field compiled with ``jax.jit``; Jacobian by ``jax.jacfwd``), from dose to dose.
``roadrunner``
    libRoadRunner (CVODE, its default BDF settings) on the SBML written by
    :mod:`immunotwin.sbml`, loaded once per arm, reset and re-parameterised per patient.

Accuracy is measured against a tight-tolerance reference (diffrax Dopri8, rtol 1e-12,
atol 1e-14, dose to dose) on the first patients of each arm: the largest relative error,
over those patients and the weekly grid, of tumour size (floor 1e-6 x 1e9 cells) and of
each administered drug's concentration (floor 1e-3 mg/L, below every EC50). Each engine
runs at several tolerances (a work-precision table), so that speeds are compared at equal
accuracy. Serial engines (scipy, roadrunner) are timed on the accuracy subset; batched
engines on all patients.

Each engine runs in its own process, so its peak resident memory (``VmHWM``) is its own. The run also times immunotwin's full trial path (:func:`immunotwin.trial.simulate_chunk`:
visits, grading, management, RECIST) and the engine's throughput and peak memory against N
(the scaling curve). Compilation is excluded from throughput and reported apart.

Timings are wall-clock on a machine that may be shared; CPU seconds per patient are given
as well. Nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

HORIZON_DAYS = 728.0  # 104 weeks
WEEK = 7.0
DEFAULT_SPEC = "examples/checkmate067.toml"
TOLERANCES: tuple[tuple[float, float], ...] = ((1e-4, 1e-7), (1e-6, 1e-9), (1e-8, 1e-11))
DEFAULT_TOL = (1e-6, 1e-9)  # the engine's own (engine.RTOL, engine.ATOL)
REFERENCE_TOL = (1e-12, 1e-14)
TUMOUR_FLOOR = 1e-6  # 1e9 cells
CONC_FLOOR = 1e-3  # mg/L
ENGINES = ("immunotwin", "fused", "roadrunner", "scipy", "diffrax_vmap")
ENGINE_CHUNK = 512  # the trial's default chunk (trial.DEFAULT_CHUNK)
GPU_CHUNK = 32768


# ---------------------------------------------------------------------------------------
# Patients and observations
# ---------------------------------------------------------------------------------------


def _spec(path: str | Path) -> Any:
    from .spec import load_spec

    return load_spec(path)


def arm_sizes(n: int, arms: int) -> list[int]:
    """``n`` patients split over ``arms`` arms as evenly as possible."""
    return [n // arms + (1 if a < n % arms else 0) for a in range(arms)]


def prepare_arm(spec: Any, arm_index: int, n: int | range, seed: int) -> tuple[Any, Any]:
    """Sample, burn in and enrol patients ``n`` (a count from 0, or a range of indices) of one
    arm, each from its own random stream; returns (Patients, DosePlan)."""
    from .population import sample_cohort
    from .sbml import dose_plan, enrol_cohort

    arm = spec.arms[arm_index]
    indices = range(n) if isinstance(n, int) else n
    cohort = sample_cohort(spec.population.cancer, spec.population.overrides, seed, arm_index + 1, indices, 1)
    patients = enrol_cohort(cohort, [d.name for d in arm.drugs])
    cov = patients.covariates
    plan = dose_plan(arm.drugs, cov["weight_kg"].to_numpy(float), cov["height_cm"].to_numpy(float), HORIZON_DAYS)
    return patients, plan


def save_arm(path: Path, patients: Any, plan: Any) -> None:
    """Patients and their dose plan, for a worker (which then needs neither JAX nor the catalogue)."""
    cov = patients.covariates
    np.savez(path, y0=patients.y0, weight=cov["weight_kg"].to_numpy(float), height=cov["height_cm"].to_numpy(float),
             plan_slot=plan.slot, plan_amount=plan.amount, **{f"d__{j}": d for j, d in enumerate(plan.days)},
             **{f"p__{k}": v for k, v in patients.params.items()})


def load_arm(path: Path, spec: Any, arm_index: int) -> tuple[Any, Any]:
    import pandas as pd

    from .sbml import DosePlan, Patients

    entries = spec.arms[arm_index].drugs
    with np.load(path) as z:
        params = {k[3:]: np.array(z[k]) for k in z.files if k.startswith("p__")}
        y0, weight, height = np.array(z["y0"]), np.array(z["weight"]), np.array(z["height"])
        plan = DosePlan(tuple(entries), np.array(z["plan_slot"]), tuple(np.array(z[f"d__{j}"]) for j in range(len(entries))),
                        np.array(z["plan_amount"]))
    patients = Patients(params, y0, pd.DataFrame({"weight_kg": weight, "height_cm": height}))
    return patients, plan


def subset(patients: Any, plan: Any, k: int) -> tuple[Any, Any]:
    """The first ``k`` patients."""
    from .sbml import Patients

    p = Patients({key: v[:k] for key, v in patients.params.items()}, patients.y0[:k], patients.covariates.iloc[:k])
    return p, dataclasses.replace(plan, amount=plan.amount[:k])


def grid() -> np.ndarray:
    return np.arange(0.0, HORIZON_DAYS + 0.5, WEEK)


def observe(states: np.ndarray, params: dict[str, np.ndarray]) -> np.ndarray:
    """(N, T, 1 + slots): tumour (1e9 cells) and each slot's concentration (mg/L) from states (N, T, size)."""
    from .model.core import LAYOUT, tumour_cells

    tum = tumour_cells(states)
    conc = LAYOUT.get(states, "pk_central") / params["pk_vc"][:, None, :]
    return np.concatenate([tum[..., None], conc], axis=-1)


def rel_errors(obs: np.ndarray, ref: np.ndarray, used_slots: Sequence[int]) -> dict[str, float]:
    """Largest relative errors of ``obs`` against ``ref`` (both (N, T, 1 + slots)); NaN counts as failure (inf)."""
    def worst(a: np.ndarray, b: np.ndarray, floor: float) -> float:
        if a.size == 0:
            return 0.0
        e = np.abs(a - b) / np.maximum(np.abs(b), floor)
        return float(np.inf) if not np.all(np.isfinite(e)) else float(e.max())

    tum = worst(obs[..., 0], ref[..., 0], TUMOUR_FLOOR)
    conc = max([worst(obs[..., 1 + s], ref[..., 1 + s], CONC_FLOOR) for s in used_slots], default=0.0)
    return {"tumour_rel_error": tum, "conc_rel_error": conc, "max_rel_error": max(tum, conc)}


def used_slots(plan: Any) -> list[int]:
    return sorted({int(s) for s, days in zip(plan.slot, plan.days, strict=True) if len(days)})


# ---------------------------------------------------------------------------------------
# Engines: each returns observations (N, T, 1 + slots) on the weekly grid, after that day's doses
# ---------------------------------------------------------------------------------------


@contextmanager
def engine_tolerance(rtol: float, atol: float) -> Iterator[None]:
    """Run immunotwin's engine at other tolerances (the engine reads them when it compiles)."""
    from . import engine

    old = (engine.RTOL, engine.ATOL)
    engine.RTOL, engine.ATOL = rtol, atol
    engine._compiled_step.cache_clear()
    try:
        yield
    finally:
        engine.RTOL, engine.ATOL = old
        engine._compiled_step.cache_clear()


def run_immunotwin(patients: Any, plan: Any, chunk: int = ENGINE_CHUNK, weeks: int | None = None) -> np.ndarray:
    """The engine over ``weeks`` (default: the horizon) in chunks of ``chunk`` patients, as a trial runs it."""
    from .sbml import engine_trajectory

    weeks = int(round(HORIZON_DAYS / WEEK)) if weeks is None else weeks
    out = []
    for start in range(0, patients.n, chunk):
        p, pl = _slice(patients, plan, start, min(start + chunk, patients.n))
        states = engine_trajectory(p, pl, weeks)
        out.append(observe(states, p.params))
    return np.concatenate(out, axis=0)


def warm_immunotwin(patients: Any, plan: Any, chunk: int = ENGINE_CHUNK) -> None:
    """Compile the engine's step for the batch sizes the run will use (one week each)."""
    from . import engine

    sizes = {min(chunk, patients.n - s) for s in range(0, patients.n, chunk)}
    for size in sizes:
        p, pl = _slice(patients, plan, 0, size)
        inputs = engine.zero_inputs(size)
        inputs["tfd"] = pl.first_dose(size)
        engine.step(p.y0, p.params, inputs, 0.0)


def _slice(patients: Any, plan: Any, a: int, b: int) -> tuple[Any, Any]:
    from .sbml import Patients

    p = Patients({k: v[a:b] for k, v in patients.params.items()}, patients.y0[a:b], patients.covariates.iloc[a:b])
    return p, dataclasses.replace(plan, amount=plan.amount[a:b])


def _intervals(plan: Any) -> list[tuple[float, float]]:
    cuts = sorted({0.0, HORIZON_DAYS, *(float(d) for d in plan.dose_days if d < HORIZON_DAYS)})
    return list(zip(cuts[:-1], cuts[1:], strict=True))


class DiffraxVmap:
    """``jax.vmap`` of ``diffrax.diffeqsolve`` over all patients, from dose to dose."""

    def __init__(self, solver: str = "tsit5", max_steps: int = 65536) -> None:
        self.solver = solver
        self.max_steps = max_steps
        self._fns: dict[tuple[int, int], Any] = {}
        self.compile_s = 0.0

    def _fn(self, weeks: int, args: tuple) -> Any:  # type: ignore[type-arg]
        key = (weeks, args[0].shape[0])
        if key not in self._fns:
            import diffrax
            import jax
            import jax.numpy as jnp

            from .model.core import vector_field

            term = diffrax.ODETerm(vector_field)
            solver = {"tsit5": diffrax.Tsit5, "dopri8": diffrax.Dopri8, "dopri5": diffrax.Dopri5}[self.solver]()
            offsets = WEEK * jnp.arange(1, weeks + 1, dtype=jnp.float64)

            def one(y0, params, inputs, t0, t1, rtol, atol):  # type: ignore[no-untyped-def]
                sol = diffrax.diffeqsolve(
                    term, solver, t0=t0, t1=t1, dt0=None, y0=y0, args=(params, inputs),
                    saveat=diffrax.SaveAt(ts=jnp.minimum(t0 + offsets, t1)),
                    stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
                    max_steps=self.max_steps, throw=False)
                ok = sol.result == diffrax.RESULTS.successful
                return jnp.where(ok, sol.ys, jnp.nan)

            fn = jax.jit(jax.vmap(one, in_axes=(0, 0, 0, None, None, None, None)))
            t = time.perf_counter()
            self._fns[key] = fn.lower(*args).compile()
            self.compile_s += time.perf_counter() - t
        return self._fns[key]

    def run(self, patients: Any, plan: Any, rtol: float, atol: float, compile_only: bool = False) -> np.ndarray:
        from . import engine
        from .model.core import LAYOUT

        n = patients.n
        inputs = engine.zero_inputs(n)
        inputs["tfd"] = plan.first_dose(n)
        pk0 = LAYOUT.slices["pk_central"].start
        y = patients.y0.copy()
        states = np.empty((n, len(grid()), y.shape[1]))
        params = {k: np.asarray(v, dtype=np.float64) for k, v in patients.params.items()}
        for t0, t1 in _intervals(plan):
            weeks = int(round((t1 - t0) / WEEK))
            k0 = int(round(t0 / WEEK))
            y[:, pk0:pk0 + plan.n_slots] += plan.doses_on(t0)
            states[:, k0] = y
            args = (y, params, inputs, np.float64(t0), np.float64(t1), np.float64(rtol), np.float64(atol))
            fn = self._fn(weeks, args)
            if compile_only:
                continue
            ys = np.asarray(fn(*args))
            states[:, k0 + 1:k0 + 1 + weeks] = ys
            y = np.array(ys[:, -1])
        return observe(states, params)


class ScipyLsoda:
    """``solve_ivp`` (LSODA) per patient on the jit-compiled JAX vector field."""

    def __init__(self) -> None:
        import jax
        import jax.numpy as jnp

        from . import engine  # noqa: F401  (float64)
        from .model.core import INPUTS, vector_field

        self._keys: list[tuple[str, tuple[int, ...]]] = []

        def unpack(theta, tfd):  # type: ignore[no-untyped-def]
            params, i = {}, 0
            for key, shape in self._keys:
                size = int(np.prod(shape)) if shape else 1
                params[key] = theta[i:i + size].reshape(shape)
                i += size
            inputs = {k: (jnp.zeros(m) if m > 1 else jnp.zeros(())) for k, m in INPUTS.items()}
            inputs["tfd"] = tfd
            return params, inputs

        def f(t, y, theta, tfd):  # type: ignore[no-untyped-def]
            return vector_field(t, y, unpack(theta, tfd))

        self._f = jax.jit(f)
        self._jac = jax.jit(jax.jacfwd(f, argnums=1))
        self.compile_s = 0.0

    def run(self, patients: Any, plan: Any, rtol: float, atol: float) -> np.ndarray:
        from scipy.integrate import solve_ivp

        from .model.core import LAYOUT

        keys = sorted(patients.params)
        self._keys = [(k, tuple(patients.params[k].shape[1:])) for k in keys]
        theta_all = np.concatenate([patients.params[k].reshape(patients.n, -1) for k in keys], axis=1)
        tfd_all = plan.first_dose(patients.n)
        pk0 = LAYOUT.slices["pk_central"].start
        g = grid()
        states = np.full((patients.n, len(g), patients.y0.shape[1]), np.nan)
        if self.compile_s == 0.0:
            t = time.perf_counter()
            self._f(0.0, patients.y0[0], theta_all[0], tfd_all[0]).block_until_ready()
            self._jac(0.0, patients.y0[0], theta_all[0], tfd_all[0]).block_until_ready()
            self.compile_s = time.perf_counter() - t
        for i in range(patients.n):
            theta, tfd = theta_all[i], tfd_all[i]

            def fun(t: float, y: np.ndarray, theta: np.ndarray = theta, tfd: np.ndarray = tfd) -> np.ndarray:
                return np.asarray(self._f(t, y, theta, tfd))

            def jac(t: float, y: np.ndarray, theta: np.ndarray = theta, tfd: np.ndarray = tfd) -> np.ndarray:
                return np.asarray(self._jac(t, y, theta, tfd))

            y = patients.y0[i].copy()
            for t0, t1 in _intervals(plan):
                k0 = int(round(t0 / WEEK))
                y[pk0:pk0 + plan.n_slots] += plan.doses_on(t0)[i]
                states[i, k0] = y
                t_eval = g[(g > t0 + 1e-9) & (g <= t1 + 1e-9)]
                sol = solve_ivp(fun, (t0, t1), y, method="LSODA", t_eval=t_eval, rtol=rtol, atol=atol, jac=jac)
                if not sol.success:
                    break
                states[i, k0 + 1:k0 + 1 + len(t_eval)] = sol.y.T
                y = sol.y[:, -1].copy()
        return observe(states, patients.params)


class RoadRunnerEngine:
    """libRoadRunner (CVODE) on the exported SBML: loaded once, reset and re-parameterised per patient."""

    def __init__(self, sbml_text: str, param_ids: dict[str, list[str]], state_ids: Sequence[str],
                 dose_ids: Sequence[str], stiff: bool = True) -> None:
        import roadrunner

        cfg = roadrunner.Config
        # The default MCJIT backend takes minutes to compile this model; LLJIT takes seconds.
        cfg.setValue(cfg.LLVM_BACKEND, 1)
        t = time.perf_counter()
        self.rr = roadrunner.RoadRunner(sbml_text)
        self.compile_s = time.perf_counter() - t
        self.rr.integrator.stiff = stiff
        ids = list(self.rr.model.getGlobalParameterIds())
        self._param_keys = list(param_ids)
        self._param_idx = np.array([ids.index(pid) for key in self._param_keys for pid in param_ids[key]], dtype=np.int32)
        self._dose_idx = np.array([ids.index(d) for d in dose_ids], dtype=np.int32)
        self._init_keys = [f"init({s})" for s in state_ids]
        from .model.slots import SLOTS

        self._selections = ["time", "tumour", *(f"conc_{slot}" for slot in SLOTS)]

    def run(self, patients: Any, plan: Any, rtol: float, atol: float) -> np.ndarray:
        rr = self.rr
        rr.integrator.relative_tolerance = rtol
        rr.integrator.absolute_tolerance = atol
        n = patients.n
        theta = np.concatenate([patients.params[k].reshape(n, -1) for k in self._param_keys], axis=1)
        g = grid()
        out = np.full((n, len(g), len(self._selections) - 1), np.nan)
        model = rr.model
        for i in range(n):
            model.setGlobalParameterValues(self._param_idx, theta[i])
            if len(self._dose_idx):
                model.setGlobalParameterValues(self._dose_idx, plan.amount[i])
            for key, v in zip(self._init_keys, patients.y0[i], strict=True):
                model.setValue(key, float(v))
            rr.reset()
            try:
                res = rr.simulate(0.0, HORIZON_DAYS, len(g), selections=self._selections)
            except RuntimeError:
                continue
            out[i] = np.asarray(res)[:, 1:]
        return out


def reference(patients: Any, plan: Any) -> np.ndarray:
    return DiffraxVmap("dopri8", max_steps=1 << 20).run(patients, plan, *REFERENCE_TOL)


# ---------------------------------------------------------------------------------------
# Workers (one process each)
# ---------------------------------------------------------------------------------------


def _rss_mb() -> float:
    """Peak resident memory of this process (MB). ``VmHWM`` where Linux gives it: ``ru_maxrss``
    keeps the parent's peak across fork and exec, so a worker would report at least the parent's."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


@contextmanager
def _clock() -> Iterator[dict[str, float]]:
    box: dict[str, float] = {}
    w, c = time.perf_counter(), time.process_time()
    try:
        yield box
    finally:
        box["wall_s"] = time.perf_counter() - w
        box["cpu_s"] = time.process_time() - c


def _point(n: int, clock: dict[str, float], errors: dict[str, float] | None, rtol: float, atol: float) -> dict:
    out = {"rtol": rtol, "atol": atol, "n": n, "wall_s": clock["wall_s"], "cpu_s": clock["cpu_s"],
           "patients_per_s": n / clock["wall_s"], "patients_per_cpu_s": n / max(clock["cpu_s"], 1e-9)}
    if errors is not None:
        out.update(errors)
    return out


def worker(task: dict) -> dict:
    """Run one engine (or the trial path, or one scaling point) as ``task`` says."""
    spec = _spec(task["spec"])
    kind = task["kind"]
    arms = range(len(spec.arms))
    data = [load_arm(Path(task["data"][a]), spec, a) for a in arms] if "data" in task else []
    k_acc = task.get("accuracy_patients", 0)
    refs = [np.load(task["refs"][a]) for a in arms] if kind in ENGINES else []
    result: dict[str, Any] = {"kind": kind}

    def wp_point(run: Callable[[int, Any, Any, float, float], np.ndarray], rtol: float, atol: float,
                 on_subset: bool) -> dict:
        """Time ``run(arm, patients, plan, rtol, atol)`` over every arm and measure its errors."""
        obs_all, n_total = [], 0
        with _clock() as clk:
            for a in arms:
                p, pl = subset(*data[a], k_acc) if on_subset else data[a]
                obs_all.append(run(a, p, pl, rtol, atol))
                n_total += p.n
        errs = [rel_errors(obs_all[a][:k_acc], refs[a], used_slots(data[a][1])) for a in arms]
        worst = {k: max(e[k] for e in errs) for k in errs[0]}
        return _point(n_total, clk, worst, rtol, atol)

    chunk = int(task.get("chunk", ENGINE_CHUNK))
    tolerances = [(float(r), float(t)) for r, t in task.get("tolerances", [])]
    if kind == "immunotwin":
        points, compile_s = [], 0.0
        for rtol, atol in tolerances:
            with engine_tolerance(rtol, atol):
                t = time.perf_counter()
                for a in arms:
                    warm_immunotwin(*data[a], chunk)
                compile_s += time.perf_counter() - t
                points.append(wp_point(lambda a, p, pl, r, at: run_immunotwin(p, pl, chunk), rtol, atol, False))
        result.update(points=points, compile_s=compile_s)
    elif kind == "fused":
        from .fused.engine import dosing_only, model_for, observations

        models = []
        t = time.perf_counter()
        target = "gpu" if task.get("backend") == "gpu" else "cpu"  # the GPU build needs CuPy
        for a in arms:
            models.append(model_for(*data[a], target=target))
        compile_s = time.perf_counter() - t
        weeks = int(round(HORIZON_DAYS / WEEK))

        default_steps: dict[int, np.ndarray] = {}  # per arm, kept from the default-tolerance point

        def run_fused(a: int, p: Any, pl: Any, r: float, at: float) -> np.ndarray:
            saved, steps = dosing_only(models[a], p, pl, weeks, r, at)
            if (r, at) == DEFAULT_TOL:
                default_steps[a] = np.abs(steps)
            return observations(saved, p.params)

        points = [wp_point(run_fused, rtol, atol, False) for rtol, atol in tolerances]
        for a in arms:  # tolerances without the default one: one more run for the step counts
            if a not in default_steps:
                default_steps[a] = np.abs(dosing_only(models[a], *data[a], weeks, *DEFAULT_TOL)[1])
        result.update(points=points, compile_s=compile_s, threads=os.cpu_count(),
                      lockstep=lockstep_cost([default_steps[a] for a in arms]))
    elif kind == "diffrax_vmap":
        eng = DiffraxVmap("tsit5")
        points = []
        for rtol, atol in tolerances:
            for a in arms:
                eng.run(*data[a], rtol, atol, compile_only=True)
            points.append(wp_point(lambda a, p, pl, r, at: eng.run(p, pl, r, at), rtol, atol, False))
        result.update(points=points, compile_s=eng.compile_s)
    elif kind == "scipy":
        eng_s = ScipyLsoda()
        points = [wp_point(lambda a, p, pl, r, at: eng_s.run(p, pl, r, at), rtol, atol, True)
                  for rtol, atol in tolerances]
        result.update(points=points, compile_s=eng_s.compile_s)
    elif kind == "roadrunner":
        if "jaxlib" in sys.modules:  # libRoadRunner's LLVM and jaxlib's must not share a process
            raise RuntimeError("the roadrunner worker imported jaxlib before loading libRoadRunner")
        rrs = [RoadRunnerEngine(Path(task["sbml"][a]).read_text(), task["param_ids"], task["state_ids"],
                                task["dose_ids"][a], stiff=task.get("stiff", True)) for a in arms]
        points = [wp_point(lambda a, p, pl, r, at: rrs[a].run(p, pl, r, at), rtol, atol, True)
                  for rtol, atol in tolerances]
        result.update(points=points, compile_s=sum(e.compile_s for e in rrs))
        if "jaxlib" in sys.modules:  # libRoadRunner's LLVM and jaxlib's must not share a process
            raise RuntimeError("the roadrunner worker imported jaxlib")
    elif kind == "reference":
        outs = []
        with _clock() as clk:
            for a in arms:
                obs = reference(*subset(*data[a], k_acc))
                np.save(task["refs"][a], obs)
                outs.append(obs)
        result.update(n=sum(o.shape[0] for o in outs), wall_s=clk["wall_s"],
                      finite=bool(all(np.isfinite(o).all() for o in outs)))
    elif kind == "scaling":
        # As a trial runs: chunk by chunk, each sampled, burned in and simulated, then dropped.
        n, weeks = task["n"], task.get("weeks")
        setup_s, total = 0.0, {"wall_s": 0.0, "cpu_s": 0.0}
        warmed: set[int] = set()
        for a, m in zip(arms, arm_sizes(n, len(spec.arms)), strict=True):
            for start in range(0, m, chunk):
                t = time.perf_counter()
                p, pl = prepare_arm(spec, a, range(start, min(start + chunk, m)), task["seed"])
                if p.n not in warmed:
                    warm_immunotwin(p, pl, chunk)
                    warmed.add(p.n)
                setup_s += time.perf_counter() - t
                with _clock() as clk:
                    run_immunotwin(p, pl, chunk, weeks)
                total["wall_s"] += clk["wall_s"]
                total["cpu_s"] += clk["cpu_s"]
        result.update(_point(n, total, None, *DEFAULT_TOL), setup_s=setup_s,
                      weeks=int(round(HORIZON_DAYS / WEEK)) if weeks is None else int(weeks), chunk=chunk)
    elif kind == "trial":
        result.update(trial_path(spec, task["n"], task["seed"]))
    else:
        raise ValueError(f"unknown worker kind {kind!r}")
    result["peak_rss_mb"] = _rss_mb()
    result["device"] = _jax_device() if kind not in ("roadrunner",) else "cpu"
    return result


def lockstep_cost(steps: Sequence[np.ndarray], groups: Sequence[int] = (8, 32)) -> dict:
    """What integrating patients in lockstep costs, from each patient's own number of attempted
    steps (``steps``: one array per arm; groups never mix arms). A group that steps together takes
    as many steps as its slowest member: the cost is the sum over groups of (size x the group's
    largest count) over the sum of the counts (1 = no waste; a trailing partial group is left
    out). Groups in the patients' order (as a batch comes) and sorted by step count (the best a
    grouping could do); ``all``: one vmap over each arm. Counts over the whole horizon give a lower
    bound for lockstep restarted at every visit or dose (the slowest patient of each week differs)."""
    arms = [np.asarray(s, dtype=np.float64) for s in steps]

    def cost(order: bool, g: int) -> float | None:
        done = need = 0.0
        for x in arms:
            x = np.sort(x) if order else x
            m = len(x) // g * g
            if m:
                blocks = x[:m].reshape(-1, g)
                done += blocks.max(axis=1).sum() * g
                need += blocks.sum()
        return float(done / need) if need else None

    flat = np.concatenate(arms)
    out: dict[str, Any] = {"patients": int(flat.size), "mean_steps": float(flat.mean()),
                           "max_steps": float(flat.max())}
    for g in groups:
        out[f"group_{g}"] = cost(False, g)
        out[f"group_{g}_sorted"] = cost(True, g)
    out["all"] = float(sum(x.max() * len(x) for x in arms) / flat.sum())
    return out


def trial_path(spec: Any, n: int, seed: int) -> dict:
    """Time :func:`immunotwin.trial.simulate_chunk` (clinic included) over the horizon, chunks of 512."""
    from .trial import DEFAULT_CHUNK, ChunkId, simulate_chunk

    spec2 = dataclasses.replace(spec, follow_up_days=HORIZON_DAYS, seed=seed)
    sizes = arm_sizes(n, len(spec.arms))
    warm = dataclasses.replace(spec2, follow_up_days=14.0)
    t = time.perf_counter()
    done: set[int] = set()
    for a, m in enumerate(sizes):
        for s in range(0, m, DEFAULT_CHUNK):
            size = min(DEFAULT_CHUNK, m - s)
            if size not in done:
                simulate_chunk(warm, ChunkId(a, 0, size), visits=True)
                done.add(size)
    compile_s = time.perf_counter() - t
    with _clock() as clk:
        rows = 0
        for a, m in enumerate(sizes):
            for s in range(0, m, DEFAULT_CHUNK):
                pts, _ = simulate_chunk(spec2, ChunkId(a, s, min(s + DEFAULT_CHUNK, m)), visits=True)
                rows += len(pts)
    out = _point(n, clk, None, *DEFAULT_TOL)
    out.update(compile_s=compile_s, rows=rows)
    return out


def _jax_device() -> str:
    try:
        import jax

        d = jax.devices()[0]
        kind = str(getattr(d, "device_kind", "") or "")
        return d.platform if kind.lower() in ("", d.platform) else f"{d.platform} ({kind})"
    except Exception:  # pragma: no cover - jax missing
        return "unknown"


def _run_worker(task: dict, backend: str, tmp: Path, name: str) -> dict:
    task_file = tmp / f"{name}.task.json"
    out_file = tmp / f"{name}.out.json"
    task_file.write_text(json.dumps(task))
    env = dict(os.environ)
    on_gpu = backend == "gpu" and task["kind"] in ("immunotwin", "diffrax_vmap", "scaling", "trial", "reference")
    env["JAX_PLATFORMS"] = "cuda" if on_gpu else "cpu"
    env["IMMUNOTWIN_ENGINE"] = task.get("engine", "jax")  # the integrator engine.step uses (trial path)
    proc = subprocess.run([sys.executable, "-m", "immunotwin.bench", "--worker", str(task_file), str(out_file)],
                          env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"bench worker {name} failed:\n{proc.stderr[-4000:]}")
    return dict(json.loads(out_file.read_text()))


# ---------------------------------------------------------------------------------------
# Orchestration
# ---------------------------------------------------------------------------------------


@dataclasses.dataclass
class Config:
    patients: int = 300
    backend: str = "cpu"
    accuracy_patients: int = 4  # per arm: reference, errors, serial engines
    scaling: tuple[int, ...] = ()
    memory: tuple[int, ...] = ()  # N for peak-memory points over a short horizon
    memory_weeks: int = 4
    trial_patients: int = 0
    chunk: int | None = None  # engine batch per call; default 512 on CPU (the trial's), 32768 on GPU
    engines: tuple[str, ...] = ENGINES
    tolerances: tuple[tuple[float, float], ...] = TOLERANCES
    seed: int = 2026
    spec: str = DEFAULT_SPEC


def run_bench(cfg: Config, command: str = "", progress: Callable[[str], None] | None = None) -> dict:
    """Run every measurement (each engine in its own process) and return the results dict."""
    from .sbml import build_document, derive_equations, to_string

    say = progress or (lambda msg: None)
    spec = _spec(cfg.spec)
    if "roadrunner" in cfg.engines:
        try:
            import roadrunner  # noqa: F401
        except ImportError:
            raise RuntimeError("the roadrunner engine needs libroadrunner (pip install libroadrunner, or "
                               "pip install -e '.[dev]'); or leave it out of --engines") from None
    if "fused" in cfg.engines and cfg.backend == "cpu":
        from .fused.engine import compiler

        if compiler() is None:
            raise RuntimeError("the fused engine needs a C compiler (cc, gcc or clang on PATH, or $CC); or leave it "
                               "out of --engines")
    if cfg.backend == "gpu":
        _require_gpu()
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="immunotwin-bench-") as tmpdir:
        tmp = Path(tmpdir)
        say(f"preparing {cfg.patients} patients (sampling, burn-in, enrolment)")
        sizes = arm_sizes(cfg.patients, len(spec.arms))
        k_acc = min(cfg.accuracy_patients, min(sizes))
        data_files, sbml_files, dose_ids, refs = [], [], [], []
        eq = derive_equations()
        for a, m in enumerate(sizes):
            patients, plan = prepare_arm(spec, a, m, cfg.seed)
            f = tmp / f"arm{a}.npz"
            save_arm(f, patients, plan)
            data_files.append(str(f))
            refs.append(str(tmp / f"ref{a}.npy"))
            if "roadrunner" in cfg.engines:
                arm = spec.arms[a]
                doc = build_document(spec.population.cancer, arm.drugs, arm.name, HORIZON_DAYS,
                                     patient=subset(patients, plan, 1)[0],
                                     patient_label=f"patient 0 of arm {arm.name!r} of {cfg.spec} (seed {cfg.seed})")
                s = tmp / f"arm{a}.xml"
                s.write_text(to_string(doc))
                sbml_files.append(str(s))
                dose_ids.append([f"dose_{j + 1}_{_slug(d.name)}" for j, d in enumerate(arm.drugs)])
        chunk = cfg.chunk or (ENGINE_CHUNK if cfg.backend == "cpu" else GPU_CHUNK)
        base = {"spec": cfg.spec, "data": data_files, "refs": refs, "accuracy_patients": k_acc, "seed": cfg.seed,
                "backend": cfg.backend,
                "tolerances": [list(t) for t in cfg.tolerances], "chunk": chunk}
        say(f"reference: diffrax Dopri8 rtol {REFERENCE_TOL[0]:g} on {k_acc} patients per arm")
        ref = _run_worker({**base, "kind": "reference"}, cfg.backend, tmp, "reference")
        engines: dict[str, dict] = {}
        for name in cfg.engines:
            say(f"engine {name}")
            task = {**base, "kind": name}
            if name == "roadrunner":
                task.update(sbml=sbml_files, dose_ids=dose_ids, state_ids=list(eq.state_ids),
                            param_ids={k: [str(x) for x in np.ravel(v)] for k, v in eq.param_ids.items()})
            engines[name] = _summarise(_run_worker(task, cfg.backend, tmp, name))
        scaling = []
        for n in cfg.scaling:
            say(f"scaling: immunotwin engine, N = {n}")
            scaling.append(_run_worker({**base, "kind": "scaling", "n": n}, cfg.backend, tmp, f"scaling{n}"))
        memory = []
        for n in cfg.memory:
            say(f"memory: immunotwin engine, N = {n}, {cfg.memory_weeks} weeks")
            memory.append(_run_worker({**base, "kind": "scaling", "n": n, "weeks": cfg.memory_weeks}, cfg.backend,
                                      tmp, f"memory{n}"))
        trial = None
        if cfg.trial_patients:
            say(f"trial path: simulate_chunk, N = {cfg.trial_patients}")
            trial = _run_worker({**base, "kind": "trial", "n": cfg.trial_patients}, cfg.backend, tmp, "trial")
            if "fused" in cfg.engines:
                say(f"trial path on the fused engine: simulate_chunk, N = {cfg.trial_patients}")
                trial["fused"] = _run_worker({**base, "kind": "trial", "n": cfg.trial_patients, "engine": "fused"},
                                             "cpu", tmp, "trial_fused")
    device = engines.get("immunotwin", {}).get("device") or _jax_device()
    return {
        "n": cfg.patients, "backend": cfg.backend, "device": device, "command": command,
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(started)),
        "elapsed_s": time.time() - started, "machine": machine(), "versions": versions(),
        "model": {"states": len(eq.state_ids), "horizon_days": HORIZON_DAYS, "spec": cfg.spec,
                  "arms": [arm.name for arm in spec.arms], "patients_per_arm": sizes},
        "accuracy": {"reference": f"diffrax Dopri8, rtol {REFERENCE_TOL[0]:g}, atol {REFERENCE_TOL[1]:g}, dose to dose",
                     "patients_per_arm": k_acc, "tumour_floor": TUMOUR_FLOOR, "conc_floor_mg_l": CONC_FLOOR,
                     "reference_wall_s": ref["wall_s"], "reference_finite": ref["finite"]},
        "default_tolerance": {"rtol": DEFAULT_TOL[0], "atol": DEFAULT_TOL[1]},
        "engines": engines, "equal_accuracy": equal_accuracy(engines),
        "engine_chunk": chunk, "scaling": scaling, "memory": memory, "trial_path": trial,
    }


def _slug(text: str) -> str:
    from .sbml import _slug as slug

    return slug(text)


def _summarise(res: dict) -> dict:
    points = res["points"]
    default = next((p for p in points if (p["rtol"], p["atol"]) == DEFAULT_TOL), points[0])
    return {"patients_per_s": default["patients_per_s"], "patients_per_cpu_s": default["patients_per_cpu_s"],
            "peak_rss_mb": res["peak_rss_mb"], "max_rel_error": default["max_rel_error"],
            "n_timed": default["n"], "compile_s": res.get("compile_s", 0.0), "device": res["device"],
            "work_precision": points, **({"lockstep": res["lockstep"]} if "lockstep" in res else {})}


def equal_accuracy(engines: dict[str, dict]) -> dict:
    """Each engine's speed at one error level, read off its work-precision points (log-log
    interpolation between the two points around it; no extrapolation), and immunotwin's ratio
    to it. The level is the tightest every engine reaches, and no tighter than immunotwin's
    error at its default tolerance."""
    if "immunotwin" not in engines:
        return {}
    best = [min(p["max_rel_error"] for p in e["work_precision"]) for e in engines.values()]
    target = max([engines["immunotwin"]["max_rel_error"], *best])
    speeds = {name: _speed_at(e["work_precision"], target) for name, e in engines.items()}
    it = speeds["immunotwin"]
    out: dict[str, Any] = {"target_max_rel_error": target, "engines": {}}
    for name, sp in speeds.items():
        if sp is None or it is None:
            out["engines"][name] = {"reached": False}
            continue
        out["engines"][name] = {"reached": True, "patients_per_s": sp[0], "patients_per_cpu_s": sp[1],
                                "immunotwin_speedup_wall": it[0] / sp[0], "immunotwin_speedup_cpu": it[1] / sp[1]}
    return out


def _speed_at(points: Sequence[dict], target: float) -> tuple[float, float] | None:
    """(patients/s, patients per CPU-s) at max relative error ``target``; None if never that accurate."""
    ok = [p for p in points if np.isfinite(p["max_rel_error"])]
    below = [p for p in ok if p["max_rel_error"] <= target * (1 + 1e-9)]
    if not below:
        return None
    out = []
    for key in ("patients_per_s", "patients_per_cpu_s"):
        value = max(p[key] for p in below)
        above = [p for p in ok if p["max_rel_error"] > target * (1 + 1e-9)]
        lo = max(below, key=lambda p: p["max_rel_error"])
        if above and lo["max_rel_error"] > 0:
            hi = min(above, key=lambda p: p["max_rel_error"])
            w = np.log(target / lo["max_rel_error"]) / np.log(hi["max_rel_error"] / lo["max_rel_error"])
            value = max(value, float(np.exp((1 - w) * np.log(lo[key]) + w * np.log(hi[key]))))
        out.append(value)
    return out[0], out[1]


def _require_gpu() -> None:
    env = dict(os.environ, JAX_PLATFORMS="cuda")
    proc = subprocess.run([sys.executable, "-c", "import jax; print(jax.devices()[0].platform)"], env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0 or "gpu" not in proc.stdout and "cuda" not in proc.stdout:
        raise RuntimeError("--backend gpu: JAX sees no GPU here (install jax[cuda12] on a machine with one)")


def machine() -> dict:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        model = platform.processor()
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        usable = os.cpu_count() or 0
    mem = 0.0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = float(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return {"cpu": model or "unknown", "cores": os.cpu_count(), "usable_cores": usable, "memory_gib": round(mem, 1),
            "system": f"{platform.system()} {platform.release()}", "load_average": list(os.getloadavg())}


def versions() -> dict:
    from importlib import metadata

    from . import __version__

    out = {"python": platform.python_version(), "immunotwin": __version__}
    for dist in ("jax", "jaxlib", "diffrax", "equinox", "numpy", "scipy", "libroadrunner", "python-libsbml"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


# ---------------------------------------------------------------------------------------
# RESULTS.md
# ---------------------------------------------------------------------------------------


def _f(x: float | None, digits: int = 3) -> str:
    if x is None:
        return "-"
    if x == float("inf"):
        return "failed"
    return f"{x:.{digits}g}"


def render_markdown(res: dict) -> str:
    """``benchmarks/RESULTS.md`` from a results dict: nothing in it is typed by hand."""
    m, v = res["machine"], res["versions"]
    lines = [
        "# immunotwin benchmark results",
        "",
        "Written by `immunotwin bench` from its JSON; do not edit by hand.",
        "",
        f"- Command: `{res['command']}`",
        f"- Run: {res['started']}, {res['elapsed_s'] / 60:.1f} min in all",
        f"- Machine: {m['cpu']}, {m['cores']} cores ({m['usable_cores']} usable), {m['memory_gib']} GiB, {m['system']}; "
        f"load average at the end {', '.join(f'{x:.1f}' for x in m['load_average'])} (the machine may be shared)",
        f"- Backend: {res['backend']}; JAX device: {res['device']}",
        "- Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()),
        f"- Model: the dosing-only model ({res['model']['states']} states; doses on schedule, no clinic, no steroids), "
        f"{res['model']['horizon_days']:g} days, arms of `{res['model']['spec']}`: "
        + ", ".join(f"{a} ({n})" for a, n in zip(res['model']['arms'], res['model']['patients_per_arm'], strict=True)),
        f"- Accuracy: against {res['accuracy']['reference']} on the first {res['accuracy']['patients_per_arm']} "
        f"patients of each arm; largest relative error over those patients and the weekly grid of tumour size "
        f"(floor {res['accuracy']['tumour_floor']:g} x 1e9 cells) and administered drugs' concentrations "
        f"(floor {res['accuracy']['conc_floor_mg_l']:g} mg/L)",
        "",
        "## Engines at their default tolerance (rtol 1e-6, atol 1e-9)",
        "",
        "| engine | patients/s (wall) | patients per CPU-s | timed on N | max rel. error | peak RSS (MB) | compile (s) | device |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, e in res["engines"].items():
        lines.append(f"| {name} | {_f(e['patients_per_s'])} | {_f(e['patients_per_cpu_s'])} | {e['n_timed']} | "
                     f"{_f(e['max_rel_error'], 2)} | {e['peak_rss_mb']:.0f} | {e['compile_s']:.1f} | {e['device']} |")
    lines += ["", "## Work-precision", "",
              "| engine | rtol | atol | patients/s (wall) | patients per CPU-s | N | tumour rel. error | conc. rel. error |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, e in res["engines"].items():
        for p in e["work_precision"]:
            lines.append(f"| {name} | {p['rtol']:g} | {p['atol']:g} | {_f(p['patients_per_s'])} | "
                         f"{_f(p['patients_per_cpu_s'])} | {p['n']} | {_f(p['tumour_rel_error'], 2)} | "
                         f"{_f(p['conc_rel_error'], 2)} |")
    eqa = res.get("equal_accuracy") or {}
    if eqa:
        lines += ["", f"## At equal accuracy: max rel. error {_f(eqa['target_max_rel_error'], 2)}", "",
                  "The tightest error every engine reaches (and no tighter than immunotwin's at its default tolerance); "
                  "each engine's speed there is read off its work-precision points (log-log interpolation, no "
                  "extrapolation).", "",
                  "| engine | patients/s (wall) | patients per CPU-s | immunotwin / engine (wall) | immunotwin / engine (CPU) |",
                  "|---|---:|---:|---:|---:|"]
        for name, e in eqa["engines"].items():
            if not e["reached"]:
                lines.append(f"| {name} | not reached at the tolerances tried | - | - | - |")
                continue
            lines.append(f"| {name} | {_f(e['patients_per_s'])} | {_f(e['patients_per_cpu_s'])} | "
                         f"{_f(e['immunotwin_speedup_wall'])} | {_f(e['immunotwin_speedup_cpu'])} |")
    lock = res["engines"].get("fused", {}).get("lockstep")
    if lock:
        gs = sorted(int(k.split("_")[1]) for k in lock if k.startswith("group_") and not k.endswith("sorted"))
        lines += ["", "## What lockstep costs here (from each patient's own step count)", "",
                  f"Attempted steps per patient over the horizon (fused engine, default tolerance, "
                  f"{lock['patients']} patients): mean {lock['mean_steps']:.0f}, largest {lock['max_steps']:.0f}. "
                  "A group of patients integrated in lockstep (one vmap, a GPU warp, the JAX engine's groups of 8) "
                  "takes as many steps as its slowest member; the factor is the patient-steps done over those "
                  "needed (1 = no waste; groups within an arm). From counts over the whole horizon, a lower bound "
                  "for lockstep restarted at every visit or dose.", "",
                  "| group | in the patients' order | sorted by step count |", "|---|---:|---:|"]
        for g in gs:
            if lock[f"group_{g}"] is not None:
                lines.append(f"| {g} | {_f(lock[f'group_{g}'])} | {_f(lock[f'group_{g}_sorted'])} |")
        lines.append(f"| each arm (one vmap) | {_f(lock['all'])} | {_f(lock['all'])} |")
    if res.get("scaling"):
        lines += ["", f"## Scaling of immunotwin's engine with N (dosing-only model, default tolerance, chunks of "
                      f"{res['engine_chunk']})", "",
                  "| N | patients/s (wall) | patients per CPU-s | wall (s) | setup (s) | peak RSS (MB) |",
                  "|---:|---:|---:|---:|---:|---:|"]
        for s in res["scaling"]:
            lines.append(f"| {s['n']} | {_f(s['patients_per_s'])} | {_f(s['patients_per_cpu_s'])} | {s['wall_s']:.1f} | "
                         f"{s['setup_s']:.1f} | {s['peak_rss_mb']:.0f} |")
    if res.get("memory"):
        lines += ["", f"## Peak memory of immunotwin's engine against N (chunks of {res['engine_chunk']}; short horizon)", "",
                  "| N | weeks | peak RSS (MB) | setup (s) | wall (s) |", "|---:|---:|---:|---:|---:|"]
        for s in res["memory"]:
            lines.append(f"| {s['n']} | {s['weeks']} | {s['peak_rss_mb']:.0f} | {s['setup_s']:.1f} | {s['wall_s']:.1f} |")
    t = res.get("trial_path")
    if t:
        lines += ["", "## immunotwin's full trial path (`trial.simulate_chunk`: visits, grading, management, RECIST; "
                      "chunks of 512; follow-up set to the horizon)", "",
                  "| integrator (`engine.step`) | N | patients/s (wall) | patients per CPU-s | wall (s) | compile (s) | "
                  "peak RSS (MB) |", "|---|---:|---:|---:|---:|---:|---:|"]
        for name, row in (("jax", t), ("fused (`--engine fused`)", t.get("fused"))):
            if row:
                lines.append(f"| {name} | {row['n']} | {_f(row['patients_per_s'])} | {_f(row['patients_per_cpu_s'])} | "
                             f"{row['wall_s']:.1f} | {row['compile_s']:.1f} | {row['peak_rss_mb']:.0f} |")
    lines += ["", "Notes: throughput excludes compilation (reported apart) and patient preparation (sampling, "
              "burn-in, enrolment: the same for every engine); the trial path includes them. Serial engines (scipy, roadrunner) are timed on the "
              "accuracy subset, batched ones on all N. Peak RSS is each engine's own process (JAX or libRoadRunner "
              "runtime included). libRoadRunner uses its LLJIT backend (the default MCJIT compiles this model for "
              "minutes) and its default CVODE settings (BDF) but the tolerances shown.", ""]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------------------


def check_shape(res: dict) -> list[str]:
    """Problems with a results dict's required shape (empty when fine)."""
    errs = []
    for key in ("n", "backend", "device", "engines"):
        if key not in res:
            errs.append(f"missing {key}")
    for name, e in res.get("engines", {}).items():
        for key in ("patients_per_s", "peak_rss_mb", "max_rel_error"):
            if not isinstance(e.get(key), int | float):
                errs.append(f"engines.{name}.{key} is not a number")
    return errs


def run_and_write(cfg: Config, json_path: Path, markdown_path: Path | None = None, command: str = "",
                  progress: Callable[[str], None] | None = None) -> dict:
    """Run the benchmark, write its JSON (and ``RESULTS.md`` when asked) and return the results."""
    res = run_bench(cfg, command, progress)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(res, indent=1, default=float) + "\n")
    if markdown_path is not None:
        from .fused.gpubench import render_stored

        markdown_path.parent.mkdir(parents=True, exist_ok=True)
        markdown_path.write_text(render_markdown(res) + render_stored(markdown_path.parent / "gpu"))
    return res


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m immunotwin.bench")
    p.add_argument("--worker", nargs=2, metavar=("TASK", "OUT"))
    a = p.parse_args(argv)
    if a.worker:
        task = json.loads(Path(a.worker[0]).read_text())
        res = worker(task)
        Path(a.worker[1]).write_text(json.dumps(res, default=float))
        return 0
    p.print_help()
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
