"""Fit each cancer's immunogenicity scale to one published anti-PD-1 response rate, and the
tumour sensitivity to cytotoxic chemotherapy to one published chemotherapy response rate.

The cancer catalogue's immunogenicity scales (melanoma = 1) started hand-set. This fits the
scale of each listed cancer so that its shipped scenario spec (``scenarios/*.toml``: the trial's
own regimen, population and imaging) reproduces the trial's objective response rate, by
bisection on log(scale) with common random numbers (the same virtual patients at every
evaluation; ORR rises with immunogenicity). The result is written to
``data/cancer_fit.json`` with its provenance and read by :mod:`immunotwin.cancers`.

The chemotherapy sensitivity ``chemo_tumour_kill`` (:mod:`immunotwin.model.tumour`) is fitted
the same way to the docetaxel arm of KEYNOTE-010 (scenario spec ``chemotherapy-docetaxel``) and
stored under ``params``; :mod:`immunotwin.model.core` applies it.

Each fitted ORR is then a *fitted* figure (``cancers-compared`` says so); what stays unfitted is
the rest: response by PD-L1 score within a cancer, irAE rates, the ordering of other trials.

    python -m immunotwin.calibrate_cancers [--patients 300] [--seed 11]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
from importlib import resources
from pathlib import Path

import numpy as np

#: cancer -> (scenario spec, key of the published ORR in data/scenario_refs.json)
TARGETS: dict[str, tuple[str, str]] = {
    "nsclc": ("cancers-compared-nsclc", "nsclc_all"),
    "rcc": ("cancers-compared-rcc", "rcc"),
    "hodgkin": ("cancers-compared-hodgkin", "hodgkin"),
    "crc_msih": ("cancers-compared-crc-msih", "crc_msih"),
}
#: model parameter -> (scenario spec, key of the published ORR in data/scenario_refs.json)
PARAM_TARGETS: dict[str, tuple[str, str]] = {
    "chemo_tumour_kill": ("chemotherapy-docetaxel", "docetaxel_nsclc_second_line"),
}
LO, HI = 0.05, 30.0
#: A target counts as reached within this ORR distance (about 1.5 SE at 600 patients); otherwise
#: the response plateaus below it and the smallest value reaching the plateau is kept.
REACH_TOL = 0.03


def orr_at(cancer: str, spec_name: str, scale: float, patients: int, seed: int) -> float:
    from . import cancers
    from .scenarios.core import simulate_spec

    original = cancers.CANCERS[cancer]
    cancers.CANCERS[cancer] = dataclasses.replace(original, immunogenicity=float(scale))
    try:
        _, p, _ = simulate_spec(spec_name, patients, visits=False, seed=seed)
    finally:
        cancers.CANCERS[cancer] = original
    return float(p["bor"].isin(["CR", "PR"]).mean())


def orr_with_param(name: str, spec_name: str, value: float, patients: int, seed: int) -> float:
    from .model import core
    from .scenarios.core import simulate_spec

    original = core.PARAMS
    core.PARAMS = tuple(dataclasses.replace(p, default=float(value)) if p.name == name else p for p in original)
    try:
        _, p, _ = simulate_spec(spec_name, patients, visits=False, seed=seed)
    finally:
        core.PARAMS = original
    return float(p["bor"].isin(["CR", "PR"]).mean())


def bisect(evaluate, target: float, lo: float = LO, hi: float = HI, iters: int = 10) -> dict:  # type: ignore[no-untyped-def]
    """Bisection on log(x) for evaluate(x) = target, evaluate rising with x; the closest point tried."""
    lo, hi = np.log(lo), np.log(hi)
    trace = []
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        orr = evaluate(float(np.exp(mid)))
        trace.append([float(np.exp(mid)), orr])
        if orr < target:
            lo = mid
        else:
            hi = mid
    best = min(trace, key=lambda t: abs(t[1] - target))
    reached = abs(best[1] - target) <= REACH_TOL
    if not reached:  # a plateau below (or above) the target: the smallest value that gets as close
        near = [t for t in trace if abs(t[1] - best[1]) <= REACH_TOL]
        best = min(near, key=lambda t: t[0]) if best[1] < target else max(near, key=lambda t: t[0])
    return {"value": round(best[0], 4), "orr": best[1], "target_orr": target, "reached": reached, "trace": trace}


def fit_one(cancer: str, spec_name: str, target: float, patients: int, seed: int) -> dict:
    res = bisect(lambda x: orr_at(cancer, spec_name, x, patients, seed), target)
    res["immunogenicity"] = res.pop("value")
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m immunotwin.calibrate_cancers", description=__doc__.split("\n")[0])
    ap.add_argument("--patients", type=int, default=300)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--out", type=Path, default=Path(str(resources.files("immunotwin.data").joinpath("cancer_fit.json"))))
    ap.add_argument("--cancers", default=",".join(TARGETS))
    ap.add_argument("--params", default=",".join(PARAM_TARGETS))
    a = ap.parse_args(argv)
    from .reference import load

    refs = load("scenario_refs")
    orr_refs = refs["anti_pd1_orr_by_cancer"]
    out = json.loads(a.out.read_text()) if a.out.is_file() else {}
    out.setdefault("cancers", {})
    out.setdefault("params", {})
    out["provenance"] = {"method": "bisection on the log of each fitted value, common random numbers",
                         "patients": a.patients, "seed": a.seed, "date": dt.date.today().isoformat(),
                         "command": f"python -m immunotwin.calibrate_cancers --patients {a.patients} --seed {a.seed}"}
    for cancer in filter(None, a.cancers.split(",")):
        spec_name, key = TARGETS[cancer]
        ref = orr_refs[key]
        res = fit_one(cancer, spec_name, float(ref["orr"]), a.patients, a.seed)
        res.update({"spec": spec_name, "source": ref["source"], "patients": a.patients, "seed": a.seed,
                    "date": dt.date.today().isoformat()})
        out["cancers"][cancer] = res
        print(f"{cancer}: immunogenicity {res['immunogenicity']:.4g} -> ORR {res['orr']:.3f} (target {ref['orr']})")
    for name in filter(None, a.params.split(",")):
        spec_name, key = PARAM_TARGETS[name]
        ref = refs[key]
        res = bisect(lambda x, n=name, sp=spec_name: orr_with_param(n, sp, x, a.patients, a.seed),
                     float(ref["orr"]), 0.005, 5.0)
        res.update({"spec": spec_name, "source": ref["source"], "patients": a.patients, "seed": a.seed,
                    "date": dt.date.today().isoformat()})
        out["params"][name] = res
        print(f"{name}: {res['value']:.4g} -> ORR {res['orr']:.3f} (target {ref['orr']})")
    a.out.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
