"""Fit each organ's tolerance to a three-arm safety table: ``python -m immunotwin.calibrate_organs``.

An organ's autoreactive pool is released by CTLA-4 blockade and by PD-1 blockade (:mod:`.model.tolerance`): its
activation gain is G = a susc m (1 + c + p + s c p) ..., with c = w_CTLA4 d_C b_CTLA4 and p = w_PD d_P b_PD. Three
organ parameters set how often that organ's immune-related events occur under each regimen: the tolerance margin m,
and the organ's dependence on each checkpoint, w_CTLA4 and w_PD. One trial that gives the organ's incidence under
anti-CTLA-4 alone, anti-PD-1 alone and the two together, counted one way in all three arms, identifies all three
(the two monotherapies set each weight against the margin; the combination sets how strongly the two combine, which
the margin controls: a smaller margin with larger weights combines more strongly for the same two monotherapy rates).
Stop 24 fitted the weights to single-agent trials with the margins hand-set and gave CheckMate 067's combination arm
72% gut events (docs/credibility.md): the margin cannot be left out.

The only such table the project holds is CheckMate 067's own (Larkin 2015, treatment-related adverse events by term,
``data/scenario_refs.json`` ``checkmate067_organ_mix``), so fitting to it turns its any-grade rows into fitted
figures (``validate`` marks them so); what stays unfitted is every other organ figure: incidence under one antibody
in other trials, thyroid tests, colitis needing steroids, grade >= 3 by organ (the damage rates are fitted to
MDX010-20's severity), onsets and the fatal spectrum. The class comparisons of a fitted organ (colitis more frequent
with ipilimumab, thyroiditis with nivolumab) follow from the fitted table and are marked fitted too.

Method: for each organ in turn (skin, gut, liver, thyroid; Gauss-Seidel sweeps, since the organs interact through the
clinic: an irAE in one organ brings steroids and holds that damp the others), least squares on the three arms'
rates in probit space, z = Phi^-1(rate): a threshold model's rate is a normal tail, so z is close to linear in the
log parameters where the rate itself is flat near 0 (a forward-difference slope at 0.3% reads nothing). Residuals
are scaled by each rate's binomial standard error at the fit's size (transformed to z). The optimiser is scipy's
bounded trust-region least squares (``least_squares``, ``trf``) with the Jacobian taken by forward differences at a
wide step in the log parameters (``STEP``: the rates are step functions of the parameters under common random
numbers, one step per patient who crosses the threshold, and a small step reads zero slope). Every simulation uses
the same seed (common random numbers). The margin is bounded above (``MARGIN_MAX``) so that untreated patients' pools
stay tolerised (:func:`untreated_incidence` reports the incidence in untreated patients at the result, and
the entries written carry it).

The result goes to ``data/cancer_fit.json`` (``params``, ``name.organ`` entries with their provenance), which
:mod:`.model.core` applies. Stop 56 ran it under both forms of the checkpoint releases and did not install the result:
with the releases added (``checkpoint_synergy`` 0) the organ table came much nearer, but CheckMate 067's calibration rows
moved (held-out loss 15.0 to 21.5: the combination's discontinuation fell, nivolumab's grade >= 3 TRAEs rose), so it
waits for the calibration to be refitted on it (docs/credibility.md; docs/experiments/stop56-organ-fit/).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
from scipy.optimize import least_squares
from scipy.stats import norm

from . import calibrate_cancers as cc

#: Organ -> (term in the safety table, the patient table's grade column). The model's gut process is graded by stool
#: frequency, so its any grade is compared with diarrhoea; hypothyroidism is read from the model's TSH.
TERMS: dict[str, tuple[str, str]] = {
    "dermatitis": ("rash", "irae_dermatitis_grade"),
    "colitis": ("diarrhoea", "irae_colitis_grade"),
    "hepatitis": ("hepatitis", "irae_hepatitis_grade"),
    "thyroiditis": ("hypothyroidism", "hypothyroidism_grade"),
}
#: The three organ parameters fitted, each paired with the arm that moves it most; the arms, in this order, are the three
#: the fit reads (the fit itself is joint: every parameter against every arm).
PARAMETERS: tuple[tuple[str, str], ...] = (("tolerance_margin", "nivolumab + ipilimumab"),
                                           ("weight_pd", "nivolumab"), ("weight_ctla4", "ipilimumab"))
#: Forward-difference step in the log parameters (a 30% change).
STEP = float(np.log(1.3))
#: Bounds of the fitted values. The margin's upper bound keeps untreated patients' pools tolerised: with every fitted
#: organ's margin at 0.8, 500 untreated NSCLC patients followed 6 months (:func:`untreated_incidence`, seed 11) had no
#: skin, gut or liver event and one thyroid event (0.2%); at 1.2 thyroid 1.4%, gut and liver 0.2%; at 2.0 1.2-3.4% in
#: every organ (stop 56). Untreated autoimmunity of that order is not seen in trial populations that exclude active
#: autoimmune disease: 0.8 is the bound (assumed from that measurement).
MARGIN_MAX = 0.8
BOUNDS = {"tolerance_margin": (0.02, MARGIN_MAX), "weight_pd": (0.005, 50.0), "weight_ctla4": (0.005, 50.0)}
SPEC = "checkmate067"
TABLE = ("scenario_refs", "checkmate067_organ_mix")


def targets(organs: Sequence[str]) -> dict[str, dict[str, float]]:
    """organ -> arm -> published any-grade incidence, from the safety table (:data:`TABLE`)."""
    from .reference import load

    arms = load(TABLE[0])[TABLE[1]]["arms"]
    unknown = [o for o in organs if o not in TERMS]
    if unknown:
        raise ValueError(f"organs: no safety-table term for {', '.join(unknown)} (fitted: {', '.join(TERMS)})")
    return {o: {arm: float(terms[TERMS[o][0]][0]) for arm, terms in arms.items()} for o in organs}


def product_background(rates: Mapping[str, float], background: Mapping[str, float] | None = None) -> float:
    """The untreated incidence that a three-arm table implies under the product form of the releases
    (``checkpoint_synergy`` 1), read in the threshold approximation the fit's probit residuals rest on.

    A patient has the organ's event when log G + e > threshold, e normal between patients; under the product
    log G = log(a m) + log(1 + c) + log(1 + p), so each release shifts the probit of the rate by a constant:
    z_combination - z_anti-PD-1 = z_anti-CTLA-4 - z_untreated, and z_untreated = z_anti-PD-1 + z_anti-CTLA-4 -
    z_combination. Where the answer is far from 0 the product cannot give the table with pools that stay tolerised
    in untreated patients: CheckMate 067's hepatitis gives 0.005, its diarrhoea 0.13 and its rash 0.20 (stop 61).
    ``rates``: arm -> rate, with the three arms of :data:`PARAMETERS`. ``background``: arm -> share of the table's
    reports without an immune cause (clinic/run.background_reports), independent of the immune events: the rates'
    immune parts 1 - (1 - rate)/(1 - background) are read instead, and the answer is their untreated incidence
    (nearly independent: a patient stopped early for an immune event has less exposure to be reported in)."""
    bad = [arm for _, arm in PARAMETERS if not 0.0 < float(rates.get(arm, np.nan)) < 1.0]
    if bad:
        raise ValueError(f"rates: {', '.join(bad)} must be a share strictly between 0 and 1 (got "
                         f"{', '.join(repr(rates.get(arm)) for arm in bad)})")
    if background is not None:
        below = [arm for _, arm in PARAMETERS if not 0.0 <= float(background.get(arm, np.nan)) < float(rates[arm])]
        if below:
            raise ValueError(f"background: {', '.join(below)} must be a share from 0 up to the arm's rate (got "
                             f"{', '.join(repr(background.get(arm)) for arm in below)})")
        rates = {arm: 1.0 - (1.0 - float(rates[arm])) / (1.0 - float(background[arm])) for _, arm in PARAMETERS}
    combo, pd1, ctla4 = (float(norm.ppf(rates[arm])) for _, arm in PARAMETERS)
    return float(norm.cdf(pd1 + ctla4 - combo))


def incidence(p, organ: str, arm: str, cutoff: bool = True) -> float:  # type: ignore[no-untyped-def]
    """Share of ``arm``'s patients who ran with ``organ``'s event of any grade first seen within the reporting window
    and, unless ``cutoff`` is False, before the table's data cut-off (as the trial's safety table counts it:
    :func:`immunotwin.clinic.outcomes.reported_column`, :func:`table_cutoff_weeks`)."""
    from .clinic.outcomes import reported_column

    g = p[(p["arm"] == arm) & (p["status"] == "ok")]
    end = table_cutoff_weeks() if cutoff else None
    return float((reported_column(g, TERMS[organ][1], end) >= 1).mean()) if len(g) else float("nan")


def background_share(p, organ: str, arm: str) -> float:  # type: ignore[no-untyped-def]
    """Share of ``arm``'s patients whose table has a report of ``organ``'s term without an immune cause (diarrhoea,
    rash: :func:`immunotwin.clinic.outcomes.reported_background`), within the window and the data cut-off."""
    from .clinic.outcomes import reported_background

    g = p[(p["arm"] == arm) & (p["status"] == "ok")]
    return float(reported_background(g, TERMS[organ][1], table_cutoff_weeks()).mean()) if len(g) else float("nan")


def table_cutoff_weeks() -> float:
    """The safety table's data cut-off from the start of treatment (weeks; :data:`TABLE`'s ``data_cutoff_months``):
    events after it are not in the table."""
    from .reference import load
    from .units import DAYS_PER_MONTH

    return float(load(TABLE[0])[TABLE[1]]["data_cutoff_months"]) * DAYS_PER_MONTH / 7.0


def probit(rate: np.ndarray, n: int) -> np.ndarray:
    """Phi^-1 of a share of ``n`` patients, kept half a patient inside (0, 1)."""
    return norm.ppf(np.clip(np.asarray(rate, float), 0.5 / n, 1.0 - 0.5 / n))


def probit_se(rate: np.ndarray, n: int) -> np.ndarray:
    """Binomial standard error of a share of ``n`` at ``rate``, carried to probit space (delta method); the variance
    r (1 - r) is floored at 0.01 so that a rate near 0 or 1 does not get a vanishing error."""
    r = np.clip(np.asarray(rate, float), 0.5 / n, 1.0 - 0.5 / n)
    return np.sqrt(np.maximum(r * (1.0 - r), 0.01) / n) / norm.pdf(norm.ppf(r))


def fit_block(evaluate: Callable[[np.ndarray], np.ndarray], start: np.ndarray, target: np.ndarray, n: int,
              lo: np.ndarray, hi: np.ndarray, max_evals: int = 12) -> dict:
    """Least squares in probit space for one organ: ``evaluate(values) -> rates`` (one per target). Returns the best
    values tried, their rates and the trace [[values..., rates...], ...]."""
    if max_evals < 1:
        raise ValueError(f"max_evals must be at least 1 (got {max_evals})")
    zt, se = probit(target, n), probit_se(target, n)
    trace: list[list[float]] = []
    cache: dict[tuple, np.ndarray] = {}

    def resid(u: np.ndarray) -> np.ndarray:
        key = tuple(np.round(u, 12))
        if key not in cache:
            if len(trace) >= max_evals:
                raise StopIteration
            m = np.asarray(evaluate(np.exp(u)), float)
            if not np.all(np.isfinite(m)):  # an arm with no patient who ran: nothing to fit
                raise ValueError(f"a rate could not be read at {np.exp(u).tolist()}: {m.tolist()}")
            trace.append([*map(float, np.exp(u)), *map(float, m)])
            cache[key] = (probit(m, n) - zt) / se
        return cache[key]

    def jac(u: np.ndarray) -> np.ndarray:
        r0, cols = resid(u), []
        for j in range(len(u)):
            du = STEP if u[j] + STEP <= np.log(hi[j]) else -STEP
            uj = u.copy()
            uj[j] += du
            cols.append((resid(uj) - r0) / du)
        return np.array(cols).T

    u0 = np.clip(np.log(start), np.log(lo), np.log(hi))
    try:
        least_squares(resid, u0, jac=jac, bounds=(np.log(lo), np.log(hi)), method="trf", x_scale=1.0,
                      max_nfev=max_evals)
    except StopIteration:
        pass
    k = len(start)
    losses = [float(np.sum(((probit(np.array(t[k:]), n) - zt) / se) ** 2)) for t in trace]
    best = trace[int(np.argmin(losses))]
    return {"values": np.array(best[:k]), "rates": np.array(best[k:]), "loss": float(min(losses)),
            "start_loss": losses[0], "trace": trace}


def simulate(values: Mapping[str, float], patients: int, seed: int):  # type: ignore[no-untyped-def]
    """CheckMate 067's patient table (examples/checkmate067.toml) with the model parameters ``values`` installed."""
    with cc.model_values(values):
        p, _ = cc._simulate(SPEC, patients, False, seed)
    return p


def installed_scalar(name: str) -> float:
    """The installed value of a scalar model parameter (recorded with a fit: the form it was fitted under)."""
    from .model import core

    return float({prm.name: prm.default for prm in core.PARAMS}[name])  # type: ignore[arg-type]


def installed(name: str) -> float:
    """The installed value of ``name.organ``."""
    from .model import core

    base, _, organ = name.partition(".")
    value = {prm.name: prm.default for prm in core.PARAMS}[base]
    if not isinstance(value, tuple):
        raise ValueError(f"{name}: {base} is not a per-organ parameter")
    return float(value[cc.INDEX[organ]])


def run(organs: Sequence[str], patients: int, seed: int, sweeps: int, max_evals: int,
        fixed: Mapping[str, float] | None = None, log: Callable[[str], None] = print) -> dict:
    """Gauss-Seidel sweeps over ``organs``, each organ's three parameters fitted by :func:`fit_block` with the
    others at their current values. ``fixed``: other model values held during the fit (a structural probe)."""
    tg = targets(organs)
    arms = [arm for _, arm in PARAMETERS]
    values = {f"{prm}.{o}": installed(f"{prm}.{o}") for o in organs for prm, _ in PARAMETERS}
    history: dict[str, list] = {o: [] for o in organs}
    results: dict[str, dict] = {}
    shown: set[str] = set()
    for sweep in range(sweeps):
        for o in organs:
            names = [f"{prm}.{o}" for prm, _ in PARAMETERS]

            def evaluate(v: np.ndarray, names: list[str] = names, o: str = o) -> np.ndarray:
                p = simulate({**(fixed or {}), **values, **dict(zip(names, map(float, v), strict=True))}, patients,
                             seed)
                m = np.array([incidence(p, o, arm) for arm in arms])
                if o not in shown:  # once per organ: what the table asks of its immune events
                    shown.add(o)
                    b = {arm: background_share(p, o, arm) for arm in arms}
                    if any(b.values()) and all(b[a] < tg[o][a] for a in arms):
                        log(f"  {o}: background reports in the simulated table " + ", ".join(
                            f"{a} {x:.3f}" for a, x in b.items()) + "; untreated incidence of the immune events "
                            f"the table implies under the product {product_background(tg[o], b):.3f}")
                log(f"  {o}: " + ", ".join(f"{n.split('.')[0]} {x:.4g}" for n, x in zip(names, v, strict=True))
                    + " -> " + ", ".join(f"{a} {r:.3f}" for a, r in zip(arms, m, strict=True)))
                return m

            lo = np.array([BOUNDS[n.split(".")[0]][0] for n in names])
            hi = np.array([BOUNDS[n.split(".")[0]][1] for n in names])
            res = fit_block(evaluate, np.array([values[n] for n in names]), np.array([tg[o][a] for a in arms]),
                            patients, lo, hi, max_evals)
            values.update(dict(zip(names, map(float, res["values"]), strict=True)))
            history[o].extend(res["trace"])
            res["first_start_loss"] = results[o]["first_start_loss"] if o in results else res["start_loss"]
            results[o] = res
            log(f"sweep {sweep + 1}, {o}: loss {res['start_loss']:.2f} -> {res['loss']:.2f}; "
                + ", ".join(f"{a} {r:.3f} ({tg[o][a]:.2f})" for a, r in zip(arms, res["rates"], strict=True)))
    return {"values": values, "results": results, "history": history, "targets": tg}


def untreated_incidence(values: Mapping[str, float], patients: int, seed: int) -> dict[str, float]:
    """Each fitted organ's any-grade incidence in patients given no drug (scenario spec ``hyperprogression-untreated``:
    NSCLC, followed untreated): it should be about 0, since the fitted margins must not release pools without a
    checkpoint inhibitor."""
    with cc.model_values(values):
        p, _ = cc._simulate("hyperprogression-untreated", patients, False, seed)
    return {o: incidence(p, o, "no drug", cutoff=False) for o in TERMS}


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m immunotwin.calibrate_organs", description=__doc__.split("\n")[0])
    ap.add_argument("--organs", default=",".join(TERMS), help=f"comma-separated, of {', '.join(TERMS)}")
    ap.add_argument("--patients", type=int, default=500, help="virtual patients per arm (default 500)")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--sweeps", type=int, default=2, help="passes over the organs (default 2)")
    ap.add_argument("--evals", type=int, default=12, help="simulations per organ and pass (default 12)")
    ap.add_argument("--fixed", default="", help="NAME=VALUE,... model values held during the fit (a probe; the "
                                                "result is then not written)")
    ap.add_argument("--out", type=Path, default=cc.parser().get_default("out"))
    ap.add_argument("--dry-run", action="store_true", help="print the result, write nothing")
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = parser()
    a = ap.parse_args(argv)
    organs = [o for o in a.organs.split(",") if o]
    if not organs or any(o not in TERMS for o in organs) or len(set(organs)) < len(organs):
        ap.error(f"--organs: give distinct names of {', '.join(TERMS)} (got {a.organs!r})")
    if a.patients < 50:
        ap.error(f"--patients must be at least 50 (got {a.patients})")
    if a.sweeps < 1 or a.evals < 4:
        ap.error("--sweeps must be at least 1 and --evals at least 4 (one Jacobian and a step)")
    fixed: dict[str, float] = {}
    for item in filter(None, a.fixed.split(",")):
        name, _, value = item.partition("=")
        try:
            fixed[name] = float(value)
        except ValueError:
            ap.error(f"--fixed: {item!r} is not NAME=NUMBER")
        if not np.isfinite(fixed[name]):
            ap.error(f"--fixed: {item!r} is not NAME=NUMBER")
    overlap = [f"{prm}.{o}" for o in organs for prm, _ in PARAMETERS if f"{prm}.{o}" in fixed]
    if overlap:
        ap.error(f"--fixed: {', '.join(overlap)} are fitted here; hold only other parameters")
    if not a.out.parent.is_dir():
        ap.error(f"--out: folder {a.out.parent} does not exist")
    for o, tg in targets(organs).items():
        print(f"{o}: untreated incidence the table implies under the product of the releases "
              f"{product_background(tg):.3f}")
    res = run(organs, a.patients, a.seed, a.sweeps, a.evals, fixed)
    for name, v in res["values"].items():
        print(f"{name}: {v:.4g}")
    untreated = untreated_incidence({**fixed, **res["values"]}, a.patients, a.seed)
    print("untreated (no drug) any-grade incidence: " + ", ".join(f"{o} {x:.3f}" for o, x in untreated.items()))
    if a.dry_run or fixed:
        print("not written (--dry-run or --fixed)")
        return 0
    out = json.loads(a.out.read_text()) if a.out.is_file() else {}
    out.setdefault("params", {})
    command = "python -m immunotwin.calibrate_organs " + shlex.join(argv if argv is not None else sys.argv[1:])
    today = dt.date.today().isoformat()
    from .reference import load

    source = load(TABLE[0])[TABLE[1]]["source"]
    arms = [arm for _, arm in PARAMETERS]
    for o in organs:
        r = res["results"][o]
        for i, (prm, arm) in enumerate(PARAMETERS):
            out["params"][f"{prm}.{o}"] = {
                "value": float(f"{r['values'][i]:.4g}"), "metric": f"checkmate067 any-grade {TERMS[o][0]}",
                "rates": {a2: float(x) for a2, x in zip(arms, r["rates"], strict=True)},
                "targets": res["targets"][o], "loss": r["loss"], "start_loss": r["first_start_loss"],
                "loss_note": "probit residuals in standard errors, summed over the three arms, at the fit's own trial; "
                             "start: the first sweep's start, loss: the best point of the last sweep",
                "model": {"checkpoint_synergy": installed_scalar("checkpoint_synergy"), "margin_max": MARGIN_MAX},
                "joint": [f"{q}.{o}" for q, _ in PARAMETERS if q != prm], "arm": arm,
                **({"trace": res["history"][o]} if i == 0 else {"trace_in": f"{PARAMETERS[0][0]}.{o}"}),
                "untreated_incidence": untreated[o], "spec": SPEC, "source": source,
                "patients": a.patients,
                "seed": a.seed, "date": today, "command": command}
    a.out.write_text(json.dumps(out, indent=1) + "\n")
    print(f"written to {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
