"""How much more lung predisposition NSCLC patients would need once the lung's margin is lowered to melanoma's rate
(stop 68 probe; nothing installed).

    IMMUNOTWIN_ENGINE=fused python docs/experiments/stop68-pneumonitis/probe_nsclc_lung.py MARGIN FACTOR [FACTOR ...]

probe_lung.py's trials (400 patients, 6 months, seed 2024): melanoma on nivolumab at the lung margin MARGIN, then NSCLC
on pembrolizumab at MARGIN with each FACTOR as a cancer-level lung susceptibility (the catalogue's
`Cancer.susceptibility`, as thymoma's neurologic one: it multiplies the lung's activation gain)."""

import dataclasses
import sys

from probe_lung import run

from immunotwin import cancers
from immunotwin.calibrate_cancers import model_values


def main() -> None:
    margin, factors = float(sys.argv[1]), [float(x) for x in sys.argv[2:]]
    print("| trial | lung margin | NSCLC lung factor | any grade | grade >= 3 | ORR | median onset (weeks) | n |")
    print("|---|---|---|---|---|---|---|---|")
    with model_values({"tolerance_margin.pneumonitis": margin}):
        a, s, orr, med, n = run("melanoma", "nivolumab")
        print(f"| melanoma, nivolumab | {margin:g} | | {a:.3f} | {s:.3f} | {orr:.3f} | {med:.1f} | {n} |", flush=True)
        original = cancers.CANCERS["nsclc"]
        try:
            for k in factors:
                cancers.CANCERS["nsclc"] = dataclasses.replace(original, susceptibility={"pneumonitis": k})
                a, s, orr, med, n = run("nsclc", "pembrolizumab")
                print(f"| NSCLC, pembrolizumab | {margin:g} | {k:g} | {a:.3f} | {s:.3f} | {orr:.3f} | {med:.1f} | {n} |",
                      flush=True)
        finally:
            cancers.CANCERS["nsclc"] = original


if __name__ == "__main__":
    main()
