"""Endpoints of a fresh CheckMate 067 trial at the installed calibration, with extra mean shifts (name=logshift)."""
import sys, json, numpy as np
from immunotwin.calibrate import FITTED, endpoints, target_rows, residuals, default_rates
from immunotwin.calibrate_fresh import fresh_population
from immunotwin.spec import load_spec
from immunotwin.validate import EXAMPLE
import immunotwin.success as su
label, n = sys.argv[1], int(sys.argv[2])
extra = {a.split("=")[0]: float(a.split("=")[1]) for a in sys.argv[3:] if "=" in a and not a.startswith("s:")}
extra_s = {a[2:].split("=")[0]: float(a.split("=")[1]) for a in sys.argv[3:] if a.startswith("s:")}
orig = su.simulate_arms
def sim(spec, arms, patients, mean, scale, **k):
    mean = {**mean, **{a: mean.get(a, 0.0) + b for a, b in extra.items()}}
    scale = {**scale, **{a: scale.get(a, 1.0) * b for a, b in extra_s.items()}}
    return orig(spec, arms, patients, mean, scale, **k)
su.simulate_arms = sim
spec = load_spec(EXAMPLE)
phi = np.zeros(2 * len(FITTED))
from immunotwin.model.core import PARAM_INDEX
phi[len(FITTED):] = np.log([PARAM_INDEX[k].iiv for k in FITTED])
targets = json.load(open("src/immunotwin/data/checkmate067.json"))
import os; pl = fresh_population(spec, phi, n, int(os.environ.get("SEED", "7003")))
w = np.full(n, 1.0 / n)
cal = json.load(open("src/immunotwin/data/calibration.json"))
rate = (cal["params"]["nonimmune_trae_rate"]["default"], cal["params"]["systemic_irae_rate"]["default"])
sim_ = endpoints(pl, w, spec.control, rate)
rows = target_rows(targets)
r = residuals(sim_, rows)
out = []
for (ep, lm, arm, pub), res in zip(rows, r):
    v = sim_[ep][lm][arm] if ep == "os_rate" else sim_[ep].get(arm)
    out.append(f"{ep}{lm} {arm[:14]} pub {pub:.3g} sim {v:.3g} res {res:+.2f}")
print(label, "SSE %.2f" % float(np.nansum(r**2)), "n out(|r|>1) %d" % int(np.sum(np.abs(r) > 1)))
print("\n".join(out))
