"""Calibration on fresh trials with common random numbers: least squares over simulated trials, no reweighting.

The reweighted fit (:mod:`.calibrate`) reads every target on importance weights of one pre-simulated population, and
its optimiser picks up the weights' sampling error; the fresh-trial correction (:mod:`.calibrate_fresh`) measures that
gap at the fit and refits with it, but the gap moves with the parameters (docs/credibility.md: at stop 38's fits the
combination's ORR read 0.577 reweighted and 0.644 fresh). This fit has no weights: every evaluation of the residuals
simulates the trial afresh at the parameters, with the same seed each time (common random numbers: the same patients'
random effects, the same clinic draws), so the residuals move with the parameters and not with the draw (Glasserman &
Yao, Manag Sci 1992;38:884; Kleinman, Spall & Naiman, Manag Sci 1999;45:1570, for finite differences under common
random numbers).

The optimiser is scipy's trust-region least squares (``least_squares``, method ``trf``) on the calibration's own
residuals (:func:`.calibrate.residuals`: the issue's bands as units). Its Jacobian is taken by forward differences
at a fixed step in the log parameters (``STEP``, 0.1: a 10% change of a mean). A trial's outcome table is a step
function of the parameters, one step per patient whose outcome flips, so an infinitesimal step (scipy's default, or a
step relative to a coordinate that is zero at the installed values) reads a derivative of zero; 0.1 moves dozens of
the patients of a 500-per-arm trial. Each Jacobian costs one trial per free coordinate, so the free coordinates are
chosen (``free``); the rest stay at the installed calibration. Besides the population parameters' means (``NAME``)
and spreads (``s:NAME``), a free coordinate may be a scalar model parameter that has no between-patient variability
(``p:NAME``, :func:`model_coordinates`), fitted on the log of its value: a structural choice such as how the two
checkpoints' releases of an organ's autoreactive pool combine (``checkpoint_synergy``, :mod:`.model.tolerance`),
which no population mean can stand in for. It is installed with the calibration (``params``, no variability). A
drug's PD constant may be free too (``d:DRUG.FIELD``, :data:`.drugs.catalogue.FITTABLE`, on the log of its value):
ipilimumab's CTLA-4 occupancy EC50, which no trial at one dose can tell from the population's sensitivity to
blockade, fitted with a trial at two doses read beside the fit's own (``also``, :mod:`.calibrate_also`). It is
installed in calibration.json's ``drugs`` section, which the catalogue reads at import.

The fit reads its own seed's patients: with 500 per arm a rate carries a sampling SD of about 0.022 that the fit
absorbs. Several seeds (``seeds``) average it down at a proportional cost. With a dozen free coordinates and 35
targets the fit also chases that sampling error (stop 40: a fit at seeds 7101 and 7102, 500 per arm, reached a loss
of 8.8 on its own trials and 19-25 on trials of 1,000 per arm at three other seeds, where the shipped calibration on
the shipped model reads 16-17), so every fit is judged on held-out seeds (``check_seeds``, :func:`held_out_check`): the loss of
fresh trials at seeds the fit never saw, at the start and at the result, written beside the fit's own. A fit that
does not lower the held-out loss has fitted noise. The comparison is paired, seed by seed (:func:`paired_difference`):
a fit is lower only when the mean difference lies two standard errors below zero. ``immunotwin validate`` reads seed 67
(the example's).

Standard errors: the Gauss-Newton covariance s^2 (J'J)^-1 from the last Jacobian the optimiser took (at its last
iterate, next to the best trial), with s^2 the residual variance SSE / (R - p) (Bates & Watts, Nonlinear Regression
Analysis, Wiley 1988, ch. 2), for the free coordinates; the others keep the installed calibration's, as does a free
coordinate whose SE cannot be computed (a singular J'J; the provenance names it).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .calibrate import FITTED, endpoints, profile_event_rates, residuals, target_rows
from .calibrate_also import rows as further_rows
from .calibrate_cancers import model_values
from .spec import TrialSpec

#: Forward-difference step in the log parameters (see the module doc).
STEP = 0.1
#: The first seed of a direct fit's trials (never the validation's 67, nor the fresh-trial correction's 7001+).
DIRECT_SEED = 7101
#: Held-out seeds that judge a direct fit (:func:`held_out_check`): not the fit's, not the validation's 67. Six since
#: stop 46: at 1,000 per arm the loss of one seed's trial moves by 2-3 units between seeds (iteration 13: 9.4 to 17.4),
#: and three seeds could not tell a fit 0.64 worse on average from one as good (the paired standard error was 1.04).
CHECK_SEEDS = (68, 69, 70, 71, 72, 73)


def coordinates(free: Sequence[str], names: tuple[str, ...] = FITTED) -> list[int]:
    """Indices into phi (means, then log-SDs) of the free coordinates: ``name`` for a mean, ``s:name`` for a
    spread. Raises ValueError naming any name that is not a fitted parameter."""
    out, bad = [], []
    for f in free:
        if f.startswith((MODEL, DRUG)):  # a model parameter or a drug's: model_coordinates, drug_coordinates
            continue
        spread = f.startswith("s:")
        name = f[2:] if spread else f
        if name not in names:
            bad.append(f)
            continue
        out.append(len(names) + names.index(name) if spread else names.index(name))
    if bad:
        raise ValueError(f"not fitted parameters: {', '.join(bad)} (fitted: {', '.join(names)}; a spread is s:NAME)")
    if len(set(out)) != len(out):
        raise ValueError("a free coordinate is given twice")
    return out


#: Prefix of a free coordinate that is a model parameter's value rather than a population mean or spread.
MODEL = "p:"
#: Prefix of a free coordinate that is a drug's PD constant (``d:DRUG.FIELD``).
DRUG = "d:"


def drug_coordinates(free: Sequence[str]) -> list[str]:
    """The drug constants among the free coordinates (``d:DRUG.FIELD``), as ``DRUG.FIELD``, in order. Raises
    ValueError naming every one that is not a fittable field of a catalogue drug."""
    from .drugs.catalogue import drug_key

    out, bad = [], []
    for f in free:
        if not f.startswith(DRUG):
            continue
        try:
            drug_key(f[len(DRUG):])
        except ValueError as e:
            bad.append(str(e))
            continue
        out.append(f[len(DRUG):])
    if bad:
        raise ValueError("; ".join(bad))
    if len(set(out)) != len(out):
        raise ValueError("a free coordinate is given twice")
    return out


def installed_drug_values(keys: Sequence[str]) -> dict[str, float]:
    """The catalogue's values of the drug constants ``keys`` (``DRUG.FIELD``)."""
    from .drugs.catalogue import CATALOGUE, drug_key

    return {k: float(getattr(CATALOGUE[name], fld)) for k in keys for name, fld in [drug_key(k)]}


def model_coordinates(free: Sequence[str], names: tuple[str, ...] = FITTED) -> list[str]:
    """The model parameters among the free coordinates (``p:NAME``), in order. Each must be a scalar parameter of the
    model with no between-patient variability, outside the population parameters (``names``), whose installed value
    is positive (it is fitted on the log of its value). Raises ValueError naming every one that is not."""
    from .model.core import PARAM_INDEX

    out, bad = [], []
    for f in free:
        if not f.startswith(MODEL):
            continue
        name = f[len(MODEL):]
        prm = PARAM_INDEX.get(name)
        if prm is None or name in names or prm.is_vector or float(prm.iiv) != 0.0 or not float(prm.default) > 0.0:
            bad.append(f)
        else:
            out.append(name)
    if bad:
        raise ValueError(f"not scalar model parameters without variability and with a positive value: {', '.join(bad)}")
    if len(set(out)) != len(out):
        raise ValueError("a free coordinate is given twice")
    return out


def installed_model_values(names: Sequence[str]) -> dict[str, float]:
    """The installed values of the model parameters ``names``."""
    from .model.core import PARAM_INDEX

    return {k: float(PARAM_INDEX[k].default) for k in names}  # type: ignore[arg-type]


def installed_phi(names: tuple[str, ...] = FITTED) -> np.ndarray:
    """phi at the installed calibration: zero mean shifts and the installed log-SDs."""
    from .model.core import PARAM_INDEX

    return np.concatenate([np.zeros(len(names)), np.log([float(PARAM_INDEX[k].iiv) for k in names])])


Simulate = Callable[[TrialSpec, np.ndarray, int, int], object]


def trial_residuals(spec: TrialSpec, rows: list, phi: np.ndarray, patients: int, seeds: Sequence[int],
                    simulate: Simulate | None = None, natural_history: bool | str = False, also: Sequence[str] = (),
                    simulate_also: Callable | None = None) -> tuple[np.ndarray, list[dict]]:
    """The calibration residuals of fresh trials at phi, one block per seed, each divided by sqrt(len(seeds)) so
    that the sum of squares is the mean over seeds; and each trial's endpoints. A residual that cannot be read (no
    responder, no event) counts 5 band units, as in the reweighted fit. ``natural_history`` ("target" or True,
    "ceiling": :func:`nh_kind`): each block ends with the two rows of untreated melanoma's survival
    (:func:`.natural_history.fit_rows`), read on a no-drug trial of the
    same size and seed. ``also``: further trials (:mod:`.calibrate_also`) whose rows close each block, read on
    trials of the same size and seed (``simulate_also`` stands in for their simulation in tests)."""
    from . import natural_history as nh
    from .calibrate_also import further_residuals

    if simulate is None:
        from .calibrate_fresh import fresh_population as simulate
    blocks, sims = [], []
    for seed in seeds:
        trial = simulate(spec, phi, patients, seed)
        n = len(next(iter(trial.outcomes.values())))  # type: ignore[attr-defined]
        w = np.full(n, 1.0 / n)
        rate = profile_event_rates(trial, w, rows)  # type: ignore[arg-type]
        sim = endpoints(trial, w, spec.control, rate)  # type: ignore[arg-type]
        r = residuals(sim, rows)
        kind = nh_kind(natural_history)
        if kind:
            untreated = simulate(nh.fit_spec(patients, seed, kind), phi, patients, seed)
            extra = nh.fit_residuals(next(iter(untreated.outcomes.values())), kind)  # type: ignore[attr-defined]
            sim["natural_history"] = dict(zip(nh.fit_rows(kind), (float(v) for v in extra), strict=True))
            r = np.concatenate([r, extra])
        if also:
            extra, values = further_residuals(also, phi, patients, seed, simulate_also)
            sim["further"] = values
            r = np.concatenate([r, extra])
        blocks.append(np.where(np.isfinite(r), r, 5.0) / np.sqrt(len(seeds)))
        sims.append({**sim, "rates": rate})
    return np.concatenate(blocks), sims


def nh_kind(natural_history: bool | str | None) -> str | None:
    """The natural-history rows a fit reads: None (off), "target" (True, Korn's history) or "ceiling" (CheckMate
    066's dacarbazine arm; :data:`.natural_history.FIT_KEYS`)."""
    if natural_history is True:
        return "target"
    return natural_history or None


@dataclass
class DirectFit:
    phi: np.ndarray
    free: list[str]
    loss: float
    evaluations: int
    seconds: float
    history: list[dict] = field(default_factory=list)  # per trial evaluated: x, loss, residuals beyond one unit
    # ("outside": a median's unit is the survival-scale one of calibrate.median_residual, not its ±20% band)
    se: np.ndarray | None = None  # of the free coordinates
    sim: dict | None = None  # the endpoints at the result (first seed)
    rates: tuple[float, float] | None = None
    model: dict[str, float] = field(default_factory=dict)  # the free model parameters' values at the result
    drugs: dict[str, float] = field(default_factory=dict)  # the free drug constants' values at the result
    rows: list[str] = field(default_factory=list)  # the target rows, in the order of each seed's block of residuals
    seeds: int = 1
    jacobian: np.ndarray | None = None  # the last finite-difference Jacobian (residuals x free coordinates) ...
    jacobian_at: np.ndarray | None = None  # ... and the point where it was taken


def direct_fit(spec: TrialSpec, targets: Mapping, *, free: Sequence[str], patients: int = 500,
               seeds: Sequence[int] = (DIRECT_SEED,), phi0: np.ndarray | None = None, step: float = STEP,
               iterations: int = 6, simulate: Simulate | None = None,
               progress: Callable[[dict], None] | None = None, natural_history: bool | str = False,
               also: Sequence[str] = (), simulate_also: Callable | None = None) -> DirectFit:
    """Least squares over fresh trials (see the module doc). ``iterations``: trust-region steps, each one Jacobian
    (one trial per free coordinate and seed) and at least one trial at the new point. ``natural_history``: untreated
    melanoma's survival is fitted too; ``also``: further trials' rows (:func:`trial_residuals`)."""
    from scipy.optimize import least_squares

    from .drugs.catalogue import drug_values
    from .natural_history import fit_rows

    rows = target_rows(targets)
    kind = nh_kind(natural_history)
    nh_rows = list(fit_rows(kind)) if kind else []
    # population coordinates first, then the model parameters (p:NAME), then the drugs' (d:DRUG.FIELD): the order of
    # x, of the SEs and of fit.free
    free = ([f for f in free if not f.startswith((MODEL, DRUG))] + [f for f in free if f.startswith(MODEL)]
            + [f for f in free if f.startswith(DRUG)])
    idx = coordinates(free)
    model = model_coordinates(free)
    drugs = drug_coordinates(free)
    also_rows = further_rows(also)
    base = installed_phi() if phi0 is None else np.asarray(phi0, float).copy()
    m0 = np.log(list(installed_model_values(model).values())) if model else np.zeros(0)
    d0 = np.log(list(installed_drug_values(drugs).values())) if drugs else np.zeros(0)
    history: list[dict] = []
    cache: dict[tuple, tuple[np.ndarray, list[dict]]] = {}
    t0 = time.time()

    def full(x: np.ndarray) -> np.ndarray:
        phi = base.copy()
        phi[idx] = x[:len(idx)]
        return phi

    def values(x: np.ndarray) -> dict[str, float]:
        return {k: float(np.exp(v)) for k, v in zip(model, x[len(idx):len(idx) + len(model)], strict=True)}

    def drug(x: np.ndarray) -> dict[str, float]:
        return {k: float(np.exp(v)) for k, v in zip(drugs, x[len(idx) + len(model):], strict=True)}

    def f(x: np.ndarray) -> np.ndarray:
        key = tuple(np.round(x, 12))
        if key not in cache:
            with model_values(values(x)), drug_values(drug(x)):
                r, sims = trial_residuals(spec, rows, full(x), patients, seeds, simulate, natural_history, also,
                                          simulate_also)
            cache[key] = (r, sims)
            entry = {"x": [float(v) for v in x], "loss": float(np.sum(r**2)),
                     "outside": int(np.sum(np.abs(r) * np.sqrt(len(seeds)) > 1.0)),
                     "residuals": [float(v) for v in r]}
            history.append(entry)
            if progress:
                progress(entry)
        return cache[key][0]

    def jac(x: np.ndarray) -> np.ndarray:
        r0 = f(x)
        J = np.empty((len(r0), len(x)))
        for j in range(len(x)):
            xj = x.copy()
            xj[j] += step
            J[:, j] = (f(xj) - r0) / step
        jac.last, jac.at = J, x.copy()  # type: ignore[attr-defined]
        return J

    # max_nfev counts the start as well: ``iterations`` steps after it
    res = least_squares(f, np.concatenate([base[idx], m0, d0]), jac=jac, method="trf", max_nfev=iterations + 1,
                        x_scale=1.0)
    # trf returns its last accepted point; keep the best trial seen (with no step asked for: the start)
    best = history[0] if iterations == 0 else min(history, key=lambda h: h["loss"])
    x = np.array(best["x"])
    r, sims = cache[tuple(np.round(x, 12))]
    se = gauss_newton_se(getattr(jac, "last", res.jac), r)
    return DirectFit(full(x), list(free), float(np.sum(r**2)), len(history), time.time() - t0, history, se,
                     sims[0], sims[0]["rates"], values(x), drug(x), [row_label(row) for row in rows] + nh_rows
                     + also_rows, len(seeds), getattr(jac, "last", None), getattr(jac, "at", None))


def row_label(row: tuple) -> str:
    """A target row's name in ``direct_history.json``: endpoint, landmark (if any) and arm, joined by ' / '."""
    ep, lm, arm = row[:3]
    return " / ".join(str(v) for v in (ep, lm, arm) if v != "")


def gauss_newton_se(J: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Standard errors sqrt(diag(s^2 (J'J)^-1)), s^2 = r'r / (R - p); NaN where J'J is singular or R <= p."""
    R, p = J.shape
    if R <= p:
        return np.full(p, np.nan)
    s2 = float(r @ r) / (R - p)
    try:
        cov = np.linalg.inv(J.T @ J) * s2
    except np.linalg.LinAlgError:
        return np.full(p, np.nan)
    d = np.diag(cov)
    return np.where(d > 0, np.sqrt(np.abs(d)), np.nan)


def held_out_check(spec: TrialSpec, targets: Mapping, *, start: np.ndarray, fitted: np.ndarray, patients: int,
                   seeds: Sequence[int], simulate: Simulate | None = None,
                   fitted_model: Mapping[str, float] | None = None, natural_history: bool | str = False,
                   fitted_drugs: Mapping[str, float] | None = None, also: Sequence[str] = (),
                   simulate_also: Callable | None = None) -> dict:
    """The loss (sum of squared residuals, the fit's units) and the rows beyond one unit of fresh trials at each
    held-out seed, at the start and at the fitted phi (with the fitted model parameters, ``fitted_model``, and drug
    constants, ``fitted_drugs``, if any); ``improved``: the mean loss over the seeds fell. ``natural_history``: the
    fit's rows include untreated melanoma's survival; ``also``: further trials' rows, whose part of each loss is
    given apart too (``further_loss``), so that a fit with them compares with one without on the rest."""
    from .drugs.catalogue import drug_values

    rows = target_rows(targets)
    n_further = len(further_rows(also))
    out: dict = {"seeds": [int(s) for s in seeds], "patients_per_arm": int(patients),
                 "natural_history": nh_kind(natural_history), "also": list(also)}
    for label, phi, values, dvalues in (("start", start, {}, {}),
                                        ("fit", fitted, fitted_model or {}, fitted_drugs or {})):
        per = []
        for seed in seeds:
            with model_values(values), drug_values(dvalues):
                r, _ = trial_residuals(spec, rows, phi, patients, (seed,), simulate, natural_history, also,
                                       simulate_also)
            further = r[len(r) - n_further:]
            per.append({"seed": int(seed), "loss": float(np.sum(r**2)), "outside": int(np.sum(np.abs(r) > 1.0)),
                        "further_loss": float(np.sum(further**2))})
        out[label] = per
        out[f"mean_loss_{label}"] = float(np.mean([p["loss"] for p in per]))
        out[f"mean_further_loss_{label}"] = float(np.mean([p["further_loss"] for p in per]))
    out["improved"] = out["mean_loss_fit"] < out["mean_loss_start"]
    out.update(paired_difference([p["loss"] for p in out["start"]], [p["loss"] for p in out["fit"]]))
    return out


def paired_difference(start: Sequence[float], fit: Sequence[float]) -> dict:
    """The held-out losses at the fit minus those at the start, seed by seed (the same patients both times, so the
    seeds' own spread cancels): their mean, its standard error (the SD of the differences over the square root of
    their number; None for one seed, so that calibration.json stays strict JSON) and a verdict, ``lower`` or
    ``higher`` where the mean lies more than two standard errors from zero, else ``no detectable difference``."""
    d = np.asarray(fit, float) - np.asarray(start, float)
    mean = float(np.mean(d))
    se = float(np.std(d, ddof=1) / np.sqrt(d.size)) if d.size > 1 else None
    if se is not None and mean + 2.0 * se < 0.0:
        verdict = "lower"
    elif se is not None and mean - 2.0 * se > 0.0:
        verdict = "higher"
    else:
        verdict = "no detectable difference"
    return {"difference": mean, "difference_se": se, "verdict": verdict}


def se_text(se: float | None) -> str:
    """A paired difference's standard error as printed (:func:`paired_difference`'s None for one seed)."""
    return "none with one seed" if se is None else format(se, ".2g")


def calibration_document(fit: DirectFit, *, spec: TrialSpec, targets: Mapping, targets_path: str, patients: int,
                         seeds: Sequence[int], engine: str, also: Sequence[str] = ()) -> dict:
    """calibration.json's content: the installed calibration with the free coordinates replaced by the fit's, their
    standard errors by the Gauss-Newton ones, the two profiled event rates by the fit's, and a new provenance."""
    from .calibrate import EVENT_RATES, FIT_ENDPOINTS, calibrated_params, default_rates
    from .natural_history import FIT_KEYS, fit_rows
    from .validate import installed_calibration

    installed = installed_calibration()
    params = {k: dict(v) for k, v in installed.get("params", {}).items()}
    idx = coordinates(fit.free)
    # default, iiv and log_shift (relative to the installed default the fit started from, as calibrate writes it);
    # the installed entry's other fields (standard errors, notes on held spreads) stay
    for name, new in calibrated_params(fit.phi).items():
        params.setdefault(name, {}).update(new)
    kept = []  # free coordinates whose Gauss-Newton SE could not be computed: the installed SE is kept
    before = installed_model_values(list(fit.model))
    for j, (name, value) in enumerate(fit.model.items(), start=len(idx)):
        se = None if fit.se is None or not np.isfinite(fit.se[j]) else float(fit.se[j])
        entry = params.setdefault(name, {})
        entry.update({"default": float(value), "iiv": 0.0, "log_shift": float(np.log(value / before[name])),
                      "model_parameter": True})
        if se is None:
            kept.append(MODEL + name)
        else:
            entry["log_shift_se"] = se
    for j, (i, f) in enumerate(zip(idx, fit.free[:len(idx)], strict=True)):
        name = f[2:] if f.startswith("s:") else f
        se = None if fit.se is None or not np.isfinite(fit.se[j]) else float(fit.se[j])
        if se is None:
            kept.append(f)
        elif f.startswith("s:"):  # the SE of log s, carried to s by the delta method
            params[name]["iiv_se"] = float(np.exp(fit.phi[i]) * se)
        else:
            params[name]["log_shift_se"] = se
    drugs: dict = {d: {k: dict(v) for k, v in f.items()} for d, f in installed.get("drugs", {}).items()}
    before_d = installed_drug_values(list(fit.drugs))
    for j, (key, value) in enumerate(fit.drugs.items(), start=len(idx) + len(fit.model)):
        se = None if fit.se is None or not np.isfinite(fit.se[j]) else float(fit.se[j])
        name, fld = key.split(".", 1)
        entry = drugs.setdefault(name, {}).setdefault(fld, {})
        entry.update({"default": float(value), "iiv": 0.0, "log_shift": float(np.log(value / before_d[key]))})
        if se is None:
            kept.append(DRUG + key)
        else:
            entry["log_shift_se"] = se
    further = set(further_rows(also))
    rates = fit.rates or default_rates()
    for name, rate, before in zip(EVENT_RATES, rates, default_rates(), strict=True):
        entry = params.setdefault(name, {"iiv": 0.0})
        entry.update({"default": float(rate), "log_shift": float(np.log(rate / before)), "profiled": True})
    return {
        "provenance": {
            "label": f"calibrated to {targets.get('trial', 'targets')} ({time.strftime('%Y-%m-%d')})",
            "targets": targets_path, "trial": targets.get("trial"), "spec": spec.name, "spec_sha256": spec.sha256,
            "method": "least squares (scipy trust-region reflective, forward-difference Jacobian at step "
                      f"{STEP} in log parameters) on fresh trials with common random numbers "
                      "(immunotwin.calibrate_direct)",
            "engine": engine, "patients_per_arm": patients, "seeds": list(seeds), "free": list(fit.free),
            "start": installed.get("provenance", {}).get("label"), "loss": fit.loss,
            "evaluations": fit.evaluations, "date": time.strftime("%Y-%m-%d"),
            "fitted_endpoints": [ep for ep in FIT_ENDPOINTS if ep in targets.get("endpoints", {})]
            + [row for row in fit.rows if any(row in fit_rows(k) for k in FIT_KEYS)]
            + [row for row in fit.rows if row in further],
            "also": list(also),
            "standard_errors": "free coordinates: Gauss-Newton s^2 (J'J)^-1 from the last Jacobian; others: as "
                               "installed" + (f"; kept as installed (singular J'J): {', '.join(kept)}" if kept else ""),
        },
        "params": params,
        **({"drugs": drugs} if drugs else {}),
    }


def write_history(path: Path, fit: DirectFit) -> None:
    """Every trial of the fit (its point, loss and residuals, one block of ``rows`` per seed) and the last Jacobian
    with the point it was taken at: what :mod:`immunotwin.calibrate_tension` reads."""
    doc: dict = {"free": fit.free, "rows": fit.rows, "seeds": fit.seeds, "history": fit.history}
    if fit.jacobian is not None and fit.jacobian_at is not None:
        doc["jacobian"] = [[float(v) for v in row] for row in fit.jacobian]
        doc["jacobian_at"] = [float(v) for v in fit.jacobian_at]
    path.write_text(json.dumps(doc, indent=1))


def report_rows(targets: Mapping, sim: dict) -> list[tuple]:
    """``fit.html``'s rows for one trial's endpoints ``sim``: (endpoint, landmark, arm, published, simulated, band
    half-width), with the rule "not reached by N months" added where a published median lies beyond the follow-up."""
    from .calibrate import simulated_value, target_band

    rows = []
    for ep, lm, arm, pub in target_rows(targets):
        row: tuple = (ep, lm, arm, pub, simulated_value(sim, ep, lm, arm), target_band(ep, pub))
        if ep == "median_os_months" and pub > sim["os_km"][arm][2]:
            row += (f"not reached by {sim['os_km'][arm][2]:.0f} months",)
        rows.append(row)
    return rows


def run_direct(spec: TrialSpec, targets_path: Path, out: Path, *, free: Sequence[str], patients: int = 500,
               seeds: Sequence[int] = (DIRECT_SEED,), iterations: int = 6, install: bool = False,
               check_seeds: Sequence[int] = CHECK_SEEDS, progress: Callable[[dict], None] | None = None,
               natural_history: bool | str = False, also: Sequence[str] = ()) -> dict:
    """Fit (:func:`direct_fit`), judge it on ``check_seeds`` (:func:`held_out_check`; none if empty) and write
    ``out/calibration.json`` (the check in its provenance), ``out/fit.html`` and ``out/direct_history.json`` (every
    trial evaluated); ``install`` copies calibration.json into the package data."""
    from .engine import current
    from .report.fit_report import write_fit_report

    targets = json.loads(targets_path.read_text())
    coordinates(free)  # bad names fail before anything is simulated or written
    model_coordinates(free)
    drug_coordinates(free)
    further_rows(also)
    out.mkdir(parents=True, exist_ok=True)
    fit = direct_fit(spec, targets, free=free, patients=patients, seeds=seeds, iterations=iterations,
                     progress=progress, natural_history=natural_history, also=also)
    doc = calibration_document(fit, spec=spec, targets=targets, targets_path=str(targets_path), patients=patients,
                               seeds=seeds, engine=current(), also=also)
    if check_seeds:
        doc["provenance"]["held_out"] = held_out_check(spec, targets, start=installed_phi(), fitted=fit.phi,
                                                       patients=patients, seeds=check_seeds, fitted_model=fit.model,
                                                       natural_history=natural_history, fitted_drugs=fit.drugs,
                                                       also=also)
    from .calibrate_also import report_rows as further_report_rows

    rows = report_rows(targets, fit.sim or {}) + further_report_rows(also, (fit.sim or {}).get("further", {}))
    (out / "calibration.json").write_text(json.dumps(doc, indent=1))
    write_history(out / "direct_history.json", fit)
    write_fit_report(out / "fit.html", rows=rows, history=[h["loss"] for h in fit.history],
                     fitted={**{k: v for k, v in doc["params"].items() if k in FITTED or k in fit.model},
                             **{f"{d}.{k}": v for d, fs in doc.get("drugs", {}).items() for k, v in fs.items()}},
                     provenance=doc["provenance"], ess=float("nan"), n=patients, direct=True)
    if install:
        from importlib import resources

        dest = Path(str(resources.files("immunotwin.data"))) / "calibration.json"
        dest.write_text((out / "calibration.json").read_text())
    return doc
