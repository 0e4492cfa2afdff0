"""Probe (not a fit): CA184-169's toxicity difference and each arm's severe rate on the installed state with the
between-patient spread (log-SD) of one parameter changed, median unchanged: does the spread of CTLA-4 sensitivity set
the dose-response slope of toxicity?"""
import sys
import numpy as np
from immunotwin import calibrate_direct as cd
from immunotwin.calibrate import FITTED
from immunotwin.calibrate_also import simulate_further
from immunotwin.readouts import trae_column

n, seed, name = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
for sd in [float(v) for v in sys.argv[4].split(",")]:
    phi = cd.installed_phi()
    if sd > 0:
        phi[len(FITTED) + FITTED.index(name)] = np.log(sd)
    p = simulate_further("ipilimumab-dose", phi, n, seed)
    col = trae_column(p)
    rates = {arm: round(float((a[col] >= 3).mean()), 3) for arm, a in p.groupby("arm")}
    diff = rates["ipilimumab 10 mg/kg"] - rates["ipilimumab 3 mg/kg"]
    print({"param": name, "log_sd": sd or "installed", "severe": rates, "difference": round(diff, 3)}, flush=True)
