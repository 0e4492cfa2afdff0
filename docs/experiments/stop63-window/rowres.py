"""Per-row calibration residuals at one seed, window 0 against the spec's window (1,000 per arm)."""
import dataclasses, json, sys
import numpy as np
from pathlib import Path
from immunotwin.spec import load_spec
from immunotwin import calibrate_direct as cd
from immunotwin.calibrate import target_rows
seed = int(sys.argv[1])
spec7 = load_spec(Path("examples/checkmate067.toml"))
spec0 = dataclasses.replace(spec7, assessment=dataclasses.replace(spec7.assessment, window_days=0.0))
rows = target_rows(json.loads(Path("src/immunotwin/data/checkmate067.json").read_text()))
phi = cd.installed_phi()
res = {}
for k, sp in (("w0", spec0), ("w7", spec7)):
    r, sims = cd.trial_residuals(sp, rows, phi, 1000, (seed,), None, "ceiling", ["ipilimumab-dose"])
    res[k] = r
    print(k, "loss", float(np.sum(r**2)), flush=True)
labels = [f"{r.get('endpoint', r)}|{r.get('arm', '')}" if isinstance(r, dict) else str(r) for r in rows] + ["nh1", "nh2", "also1", "also2"]
d = res["w7"]**2 - res["w0"]**2
for i in np.argsort(-np.abs(d))[:12]:
    print(f"{labels[i] if i < len(labels) else i:60s} {res['w0'][i]:+.3f} -> {res['w7'][i]:+.3f}  d(sq) {d[i]:+.3f}")
