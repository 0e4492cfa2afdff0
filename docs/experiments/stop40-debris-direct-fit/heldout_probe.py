"""Fitted endpoints of fresh CheckMate 067 trials at the installed calibration: SEEDS, patients per arm."""
import json, sys
from importlib import resources
import numpy as np
from immunotwin.calibrate import FITTED, default_rates, endpoints, residuals, target_rows
from immunotwin.calibrate_fresh import fresh_population
from immunotwin.model.core import PARAM_INDEX
from immunotwin.spec import load_spec
from immunotwin.validate import EXAMPLE
label, n, seeds = sys.argv[1], int(sys.argv[2]), [int(s) for s in sys.argv[3].split(",")]
spec = load_spec(EXAMPLE)
phi = np.concatenate([np.zeros(len(FITTED)), np.log([PARAM_INDEX[k].iiv for k in FITTED])])
targets = json.loads(resources.files("immunotwin.data").joinpath("checkmate067.json").read_text())
rows = target_rows(targets)
for seed in seeds:
    pl = fresh_population(spec, phi, n, seed)
    sim_ = endpoints(pl, np.full(n, 1.0 / n), spec.control, default_rates())
    r = residuals(sim_, rows)
    out = [f"{ep}{lm} {arm[:10]} {sim_[ep][lm][arm] if ep == 'os_rate' else sim_[ep].get(arm):.3g}({pub:.3g})"
           for (ep, lm, arm, pub), res in zip(rows, r, strict=True) if abs(res) > 1]
    print(label, seed, f"SSE {float(np.nansum(r**2)):.2f}", f"out {len(out)}:", "; ".join(out), flush=True)
