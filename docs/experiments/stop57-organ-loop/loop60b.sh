#!/bin/bash
# step 2-4: install cal84, refit the organs on it, then every cancer and drug scale warm, then held-out and validate
set -e
while pgrep -f loop60.sh >/dev/null; do sleep 20; done
cd /work/wt60
export PYTHONPATH=/work/wt60/src IMMUNOTWIN_ENGINE=fused
PY=/work/main/.venv/bin/python
cp /work/main/runs/cal84/calibration.json src/immunotwin/data/calibration.json
$PY -u -m immunotwin.calibrate_organs --patients 500 --sweeps 2 > /work/main/runs/org84.log 2>&1
cp src/immunotwin/data/cancer_fit.json /work/main/runs/cancer_fit_org84.json
$PY -u -m immunotwin.calibrate_cancers --warm > /work/main/runs/cc84.log 2>&1
cp src/immunotwin/data/cancer_fit.json /work/main/runs/cancer_fit_cc84.json
$PY -u /tmp/heldout.py '{"loop84": {}}' > /work/main/runs/heldout84.log 2>&1
$PY -u -m immunotwin validate --out /work/main/runs/val79 --patients 1000 --replicates 200 > /work/main/runs/val79.log 2>&1
