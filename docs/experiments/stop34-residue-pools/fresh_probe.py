"""Endpoints of a fresh CheckMate 067 trial at the installed calibration, with extra log mean shifts (name=shift) and
variability scales (s:name=factor), read with the fit's own endpoint and residual functions.

    [SEED=7003] python fresh_probe.py LABEL PATIENTS_PER_ARM [name=shift ...] [s:name=factor ...]
"""
import json
import os
import sys
from importlib import resources

import numpy as np

import immunotwin.success as su
from immunotwin.calibrate import FITTED, default_rates, endpoints, residuals, target_rows
from immunotwin.calibrate_fresh import fresh_population
from immunotwin.model.core import PARAM_INDEX
from immunotwin.spec import load_spec
from immunotwin.validate import EXAMPLE

label, n = sys.argv[1], int(sys.argv[2])
extra = {a.split("=")[0]: float(a.split("=")[1]) for a in sys.argv[3:] if "=" in a and not a.startswith("s:")}
extra_s = {a[2:].split("=")[0]: float(a.split("=")[1]) for a in sys.argv[3:] if a.startswith("s:")}
orig = su.simulate_arms


def sim(spec, arms, patients, mean, scale, **k):  # fresh_population draws its patients through this
    mean = {**mean, **{a: mean.get(a, 0.0) + b for a, b in extra.items()}}
    scale = {**scale, **{a: scale.get(a, 1.0) * b for a, b in extra_s.items()}}
    return orig(spec, arms, patients, mean, scale, **k)


su.simulate_arms = sim
spec = load_spec(EXAMPLE)
phi = np.concatenate([np.zeros(len(FITTED)), np.log([PARAM_INDEX[k].iiv for k in FITTED])])  # the installed values
targets = json.loads(resources.files("immunotwin.data").joinpath("checkmate067.json").read_text())
pl = fresh_population(spec, phi, n, int(os.environ.get("SEED", "7003")))
sim_ = endpoints(pl, np.full(n, 1.0 / n), spec.control, default_rates())
rows = target_rows(targets)
r = residuals(sim_, rows)
print(label, f"SSE {float(np.nansum(r**2)):.2f}", f"n out(|r|>1) {int(np.sum(np.abs(r) > 1))}")
for (ep, lm, arm, pub), res in zip(rows, r, strict=True):
    v = sim_[ep][lm][arm] if ep == "os_rate" else sim_[ep].get(arm)
    print(f"{ep}{lm} {arm[:14]} pub {pub:.3g} sim {v:.3g} res {res:+.2f}")
