"""Which CheckMate 067 rows move the held-out loss (seed 68, 1,000 per arm, as heldout.py's first seed): the installed
model against the lung as shipped before stop 69 (margin 0.35, no risk factors). Usage: heldout_rows.py [SEED]."""
import json
import sys
from pathlib import Path

import numpy as np

from immunotwin import calibrate_direct as cd
from immunotwin.calibrate import target_rows
from immunotwin.calibrate_cancers import model_values
from immunotwin.calibrate_lung import effect_values
from immunotwin.spec import load_spec

seed = int(sys.argv[1]) if len(sys.argv) > 1 else 68
spec = load_spec(Path("examples/checkmate067.toml"))
rows = target_rows(json.loads(Path("src/immunotwin/data/checkmate067.json").read_text()))
phi = cd.installed_phi()
now, _ = cd.trial_residuals(spec, rows, phi, 1000, (seed,), None, "ceiling", ["ipilimumab-dose"])
with model_values({"tolerance_margin.pneumonitis": 0.35}), effect_values({"smoker_lung": 1.0, "thoracic_rt_lung": 1.0}):
    before, _ = cd.trial_residuals(spec, rows, phi, 1000, (seed,), None, "ceiling", ["ipilimumab-dose"])
names = [" ".join(x for x in (r[0], r[1], r[2]) if x) for r in rows] + ["ceiling", "ipilimumab-dose"]
print(f"seed {seed}: loss {np.sum(before**2):.2f} (lung before stop 69) -> {np.sum(now**2):.2f} (installed)")
order = np.argsort(-np.abs(now**2 - before**2))
for i in order[:10]:
    label = names[i] if i < len(names) else f"row {i}"
    print(f"  {label}: residual {before[i]:+.2f} -> {now[i]:+.2f} (squared {before[i]**2:.2f} -> {now[i]**2:.2f})")
