"""Batched integration of the model between visits (JAX + diffrax, float64).

Patients are integrated over one clinic step (7 days by default) with
``diffrax.diffeqsolve``, vectorised over groups of :data:`GROUP` patients and mapped over
the groups of a fixed batch of :data:`BATCH` (padded); doses and management decisions are
applied by the clinic as jumps between steps. One compiled shape serves every trial, drug
and regimen, and a patient's numbers do not depend on which chunk it is simulated in. A patient whose integration
fails (non-finite state, step limit) is reported with a status, never raised.

Solver: Tsit5 with a PID step-size controller. Cytokines are at quasi-steady state
(:mod:`immunotwin.model.cytokines`), which keeps the system non-stiff on the day scale;
the slowest and fastest remaining rates (IgG decay 0.033/day, effector expansion ~0.5/day,
PK distribution ~0.3/day) are within two decades.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache

import numpy as np

from .model.core import INPUTS, LAYOUT, vector_field

BATCH = 64  # every call integrates exactly this many patients (padded): one compiled shape
GROUP = 8  # patients integrated in lockstep inside a batch (jax.lax.map over groups)
STEP_DAYS = 7
RTOL = 1e-6
ATOL = 1e-9
MAX_STEPS = 4096


def _configure_jax() -> None:
    import jax

    jax.config.update("jax_enable_x64", True)
    cache = os.environ.get("IMMUNOTWIN_JAX_CACHE", os.path.expanduser("~/.cache/immunotwin/jax"))
    if cache and cache != "0":
        try:
            jax.config.update("jax_compilation_cache_dir", cache)
            jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
        except Exception:  # pragma: no cover - older jax
            pass


_configure_jax()


ENGINES = ("jax", "fused")


def current() -> str:
    """The integrator ``step`` uses: ``jax`` (default) or ``fused`` (environment ``IMMUNOTWIN_ENGINE``)."""
    name = os.environ.get("IMMUNOTWIN_ENGINE", "jax") or "jax"
    if name not in ENGINES:
        raise ValueError(f"IMMUNOTWIN_ENGINE: {name!r} is not one of {', '.join(ENGINES)}")
    return name


def padded_size(n: int) -> int:
    return max(1, -(-n // BATCH)) * BATCH


@cache
def _compiled_step(step_days: int):  # type: ignore[no-untyped-def]
    import diffrax
    import jax
    import jax.numpy as jnp

    # Patients no longer followed (dead, or failed earlier) are held still: a zero vector field costs
    # a few steps, where re-integrating a failed state would cost MAX_STEPS rejected steps of its group.
    term = diffrax.ODETerm(lambda t, y, args: jnp.where(args[2], vector_field(t, y, args[:2]), 0.0))
    solver = diffrax.Tsit5()
    controller = diffrax.PIDController(rtol=RTOL, atol=ATOL)
    offsets = jnp.arange(1, step_days + 1, dtype=jnp.float64)

    def one(y0, params, inputs, active, t0):  # type: ignore[no-untyped-def]
        sol = diffrax.diffeqsolve(
            term, solver, t0=t0, t1=t0 + step_days, dt0=0.25, y0=y0, args=(params, inputs, active),
            saveat=diffrax.SaveAt(ts=t0 + offsets), stepsize_controller=controller,
            max_steps=MAX_STEPS, throw=False,
        )
        ok = (sol.result == diffrax.RESULTS.successful) & jnp.all(jnp.isfinite(sol.ys))
        ys = jnp.where(ok, sol.ys, jnp.broadcast_to(y0, sol.ys.shape))
        return ys, ok

    def batch(y0, params, inputs, active, t0):  # type: ignore[no-untyped-def]
        # Lockstep vmap makes every patient wait for the slowest; mapping over small groups
        # limits that (measured about 5x faster on the CheckMate 067 arms, benchmarks/).
        return jax.lax.map(lambda a: one(a[0], a[1], a[2], a[3], t0), (y0, params, inputs, active),
                           batch_size=GROUP)

    return jax.jit(batch)


def step(y0: np.ndarray, params: Mapping[str, np.ndarray], inputs: Mapping[str, np.ndarray],
         t0: float, step_days: int = STEP_DAYS, active: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Integrate N patients from ``t0`` over ``step_days`` days.

    Returns the daily states (N, step_days, size) and a success flag (N,). Failed patients
    keep their initial state; the caller records them as failed. Patients with ``active`` false
    (default: all active) are held at their state.

    With the environment variable ``IMMUNOTWIN_ENGINE=fused`` the step runs on the fused C
    integrator (:func:`immunotwin.fused.engine.step`, the same equations and tolerances, its own
    step-size control: results agree to the integration tolerance, not bit for bit with this one).
    """
    if current() == "fused":
        from .fused.engine import step as fused_step

        return fused_step(y0, params, inputs, t0, step_days, active, RTOL, ATOL, MAX_STEPS)
    n = y0.shape[0]
    size = padded_size(n)
    fn = _compiled_step(step_days)
    y, p, u = _pad(y0, size), {k: _pad(v, size) for k, v in params.items()}, {k: _pad(v, size) for k, v in inputs.items()}
    act = _pad(np.ones(n) if active is None else np.asarray(active, dtype=np.float64), size) > 0
    ys_all, ok_all = [], []
    # Always the same compiled shape, so a patient's numbers never depend on the chunk it is in.
    for s in range(0, size, BATCH):
        sl = slice(s, s + BATCH)
        ys, ok = fn(y[sl], {k: v[sl] for k, v in p.items()}, {k: v[sl] for k, v in u.items()}, act[sl],
                    np.float64(t0))
        ys_all.append(np.asarray(ys))
        ok_all.append(np.asarray(ok))
    return np.concatenate(ys_all)[:n].copy(), np.concatenate(ok_all)[:n].copy()


def _pad(a: np.ndarray, size: int) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    n = a.shape[0]
    if n == size:
        return a
    reps = np.repeat(a[-1:], size - n, axis=0)
    return np.concatenate([a, reps], axis=0)


def zero_inputs(n: int) -> dict[str, np.ndarray]:
    out = {k: np.zeros((n, m)) if m > 1 else np.zeros(n) for k, m in INPUTS.items()}
    out["tfd"] = np.full((n, INPUTS["tfd"]), 1e9)
    return out


@cache
def _compiled_signals():  # type: ignore[no-untyped-def]
    import jax

    from .model.core import signals

    return jax.jit(jax.vmap(lambda y, p, u: signals(0.0, y, p, u)))


def signals_batch(y: np.ndarray, params: Mapping[str, np.ndarray], inputs: Mapping[str, np.ndarray]) -> dict:
    """Derived signals (kill, occupancy, cytokines...) for N patients at states ``y``."""
    n = y.shape[0]
    size = padded_size(n)
    out = _compiled_signals()(_pad(y, size), {k: _pad(v, size) for k, v in params.items()},
                              {k: _pad(v, size) for k, v in inputs.items()})
    return {k: np.array(v[:n]) for k, v in out.items()}


def enrol(y: np.ndarray, params: dict[str, np.ndarray]) -> None:
    """Set each patient's intrinsic growth so that the sensitive clone grows at its observed
    net rate at enrolment (``net_growth_rate``) given its baseline immune killing: trials enrol
    progressing disease. Modifies ``params['growth_rate']`` in place."""
    sig = signals_batch(y, params, zero_inputs(y.shape[0]))
    tum = sig["tumour"]
    il6x = sig["il6"] - 1.0
    shape = (1.0 - tum / params["carrying_capacity"]) * (1.0 + params["il6_promotion"] * il6x / (il6x + 1.0))
    params["growth_rate"] = (params["net_growth_rate"] + sig["kill"]) / np.maximum(shape, 1e-3)
    params["baseline_kill"] = sig["kill"].copy()


def burn_in(y0: np.ndarray, params: Mapping[str, np.ndarray], days: int = 84) -> np.ndarray:
    """Relax immune states to quasi-equilibrium with the tumour held fixed."""
    n = y0.shape[0]
    inputs = zero_inputs(n)
    inputs["freeze"] = np.ones(n)
    y = y0
    for k in range(days // STEP_DAYS):
        ys, _ = step(y, params, inputs, -1000.0 + k * STEP_DAYS)
        y = ys[:, -1]
    return y


__all__ = ["step", "burn_in", "zero_inputs", "padded_size", "LAYOUT", "BATCH", "STEP_DAYS"]
