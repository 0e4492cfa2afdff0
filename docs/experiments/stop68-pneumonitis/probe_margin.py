"""The lung's tolerance margin lowered toward melanoma's pneumonitis rate: what CheckMate 067 and the pneumonitis rows
do at the shipped calibration (stop 68 probe; not installed).

    IMMUNOTWIN_ENGINE=fused python docs/experiments/stop68-pneumonitis/probe_margin.py OUT_DIR SETTING [SETTING ...]

For each setting: CheckMate 067 as `validate` runs it (example spec, 1,000 per arm, its seed) and validate's NSCLC
trial (400, seed 2024), with the model's values changed. A setting is a number, the lung's tolerance margin
`tolerance_margin.pneumonitis` (shipped 0.35, hand-set), or comma-separated `name=value` pairs
(`damage_rate.pneumonitis=0.034`). Prints the calibration rows' point values by arm and the pneumonitis rows."""

import sys
from pathlib import Path

import pandas as pd

from immunotwin import validate
from immunotwin.calibrate_cancers import model_values
from immunotwin.spec import load_spec, with_overrides
from immunotwin.trial import run_trial


def main() -> None:
    out = Path(sys.argv[1])
    for setting in sys.argv[2:]:
        values = ({"tolerance_margin.pneumonitis": float(setting)} if "=" not in setting else
                  {k: float(v) for k, v in (kv.split("=") for kv in setting.split(","))})
        with model_values(values):
            spec = with_overrides(load_spec(validate.EXAMPLE), size_per_arm=1000)
            run_dir = out / setting.replace("=", "_").replace(",", "+")
            run_trial(spec, run_dir, visits=False)
            nsclc = validate.nsclc_pd1_patients(2024, 400)
        p = pd.read_parquet(run_dir / "patients.parquet")
        import json

        summary = json.loads((run_dir / "summary.json").read_text())
        print(f"## {setting}")
        for arm, a in summary["arms"].items():
            cut = a["response_at_data_cutoff"]
            print(f"  {arm:24s} ORR {cut['orr']:.3f} CR {cut['cr_rate']:.3f} mPFS {a['median_pfs_months']:.2f} "
                  f"g3 TRAE {a['trae_grade3plus']:.3f} disc {a['irae']['discontinued']:.3f} "
                  f"fatal {a['irae']['fatal']:.3f} OS24/36/60 {a['os_rate']['24']:.3f}/{a['os_rate']['36']:.3f}/"
                  f"{a['os_rate']['60']:.3f}")
        for r in validate.pneumonitis_rows(p, nsclc):
            print(f"  {r.check[:80]:80s} pub {r.published:.3f} sim {r.simulated:.3f} inside {r.inside}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
