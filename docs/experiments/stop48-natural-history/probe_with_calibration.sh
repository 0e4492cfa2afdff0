#!/bin/bash
# probe2.sh NAME CALJSON SPEC : run SPEC with calibration CALJSON installed in a source copy
set -e
ROOT=$(git rev-parse --show-toplevel)
name=$1; cal=$2; spec=$3
rm -rf /tmp/probe_$name; mkdir -p /tmp/probe_$name; cp -r "$ROOT"/src /tmp/probe_$name/
cp $cal /tmp/probe_$name/src/immunotwin/data/calibration.json
cd "$ROOT" && PYTHONPATH=/tmp/probe_$name/src .venv/bin/immunotwin trial $spec --out runs/$name --engine fused --quiet > /dev/null
.venv/bin/python - <<PY
import pandas as pd
from lifelines import KaplanMeierFitter
p=pd.read_parquet('runs/$name/patients.parquet'); p=p[p.status=='ok']
for arm,g in p.groupby('arm'):
    k=KaplanMeierFitter().fit(g.os_months,g.os_event)
    print('$name',arm,'ORR %.3f'%g.bor.isin(['CR','PR']).mean(),'mOS %.1f'%k.median_survival_time_, 'OS 12,24,36,60', [round(float(k.predict(t)),3) for t in (12,24,36,60)])
PY
