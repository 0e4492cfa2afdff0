#!/bin/bash
# usage: probe_calibration_value.sh NAME EDIT SPEC -- EDIT, python run on the params P of a copy of data/calibration.json; SPEC run to runs/NAME
set -e
ROOT=$(git rev-parse --show-toplevel)
name=$1; edit=$2; spec=$3
rm -rf /tmp/probe_$name; mkdir -p /tmp/probe_$name; cp -r "$ROOT"/src /tmp/probe_$name/
"$ROOT"/.venv/bin/python - <<PY
import json
f='/tmp/probe_$name/src/immunotwin/data/calibration.json'
d=json.load(open(f)); P=d['params']
$edit
json.dump(d,open(f,'w'))
PY
cd "$ROOT" && PYTHONPATH=/tmp/probe_$name/src .venv/bin/immunotwin trial $spec --out runs/$name --engine fused --quiet | tail -1
.venv/bin/python - <<PY
import pandas as pd
from lifelines import KaplanMeierFitter
p=pd.read_parquet('runs/$name/patients.parquet'); p=p[p.status=='ok']
for arm,g in p.groupby('arm'):
    k=KaplanMeierFitter().fit(g.os_months,g.os_event)
    print('$name',arm,'mOS %.1f'%k.median_survival_time_, 'OS 6,12,24', [round(float(k.predict(t)),3) for t in (6,12,24)])
PY
