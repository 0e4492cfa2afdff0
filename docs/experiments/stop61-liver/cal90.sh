#!/bin/bash
# stop 61: iteration 16's seven coordinates refitted on the liver fitted to CheckMate 067's table (org61, cc61); one
# iteration (time), held out afterwards by ../stop59-iteration15/heldout.py once the scales are refitted
cd /work/wt61
export PYTHONPATH=/work/wt61/src IMMUNOTWIN_ENGINE=fused
/work/main/.venv/bin/python -u -m immunotwin calibrate examples/checkmate067.toml --targets src/immunotwin/data/checkmate067.json \
  --out /work/main/runs/cal90 --direct --engine fused --iterations 1 --patients 1000 --seeds 7101,7102 --check-seeds none \
  --natural-history ceiling --also ipilimumab-dose \
  --free immunogenicity,autoimmune_propensity,ctla4_breadth,ctla4_dependence,s:ctla4_dependence,pd_dependence,d:ipilimumab.ec50_mg_l
