#!/bin/bash
# organ fit + population calibration loop, step 1: the 13-coordinate refit on the organ fit (sum), two seeds of 1000/arm
cd /work/wt60
export PYTHONPATH=/work/wt60/src IMMUNOTWIN_ENGINE=fused
/work/main/.venv/bin/python -u -m immunotwin calibrate examples/checkmate067.toml --targets src/immunotwin/data/checkmate067.json \
  --out /work/main/runs/cal84 --direct --engine fused --iterations 2 --patients 1000 --seeds 7101,7102 --check-seeds 68,69,70 \
  --natural-history ceiling --free immunogenicity,net_growth_rate,resistant_fraction,resistant_kill,ctla4_breadth,lethal_burden,autoimmune_propensity,ctla4_dependence,pd_dependence,expansion_rate,residual_clearance_time,s:resistant_fraction,s:resistant_kill
