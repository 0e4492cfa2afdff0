import os, sys, json
os.environ.setdefault("IMMUNOTWIN_ENGINE","fused")
from immunotwin import calibrate_organs as co
for m in (0.5, 0.8, 1.2, 2.0):
    v={f"tolerance_margin.{o}": m for o in co.TERMS}
    print(m, co.untreated_incidence(v, 500, 11), flush=True)
