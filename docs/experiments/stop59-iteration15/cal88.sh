#!/bin/bash
# stop 59: does the spread of CTLA-4 sensitivity (s:ctla4_dependence) let the fit reach CA184-169's toxicity difference?
cd /work/wt59
export PYTHONPATH=/work/wt59/src IMMUNOTWIN_ENGINE=fused
/work/main/.venv/bin/python -u -m immunotwin calibrate examples/checkmate067.toml --targets src/immunotwin/data/checkmate067.json \
  --out /work/main/runs/cal88 --direct --engine fused --iterations 2 --patients 1000 --seeds 7101,7102 --check-seeds 68,69,70 \
  --natural-history ceiling --also ipilimumab-dose \
  --free immunogenicity,autoimmune_propensity,ctla4_breadth,ctla4_dependence,s:ctla4_dependence,pd_dependence,d:ipilimumab.ec50_mg_l
