"""Probe (not a fit): CA184-169's grade 3/4 TRAE difference (10 minus 3 mg/kg) and log OS HR on the installed state,
with the autoreactive expansion ceiling (auto_expansion_max, 1/day) as shipped and raised: does saturation of the
expansion make severe toxicity insensitive to the dose?"""
import sys
from immunotwin import calibrate_direct as cd
from immunotwin.calibrate_also import further_residuals
from immunotwin.calibrate_cancers import model_values

phi = cd.installed_phi()
n, seed = int(sys.argv[1]), int(sys.argv[2])
for value in [float(v) for v in sys.argv[3].split(",")]:
    with model_values({"auto_expansion_max": value} if value > 0 else {}):
        r, vals = further_residuals(["ipilimumab-dose"], phi, n, seed, None)
    print({"auto_expansion_max": value or "shipped", "residuals": [round(float(x), 3) for x in r], "values": vals}, flush=True)
