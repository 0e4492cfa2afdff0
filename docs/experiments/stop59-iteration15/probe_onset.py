"""Probe (not a fit): onset of grade >= 2 irAEs under ipilimumab 3 mg/kg (the dose twin trial's 3 mg/kg arm, 1,000
patients, seed from argv) as the spread (log-SD) of ctla4_dependence narrows at the same median, beside the severe
rates: are the early onsets (half at week 2, MDX010-20's median 6.1 weeks) the same patients' far-above-threshold gains
that flatten the dose slope?"""
import sys
import numpy as np
from immunotwin import calibrate_direct as cd
from immunotwin.calibrate import FITTED
from immunotwin.calibrate_also import simulate_further
from immunotwin.readouts import trae_column
from immunotwin.validate import IRAES

n, seed = int(sys.argv[1]), int(sys.argv[2])
for sd in [float(v) for v in sys.argv[3].split(",")]:
    phi = cd.installed_phi()
    if sd > 0:
        phi[len(FITTED) + FITTED.index("ctla4_dependence")] = np.log(sd)
    p = simulate_further("ipilimumab-dose", phi, n, seed)
    out = {"log_sd": sd or "installed (2.09)"}
    for arm, a in p.groupby("arm"):
        first = a[[f"irae_{k}_onset2_weeks" for k in IRAES]].min(axis=1).dropna()
        out[arm] = {"severe": round(float((a[trae_column(a)] >= 3).mean()), 3), "grade2_any": round(len(first) / len(a), 3),
                    "onset2_median_weeks": float(first.median()), "onset2_within_1_month": round(float((first <= 30.4375 / 7).mean()), 3),
                    "onset2_q25_q75": [float(first.quantile(0.25)), float(first.quantile(0.75))]}
    print(out, flush=True)
