"""Which calibration targets pull against one another: what bringing some rows to their published values would cost
the others, read from a direct fit's last Jacobian (``calibrate --direct`` writes it into ``direct_history.json``).

With residuals r (one block per seed, each scaled by 1/sqrt(seeds), so that the loss is sum r^2) and the
finite-difference Jacobian J of r in the free coordinates, the linearised question "move the free coordinates by dx
so that the forced rows' residuals, averaged over the seeds, are zero, and the loss is least" is an
equality-constrained linear least-squares problem:

    minimise |r + J dx|^2   subject to   C (r + J dx) = 0,

with C summing each forced row over the seed blocks. It is solved through its Karush-Kuhn-Tucker system (Golub &
Van Loan, Matrix Computations, 4th ed., section 6.2), by least squares so that coordinates the targets do not
identify get no step. The answer is linear: trustworthy for steps of about the Jacobian's own step (0.1 in log
coordinates) and a guide beyond, which is why the step is printed with it. No library solves this small KKT system
for us; it is a few lines of numpy.

    python -m immunotwin.calibrate_tension runs/cal61/direct_history.json --force "median_pfs_months / nivolumab + ipilimumab"
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class Tension:
    rows: list[str]
    free: list[str]
    forced: list[str]
    step: np.ndarray  # dx, per free coordinate
    before: np.ndarray  # each row's residual averaged over the seeds, in band units
    after: np.ndarray
    loss_before: float
    loss_after: float


def force_rows(J: np.ndarray, r: np.ndarray, forced: Sequence[int], n_rows: int) -> np.ndarray:
    """The step dx that brings rows ``forced`` (indices into one seed block of ``n_rows``) to zero, averaged over
    the seed blocks, at the least linearised loss |r + J dx|^2."""
    J, r = np.asarray(J, float), np.asarray(r, float)
    blocks = len(r) // n_rows
    if blocks * n_rows != len(r) or J.shape[0] != len(r):
        raise ValueError(f"{len(r)} residuals and a Jacobian of {J.shape[0]} rows are not blocks of {n_rows} rows")
    C = np.zeros((len(forced), len(r)))
    for k, i in enumerate(forced):
        C[k, i::n_rows] = 1.0
    n = J.shape[1]
    kkt = np.block([[2.0 * J.T @ J, J.T @ C.T], [C @ J, np.zeros((len(forced), len(forced)))]])
    rhs = np.concatenate([-2.0 * J.T @ r, -C @ r])
    sol = np.linalg.lstsq(kkt, rhs, rcond=None)[0]
    return sol[:n]


def row_means(r: np.ndarray, n_rows: int) -> np.ndarray:
    """Each row's residual averaged over the seed blocks, in band units (the blocks carry 1/sqrt(seeds))."""
    blocks = np.reshape(np.asarray(r, float), (-1, n_rows))
    return blocks.sum(axis=0) / np.sqrt(blocks.shape[0])


def tension(history: dict, forced: Sequence[str]) -> Tension:
    """Read ``direct_history.json`` (as a dict) and force the rows named ``forced`` (labels as in its ``rows``)."""
    rows = history.get("rows")
    if not rows or "jacobian" not in history:
        raise ValueError("the history has no target rows or no Jacobian: an older calibrate --direct wrote it; "
                         "rerun it (--iterations 0 takes the Jacobian alone)")
    unknown = [f for f in forced if f not in rows]
    if unknown:
        raise ValueError(f"unknown row(s): {', '.join(unknown)}; the rows are: {'; '.join(rows)}")
    at = np.asarray(history["jacobian_at"], float)
    entry = next((h for h in history["history"] if np.allclose(h["x"], at, rtol=0, atol=1e-12)), None)
    if entry is None or "residuals" not in entry:
        raise ValueError("no trial of the history sits where the Jacobian was taken")
    J, r = np.asarray(history["jacobian"], float), np.asarray(entry["residuals"], float)
    idx = [rows.index(f) for f in forced]
    dx = force_rows(J, r, idx, len(rows))
    new = r + J @ dx
    return Tension(list(rows), list(history["free"]), list(forced), dx, row_means(r, len(rows)),
                   row_means(new, len(rows)), float(r @ r), float(new @ new))


def render(t: Tension, top: int = 12) -> str:
    """A markdown account: the step, then the rows whose squared residual changes most."""
    what = "its published value" if len(t.forced) == 1 else "their published values"
    lines = [f"Forcing {', '.join(t.forced)} to {what} (linearised at the Jacobian's point):",
             f"loss {t.loss_before:.2f} -> {t.loss_after:.2f}; step |dx| = {np.linalg.norm(t.step):.2f} in log "
             "coordinates (the Jacobian's own step is 0.1: beyond about 0.3 read it as a direction)", "",
             "| free coordinate | step |", "|---|---|"]
    lines += [f"| {name} | {v:+.3f} |" for name, v in sorted(zip(t.free, t.step, strict=True), key=lambda x: -abs(x[1]))]
    change = t.after**2 - t.before**2
    order = np.argsort(-np.abs(change))[:top]
    lines += ["", "| target row | residual before | after | change in its squared residual |", "|---|---|---|---|"]
    lines += [f"| {t.rows[i]} | {t.before[i]:+.2f} | {t.after[i]:+.2f} | {change[i]:+.2f} |" for i in order]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m immunotwin.calibrate_tension", description=__doc__.split("\n\n")[0])
    ap.add_argument("history", type=Path, help="direct_history.json of a calibrate --direct run")
    ap.add_argument("--force", required=True, action="append",
                    help="a target row to bring to its published value, as named in the history's rows "
                         "(repeat for several)")
    ap.add_argument("--top", type=int, default=12, help="rows listed (default 12)")
    a = ap.parse_args(argv)
    try:
        history = json.loads(a.history.read_text())
        t = tension(history, a.force)
    except (OSError, json.JSONDecodeError, KeyError, ValueError) as exc:
        print(f"error: {a.history}: {exc}", file=sys.stderr)
        return 2
    print(render(t, a.top))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
