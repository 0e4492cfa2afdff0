"""Timing and calibration rows of CheckMate 067 patient tables (one per argument)."""
import sys, json
import numpy as np, pandas as pd
from immunotwin import validate as v
from immunotwin.clinic.outcomes import reported_column
for path in sys.argv[1:]:
    p = pd.read_parquet(path)
    print(path)
    for r in v.irae_rows(p)[:4] + v.pituitary_rows(p):
        print(f"  {r.check[:60]:60s} {r.group[:12]:12s} pub {r.published} sim {r.simulated:.3g} {r.criterion[:90]} {r.inside}")
    ok = p[p.status == "ok"]
    for a, g in ok.groupby("arm"):
        cols = [c for c in g.columns if c.startswith("irae_") and c.endswith("_grade")]
        orr = g["bor"].isin(["CR", "PR"]).mean(); cr = (g["bor"] == "CR").mean()
        med = {}
        for o in ("dermatitis", "colitis", "hepatitis", "hypophysitis", "thyroiditis"):
            on = v._onsets_in_window(g, f"irae_{o}_onset_weeks").dropna()
            med[o[:4]] = (round(float(on.median()), 1), len(on))
        g3 = (g[cols].fillna(0).max(axis=1) >= 3).mean()
        print(f"  {a:22s} ORR {orr:.3f} CR {cr:.3f} irAE g3 {g3:.3f} onsets {med}")
