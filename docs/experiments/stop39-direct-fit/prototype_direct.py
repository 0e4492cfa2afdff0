"""Prototype: least-squares calibration on common-random-number fresh trials (fused engine)."""
import json, os, sys, time
import numpy as np
from importlib import resources
from scipy.optimize import least_squares
from immunotwin.calibrate import FITTED, endpoints, residuals, target_rows, profile_event_rates, readings
from immunotwin.calibrate_fresh import fresh_population
from immunotwin.model.core import PARAM_INDEX
from immunotwin.spec import load_spec
from immunotwin.validate import EXAMPLE

label, n, seed, nfev = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
free = sys.argv[5].split(",")
step = float(os.environ.get("STEP", "0.1"))
spec = load_spec(EXAMPLE)
targets = json.loads(resources.files("immunotwin.data").joinpath("checkmate067.json").read_text())
rows = target_rows(targets)
K = len(FITTED)
phi0 = np.concatenate([np.zeros(K), np.log([PARAM_INDEX[k].iiv for k in FITTED])])
idx = [K + FITTED.index(f[2:]) if f.startswith("s:") else FITTED.index(f) for f in free]
log = open(f"/tmp/direct/{label}.log", "a")
count = [0]
best = [np.inf, None]

def full(x):
    phi = phi0.copy(); phi[idx] = x; return phi

def f(x):
    t = time.time()
    phi = full(x)
    fr = fresh_population(spec, phi, n, seed)
    w = np.full(n, 1.0 / n)
    rate = profile_event_rates(fr, w, rows)
    sim = endpoints(fr, w, spec.control, rate)
    r = residuals(sim, rows)
    r = np.where(np.isfinite(r), r, 5.0)
    count[0] += 1
    sse = float(np.sum(r ** 2))
    out = int(np.sum(np.abs(r) > 1))
    if sse < best[0]:
        best[0], best[1] = sse, x.copy()
    vals = []
    for (ep, lm, arm, pub), res in zip(rows, r):
        if ep in ("orr", "median_pfs_months") or (ep == "os_rate" and lm == "60"):
            v = sim[ep][lm][arm] if ep == "os_rate" else sim[ep].get(arm)
            vals.append(f"{ep[:6]}{lm}/{arm[:4]}={v:.3g}")
    print(f"{count[0]} {time.time()-t:.0f}s SSE {sse:.2f} out {out} x {np.round(x,3).tolist()} | {' '.join(vals)}",
          file=log, flush=True)
    return r

x0 = phi0[idx]
last = {}

def fcached(x):
    key = tuple(np.round(x, 12))
    if key not in last:
        last.clear(); last[key] = f(x)
    return last[key]

def jac(x):
    r0 = fcached(x)
    J = np.empty((len(r0), len(x)))
    for j in range(len(x)):
        xj = x.copy(); xj[j] += step
        J[:, j] = (f(xj) - r0) / step
    return J

res = least_squares(fcached, x0, jac=jac, method="trf", max_nfev=nfev, x_scale=1.0)
print("DONE", res.status, res.message, "cost", 2 * res.cost, "x", res.x.tolist(), "best", best, file=log, flush=True)
json.dump({"free": free, "x": res.x.tolist(), "best_x": best[1].tolist(), "best_sse": best[0],
           "phi": full(best[1]).tolist()}, open(f"/tmp/direct/{label}.json", "w"))
