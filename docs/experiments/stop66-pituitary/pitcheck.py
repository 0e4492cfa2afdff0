"""Compare two CheckMate 067 patient tables on the pituitary and the calibration's toxicity rows."""
import sys
import numpy as np, pandas as pd
from immunotwin.clinic.outcomes import reported_column
from immunotwin.readouts import summarize  # noqa: F401
for path in sys.argv[1:]:
    p = pd.read_parquet(path); ok = p[p.status == "ok"]
    print(path)
    for a, g in ok.groupby("arm"):
        r = reported_column(g, "irae_hypophysitis_grade")
        on = g["irae_hypophysitis_onset_weeks"].to_numpy(float)[r >= 1]
        cols = [c for c in g.columns if c.startswith("irae_") and c.endswith("_grade")]
        print(f"  {a:24s} hypophysitis any {np.mean(r>=1):.3f} g3 {np.mean(r>=3):.3f} median onset {np.nanmedian(on) if len(on) else np.nan:.1f} wk;"
              f" any irAE g3 {np.mean(g[cols].fillna(0).max(axis=1)>=3):.3f}")
