import json, sys, numpy as np
from pathlib import Path
from immunotwin import calibrate_direct as cd, calibrate_tension as ct
from immunotwin.calibrate import target_rows
from immunotwin.spec import load_spec
spec = load_spec(Path("examples/checkmate067.toml"))
targets = json.loads(Path("src/immunotwin/data/checkmate067.json").read_text())
rows = target_rows(targets)
h = json.loads(Path("runs/jac44/direct_history.json").read_text())
t = ct.tension(h, sys.argv[2].split(";"))
idx = cd.coordinates(h["free"])
seeds = [int(s) for s in sys.argv[3].split(",")]
for frac in [float(x) for x in sys.argv[1].split(",")]:
    phi = cd.installed_phi()
    phi[idx] = np.asarray(h["jacobian_at"]) + frac * t.step
    r, sims = cd.trial_residuals(spec, rows, phi, 1000, seeds)
    means = ct.row_means(r, len(rows))
    pred = ct.row_means(np.asarray(h["history"][0]["residuals"]) + frac * (np.asarray(h["jacobian"]) @ t.step), len(rows)) if seeds == [7101, 7102] else None
    print(f"frac {frac}: loss {float(r @ r):.2f} outside {int(np.sum(np.abs(means) > 1))}")
    for i, lab in enumerate(t.rows):
        if abs(means[i]) > 0.7 or lab in t.forced:
            print(f"   {lab}: {means[i]:+.2f}" + (f" (linear {pred[i]:+.2f})" if pred is not None else ""))
    print("   combo mPFS", sims[0]["median_pfs_months"]["nivolumab + ipilimumab"], "nivo", sims[0]["median_pfs_months"]["nivolumab"], flush=True)
