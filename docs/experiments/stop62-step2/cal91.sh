#!/bin/bash
# stop 62: a second trust-region step from stop 61's cal90 (installed with cc90's scales in /work/wt62)
cd /work/wt62
export PYTHONPATH=/work/wt62/src IMMUNOTWIN_ENGINE=fused
/work/main/.venv/bin/python -u -m immunotwin calibrate examples/checkmate067.toml --targets src/immunotwin/data/checkmate067.json \
  --out /work/main/runs/cal91 --direct --engine fused --iterations 1 --patients 1000 --seeds 7101,7102 --check-seeds none \
  --natural-history ceiling --also ipilimumab-dose \
  --free immunogenicity,autoimmune_propensity,ctla4_breadth,ctla4_dependence,s:ctla4_dependence,pd_dependence,d:ipilimumab.ec50_mg_l
