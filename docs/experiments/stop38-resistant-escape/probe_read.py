import sys, numpy as np, pandas as pd
from lifelines import KaplanMeierFitter
df = pd.read_parquet(sys.argv[1] + "/patients.parquet")
for arm, g in df.groupby("arm"):
    km = KaplanMeierFitter().fit(g.pfs_months, g.pfs_event)
    r = g[g.bor.isin(["CR", "PR"])]
    ar = r[r.pfs_event]
    t2p = (ar.pfs_months - ar.response_onset_months)
    print(f"{arm:24s} ORR {len(r)/len(g):.3f} CR {(g.bor=='CR').mean():.3f} PD {(g.bor=='PD').mean():.3f} "
          f"mPFS {km.median_survival_time_:.1f} PFS12 {float(km.predict(12)):.3f} PFS36 {float(km.predict(36)):.3f} "
          f"resp-PFSev12 {((r.pfs_months<=12)&r.pfs_event).mean():.3f} resp->prog med {t2p.median():.1f} n {len(ar)}")
