#!/bin/bash
# after cal91: install its calibration in /work/wt62, refit every scale warm, then the held-out check
set -e
while ! grep -q "^loss .* wrote" /work/main/runs/cal91.log; do sleep 20; done
cd /work/wt62
export PYTHONPATH=/work/wt62/src IMMUNOTWIN_ENGINE=fused
cp /work/main/runs/cal91/calibration.json src/immunotwin/data/calibration.json
/work/main/.venv/bin/python -u -m immunotwin.calibrate_cancers --warm > /work/main/runs/cc91.log 2>&1
cp src/immunotwin/data/cancer_fit.json /work/main/runs/cancer_fit_cc91.json
/work/main/.venv/bin/python -u /work/main/docs/experiments/stop59-iteration15/heldout.py /work/main/runs/heldout91.json > /work/main/runs/heldout91.log 2>&1
echo done >> /work/main/runs/heldout91.log
