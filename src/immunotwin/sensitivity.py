"""Global sensitivity (Sobol indices, SALib) of trial outputs to the population parameters.

Whole virtual trials per Sobol sample would take hours, so the outputs are evaluated on a
plausible population reweighted to each sampled parameter set (:mod:`.calibrate`): the mean
log-shift of each fitted parameter varies over +-0.5 proposal SD (Saltelli sampling; Sobol
first-order and total indices, Saltelli et al., Comput Phys Commun 2010;181:259).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from .calibrate import FITTED, Plausible, endpoints, simulate_plausible, weights
from .spec import TrialSpec

OUTPUTS = {"orr": ("orr", None), "cr_rate": ("cr_rate", None), "dcr": ("dcr", None),
           "irae.grade3plus": ("grade3plus_irae", None), "trae_grade3plus": ("grade3plus_trae", None),
           "irae.discontinued": ("discontinued_for_trae", None),
           "median_pfs_months": ("median_pfs_months", None), "median_os_months": ("median_os_months", None),
           "os_rate.12": ("os_rate", "12"), "os_rate.24": ("os_rate", "24"), "os_rate.36": ("os_rate", "36"),
           "os_rate.60": ("os_rate", "60")}


def check_outputs(outputs: list[str]) -> list[str]:
    return [f"--outputs: unknown output {o!r}; known: {', '.join(OUTPUTS)}" for o in outputs if o not in OUTPUTS]


def sobol(pl: Plausible, outputs: list[str], control: str, samples: int = 128, seed: int = 7) -> dict:
    from SALib.analyze import sobol as sobol_analyze
    from SALib.sample import sobol as sobol_sample

    k = len(pl.names)
    problem = {"num_vars": k, "names": list(pl.names), "bounds": [[-0.5 * s, 0.5 * s] for s in pl.sd]}
    x = sobol_sample.sample(problem, samples, calc_second_order=False, seed=seed)
    logsd = np.log(0.7 * pl.sd)
    ys: dict[tuple[str, str], list[float]] = {}
    for row in x:
        sim = endpoints(pl, weights(np.concatenate([row, logsd]), pl), control)
        for o in outputs:
            ep, lm = OUTPUTS[o]
            for arm in pl.arms:
                v = sim[ep][lm][arm] if lm else sim[ep][arm]
                ys.setdefault((o, arm), []).append(v)
    out: dict = {"parameters": list(pl.names), "samples": int(len(x)), "results": {}}
    for (o, arm), vals in ys.items():
        y = np.asarray(vals, dtype=float)
        y = np.where(np.isfinite(y), y, np.nanmax(y) if np.isfinite(y).any() else 0.0)
        if np.ptp(y) == 0:
            s1 = st = np.zeros(k)
        else:
            r = sobol_analyze.analyze(problem, y, calc_second_order=False, seed=seed)
            s1, st = r["S1"], r["ST"]
        out["results"].setdefault(o, {})[arm] = {"S1": dict(zip(pl.names, map(float, s1), strict=True)),
                                                 "ST": dict(zip(pl.names, map(float, st), strict=True))}
    return out


def plot(res: dict, path: Path) -> None:
    outs = list(res["results"])
    arms = list(next(iter(res["results"].values())))
    names = res["parameters"]
    fig = Figure(figsize=(4.2 * len(arms), 2.6 * len(outs) + 0.8))
    for i, o in enumerate(outs):
        for j, arm in enumerate(arms):
            ax = fig.add_subplot(len(outs), len(arms), i * len(arms) + j + 1)
            d = res["results"][o][arm]
            yy = np.arange(len(names))
            ax.barh(yy + 0.2, [d["ST"][n] for n in names], height=0.4, label="total (ST)")
            ax.barh(yy - 0.2, [d["S1"][n] for n in names], height=0.4, label="first order (S1)")
            ax.set_yticks(yy, names if j == 0 else [""] * len(names), fontsize=7)
            ax.set_title(f"{o} — {arm}", fontsize=9)
            ax.set_xlim(0, 1)
            if i == 0 and j == len(arms) - 1:
                ax.legend(fontsize=7)
    fig.suptitle("Sobol indices of trial outputs w.r.t. population parameters (reweighted plausible population)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def run_sensitivity(spec: TrialSpec, outputs: list[str], out: Path, *, patients: int = 512, samples: int = 128,
                    plausible_dir: Path | None = None, progress: Callable[[int, int], None] | None = None) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    pl = simulate_plausible(spec, patients, out=plausible_dir or out, progress=progress)
    res = sobol(pl.select(FITTED), outputs, spec.control, samples)
    (out / "sensitivity.json").write_text(json.dumps(res, indent=1))
    plot(res, out / "sensitivity.png")
    return res
