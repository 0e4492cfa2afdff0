#!/bin/bash
# stop 67: the pituitary's CTLA-4 weight fitted to de Filette 2019 (5.6%, MDX010-20's ipilimumab arms) and the lung's
# damage rate to Nishino 2016's severity share under PD-1 inhibitors (0.296), then one
# trust-region step of the calibration on it, every scale refitted warm, and the held-out check. In /work/wt67.
set -e
cd /work/wt67
export PYTHONPATH=/work/wt67/src IMMUNOTWIN_ENGINE=fused
PY=/work/main/.venv/bin/python
R=/work/main/runs
$PY -u -m immunotwin.calibrate_cancers --cancers "" --cross "" --params weight_ctla4.hypophysitis,damage_rate.pneumonitis > $R/pit92.log 2>&1
cp src/immunotwin/data/cancer_fit.json $R/cancer_fit_pit92.json
$PY -m immunotwin trial examples/checkmate067.toml --out $R/cm_pit92 --patients-per-arm 1000 --seed 67 --quiet > $R/cm_pit92.log 2>&1
$PY /work/probe/timing.py $R/cm_pit92/patients.parquet >> $R/cm_pit92.log 2>&1
$PY $R/pitcheck.py $R/cm_pit92/patients.parquet >> $R/cm_pit92.log 2>&1
$PY -u -m immunotwin calibrate examples/checkmate067.toml --targets src/immunotwin/data/checkmate067.json \
  --out $R/cal92 --direct --engine fused --iterations 1 --patients 1000 --seeds 7101,7102 --check-seeds none \
  --natural-history ceiling --also ipilimumab-dose \
  --free immunogenicity,autoimmune_propensity,ctla4_breadth,ctla4_dependence,s:ctla4_dependence,pd_dependence,d:ipilimumab.ec50_mg_l \
  > $R/cal92.log 2>&1
cp $R/cal92/calibration.json src/immunotwin/data/calibration.json
$PY -u -m immunotwin.calibrate_cancers --warm > $R/cc92.log 2>&1
cp src/immunotwin/data/cancer_fit.json $R/cancer_fit_cc92.json
$PY -u /work/main/docs/experiments/stop59-iteration15/heldout.py $R/heldout92.json > $R/heldout92.log 2>&1
echo done >> $R/heldout92.log
