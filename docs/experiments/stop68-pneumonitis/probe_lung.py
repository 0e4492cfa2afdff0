"""Why the model's pneumonitis under PD-1 blockade is no commoner in NSCLC than in melanoma (stop 68 probe).

    IMMUNOTWIN_ENGINE=fused python docs/experiments/stop68-pneumonitis/probe_lung.py

validate's NSCLC trial (pembrolizumab 200 mg every 3 weeks, 6 months, 400 patients, seed 2024) against variants that
change one thing: the drug (nivolumab 3 mg/kg every 2 weeks), the cancer (melanoma), and lung cancer's shared antigen
with the lung (the catalogue's cross_reactivity 0.4 set to 0). Prints pneumonitis of any grade and grade >= 3 in the
6 months, the objective response rate and the median week of onset."""

import dataclasses

import numpy as np

from immunotwin import cancers
from immunotwin.spec import parse_spec
from immunotwin.trial import ChunkId, simulate_chunk

DRUGS = {"pembrolizumab": ('"200 mg"', '"3 weeks"'), "nivolumab": ('"3 mg/kg"', '"2 weeks"')}


def run(cancer: str, drug: str, patients: int = 400, seed: int = 2024):  # type: ignore[no-untyped-def]
    dose, every = DRUGS[drug]
    text = f"""name = "probe"
seed = {seed}
follow_up = "6 months"
[population]
cancer = "{cancer}"
size_per_arm = {patients}
[assessment]
imaging = [{{every = "6 weeks"}}]
[[arm]]
name = "{drug}"
  [[arm.drug]]
  name = "{drug}"
  dose = {dose}
  every = {every}
"""
    p, _ = simulate_chunk(parse_spec(text), ChunkId(0, 0, patients), visits=False)
    p = p[p["status"] == "ok"]
    g = p["irae_pneumonitis_grade"].to_numpy(float)
    on = p["irae_pneumonitis_onset_weeks"].to_numpy(float)
    orr = float(p["bor"].isin(["CR", "PR"]).mean())
    return (float((g >= 1).mean()), float((g >= 3).mean()), orr,
            float(np.nanmedian(on)) if np.isfinite(on).any() else float("nan"), len(p))


def main() -> None:
    rows = [("NSCLC, pembrolizumab (validate's trial)", "nsclc", "pembrolizumab"),
            ("NSCLC, nivolumab", "nsclc", "nivolumab"),
            ("melanoma, pembrolizumab", "melanoma", "pembrolizumab"),
            ("melanoma, nivolumab", "melanoma", "nivolumab")]
    print("| trial | pneumonitis any grade | grade >= 3 | ORR | median onset (weeks) | n |")
    print("|---|---|---|---|---|---|")
    for label, cancer, drug in rows:
        a, s, orr, med, n = run(cancer, drug)
        print(f"| {label} | {a:.3f} | {s:.3f} | {orr:.3f} | {med:.1f} | {n} |", flush=True)
    original = cancers.CANCERS["nsclc"]
    cancers.CANCERS["nsclc"] = dataclasses.replace(original, cross={})
    try:
        a, s, orr, med, n = run("nsclc", "pembrolizumab")
        print(f"| NSCLC, pembrolizumab, no antigen shared with the lung | {a:.3f} | {s:.3f} | {orr:.3f} | {med:.1f} | {n} |")
    finally:
        cancers.CANCERS["nsclc"] = original


if __name__ == "__main__":
    main()
