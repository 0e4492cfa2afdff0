"""Probe (not kept in the model): the ipilimumab-dose scenario's dose differences at other CTLA-4 occupancy EC50s,
nothing refitted, at the scenario spec's seed (169). Run from the repository root as
PYTHONPATH=src .venv/bin/python docs/experiments/stop57-ipilimumab-dose/probe_ipi_ec50.py N EC50,EC50,...
(probe_ipi_ec50.log: N = 300, EC50s 5,20,60; the twin design, the same patients in both arms)."""
import dataclasses
import os
import sys
import time

os.environ.setdefault("IMMUNOTWIN_ENGINE", "fused")
from immunotwin.drugs import catalogue
from immunotwin.scenarios import dose
from immunotwin.scenarios.compare import responders
from immunotwin.scenarios.core import rate, simulate_spec
from immunotwin.survival import km_median

n = int(sys.argv[1])
base = catalogue.CATALOGUE["ipilimumab"]
for ec50 in [float(x) for x in sys.argv[2].split(",")]:
    catalogue.CATALOGUE["ipilimumab"] = dataclasses.replace(base, ec50_mg_l=ec50)
    t = time.time()
    _, p, _ = simulate_spec("ipilimumab-dose", n, visits=False)
    d = p[p["status"] == "ok"].assign(resp=lambda x: responders(x))
    line = [f"EC50 {ec50:g} mg/L ({time.time() - t:.0f}s):"]
    for arm in (dose.HIGH, dose.LOW):
        a = d[d["arm"] == arm]
        line.append(f"{arm}: G3/4 TRAE {rate(dose.severe_trae(a)):.3f}, any irAE {rate(a['any_irae_grade_reported'] >= 1):.3f}, "
                    f"ORR {rate(a['resp']):.3f}, median OS {km_median(a['os_months'], a['os_event']):.1f}")
    line.append(f"OS HR {dose._os_hr(dose.os_pairs(d)):.3f}")
    print(" | ".join(line), flush=True)
