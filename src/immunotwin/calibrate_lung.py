"""Fit the lung's two risk factors to their published odds ratios (``python -m immunotwin.calibrate_lung``).

A smoking history and prior thoracic radiotherapy each multiply a patient's pneumonitis susceptibility by a factor
(:data:`immunotwin.covariates.EFFECTS`: ``smoker_lung``, ``thoracic_rt_lung``). What is published is an odds ratio of
checkpoint-inhibitor pneumonitis, and how a factor on susceptibility turns into one depends on the rest of the model
(the lung's tolerance margin, its weights), so each factor is fitted: the NSCLC trial below is simulated twice with
common random numbers, every patient without either risk factor and then every patient with the one risk factor, and
the factor is moved (:func:`immunotwin.calibrate_cancers.bisect` on its log) until the odds ratio of pneumonitis of any
grade between the two runs equals the published one. The rates of pneumonitis in each cancer, which the cancers'
prevalences of the two factors (:data:`immunotwin.cancers.LUNG_RISK_SOURCE`) then set, stay validation
(``immunotwin validate``, the pneumonitis rows).

The fitted values are written by hand into :mod:`immunotwin.covariates` (as with every hand-installed fit: the run's log
is kept beside it), and ``tests/test_lung_risk.py`` checks, slow, that the installed values give the published odds
ratios on another seed, within a factor 1.6 (two standard errors of the log odds ratio, taken as unpaired).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import numpy as np

from .covariates import E

#: Effect name -> (published odds ratio of checkpoint-inhibitor pneumonitis, covariate, its population override,
#: source). One meta-analysis's pooled figures in lung cancer, where nearly all the evidence is (abstracts read through the
#: search tool, docs/experiments/stop69-lung-risk/README.md).
ODDS_RATIOS: dict[str, tuple[float, str, str, str]] = {
    "smoker_lung": (2.39, "ever_smoker", "ever_smoker_fraction",
                    "smoking history: pooled OR 2.39 (95% CI 1.29-4.45) over 18 real-world studies of 4,990 lung "
                    "cancer patients (meta-analysis, Chinese Journal of Respiratory and Critical Care Medicine 2023, "
                    "doi 10.7507/1671-6205.202304036; English abstract read; the journal inferred from the DOI prefix; "
                    "whether adjusted not stated)"),
    "thoracic_rt_lung": (2.74, "thoracic_rt", "thoracic_rt_fraction",
                         "prior chest radiotherapy: pooled OR 2.74 (95% CI 1.80-4.19), the same meta-analysis (over all "
                         "cancers, another meta-analysis gives a pooled adjusted 2.07, 1.34-3.19: Zhou, Zhao & Wang, "
                         "Respiration 2022, doi 10.1159/000526141; in one NSCLC centre 2.75: Chen et al., Front Med "
                         "2026)"),
}
#: The fit's trial (:func:`pneumonitis`) is NSCLC's, the cancer in which both odds ratios were measured.
SEED = 2024
PATIENTS = 4000
FOLLOW_UP = "12 months"
#: Bracket of each factor (a factor of 1 is no effect; 6 is past any odds ratio of a few).
LO, HI = 1.0, 6.0


def pneumonitis(patients: int, seed: int, overrides: Mapping[str, float]) -> np.ndarray:
    """Whether each patient (``status`` ok or not, in index order) of validate's NSCLC trial
    (:func:`immunotwin.validate.nsclc_pd1_patients`: pembrolizumab 200 mg every 3 weeks) had pneumonitis of any grade
    over ``FOLLOW_UP``, with population ``overrides``."""
    from .validate import nsclc_pd1_patients

    p = nsclc_pd1_patients(seed, patients, FOLLOW_UP, overrides)
    return np.nan_to_num(p["irae_pneumonitis_grade"].to_numpy(float)) >= 1


def odds_ratio(with_factor: np.ndarray, without: np.ndarray) -> float:
    """Odds of ``with_factor`` against ``without`` (boolean event arrays), each share's odds with half an event added
    to events and non-events (Haldane's correction), so that no event in either gives a finite ratio."""
    def odds(x: np.ndarray) -> float:
        return (x.sum() + 0.5) / (len(x) - x.sum() + 0.5)
    return float(odds(with_factor) / odds(without))


@contextmanager
def effect_values(values: Mapping[str, float]) -> Iterator[None]:
    """Within the block the covariate effects ``values`` (names in covariates.EFFECTS) have these values."""
    original = {k: E[k] for k in values}
    for k, v in values.items():
        if k not in E:
            raise KeyError(f"{k!r} is not a covariate effect")
        E[k] = float(v)
    try:
        yield
    finally:
        E.update(original)


def model_odds_ratio(name: str, factor: float, patients: int = PATIENTS, seed: int = SEED,
                     baseline: np.ndarray | None = None) -> tuple[float, float, float]:
    """(odds ratio, share with pneumonitis with the factor, share without) of effect ``name`` at ``factor``: the same
    patients without either risk factor, then all with ``name``'s."""
    _, cov, override, _ = ODDS_RATIOS[name]
    none = {o: 0.0 for _, _, o, _ in ODDS_RATIOS.values()}
    if baseline is None:
        baseline = pneumonitis(patients, seed, none)
    with effect_values({name: factor}):
        carriers = pneumonitis(patients, seed, {**none, override: 1.0})
    return odds_ratio(carriers, baseline), float(carriers.mean()), float(baseline.mean())


def fit(name: str, patients: int = PATIENTS, seed: int = SEED, iters: int = 12) -> dict:
    """Fit effect ``name`` to its published odds ratio; the result holds the factor, the odds ratio it gives and the
    trace."""
    from .calibrate_cancers import bisect

    target = ODDS_RATIOS[name][0]
    none = {o: 0.0 for _, _, o, _ in ODDS_RATIOS.values()}
    baseline = pneumonitis(patients, seed, none)
    res = bisect(lambda x: model_odds_ratio(name, x, patients, seed, baseline)[0], target, LO, HI, iters=iters)
    factor = float(res["value"])
    ratio, with_, without = model_odds_ratio(name, factor, patients, seed, baseline)
    return {"name": name, "factor": factor, "odds_ratio": ratio, "target": target, "with": with_, "without": without,
            "trace": res.get("trace", [])}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m immunotwin.calibrate_lung", description=__doc__.split("\n\n")[0])
    ap.add_argument("--patients", type=int, default=PATIENTS)
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--names", default=",".join(ODDS_RATIOS), help="effects to fit (comma-separated)")
    ap.add_argument("--margin", type=float, default=None,
                    help="the lung's tolerance margin to fit at (default: the installed one)")
    a = ap.parse_args(argv)
    for name in [n for n in a.names.split(",") if n]:
        if name not in ODDS_RATIOS:
            ap.error(f"--names: {name!r} is not one of {', '.join(ODDS_RATIOS)}")
    from .calibrate_cancers import model_values

    print(f"installed: {', '.join(f'{k} {E[k]:g}' for k in ODDS_RATIOS)}; lung margin "
          + (f"{a.margin:g} (given)" if a.margin is not None else "as installed"))
    for name in [n for n in a.names.split(",") if n]:
        with model_values({} if a.margin is None else {"tolerance_margin.pneumonitis": a.margin}):
            r = fit(name, a.patients, a.seed)
        print(f"{name}: factor {r['factor']:.4g} -> odds ratio {r['odds_ratio']:.3f} (target {r['target']:g}); "
              f"pneumonitis {r['with']:.4f} with, {r['without']:.4f} without ({a.patients} patients, seed {a.seed})",
              flush=True)
        for x, m in r["trace"]:
            print(f"    {x:.4g}: {m:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
