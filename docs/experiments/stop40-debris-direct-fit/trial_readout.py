import pandas as pd, numpy as np, sys
p=pd.read_parquet(sys.argv[1]+'/patients.parquet')
for a,g in p.groupby('arm_index'):
    print(g.arm.iloc[0], 'BOR', g.bor.value_counts(normalize=True).round(3).to_dict())
    ev=g.pfs_event.astype(bool); t=g.pfs_months
    print('  PFS events by 3/6/12/24/36 mo:', [round((ev&(t<=m)).mean(),3) for m in (3,6,12,24,36)], 'OS 24/36/60:', [round(1-((g.os_event.astype(bool))&(g.os_months<=m)).mean(),3) for m in (24,36,60)])
    r=g[g.bor.isin(['PR','CR'])]
    print('  responders: first seen <=3 mo %.2f; event<=12mo %.3f; CR onset median %.1f'%((r.response_onset_months<=3).mean(), ((r.pfs_event.astype(bool))&(r.pfs_months<=12)).mean(), g.cr_onset_months.median()))
