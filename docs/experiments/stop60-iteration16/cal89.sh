#!/bin/bash
# stop 60: a third step of the spread of CTLA-4 sensitivity, from iteration 16 (the same seven coordinates as cal88)
cd /work/wt60c
export PYTHONPATH=/work/wt60c/src IMMUNOTWIN_ENGINE=fused
/work/main/.venv/bin/python -u -m immunotwin calibrate examples/checkmate067.toml --targets src/immunotwin/data/checkmate067.json \
  --out /work/main/runs/cal89 --direct --engine fused --iterations 2 --patients 1000 --seeds 7101,7102 --check-seeds 68,69,70 \
  --natural-history ceiling --also ipilimumab-dose \
  --free immunogenicity,autoimmune_propensity,ctla4_breadth,ctla4_dependence,s:ctla4_dependence,pd_dependence,d:ipilimumab.ec50_mg_l
