"""Compare CheckMate 067 readouts of two runs (patients.parquet dirs)."""
import sys, numpy as np, pandas as pd
sys.path.insert(0, "tests")  # run from the repository root
from immunotwin.survival import km_median, km_rate
from immunotwin.weighted import cox_hr
from test_trial_slow import _value, _published, CASES, ARMS, I
runs = {k: pd.read_parquet(f"{d}/patients.parquet") for k, d in zip(("A", "B"), sys.argv[1:3])}
print(f"{'endpoint':28s} {'arm':26s} {'A':>8s} {'B':>8s} {'pub':>8s}")
for e, a in CASES:
    v = [_value(runs[k], e, a) for k in "AB"]
    print(f"{e:28s} {a:26s} {v[0]:8.3f} {v[1]:8.3f} {_published(e, a):8.3f}")
for a in ARMS:
    for k in "AB":
        p = runs[k]; p = p[(p.status == "ok") & (p.arm == a)]
        print(k, a, "PFS 6/12/24/36/48:", [round(km_rate(p.pfs_months, p.pfs_event, m), 3) for m in (6, 12, 24, 36, 48)])
for a in ARMS[:2]:
    for k in "AB":
        ok = runs[k][runs[k].status == "ok"]; x, c = ok[ok.arm == a], ok[ok.arm == I]
        print(k, a, "PFS HR", round(cox_hr(x.pfs_months.to_numpy(float), x.pfs_event.to_numpy(bool), np.ones(len(x)),
              c.pfs_months.to_numpy(float), c.pfs_event.to_numpy(bool), np.ones(len(c))), 3))
