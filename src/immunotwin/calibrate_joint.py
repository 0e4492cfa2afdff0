"""Fit several parameters of one trial arm together: ``python -m immunotwin.calibrate_joint --params a,b,c``.

Each parameter of ``calibrate_cancers.PARAM_TARGETS`` has its own metric and published target; when they all read
the same arm (COMBI-d's dabrafenib + trametinib: ORR, median PFS and 3-year progression for the MAPK kill, its
persistence and the resistant subclone), one simulation gives every metric, and fitting them one at a time
(``calibrate_cancers``) can wander: each fit undoes the others (stop 50: a second pass of the three MAPK
parameters drove the subclone from 2% to 27% of the tumour). This solves the system instead, on the log of each
value: a Jacobian by forward differences (a step of ln 1.5, wide on purpose: the metrics are step functions of the
values under common random numbers, flat over small intervals), damped Newton steps (at most ln 3 per value, inside
each bracket; a step that makes the largest residual worse is halved once), and Broyden's rank-one update of the
Jacobian after each step (Broyden, Math Comput 1965;19:577), so an iteration costs one simulation. It stops when every
metric is within its tolerance (``--ses`` standard errors of a proportion at the fit's size, default 1; ``METRIC_TOL``
for a median); every simulation, the Jacobian's probes included, is a candidate for the best point. Hand-written:
scipy.optimize's Newton-Krylov and Broyden solvers difference with tiny steps, which read zero slope on step
functions.

The result goes to the same file as ``calibrate_cancers`` (``data/cancer_fit.json``), one entry per parameter, with
the joint trace.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import sys
from pathlib import Path

import numpy as np

from . import calibrate_cancers as cc

STEP = float(np.log(1.5))
MAX_STEP = float(np.log(3.0))


def tolerance(metric: str, patients: int, target: float, ses: float = 1.0) -> float:
    """How close a metric must come: ``METRIC_TOL`` if set, else ``ses`` binomial standard errors at ``patients``."""
    if metric in cc.METRIC_TOL:
        return cc.METRIC_TOL[metric]
    return ses * float(np.sqrt(max(target * (1.0 - target), 0.01) / patients))


def metrics_at(names: list[str], values: np.ndarray, patients: int, seed: int) -> np.ndarray:
    """Every parameter's metric from one simulation of their (shared) spec and arm with ``values`` installed."""
    spec_name = cc.PARAM_TARGETS[names[0]][0]
    arm = cc.PARAM_ARMS.get(names[0], "")
    arms = ((arm,) if isinstance(arm, str) else tuple(arm)) if arm else None
    with cc.model_values(dict(zip(names, map(float, values), strict=True))):
        p, _ = cc._simulate(spec_name, patients, False, seed, arms)
    if arms:
        p = p[p["arm"].isin(arms)]
    return np.array([cc.METRICS[cc.PARAM_TARGETS[n][3]](p) for n in names])


def solve(evaluate, start: np.ndarray, targets: np.ndarray, tols: np.ndarray, lo: np.ndarray, hi: np.ndarray,  # type: ignore[no-untyped-def]
          iters: int = 8) -> dict:
    """Damped Broyden iteration on u = log(values) for evaluate(values) = targets, residuals scaled by ``tols``.
    Returns the best point tried (smallest largest scaled residual), whether it is within every tolerance, and the
    trace [[values..., metrics...], ...]."""
    llo, lhi = np.log(lo), np.log(hi)
    trace: list[list[float]] = []

    def f(u: np.ndarray) -> np.ndarray:
        m = evaluate(np.exp(u))
        trace.append([*map(float, np.exp(u)), *map(float, m)])
        return (m - targets) / tols

    best: list = []

    def keep(u: np.ndarray, r: np.ndarray) -> bool:
        """Record (u, r) if it is the best so far; True once within every tolerance."""
        worst = float(np.max(np.abs(r)))
        if not best or worst < best[0]:
            best[:] = [worst, u.copy(), r.copy()]
        return best[0] <= 1.0

    u = np.clip(np.log(start), llo, lhi)
    r = f(u)
    done = keep(u, r)
    if not done:
        jac = np.empty((len(u), len(u)))
        for j in range(len(u)):
            du = STEP if u[j] + STEP <= lhi[j] else -STEP
            uj = u.copy()
            uj[j] += du
            rj = f(uj)
            jac[:, j] = (rj - r) / du
            if keep(uj, rj):
                done = True
                break
    while not done and len(trace) < iters + len(u) + 1:
        step = -np.linalg.lstsq(jac, r, rcond=None)[0]
        step *= min(1.0, MAX_STEP / max(float(np.max(np.abs(step))), 1e-12))
        u_new = np.clip(u + step, llo, lhi)
        if np.allclose(u_new, u):
            break
        r_new = f(u_new)
        done = keep(u_new, r_new)
        if not done and np.max(np.abs(r_new)) > np.max(np.abs(r)) and len(trace) < iters + len(u) + 1:
            s, y = u_new - u, r_new - r  # learn from the overshoot, then try half the step
            jac += np.outer(y - jac @ s, s) / float(s @ s)
            u_new = np.clip(u + 0.5 * step, llo, lhi)
            r_new = f(u_new)
            done = keep(u_new, r_new)
        s, y = u_new - u, r_new - r
        if float(s @ s) > 0.0:
            jac += np.outer(y - jac @ s, s) / float(s @ s)
        u, r = u_new, r_new
    return {"values": np.exp(best[1]), "metrics": best[2] * tols + targets, "reached": best[0] <= 1.0,
            "trace": trace}


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m immunotwin.calibrate_joint", description=__doc__.split("\n")[0])
    ap.add_argument("--params", required=True, help="parameters of calibrate_cancers.PARAM_TARGETS that read one "
                                                    "spec and arm, comma-separated")
    ap.add_argument("--patients", type=int, default=300)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--iters", type=int, default=8, help="simulations after the Jacobian's (default 8)")
    ap.add_argument("--ses", type=float, default=1.0,
                    help="tolerance of a share, in binomial standard errors at --patients (default 1)")
    ap.add_argument("--out", type=Path, default=cc.parser().get_default("out"))
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = parser()
    a = ap.parse_args(argv)
    names = [n for n in a.params.split(",") if n]
    unknown = [n for n in names if n not in cc.PARAM_TARGETS]
    if unknown or len(set(names)) < 2 or len(set(names)) < len(names):
        ap.error(f"--params: need two or more different names of calibrate_cancers.PARAM_TARGETS (unknown: {unknown})")
    visits = [n for n in names if cc.PARAM_TARGETS[n][3] in cc.VISIT_METRICS]
    if visits:
        ap.error(f"--params: {', '.join(visits)} read the visits; the joint fit reads patient tables only")
    if len({(cc.PARAM_TARGETS[n][0], str(cc.PARAM_ARMS.get(n, ""))) for n in names}) > 1:
        ap.error("--params: the parameters must read the same spec and arm")
    if a.patients < 10:
        ap.error(f"--patients must be at least 10 (got {a.patients})")
    if not 0.0 < a.ses <= 5.0:
        ap.error(f"--ses must be in (0, 5] (got {a.ses})")
    if a.iters < 1:
        ap.error(f"--iters must be at least 1 (got {a.iters})")
    if not a.out.parent.is_dir():
        ap.error(f"--out: folder {a.out.parent} does not exist")
    out = json.loads(a.out.read_text()) if a.out.is_file() else {}
    out.setdefault("params", {})
    from .model import core

    defaults = {prm.name: prm.default for prm in core.PARAMS}

    def installed(n: str) -> float:
        name, _, organ = n.partition(".")
        return float(defaults[name][cc.INDEX[organ]] if organ else defaults[name])

    fitted = {n: out["params"].get(n, {}).get("value") for n in names}
    start = np.array([installed(n) if fitted[n] is None else fitted[n] for n in names], float)
    targets, sources = zip(*(cc.param_target(n) for n in names), strict=True)
    metric_names = [cc.PARAM_TARGETS[n][3] for n in names]
    tols = np.array([tolerance(m, a.patients, t, a.ses) for m, t in zip(metric_names, targets, strict=True)])
    lo = np.array([cc.PARAM_TARGETS[n][4][0] for n in names])
    hi = np.array([cc.PARAM_TARGETS[n][4][1] for n in names])

    def evaluate(v: np.ndarray) -> np.ndarray:
        m = metrics_at(names, v, a.patients, a.seed)
        print("  " + ", ".join(f"{n} {x:.4g}" for n, x in zip(names, v, strict=True)) + " -> "
              + ", ".join(f"{k} {y:.3f}" for k, y in zip(metric_names, m, strict=True)), flush=True)
        return m

    res = solve(evaluate, start, np.array(targets), tols, lo, hi, a.iters)
    command = "python -m immunotwin.calibrate_joint " + shlex.join(argv if argv is not None else sys.argv[1:])
    today = dt.date.today().isoformat()
    for i, n in enumerate(names):
        out["params"][n] = {"value": float(f"{res['values'][i]:.4g}"), "orr": float(res["metrics"][i]),
                            "target_orr": float(targets[i]), "reached": bool(res["reached"]),
                            "tolerance": float(tols[i]), "joint": [m for m in names if m != n],
                            "trace": [[t[i], t[len(names) + i]] for t in res["trace"]],
                            "spec": cc.PARAM_TARGETS[n][0], "source": sources[i], "metric": metric_names[i],
                            "patients": a.patients, "seed": a.seed, "date": today, "command": command}
        print(f"{n}: {res['values'][i]:.4g} -> {metric_names[i]} {res['metrics'][i]:.3f} (target {targets[i]:.3f}, "
              f"within {tols[i]:.3g})")
    print(f"{'reached' if res['reached'] else 'NOT reached'} after {len(res['trace'])} simulations")
    a.out.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
