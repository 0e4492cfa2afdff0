"""Held-out loss of the installed calibration at extra seeds (fresh trials, 1,000 per arm)."""
import json, sys
import numpy as np
from pathlib import Path
from immunotwin.spec import load_spec
from immunotwin.calibrate_direct import installed_phi, target_rows, trial_residuals
seeds = [int(s) for s in sys.argv[1].split(",")]
spec = load_spec(Path("examples/checkmate067.toml"))
rows = target_rows(json.loads(Path("src/immunotwin/data/checkmate067.json").read_text()))
out = []
for s in seeds:
    r, _ = trial_residuals(spec, rows, installed_phi(), 1000, (s,), None)
    out.append({"seed": s, "loss": float(np.sum(r ** 2)), "outside": int(np.sum(np.abs(r) > 1))})
    print(out[-1], flush=True)
print("mean", np.mean([o["loss"] for o in out]))
