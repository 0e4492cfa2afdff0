"""Compile and run the fused integrator on the CPU (a C compiler, OpenMP) or a GPU (CuPy/NVRTC).

``FusedModel(params, inputs)`` generates the source for a batch: parameters and inputs that are
the same for every patient of the batch become literals, the others are read per patient.
``run(y0, params, plan_arrays, weeks, save_idx)`` integrates every patient over ``weeks`` weeks
with the regimen's doses and returns the saved states at days 0, 7, ..., each after that day's
doses (as :func:`immunotwin.sbml.engine_trajectory`). Each patient is computed alone, so its
numbers do not depend on the batch it is in (for one compiled source and one target).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path

import numpy as np

from .codegen import rhs_body
from .source import source

MAX_STEPS = 100_000  # attempted steps per patient over the whole horizon


@cache
def equations():  # type: ignore[no-untyped-def]
    from ..sbml import derive_equations

    return derive_equations()


def _flat(eq, params: Mapping[str, np.ndarray], inputs: Mapping[str, np.ndarray], n: int) -> dict[str, np.ndarray]:  # type: ignore[no-untyped-def]
    """Per-symbol arrays (n,) for every parameter and input id of the equations."""
    out: dict[str, np.ndarray] = {}
    for table, values in ((eq.param_ids, params), (eq.input_ids, inputs)):
        for key, ids in table.items():
            v = np.asarray(values[key], dtype=np.float64)
            if v.shape == (n, *ids.shape):
                pass  # one value (or vector) per patient
            elif v.shape == ids.shape or v.shape == (1, *ids.shape):
                v = np.broadcast_to(v.reshape(ids.shape), (n, *ids.shape))  # shared by every patient
            else:
                raise ValueError(f"{key}: shape {v.shape}, expected {(n, *ids.shape)} or {ids.shape}")
            for idx in np.ndindex(*ids.shape):
                out[str(ids[idx])] = np.ascontiguousarray(v[(slice(None), *idx)])
    return out


class FusedModel:
    """The fused integrator specialised to a batch's shared values.

    With ``y0`` and ``dosed`` (the state indices that doses go into) the states that start at zero
    for every patient, are never dosed and stay zero under the folded equations
    (:func:`.codegen.constant_states`, e.g. the compartments of drugs not in the regimen) are held
    at zero rather than integrated; the error norm is still the RMS over every state.
    """

    def __init__(self, params: Mapping[str, np.ndarray], inputs: Mapping[str, np.ndarray], *,
                 y0: np.ndarray | None = None, dosed: Sequence[int] = (), precision: str = "float64",
                 target: str = "cpu", fold: bool = True) -> None:
        import time

        from .codegen import constant_states

        if precision not in ("float64", "float32"):
            raise ValueError(f"precision must be float64 or float32, not {precision!r}")
        if target not in ("cpu", "gpu"):
            raise ValueError(f"target must be cpu or gpu, not {target!r}")
        eq = equations()
        n = len(next(iter(params.values())))
        flat = _flat(eq, params, inputs, n)
        fixed = {k: float(v[0]) for k, v in flat.items() if fold and np.all(v == v[0])}
        self.theta_ids = tuple(k for k in flat if k not in fixed)
        self.fixed = fixed
        n_all = len(eq.state_ids)
        held: list[int] = []
        if fold and y0 is not None:
            zero = np.all(np.asarray(y0) == 0.0, axis=0)
            held = constant_states(eq, fixed, [k for k in range(n_all) if zero[k] and k not in set(dosed)])
        self.held = tuple(held)
        self.states = tuple(k for k in range(n_all) if k not in set(held))
        self.index = {k: j for j, k in enumerate(self.states)}  # model state -> integrated position
        body, ops = rhs_body(eq, self.theta_ids, {**fixed, **{eq.state_ids[k]: 0.0 for k in held}}, self.states)
        self.text = source(body, len(self.states), n_all)
        self.ops_per_rhs = ops
        self.precision, self.target = precision, target
        self.dtype = np.float64 if precision == "float64" else np.float32
        t = time.perf_counter()
        self._fn = _compile_cpu(self.text, precision) if target == "cpu" else _compile_gpu(self.text, precision)
        self.compile_s = time.perf_counter() - t

    def theta(self, params: Mapping[str, np.ndarray], inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        """(n_theta, n) per-patient values; checks that the folded ones match this batch."""
        eq = equations()
        n = len(next(iter(params.values())))
        flat = _flat(eq, params, inputs, n)
        for k, v in self.fixed.items():
            if not np.all(flat[k] == v):
                raise ValueError(f"{k} differs from the value compiled in ({v!r}): build a FusedModel for this batch")
        if not self.theta_ids:
            return np.zeros((1, n))
        return np.stack([flat[k] for k in self.theta_ids])

    def positions(self, model_states: Sequence[int]) -> np.ndarray:
        """Integrated positions of model state indices (-1 for a state held at zero)."""
        return np.array([self.index.get(int(k), -1) for k in model_states], dtype=np.int32)

    def run(self, y0: np.ndarray, theta: np.ndarray, amount: np.ndarray, given: np.ndarray, dose_states: Sequence[int],
            weeks: int, save: Sequence[int], rtol: float = 1e-6, atol: float = 1e-9,
            max_steps: int = MAX_STEPS, lanes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Integrate. ``y0`` (n, model states); ``theta`` (n_theta, n) from :meth:`theta`; ``amount``
        (n, entries) per administration; ``given`` (weeks + 1, entries) 0/1; ``dose_states`` (entries,)
        the model state each entry doses; ``save`` model state indices. Returns the saved states
        (n, weeks + 1, len(save)) (NaN from a failure on) and the attempted steps per patient
        (negative where the patient failed). ``lanes``: drive the patients through that many persistent
        lanes sharing a counter (the GPU's scheme; the same numbers) instead of one loop per patient."""
        if weeks < 1:
            raise ValueError("weeks must be at least 1")
        if lanes is not None and lanes < 1:
            raise ValueError("lanes must be at least 1")
        y0 = np.asarray(y0)
        n = y0.shape[0]
        dt = self.dtype
        n_all = len(self.states) + len(self.held)
        if y0.ndim != 2 or y0.shape[1] != n_all:
            raise ValueError(f"y0: shape {y0.shape}, expected (patients, {n_all})")
        theta = np.asarray(theta)
        if theta.shape != (max(len(self.theta_ids), 1), n):
            raise ValueError(f"theta: shape {theta.shape}, expected {(max(len(self.theta_ids), 1), n)} (see theta())")
        amount = np.asarray(amount)
        if amount.ndim != 2 or amount.shape[0] != n or len(dose_states) != amount.shape[1]:
            raise ValueError(f"amount: shape {amount.shape}, expected (patients, entries) = ({n}, {len(dose_states)})")
        if self.held and np.any(y0[:, list(self.held)] != 0.0):
            raise ValueError("a state compiled as held at zero is not zero in y0: build a FusedModel for this batch")
        dose_pos = self.positions(dose_states)
        if np.any(dose_pos < 0):
            raise ValueError("a dosed state was compiled as held at zero: pass dosed= to FusedModel")
        y0_t = np.ascontiguousarray(y0[:, list(self.states)].astype(dt).T)
        th = np.ascontiguousarray(np.asarray(theta, dtype=dt))
        am = np.ascontiguousarray(np.asarray(amount, dtype=dt).T)
        gv = np.ascontiguousarray(np.asarray(given, dtype=np.uint8))
        if gv.shape != (weeks + 1, am.shape[0]):  # am is (entries, n)
            raise ValueError(f"given must be (weeks + 1, entries) = {(weeks + 1, am.shape[0])}, not {gv.shape}")
        sl = np.ascontiguousarray(dose_pos)
        si = np.ascontiguousarray(self.positions(save))
        if self.target == "cpu":
            out = np.empty(((weeks + 1) * len(si), n), dtype=dt)
            steps = np.empty(n, dtype=np.int32)
            real = ctypes.c_double if dt == np.float64 else ctypes.c_float
            head = (ctypes.c_long(n),) if lanes is None else (ctypes.c_long(n), ctypes.c_long(lanes))
            fn = self._fn if lanes is None else self._fn.run_lanes  # type: ignore[attr-defined]
            fn(*head, ctypes.c_long(1), ctypes.c_long(n), _ptr(y0_t), _ptr(th), _ptr(am), _ptr(gv),
               _ptr(sl), ctypes.c_int(am.shape[0]), ctypes.c_int(weeks), real(rtol), real(atol),
               ctypes.c_int(max_steps), _ptr(si), ctypes.c_int(len(si)), _ptr(out), _ptr(steps))
        else:  # the GPU always drives persistent lanes (``lanes`` sets how many; default from the device)
            out, steps = _launch_gpu(self._fn, n, dt, y0_t, th, am, gv, sl, weeks, rtol, atol, max_steps, si, lanes)
        return out.reshape(weeks + 1, len(si), n).transpose(2, 0, 1), steps


def _ptr(a: np.ndarray) -> ctypes.c_void_p:
    return ctypes.c_void_p(a.ctypes.data)


def compiler() -> str | None:
    """The C compiler used for the CPU target (``$CC``, else cc or gcc), or None."""
    for c in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if c and shutil.which(c):
            return shutil.which(c)
    return None


def _cache_dir() -> Path:
    root = os.environ.get("IMMUNOTWIN_FUSED_CACHE", os.path.expanduser("~/.cache/immunotwin/fused"))
    return Path(root)


def _compile_cpu(text: str, precision: str):  # type: ignore[no-untyped-def]
    cc = compiler()
    if cc is None:
        raise RuntimeError("the fused CPU engine needs a C compiler (cc, gcc or clang on PATH, or $CC)")
    flags = ["-O2", "-fPIC", "-shared", "-fopenmp", "-fno-fast-math"] + (["-DIT_FLOAT"] if precision == "float32" else [])
    key = hashlib.sha256((text + " ".join(flags) + cc).encode()).hexdigest()[:24]
    lib = _cache_dir() / f"fused_{key}.so"
    if not lib.exists():
        lib.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp) / "fused.c"
            src.write_text(text)
            built = Path(tmp) / "fused.so"
            proc = subprocess.run([cc, *flags, str(src), "-o", str(built), "-lm"], capture_output=True, text=True)
            if proc.returncode != 0 and "-fopenmp" in flags:  # a compiler without OpenMP: one core
                serial = [f for f in flags if f != "-fopenmp"]
                proc = subprocess.run([cc, *serial, str(src), "-o", str(built), "-lm"], capture_output=True,
                                      text=True)
            if proc.returncode != 0:
                raise RuntimeError(f"compiling the fused engine failed:\n{proc.stderr[-3000:]}")
            tmp_lib = lib.with_suffix(f".{os.getpid()}.tmp")
            shutil.copy(built, tmp_lib)
            os.replace(tmp_lib, lib)  # atomic: concurrent builders never load a half-written library
    dll = ctypes.CDLL(str(lib))
    fn = dll.run
    fn.restype = None
    fn.rhs_batch = dll.rhs_batch  # type: ignore[attr-defined]
    fn.run_lanes = dll.run_lanes  # type: ignore[attr-defined]
    fn.run_lanes.restype = None
    fn.step_batch = dll.step_batch  # type: ignore[attr-defined]
    fn.step_batch.restype = None
    return fn


def rhs_cpu(model: FusedModel, t: float, y: np.ndarray, theta_rows: np.ndarray) -> np.ndarray:
    """The generated right-hand side at integrated states ``y`` (n, len(model.states)), per-patient
    values (n, n_theta)."""
    if model.target != "cpu":
        raise ValueError("rhs_cpu needs a CPU-compiled model")
    dt = model.dtype
    y = np.ascontiguousarray(y, dtype=dt)
    th = np.ascontiguousarray(theta_rows, dtype=dt)
    dy = np.empty_like(y)
    real = ctypes.c_double if dt == np.float64 else ctypes.c_float
    model._fn.rhs_batch(ctypes.c_long(y.shape[0]), real(t), _ptr(y), _ptr(th), ctypes.c_long(th.shape[1]),  # type: ignore[attr-defined]
                        _ptr(dy))
    return dy


def _compile_gpu(text: str, precision: str):  # type: ignore[no-untyped-def]
    from .gpu import compile_module

    return compile_module(text, precision)


def _launch_gpu(mod, n, dt, y0_t, th, am, gv, sl, weeks, rtol, atol, max_steps, si, lanes=None):  # type: ignore[no-untyped-def]
    import cupy as cp

    from .gpu import SHAPES, default_lanes, launch

    prec = "float64" if dt == np.float64 else "float32"
    d = [cp.asarray(a) for a in (y0_t, th, am, gv, sl, si)]
    out, steps, _ = launch(mod, n, *d, weeks, rtol, atol, max_steps, SHAPES[prec]["block"],
                           lanes=min(n, default_lanes(prec)) if lanes is None else lanes)
    return cp.asnumpy(out), cp.asnumpy(steps)


# ---------------------------------------------------------------------------------------
# The dosing-only model (doses on schedule, no clinic), as immunotwin.bench measures it
# ---------------------------------------------------------------------------------------


def plan_inputs(plan, n: int) -> dict[str, np.ndarray]:  # type: ignore[no-untyped-def]
    from .. import engine as jax_engine

    inputs = jax_engine.zero_inputs(n)
    inputs["tfd"] = plan.first_dose(n)
    return inputs


def given_matrix(plan, weeks: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    """(weeks + 1, entries): 1 where entry j is given on day 7 w (doses sit on the weekly grid)."""
    out = np.zeros((weeks + 1, len(plan.days)), dtype=np.uint8)
    for j, days in enumerate(plan.days):
        for d in np.asarray(days, dtype=np.float64):
            w = d / 7.0
            if abs(w - round(w)) > 1e-9:
                raise ValueError(f"entry {j}: a dose on day {d:g} is off the weekly grid")
            if round(w) <= weeks:
                out[int(round(w)), j] = 1
    return out


def save_indices() -> list[int]:
    """States saved by :func:`dosing_only`: the tumour's clones (log_sensitive, log_mapk_resistant,
    log_resistant), then each slot's central amount."""
    from ..model.core import CLONE_STATES, LAYOUT
    from ..model.slots import N_SLOTS

    pk0 = LAYOUT.slices["pk_central"].start
    return [*(LAYOUT.slices[k].start for k in CLONE_STATES), *range(pk0, pk0 + N_SLOTS)]


def dose_states(plan) -> list[int]:  # type: ignore[no-untyped-def]
    """The model state each entry of ``plan`` doses (its slot's central amount)."""
    from ..model.core import LAYOUT

    pk0 = LAYOUT.slices["pk_central"].start
    return [pk0 + int(s) for s in plan.slot]


def model_for(patients, plan, **kw) -> FusedModel:  # type: ignore[no-untyped-def]
    """A fused model specialised to ``patients`` under ``plan`` (the dosing-only model)."""
    return FusedModel(patients.params, plan_inputs(plan, patients.n), y0=patients.y0, dosed=dose_states(plan), **kw)


def dosing_only(model: FusedModel, patients, plan, weeks: int, rtol: float = 1e-6, atol: float = 1e-9,  # type: ignore[no-untyped-def]
                save: Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Saved states (n, weeks + 1, len(save)) and attempted steps of ``patients`` under ``plan``."""
    inputs = plan_inputs(plan, patients.n)
    theta = model.theta(patients.params, inputs)
    return model.run(patients.y0, theta, plan.amount, given_matrix(plan, weeks), dose_states(plan), weeks,
                     save_indices() if save is None else save, rtol, atol)


def observations(saved: np.ndarray, params: Mapping[str, np.ndarray]) -> np.ndarray:
    """(n, T, 1 + slots) as ``immunotwin.bench.observe``: tumour (1e9 cells), then each slot's
    concentration (mg/L), from :func:`dosing_only`'s default saved states."""
    from ..model.core import CLONE_STATES

    k = len(CLONE_STATES)
    saved = saved.astype(np.float64)
    tum = np.exp(saved[..., :k]).sum(axis=-1)
    conc = saved[..., k:] / np.asarray(params["pk_vc"], dtype=np.float64)[:, None, :]
    return np.concatenate([tum[..., None], conc], axis=-1)


# ---------------------------------------------------------------------------------------
# The clinic's step (immunotwin.engine.step with IMMUNOTWIN_ENGINE=fused)
# ---------------------------------------------------------------------------------------


@cache
def stepper(precision: str = "float64") -> FusedModel:
    """One unfolded model (every parameter and input read per patient, every state integrated), so
    the same compiled code serves every chunk and a patient's numbers do not depend on its batch."""
    from .. import engine as jax_engine
    from ..model.core import default_params

    params = {k: np.asarray(v, dtype=np.float64)[None] for k, v in default_params().items()}
    return FusedModel(params, jax_engine.zero_inputs(1), fold=False, precision=precision)


def step(y0: np.ndarray, params: Mapping[str, np.ndarray], inputs: Mapping[str, np.ndarray], t0: float,
         days: int, active: np.ndarray | None, rtol: float, atol: float, max_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """As :func:`immunotwin.engine.step`: daily states (N, days, size) and a success flag (N,)."""
    model = stepper()
    y0 = np.asarray(y0, dtype=np.float64)
    n, size = y0.shape
    if size != len(model.states):
        raise ValueError(f"y0: {size} states, the model has {len(model.states)}")
    theta = np.ascontiguousarray(model.theta(params, inputs))
    y_t = np.ascontiguousarray(y0.T)
    act = np.ascontiguousarray(np.ones(n, dtype=np.uint8) if active is None else np.asarray(active, dtype=np.uint8))
    out = np.empty((days, size, n))
    ok = np.empty(n, dtype=np.int32)
    model._fn.step_batch(ctypes.c_long(n), ctypes.c_double(t0), ctypes.c_int(days), _ptr(y_t), _ptr(theta),  # type: ignore[attr-defined]
                         _ptr(act), ctypes.c_double(rtol), ctypes.c_double(atol), ctypes.c_int(max_steps), _ptr(out),
                         _ptr(ok))
    return out.transpose(2, 0, 1).copy(), ok.astype(bool)
