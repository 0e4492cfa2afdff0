"""Probe: what makes grade >= 3 TRAEs in the ipilimumab-dose twin trial, by arm and organ, on the installed state
(seed and size from argv). Which patients are severe at 10 but not at 3 mg/kg, and what they have."""
import sys
import numpy as np
import pandas as pd
from immunotwin import calibrate_direct as cd
from immunotwin.calibrate_also import simulate_further
from immunotwin.readouts import trae_column

n, seed = int(sys.argv[1]), int(sys.argv[2])
p = simulate_further("ipilimumab-dose", cd.installed_phi(), n, seed)
p.to_parquet(sys.argv[3])
col = trae_column(p)
print("trae column", col)
orgs = [c[5:-6] for c in p.columns if c.startswith("irae_") and c.endswith("_grade")]
for arm, a in p.groupby("arm"):
    print(arm, "severe TRAE", round((a[col] >= 3).mean(), 3), "any", round((a[col] >= 1).mean(), 3))
    print("   severe by organ (whole follow-up):", {o: round((a[f"irae_{o}_grade"] >= 3).mean(), 3) for o in orgs if (a[f"irae_{o}_grade"] >= 3).mean() > 0.002})
    print("   any by organ:", {o: round((a[f"irae_{o}_grade"] >= 1).mean(), 3) for o in orgs if (a[f"irae_{o}_grade"] >= 1).mean() > 0.01})
cols = [c for c in p.columns if "trae" in c or "nonimmune" in c or "neutro" in c]
print("columns with trae/nonimmune:", cols)
