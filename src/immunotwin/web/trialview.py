"""A finished trial's results as JSON for the page: Kaplan–Meier curves, waterfall, irAE bars."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..model.organs import IRAES
from ..survival import km_curve, km_median

__all__ = ["trial_results"]


def _km(t: np.ndarray, e: np.ndarray) -> dict[str, Any]:
    keep = np.isfinite(t)
    t, e = t[keep], e[keep]
    ut, s = km_curve(t, e)
    tmax = float(t.max()) if t.size else 0.0
    time = [0.0, *ut.tolist(), tmax]
    surv = [1.0, *s.tolist(), float(s[-1]) if s.size else 1.0]
    cens = np.unique(t[~e])
    idx = np.searchsorted(ut, cens, side="right") - 1
    cy = np.where(idx < 0, 1.0, s[np.clip(idx, 0, None)] if s.size else 1.0)
    return {"time": time, "survival": surv, "censor_time": cens.tolist(), "censor_survival": cy.tolist(),
            "median": km_median(t, e), "n": int(t.size)}


def trial_results(trial_dir: Path) -> dict[str, Any]:
    """KM curves (PFS, OS), waterfall bars and irAE incidence per arm, plus summary.json."""
    summary = json.loads((trial_dir / "summary.json").read_text())
    patients = pd.read_parquet(trial_dir / "patients.parquet")
    arms = list(summary["arms"])
    km: dict[str, dict[str, Any]] = {}
    for ep in ("pfs", "os"):
        km[ep] = {}
        for arm in arms:
            d = patients[(patients["arm"] == arm) & (patients["status"] == "ok")]
            km[ep][arm] = _km(d[f"{ep}_months"].to_numpy(float), d[f"{ep}_event"].fillna(False).to_numpy(bool))
    waterfall: dict[str, list[dict[str, Any]]] = {}
    for arm in arms:
        d = patients[patients["arm"] == arm]
        bars: list[dict[str, Any]] = [{"patient": int(p), "pct_change": float(v), "bor": str(b)}
                for p, v, b in zip(d["patient"], d["best_pct_change"], d["bor"], strict=True)
                if v is not None and math.isfinite(float(v))]
        bars.sort(key=lambda r: (-r["pct_change"], r["patient"]))
        waterfall[arm] = bars
    irae = {}
    for arm in arms:
        by = summary["arms"][arm]["irae"]["by_organ"]
        irae[arm] = {"organs": list(IRAES), "any_grade": [by[o]["any_grade"] for o in IRAES],
                     "grade3plus": [by[o]["grade3plus"] for o in IRAES]}
    return {"arms": arms, "summary": summary, "km": km, "waterfall": waterfall, "irae": irae}
