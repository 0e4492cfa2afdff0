"""Held-out loss of the installed state of this tree on seeds 68-70, 1,000 per arm, with the natural-history
ceiling and CA184-169's rows (as calibrate_direct.held_out_check's 'fit' side). Usage: heldout.py OUT.json [WINDOW_DAYS]."""
import json, sys
import numpy as np
from pathlib import Path
from immunotwin.spec import load_spec
from immunotwin import calibrate_direct as cd
from immunotwin.calibrate import target_rows

spec = load_spec(Path("examples/checkmate067.toml"))
if len(sys.argv) > 2:  # an optional visit window in days in place of the spec's (stop 63: 0 reads without one)
    import dataclasses
    spec = dataclasses.replace(spec, assessment=dataclasses.replace(spec.assessment, window_days=float(sys.argv[2])))
targets = json.loads(Path("src/immunotwin/data/checkmate067.json").read_text())
rows = target_rows(targets)
phi = cd.installed_phi()
out = []
for seed in (68, 69, 70):
    r, sims = cd.trial_residuals(spec, rows, phi, 1000, (seed,), None, "ceiling", ["ipilimumab-dose"])
    further = r[-2:]
    out.append({"seed": seed, "loss": float(np.sum(r**2)), "outside": int(np.sum(np.abs(r) > 1)),
                "further_loss": float(np.sum(further**2)), "further": [float(x) for x in further]})
    print(out[-1], flush=True)
print("mean loss", np.mean([o["loss"] for o in out]), "mean further", np.mean([o["further_loss"] for o in out]))
json.dump(out, open(sys.argv[1], "w"), indent=1)
