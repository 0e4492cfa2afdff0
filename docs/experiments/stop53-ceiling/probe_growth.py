"""Stop 53 probe: CheckMate 067's calibration rows and the natural-history ceiling (CheckMate 066's dacarbazine arm)
at the installed calibration and with the mean net growth rate raised, nothing refitted. One fresh trial per point
(1,000 per arm, seed 7101, the fit's seed), as `calibrate --direct` reads it.

    IMMUNOTWIN_ENGINE=fused python docs/experiments/stop53-ceiling/probe_growth.py OUT.json [SHIFT ...]

SHIFT: log shifts of the mean net growth rate (default 0 0.05 0.1 0.15)."""
import json
import sys

import numpy as np

from immunotwin import calibrate_direct as cd
from immunotwin.reference import load
from immunotwin.spec import load_spec

out = sys.argv[1]
shifts = [float(x) for x in sys.argv[2:]] or [0.0, 0.05, 0.1, 0.15]
spec = load_spec("examples/checkmate067.toml")
targets = json.loads(open("src/immunotwin/data/checkmate067.json").read())
rows = cd.target_rows(targets)
labels = [cd.row_label(r) for r in rows]
(g,) = cd.coordinates(["net_growth_rate"])
result = []
for shift in shifts:
    phi = cd.installed_phi()
    phi[g] += shift
    r, sims = cd.trial_residuals(spec, rows, phi, 1000, (7101,), natural_history="ceiling")
    n = len(labels)
    entry = {"shift": shift, "loss_trial": float(np.sum(r[:n] ** 2)), "loss_ceiling": float(np.sum(r[n:] ** 2)),
             "residuals": dict(zip(labels + ["nh median", "nh 1-year"], map(float, r), strict=True)),
             "natural_history": sims[0]["natural_history"]}
    result.append(entry)
    print(f"shift {shift:+.3f}: CheckMate 067 loss {entry['loss_trial']:.2f}, ceiling {entry['loss_ceiling']:.2f};"
          f" beyond one unit: {[k for k, v in entry['residuals'].items() if abs(v) > 1]}", flush=True)
    json.dump(result, open(out, "w"), indent=1)
