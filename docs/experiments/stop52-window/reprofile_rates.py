"""Re-profile the two treatment-related event rates of the installed calibration under the adverse-event reporting
window (stop 52), the population unchanged: fresh CheckMate 067 trials at the installed calibration, 1,000 per arm,
the fit's seeds 7101 and 7102, fused engine; the rates that best fit the grade >= 3 TRAE rows
(calibrate.profile_event_rates), and every target row's residual before and after.

    python docs/experiments/stop52-window/reprofile_rates.py runs/cal74rates.json
"""

from __future__ import annotations

import json
import os
import sys

os.environ["IMMUNOTWIN_ENGINE"] = "fused"

import numpy as np  # noqa: E402

from immunotwin.calibrate import default_rates, endpoints, profile_event_rates, residuals, target_rows  # noqa: E402
from immunotwin.calibrate_direct import installed_phi  # noqa: E402
from immunotwin.calibrate_fresh import fresh_population  # noqa: E402
from immunotwin.spec import load_spec  # noqa: E402

spec = load_spec("examples/checkmate067.toml")
targets = json.load(open("src/immunotwin/data/checkmate067.json"))
rows = target_rows(targets)
out: dict = {"seeds": [7101, 7102], "patients_per_arm": 1000, "installed_rates": list(default_rates())}
trials = [fresh_population(spec, installed_phi(), 1000, seed) for seed in out["seeds"]]
for label in ("installed", "reprofiled"):
    per = []
    for seed, trial in zip(out["seeds"], trials, strict=True):
        n = len(next(iter(trial.outcomes.values())))
        w = np.full(n, 1.0 / n)
        rate = default_rates() if label == "installed" else profile_event_rates(trial, w, rows)
        sim = endpoints(trial, w, spec.control, rate)
        r = residuals(sim, rows)
        per.append({"seed": seed, "rates": list(rate), "loss": float(np.nansum(r**2)),
                    "trae": sim["grade3plus_trae"], "residuals": [float(v) for v in r]})
    out[label] = per
# one pair of rates for both seeds: profiled on the two trials' TRAE rows together (the sum of their squares)
from scipy.optimize import minimize  # noqa: E402

from immunotwin.calibrate import RATE_BOUNDS, SCALE, _trae_parts, _trae_share  # noqa: E402

parts = [(_trae_parts(t.outcomes[arm]), pub) for t in trials for (ep, _, arm, pub) in rows if ep == "grade3plus_trae"]
w1 = np.full(1000, 1.0 / 1000)
sse = lambda x: sum(((_trae_share(*p, w1, (np.exp(x[0]), np.exp(x[1]))) - pub) / SCALE["grade3plus_trae"]) ** 2  # noqa: E731
                    for p, pub in parts)
bounds = [(np.log(lo), np.log(hi)) for lo, hi in RATE_BOUNDS]
res = minimize(sse, np.log(default_rates()), method="L-BFGS-B", bounds=bounds)
out["joint_rates"] = [float(np.exp(v)) for v in res.x]
out["joint_trae"] = {f"{seed}:{arm}": _trae_share(*_trae_parts(t.outcomes[arm]), w1, tuple(out["joint_rates"]))
                     for seed, t in zip(out["seeds"], trials, strict=True) for arm in t.outcomes}
json.dump(out, open(sys.argv[1], "w"), indent=1)
print(json.dumps({k: out[k] for k in ("installed_rates", "joint_rates", "joint_trae")}, indent=1))
for label in ("installed", "reprofiled"):
    print(label, [(p["seed"], round(p["loss"], 3), p["trae"]) for p in out[label]])
