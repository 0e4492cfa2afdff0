"""Rebuild docs/fit.html for the installed calibration (iteration 12, runs/cal56) without refitting.

runs/ is not kept, so the fit's own report is gone. This re-runs the fit's best trial (the installed parameters at the
fit's seeds and size, fused engine) on the shipped defaults and draws the report from it, with the loss history copied
from the fit's log (cal56.log in docs/experiments/stop40-debris-direct-fit). With ``--expect-loss`` it first checks
that the re-run reads the loss the fit recorded: true only on the cancer and drug scales the fit ran on (before their
refit on iteration 12, which moved the scar's share and the liver's damage rate).

    IMMUNOTWIN_ENGINE=fused .venv/bin/python docs/experiments/stop41-install/rebuild_fit_html.py docs/fit.html [--expect-loss]
"""

import json
import re
import sys
from importlib import resources
from pathlib import Path

import numpy as np

from immunotwin.calibrate_direct import FITTED, installed_phi, report_rows, target_rows, trial_residuals
from immunotwin.report.fit_report import write_fit_report
from immunotwin.spec import load_spec

root = Path(__file__).resolve().parents[3]
doc = json.loads(resources.files("immunotwin.data").joinpath("calibration.json").read_text())
prov = doc["provenance"]
spec = load_spec(root / "examples" / "checkmate067.toml")
targets = json.loads((root / prov["targets"]).read_text())
rows_t = target_rows(targets)
r, sims = trial_residuals(spec, rows_t, installed_phi(), prov["patients_per_arm"], prov["seeds"])
loss = float(np.sum(r**2))
print(f"loss at the installed parameters, seeds {prov['seeds']}: {loss:.6g} (the fit recorded {prov['loss']:.6g})")
if "--expect-loss" in sys.argv:
    assert abs(loss - prov["loss"]) < 1e-6 * max(1.0, prov["loss"]), "the re-run does not reproduce the fit's trial"
log = (root / "docs/experiments/stop40-debris-direct-fit/cal56.log").read_text()
history = [float(x) for x in re.findall(r"^trial \d+: loss ([0-9.]+)", log, flags=re.M)]
write_fit_report(Path(sys.argv[1]), rows=report_rows(targets, sims[0]), history=history,
                 fitted={k: v for k, v in doc["params"].items() if k in FITTED}, provenance=prov,
                 ess=float("nan"), n=prov["patients_per_arm"], direct=True)
print(f"wrote {sys.argv[1]} ({len(history)} trials in the history)")
