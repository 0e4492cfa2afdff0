"""Calibration of population parameters to a published trial table, by reweighting.

Method (chosen because a whole virtual trial per objective evaluation is minutes on two
cores, and an optimiser needs thousands of evaluations):

1. A *plausible* virtual population is simulated once, in a twin design (every patient
   receives every arm: common random numbers across arms), with the variability of the
   fitted parameters widened (log-normal proposal, SD = ``PROPOSAL_SD``).
2. The population parameters phi = (mean shift mu_k, SD s_k) of each fitted parameter's
   log-normal distribution define importance weights
   w_i = prod_k N(x_ik; mu_k, s_k) / q(x_i), q(x_i) = prod_k N(x_ik; 0, sd_k), x_ik the patient's log-scale random
   effect: the plausible population, reweighted, represents the population phi (virtual
   population reweighting in the spirit of Allen, Rieger & Musante, CPT:PSP 2016;5:140, and
   Schmidt et al., BMC Bioinformatics 2013 — weights rather than acceptance). Populations of earlier
   passes, simulated around earlier defaults with other seeds, can be pooled in (``--pool``): q is then
   the mixture of their proposals (multiple importance sampling, :func:`pool`), so every simulated patient
   keeps counting and the fit's sampling noise, which the optimiser otherwise learns (a fit can read 13.8
   months where a fresh trial at its parameters reads 19.3), shrinks.
3. Weighted endpoints (ORR, CR, grade >= 3 irAE, discontinuation, Kaplan–Meier medians and
   landmark rates, Cox hazard ratios with Efron ties; :mod:`.weighted`) are compared with the targets; the
   loss is the sum of squared errors scaled by the acceptance bands of issue 4, plus a
   penalty keeping the effective sample size above ``MIN_ESS_FRACTION`` of N (all pooled patients).
4. CMA-ES (``cma``; Hansen 2016, arXiv:1604.00772) minimises the loss. The objective is
   deterministic given the plausible population (common random numbers), so it is not noise.
5. Parameter uncertainty: the fit is repeated on bootstrap resamples of the plausible patients.

The fitted defaults are default * exp(mu_k) with IIV s_k, written to ``calibration.json``
with their provenance; installed into the package data they become the shipped defaults.
Treatment-related adverse events in published tables include events outside the modelled organs: non-immune
ones (fatigue, infusion reactions, laboratory abnormalities), which the clinic draws at a constant hazard per month
of checkpoint-antibody exposure (``nonimmune_trae_rate``), and immune-related ones (lipase and amylase rises,
fatigue, pyrexia), drawn at a hazard proportional to the patient's autoreactive activity (``systemic_irae_rate``;
both :mod:`.model.pk`, clinic/run.py). The grade >= 3 TRAE targets are compared with irAEs, neutropenia and these
events together. The two rates enter only those targets, so they are profiled out at each phi
(``profile_event_rates``) and installed with the fitted parameters. (Until 2026-11-29 the irAE rate absorbed the difference, which
put 14-17% of nivolumab patients at grade >= 3 irAEs where select immune-related grade >= 3 events
are 4%: Weber 2017.)
"""

from __future__ import annotations

import dataclasses
import functools
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import weighted
from .engine import STEP_DAYS
from .model.core import PARAM_INDEX
from .readouts import CHECKMATE067_RESPONSE_CUTOFF_MONTHS, irae_column, response_by
from .spec import TrialSpec
from .units import DAYS_PER_MONTH

FITTED: tuple[str, ...] = (
    "immunogenicity", "net_growth_rate", "resistant_fraction", "resistant_kill", "ctla4_breadth", "lethal_burden",
    "autoimmune_propensity", "ctla4_dependence", "pd_dependence", "expansion_rate", "residual_clearance_time",
)
NONIMMUNE = "nonimmune_trae_rate"
NONIMMUNE_DEFAULT = float(PARAM_INDEX[NONIMMUNE].value)
SYSTEMIC = "systemic_irae_rate"
SYSTEMIC_DEFAULT = float(PARAM_INDEX[SYSTEMIC].value)
EVENT_RATES = (NONIMMUNE, SYSTEMIC)
RATE_BOUNDS = ((1e-4, 1.0), (1e-4, 5.0))  # per month (of exposure; of one activated organ): the profile's search box
PROPOSAL_MIN_SD = 0.4
PROPOSAL_FACTOR = 1.25  # see expected_ess_fraction: 1.6 made the ESS floor unreachable at the centre
MIN_ESS_FRACTION = 0.25
SCALE = {"orr": 0.04, "cr_rate": 0.04, "grade3plus_trae": 0.04, "discontinued_for_trae": 0.04,
         "os_rate": 0.06, "hr_pfs": 0.1}  # issue 4 bands; median PFS: see median_residual; subgroups: below
#: The clinic's step in months (clinic/run.STEP, 7 days): scans and deaths are dated to the week, so a simulated
#: median is read to the week (median_residual).
CLINIC_STEP_MONTHS = STEP_DAYS / DAYS_PER_MONTH
#: Survival-scale unit of the median-PFS residual (assumed): for a PFS curve falling 0.02-0.03 per month
#: near its median (the simulated combination arm's, between 9 and 15 months), 0.04 is about the issue's
#: +-20% of an 11.5-month median.
MEDIAN_SCALE = 0.04
#: Tumour PD-L1 cut-off of CheckMate 067's subgroups (Larkin et al., N Engl J Med 2015;373:23: >= 5% of tumour cells).
PDL1_SUBGROUP_CUT = 0.05
#: ORR by tumour PD-L1 (CheckMate 067's >= 5% and < 5% subgroups): the only targets that say how much
#: response depends on the patient's immunogenicity, to which PD-L1 is tied (population.pdl1_tps). Residual unit:
#: the binomial SE at the subgroup sizes of the nivolumab arm (80 and 208 patients with a PD-L1 result).
SUBGROUP_SCALE = {"orr_pdl1_ge5": 0.055, "orr_pdl1_lt5": 0.034}
#: Months from the start of treatment to a complete response among the patients with one over the whole follow-up
#: (the targets' median and upper quartile: pooled CheckMate 066/067/069, read on the nivolumab-containing arms). The
#: only targets that say when responses complete, which the residue's clearance time and its spread decide. Residual
#: unit: a quarter of the published value (the ±25% band validate gives medians of a few hundred patients).
RELATIVE_SCALE = {"months_to_cr_median": 0.25, "months_to_cr_q3": 0.25}
#: Residual unit of every endpoint read as a rate (the loss reads it thousands of times: built once).
RESIDUAL_SCALE = {**SCALE, **SUBGROUP_SCALE}
FIT_ENDPOINTS = ("orr", "cr_rate", "median_pfs_months", "grade3plus_trae", "discontinued_for_trae", "os_rate",
                 "median_os_months", "hr_pfs", *SUBGROUP_SCALE, *RELATIVE_SCALE)


def proposal_sd(name: str) -> float:
    return max(PROPOSAL_FACTOR * PARAM_INDEX[name].iiv, PROPOSAL_MIN_SD)


def expected_ess_fraction(ratios: np.ndarray) -> float:
    """Expected effective sample size, as a fraction of N, of a log-normal population of SDs
    ``s`` represented by proposals of SDs ``ratios * s`` with the same means.

    Per dimension E_q[w^2] = r^2 / sqrt(2 r^2 - 1) (the Gaussian integral of p^2/q), so
    ESS/N = prod sqrt(2 r^2 - 1) / r^2. With 11 fitted parameters a proposal 1.6 times wider
    leaves 8% (about 120 of 1,536 patients) at the centre, below the ESS floor: the fit could
    then meet the floor only by widening every variability towards the proposal, and each
    calibration pass centred on the last one widened them further. At 1.25 the centre keeps 47%.
    """
    r = np.asarray(ratios, float)
    if np.any(r <= np.sqrt(0.5)):
        return 0.0  # a proposal narrower than 1/sqrt(2) of the target: E[w^2] is infinite
    return float(np.prod(np.sqrt(2.0 * r**2 - 1.0) / r**2))


@dataclass(frozen=True)
class Plausible:
    """A plausible population: per-arm outcome arrays aligned by patient, and random effects.

    The effects are log-scale, relative to the current defaults. The patients were drawn from a mixture
    of log-normal proposals (one component per pooled population, :func:`pool`): component j has centre
    ``centres[j]`` (log of its simulation-time defaults over the current ones), SDs ``sds[j]`` and holds a
    share ``shares[j]`` of the patients. A single population is one component centred at 0 with SDs ``sd``."""

    arms: tuple[str, ...]
    outcomes: Mapping[str, pd.DataFrame]  # arm -> patients (sorted by patient index)
    effects: np.ndarray  # (N, K) log-scale random effects of the parameters ``names``
    sd: np.ndarray  # (K,) proposal SDs (the widest component's, for pooled populations)
    names: tuple[str, ...] = FITTED
    centres: np.ndarray | None = None  # (J, K); None: one component at 0 with SDs ``sd``
    sds: np.ndarray | None = None  # (J, K)
    shares: np.ndarray | None = None  # (J,)
    latent: np.ndarray | None = None  # (N,) each patient's PD-L1 copula variable (see pdl1_latent)

    @property
    def n(self) -> int:
        return self.effects.shape[0]

    @functools.cached_property
    def log_proposal(self) -> np.ndarray:
        """Log density of each patient's effects under the proposal (up to a constant shared by all).

        For pooled populations this is the mixture density (the balance heuristic of multiple importance
        sampling: Veach & Guibas, SIGGRAPH 1995; Owen & Zhou, JASA 2000;95:135): every patient is weighed
        against the whole mixture, not only the component it came from, which keeps weights bounded where
        the components overlap."""
        if self.centres is None or self.sds is None or self.shares is None:
            return self.log_density(np.zeros(len(self.names)), self.sd)
        comp = np.stack([np.log(w) + self.log_density(c, s)
                         for c, s, w in zip(self.centres, self.sds, self.shares, strict=True)])
        top = comp.max(axis=0)
        return top + np.log(np.sum(np.exp(comp - top), axis=0))

    def log_density(self, mu: np.ndarray, s: np.ndarray) -> np.ndarray:
        """Log density (up to a shared constant) of each patient's effects, and of the PD-L1 copula variable
        given the immunogenicity effect, under log-normal population means ``mu`` and SDs ``s``.

        PD-L1 is drawn rank-correlated with the patient's standard-normal immunogenicity draw
        (:func:`immunotwin.population.pdl1_tps`), not with the effect. A population simulated with a wider or
        shifted immunogenicity therefore ties a given effect to other PD-L1 scores than the population it is
        reweighted to; the conditional density of the copula variable w given the effect x,
        N(w; rho (x - mu) / s, 1 - rho^2), puts that right (without it a pooled fit read nivolumab's 60-month
        OS 5 points above what fresh trials at its parameters gave)."""
        x = self.effects
        out = np.sum(-0.5 * ((x - mu) / s) ** 2 - np.log(s), axis=1)
        if self.latent is not None and "immunogenicity" in self.names:
            from .population import PDL1_IMMUNE_CORRELATION as rho

            j = self.names.index("immunogenicity")
            out = out - 0.5 * (self.latent - rho * (x[:, j] - mu[j]) / s[j]) ** 2 / (1.0 - rho**2)
        return out

    def take(self, idx: np.ndarray) -> Plausible:
        return dataclasses.replace(self, outcomes={a: df.iloc[idx].reset_index(drop=True)
                                                   for a, df in self.outcomes.items()}, effects=self.effects[idx],
                                   latent=None if self.latent is None else self.latent[idx])

    def select(self, names: tuple[str, ...]) -> Plausible:
        """Reweight only along ``names`` (the others keep their plausible distribution: the mixture's
        marginal over ``names`` is the mixture of the components' marginals)."""
        j = [self.names.index(k) for k in names]
        return dataclasses.replace(
            self, effects=self.effects[:, j], sd=self.sd[j], names=tuple(names),
            centres=None if self.centres is None else self.centres[:, j],
            sds=None if self.sds is None else self.sds[:, j])


def load_plausible(folder: Path, arms: tuple[str, ...]) -> tuple[dict[str, pd.DataFrame], dict]:
    """The cached plausible population in ``folder`` (outcomes per arm) and its recorded centre."""
    centre = folder / CENTRE_FILE
    if not centre.exists():
        raise ValueError(f"{folder}: no {CENTRE_FILE}; the defaults it was simulated around are unknown")
    try:
        rec = json.loads(centre.read_text())
        rec["params"] = {k: {"default": float(rec["params"][k]["default"]),
                             "proposal_sd": float(rec["params"][k]["proposal_sd"])} for k in FITTED}
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{centre}: not a readable centre record ({e!r})") from None
    outcomes = {}
    for a, arm in enumerate(arms):
        files = sorted(folder.glob(f"plausible_arm{a:02d}_*.parquet"))
        if not files:
            raise ValueError(f"{folder}: no cached patients of arm {a} ({arm})")
        df = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
        # Runs of different --patients leave overlapping chunks: the same patient (same seed and centre) twice.
        outcomes[arm] = df.drop_duplicates("patient").sort_values("patient").reset_index(drop=True)
    ids = [df["patient"].to_numpy() for df in outcomes.values()]
    if any(len(i) != len(ids[0]) or np.any(i != ids[0]) for i in ids):
        raise ValueError(f"{folder}: the arms hold different patients ({[len(i) for i in ids]} per arm)")
    return outcomes, rec


def pool(populations: list[tuple[Mapping[str, pd.DataFrame], Mapping]]) -> Plausible:
    """Pool plausible populations simulated around different defaults, each given as (outcomes per arm,
    centre record of :func:`centre_now`), into one :class:`Plausible` relative to the current defaults.

    Each population must use its own random numbers (another spec seed): patients sharing their draws
    would count twice."""
    now = centre_now()
    vector = [k for k in FITTED if np.ndim(PARAM_INDEX[k].value)]
    if vector:  # centres are one log-shift per parameter and re_<name> columns are scalar
        raise ValueError(f"pooling supports scalar fitted parameters only; vector: {', '.join(vector)}")
    seeds = [rec.get("seed") for _, rec in populations]
    if len({x for x in seeds if x is not None}) < sum(x is not None for x in seeds):
        raise ValueError(f"pooled populations share a seed ({seeds}): their patients would count twice")
    arms = tuple(populations[0][0])
    outcomes: dict[str, list[pd.DataFrame]] = {a: [] for a in arms}
    effects, centres, sds, sizes, latents = [], [], [], [], []
    for out, rec in populations:
        if tuple(out) != arms:
            raise ValueError(f"pooled populations have different arms: {tuple(out)} against {arms}")
        par = rec["params"]
        c = np.array([np.log(par[k]["default"] / now[k]["default"]) for k in FITTED])
        first = out[arms[0]]
        re = np.stack([first[f"re_{k}"].to_numpy(float) for k in FITTED], axis=1)
        effects.append(re + c)
        centres.append(c)
        sds.append(np.array([par[k]["proposal_sd"] for k in FITTED]))
        j = FITTED.index("immunogenicity")
        latents.append(None if rec.get("seed") is None or rec.get("pdl1_from_spec") else
                       pdl1_latent(int(rec["seed"]), first["patient"].to_numpy(), re[:, j], sds[-1][j]))
        sizes.append(len(first))
        for a in arms:
            outcomes[a].append(out[a])
    shares = np.asarray(sizes, float) / sum(sizes)
    sds_arr = np.asarray(sds)
    latent = None if any(x is None for x in latents) else np.concatenate(latents)
    return Plausible(arms, {a: pd.concat(f, ignore_index=True) for a, f in outcomes.items()},
                     np.concatenate(effects), sds_arr.max(axis=0), FITTED, np.asarray(centres), sds_arr, shares,
                     latent)


def simulate_plausible(spec: TrialSpec, n: int, out: Path | None = None, chunk_size: int = 512,
                       progress: Callable[[int, int], None] | None = None) -> Plausible:
    """Simulate ``n`` plausible patients through every arm of ``spec`` (twin design)."""
    from .trial import ChunkId, simulate_chunk

    twin = dataclasses.replace(spec, design="twin")
    scale = {k: proposal_sd(k) / PARAM_INDEX[k].iiv for k in FITTED}
    frames: dict[str, list[pd.DataFrame]] = {a.name: [] for a in spec.arms}
    centre = out / CENTRE_FILE if out is not None else None
    if out is not None and centre is not None:
        if not any(out.glob("plausible_*.parquet")):  # a new population: record its centre
            out.mkdir(parents=True, exist_ok=True)
            write_centre(centre, twin)
        elif not centre.exists():
            raise ValueError(f"{out} holds a cached plausible population without {CENTRE_FILE}: the defaults it was "
                             "simulated around are unknown; use a new --out")
        else:
            seed = json.loads(centre.read_text()).get("seed")
            if seed is not None and seed != spec.seed:
                raise ValueError(f"{out} holds a plausible population of seed {seed}, not {spec.seed}; use a new --out")
    done = 0
    for a in range(len(spec.arms)):
        for s in range(0, n, chunk_size):
            c = ChunkId(a, s, min(s + chunk_size, n))
            cache = out / f"plausible_{c.name}.parquet" if out else None
            if cache is not None and cache.exists():
                rows = pd.read_parquet(cache)
            else:
                rows, _ = simulate_chunk(twin, c, visits=False, iiv_scale=scale)
                if cache is not None:
                    tmp = cache.with_name(cache.name + ".tmp")
                    rows.to_parquet(tmp, index=False)
                    tmp.replace(cache)
            frames[spec.arms[a].name].append(rows)
            done += c.stop - c.start
            if progress:
                progress(done, n * len(spec.arms))
    outcomes = {a: pd.concat(f, ignore_index=True).sort_values("patient").reset_index(drop=True)
                for a, f in frames.items()}
    # A cached population is read relative to the defaults it was simulated around, which may since have changed.
    rec = load_plausible(out, tuple(frames))[1] if centre is not None else centre_record(twin)  # type: ignore[arg-type]
    return pool([(outcomes, rec)])


def pdl1_latent(seed: int, patients: np.ndarray, effect: np.ndarray, sd: float) -> np.ndarray:
    """Each plausible patient's PD-L1 copula variable w = rho z + sqrt(1 - rho^2) Phi^-1(u), regenerated from
    the patient's random-number stream (the twin design's arm key 0; :func:`immunotwin.population.pdl1_tps`).
    ``effect`` and ``sd`` (the population's immunogenicity effects and proposal SD) check the regeneration:
    the stream's immunogenicity draw times ``sd`` must give the recorded effect."""
    from scipy.special import ndtri

    from .population import _IIV_COLUMN, N_NORMAL, N_UNIFORM, PDL1_IMMUNE_CORRELATION, patient_streams

    z, u = np.empty(len(patients)), np.empty(len(patients))
    for i, g in enumerate(patient_streams(seed, 0, patients)):
        z[i] = g.standard_normal(N_NORMAL)[_IIV_COLUMN["immunogenicity"]]
        u[i] = g.random(N_UNIFORM)[5]
    if not np.allclose(z * sd, effect, rtol=1e-6, atol=1e-9):
        raise ValueError(f"plausible population of seed {seed}: the regenerated immunogenicity draws do not match "
                         "the recorded effects (another seed or sampler version)")
    rho = PDL1_IMMUNE_CORRELATION
    return rho * z + np.sqrt(1.0 - rho**2) * ndtri(np.clip(u, 1e-12, 1.0 - 1e-12))


CENTRE_FILE = "plausible_centre.json"


def centre_now() -> dict[str, dict[str, float]]:
    """The defaults (mean over a vector parameter's elements) and proposal SDs a plausible population is
    simulated around now: what pooling it with populations simulated around other defaults needs."""
    return {k: {"default": float(np.mean(PARAM_INDEX[k].value)), "proposal_sd": proposal_sd(k)} for k in FITTED}


def centre_record(spec: TrialSpec) -> dict:
    """What a plausible population simulated now from ``spec`` is drawn around (``plausible_centre.json``)."""
    return {"spec_sha256": spec.sha256, "seed": spec.seed, "params": centre_now(),
            "pdl1_from_spec": "pdl1_tps" in spec.population.overrides}


def write_centre(path: Path, spec: TrialSpec) -> None:
    if not path.exists():
        path.write_text(json.dumps(centre_record(spec), indent=1))


def unpack(phi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    k = len(phi) // 2
    return phi[:k], np.exp(phi[k:])


def log_weights(phi: np.ndarray, pl: Plausible) -> np.ndarray:
    mu, s = unpack(phi)
    return pl.log_density(mu, s) - pl.log_proposal


def weights(phi: np.ndarray, pl: Plausible) -> np.ndarray:
    lw = log_weights(phi, pl)
    w = np.exp(lw - lw.max())
    return w / w.sum()


def _trae_parts(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(grade >= 3 irAE or neutropenia, checkpoint exposure in months, autoreactive activity in organ-months over
    that exposure) of each patient."""
    cols = ("any_irae_grade_reported", "neutropenia_grade", "checkpoint_exposure_months", "autoreactive_activity_months")
    lacking = [c for c in cols if c not in df]
    if lacking:  # e.g. a plausible population cached before these events were modelled: simulate it again
        raise ValueError(f"patient table lacks {', '.join(lacking)}; delete the cached plausible_*.parquet files")
    # irAEs within the reporting window, as CheckMate 067's tables count them (stop 52)
    immune = np.maximum(df["any_irae_grade_reported"].to_numpy(), df["neutropenia_grade"].to_numpy()) >= 3
    return immune, df["checkpoint_exposure_months"].to_numpy(float), df["autoreactive_activity_months"].to_numpy(float)


def _trae_share(immune: np.ndarray, exposure: np.ndarray, activity: np.ndarray, w: np.ndarray,
                rates: tuple[float, float]) -> float:
    p = 1.0 - (1.0 - immune) * np.exp(-rates[0] * exposure - rates[1] * activity)
    return float(np.sum(w * p) / np.sum(w))


def trae_grade3plus(df: pd.DataFrame, w: np.ndarray, rates: tuple[float, float]) -> float:
    """Weighted share with a grade >= 3 treatment-related adverse event: an irAE or neutropenia of
    grade >= 3 as simulated, or an event outside the modelled organs at ``rates`` (non-immune, per month of
    checkpoint exposure; immune-related, per organ-month of autoreactive activity): the probability the clinic
    draws it with (clinic/run.py, ``other_trae``), as an expectation over that draw, so the loss is smooth in
    the rates."""
    return _trae_share(*_trae_parts(df), w, rates)


def default_rates() -> tuple[float, float]:
    return NONIMMUNE_DEFAULT, SYSTEMIC_DEFAULT


def profile_event_rates(pl: Plausible, w: np.ndarray, rows: list[tuple[str, str, str, float]],
                        offsets: np.ndarray | None = None) -> tuple[float, float]:
    """The non-immune and immune-related event rates that best fit the grade >= 3 TRAE targets at these
    weights. They enter only those targets, so they are profiled out of the loss rather than searched by
    CMA-ES: a bounded minimisation on their logarithms (``RATE_BOUNDS``; L-BFGS-B from the defaults)."""
    from scipy.optimize import minimize

    off = np.zeros(len(rows)) if offsets is None else np.nan_to_num(np.asarray(offsets)[:, 0])
    trae = [(_trae_parts(pl.outcomes[arm]), pub - o) for (ep, _, arm, pub), o in zip(rows, off, strict=True)
            if ep == "grade3plus_trae" and arm in pl.outcomes]  # read once, not at every step of the search
    if not trae:
        return default_rates()

    def sse(x: np.ndarray) -> float:
        rates = (float(np.exp(x[0])), float(np.exp(x[1])))
        return sum(((_trae_share(*parts, w, rates) - pub) / SCALE["grade3plus_trae"]) ** 2 for parts, pub in trae)

    bounds = [(np.log(lo), np.log(hi)) for lo, hi in RATE_BOUNDS]
    x0 = [float(np.clip(np.log(max(r, 1e-12)), lo, hi)) for r, (lo, hi) in zip(default_rates(), bounds, strict=True)]
    res = minimize(sse, x0, method="L-BFGS-B", bounds=bounds)
    return float(np.exp(res.x[0])), float(np.exp(res.x[1]))


def pdl1_subgroup_orr(tps: np.ndarray, resp: np.ndarray, w: np.ndarray | None = None) -> dict[str, float]:
    """ORR within CheckMate 067's tumour PD-L1 subgroups (>= and < ``PDL1_SUBGROUP_CUT``), weighted by ``w``
    (unit weights by default); NaN for an empty subgroup."""
    w = np.ones(len(resp)) if w is None else w
    pos = tps >= PDL1_SUBGROUP_CUT
    return {k: weighted.proportion(resp[m], w[m]) if m.any() else np.nan
            for k, m in (("orr_pdl1_ge5", pos), ("orr_pdl1_lt5", ~pos))}


def endpoints(pl: Plausible, w: np.ndarray, control: str | None = None,
              rates: tuple[float, float] | None = None) -> dict[str, dict[str, float]]:
    """Weighted trial endpoints, keyed like the targets file (endpoint -> arm -> value); grade >= 3
    TRAEs at the event ``rates`` (non-immune, immune-related; default: the parameters' current defaults)."""
    rate = default_rates() if rates is None else rates
    out: dict[str, dict[str, float]] = {k: {} for k in ("orr", *SUBGROUP_SCALE, *RELATIVE_SCALE, "cr_rate", "dcr",
                                                         "median_pfs_months",
                                                         "median_os_months", "grade3plus_trae", "grade3plus_irae",
                                                         "discontinued_for_trae", "hr_pfs", "hr_os")}
    os_rate: dict[str, dict[str, float]] = {"12": {}, "24": {}, "36": {}, "60": {}}
    pfs_km: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    os_km: dict[str, tuple[np.ndarray, np.ndarray, float]] = {}  # curve and the last follow-up time
    for arm, df in pl.outcomes.items():
        bor = df["bor"].to_numpy()
        resp, cr = response_by(df, CHECKMATE067_RESPONSE_CUTOFF_MONTHS)
        out["orr"][arm] = weighted.proportion(resp, w)
        for k, v in pdl1_subgroup_orr(df["pdl1_tps"].to_numpy(float), resp, w).items():
            out[k][arm] = v
        out["cr_rate"][arm] = weighted.proportion(cr, w)
        out["dcr"][arm] = weighted.proportion(np.isin(bor, ("CR", "PR", "SD")), w)
        ever_cr = bor.astype(str) == "CR"  # best response over the whole follow-up, as the pooled figures count it
        t_cr = df["cr_onset_months"].to_numpy(float)[ever_cr]
        out["months_to_cr_median"][arm] = weighted.quantile(t_cr, w[ever_cr], 0.5)
        out["months_to_cr_q3"][arm] = weighted.quantile(t_cr, w[ever_cr], 0.75)
        out["grade3plus_trae"][arm] = trae_grade3plus(df, w, rate)
        out["grade3plus_irae"][arm] = weighted.proportion(df[irae_column(df)].to_numpy() >= 3, w)
        out["discontinued_for_trae"][arm] = weighted.proportion(df["discontinued"].to_numpy() == "toxicity", w)
        pt, pe = df["pfs_months"].to_numpy(float), df["pfs_event"].to_numpy(bool)
        ot, oe = df["os_months"].to_numpy(float), df["os_event"].to_numpy(bool)
        pfs_km[arm] = weighted.km(pt, pe, w)  # each curve once: the loss reads it thousands of times
        out["median_pfs_months"][arm] = weighted.median_on(pfs_km[arm])
        os_curve = weighted.km(ot, oe, w)
        os_km[arm] = (*os_curve, float(np.nanmax(ot)))
        out["median_os_months"][arm] = weighted.median_on(os_curve)
        for lm in os_rate:
            os_rate[lm][arm] = weighted.rate_on(os_curve, float(lm))
    arms = list(pl.outcomes)
    control = control or arms[-1]
    c = pl.outcomes[control]
    for arm in arms:
        if arm == control:
            continue
        df = pl.outcomes[arm]
        key = f"{arm} vs {control}"
        out["hr_pfs"][key] = weighted.cox_hr(df["pfs_months"].to_numpy(float), df["pfs_event"].to_numpy(bool), w,
                                              c["pfs_months"].to_numpy(float), c["pfs_event"].to_numpy(bool), w)
        out["hr_os"][key] = weighted.cox_hr(df["os_months"].to_numpy(float), df["os_event"].to_numpy(bool), w,
                                             c["os_months"].to_numpy(float), c["os_event"].to_numpy(bool), w)
    return {**out, "os_rate": os_rate, "pfs_km": pfs_km, "os_km": os_km}  # type: ignore[dict-item]


def target_rows(targets: Mapping, fitted: tuple[str, ...] = FIT_ENDPOINTS) -> list[tuple[str, str, str, float]]:
    """(endpoint, landmark or "", arm or comparison, published value) for every fitted target."""
    rows = []
    eps = targets["endpoints"]
    for ep in fitted:
        if ep not in eps:
            continue
        if ep == "os_rate":
            for lm, vals in eps[ep].items():
                rows += [(ep, lm, arm, float(v)) for arm, v in vals.items() if arm not in ("source", "verify")]
        else:
            rows += [(ep, "", arm, float(v)) for arm, v in eps[ep].items() if arm not in ("source", "verify")]
    return rows


def simulated_value(sim: Mapping, ep: str, lm: str, arm: str) -> float:
    return float(sim[ep][lm][arm]) if ep == "os_rate" else float(sim[ep].get(arm, np.nan))


def target_band(ep: str, pub: float) -> float:
    """Half-width of a target's acceptance band in fit.html: the issue's bands (±20% for median PFS, ±25% for median
    OS and the months to CR, ±1.96 SE for the PD-L1 subgroups' ORR, points for rates)."""
    return (0.2 * pub if ep == "median_pfs_months" else 0.25 * pub if ep == "median_os_months"
            else RELATIVE_SCALE[ep] * pub if ep in RELATIVE_SCALE
            else 1.96 * SUBGROUP_SCALE[ep] if ep in SUBGROUP_SCALE else SCALE[ep])


def median_residual(curve: tuple[np.ndarray, np.ndarray], median: float, scale: float = MEDIAN_SCALE,
                    horizon: float = np.inf) -> float:
    """How far a KM curve is from having its median at the published ``median``, on the survival scale.

    A published median m says S(m) <= 0.5 < S(m-). Read at scheduled scans, S falls in steps,
    and the step median jumps a whole assessment interval when the curve is flat near 0.5 (CheckMate
    067's combination arm: 11.0 or 13.8 months; the reweighted fit read 13.8 where a fresh trial read
    19.3). So the residual is the survival-scale excess, max(S(m + w) - 0.5, 0) + min(S(0.9 m-) - 0.5, 0),
    in units of ``MEDIAN_SCALE``: zero when the curve crosses 0.5 within a tenth of m before m (scan
    windows of the real trial blur the left side) or within the clinic's week after it (w, ``CLINIC_STEP_MONTHS``:
    the clinic dates scans and deaths to the week, so a simulated median can be read to the week only; with a
    visit window a quarter of the first scans come a week after their day, and an arm progressing at its first
    scan crosses 0.5 there), and continuous in the weights.

    A median beyond the simulated follow-up (``horizon``; CheckMate 067's combination OS, 72.1 months
    against 60 simulated) says only that S stays above 0.5 to the horizon: min(S(horizon) - 0.5, 0)."""
    return _median_from_readings(*median_readings(curve, median, horizon), scale)


def median_readings(curve: tuple[np.ndarray, np.ndarray], median: float, horizon: float = np.inf) -> tuple[float, float]:
    """(S(m + w), S(0.9 m-)) of a KM curve at a published median m, w the clinic's week (:func:`median_residual`);
    (S(horizon), NaN) for a median beyond the horizon."""
    t, s = curve

    def at(x: float, left: bool) -> float:
        i = np.searchsorted(t, x, side="left" if left else "right")
        return float(s[i - 1]) if i > 0 else 1.0
    if median > horizon:
        return at(horizon, False), np.nan
    return at(min(median + CLINIC_STEP_MONTHS, horizon), False), at(0.9 * median, True)


def _median_from_readings(a: float, b: float, scale: float) -> float:
    return min(a - 0.5, 0.0) / scale if np.isnan(b) else (max(a - 0.5, 0.0) + min(b - 0.5, 0.0)) / scale


def readings(sim: Mapping, rows: list[tuple[str, str, str, float]]) -> np.ndarray:
    """What each target row's residual is computed from, (R, 2): a rate, ratio or landmark value in the first
    column; for a median, the survival-scale readings of :func:`median_residual`, S(m) and S(0.9 m) (S at the
    last follow-up and NaN for a median beyond it). :func:`residuals` turns readings (plus any offsets of the
    fresh-trial correction, :mod:`.calibrate_fresh`) into residuals."""
    out = np.full((len(rows), 2), np.nan)
    for i, (ep, lm, arm, pub) in enumerate(rows):
        if ep == "median_pfs_months":
            out[i] = median_readings(sim["pfs_km"][arm], pub)
        elif ep == "median_os_months":
            t, s, horizon = sim["os_km"][arm]
            out[i] = median_readings((t, s), pub, horizon)
        else:
            out[i, 0] = simulated_value(sim, ep, lm, arm)
    return out


def residuals(sim: Mapping, rows: list[tuple[str, str, str, float]], offsets: np.ndarray | None = None) -> np.ndarray:
    """Scaled residual of each target row; ``offsets`` (R, 2) are added to the :func:`readings` first."""
    x = readings(sim, rows)
    if offsets is not None:
        x = x + np.nan_to_num(offsets)
    r = []
    for (ep, _, _, pub), (a, b) in zip(rows, x, strict=True):
        if ep in ("median_pfs_months", "median_os_months"):  # the OS median on the survival scale, in the OS-rate unit
            r.append(_median_from_readings(a, b, MEDIAN_SCALE if ep == "median_pfs_months" else SCALE["os_rate"]))
            continue
        unit = RELATIVE_SCALE[ep] * pub if ep in RELATIVE_SCALE else RESIDUAL_SCALE[ep]
        r.append((a - pub) / unit if np.isfinite(a) else 5.0)
    return np.asarray(r)


#: Priors on fitted variabilities: name -> (IIV, SD of log IIV), added to the loss as ((log s - log IIV) / SD)^2
#: (a maximum a posteriori fit). The net growth rate's: its declared IIV, 0.6, which spans the melanoma growth
#: scenarios 0.0017-0.0088/day of Lindauer et al., CPT:PSP 2017;6:11 (Table S3), with SD 0.3 (assumed: about a
#: factor 1.35). Without it the fits widened the growth variability to 1.17 (iteration 8): 1.9% of patients
#: doubling within a week and 22% whose untreated disease kills within 91 days, which the fits used to meet the
#: 24-month OS rates with early deaths (ipilimumab's 3-month OS about 0.78). Tried on the pooled population
#: (docs/credibility.md): 0.75, 3-month OS 0.87-0.89, 0.08% doubling within a week.
PRIORS: dict[str, tuple[float, float]] = {"net_growth_rate": (0.6, 0.3)}


def prior_penalty(phi: np.ndarray, names: tuple[str, ...], priors: Mapping[str, tuple[float, float]]) -> float:
    _, s = unpack(phi)
    return float(sum(((np.log(s[names.index(k)]) - np.log(iiv)) / sd) ** 2
                     for k, (iiv, sd) in priors.items() if k in names))


def loss(phi: np.ndarray, pl: Plausible, rows: list, control: str | None, profile: bool = True,
         priors: Mapping[str, tuple[float, float]] | None = None, offsets: np.ndarray | None = None) -> float:
    """Sum of squared residuals, the ESS penalty and the priors; ``offsets``: see :func:`residuals`."""
    w = weights(phi, pl)
    rate = profile_event_rates(pl, w, rows, offsets) if profile else None
    r = residuals(endpoints(pl, w, control, rate), rows, offsets)
    e = weighted.ess(w)
    pen = max(0.0, MIN_ESS_FRACTION * pl.n / e - 1.0)
    return float(np.sum(r**2) + 50.0 * pen**2 + prior_penalty(phi, pl.names, priors or {}))


@dataclass
class Fit:
    phi: np.ndarray
    loss: float
    history: list[float]
    evaluations: int
    seconds: float


def held_spreads(cal: Mapping | None = None) -> dict[str, float]:
    """Spreads held at a value set by hand rather than fitted: the fitted parameters whose entry in the calibration
    (default: the installed one) carries an ``iiv_note`` saying against which published figures the spread was set,
    or was written held (``iiv_held``). Those figures are then fitted, not validation
    (:func:`immunotwin.validate.spread_set_by_hand`)."""
    if cal is None:
        from .validate import installed_calibration

        cal = installed_calibration()
    return {k: float(v["iiv"]) for k, v in cal.get("params", {}).items()
            if k in FITTED and (v.get("iiv_note") or v.get("iiv_held"))}


def _fixed_variables(names: tuple[str, ...], hold: Mapping[str, float] | None) -> dict[int, float]:
    """The held spreads as coordinates of phi (their log-SDs, in its second half) and values."""
    if not hold:
        return {}
    unknown = sorted(set(hold) - set(names))
    if unknown:
        raise ValueError(f"held spreads of parameters that are not fitted: {', '.join(unknown)}")
    return {len(names) + names.index(k): float(np.log(v)) for k, v in hold.items()}


def fit(pl: Plausible, targets: Mapping, *, control: str | None = None, seed: int = 1, max_evals: int = 3000,
        x0: np.ndarray | None = None, sigma0: float = 0.3, fix_sd: np.ndarray | None = None,
        profile_events: bool = True, priors: Mapping[str, tuple[float, float]] | None = None,
        offsets: np.ndarray | None = None, hold: Mapping[str, float] | None = None) -> Fit:
    """Minimise the calibration loss over phi with CMA-ES (means only when ``fix_sd`` is given); the
    adverse-event rates outside the modelled organs are profiled out at each phi unless ``profile_events`` is
    False (then they stay at their defaults). ``priors``: on variabilities (see ``PRIORS``; none by default here).
    ``offsets``: added to the target readings (:func:`residuals`; the fresh-trial correction). ``hold``: spreads
    kept at the given SDs, not fitted (:func:`held_spreads`)."""
    import cma

    rows = target_rows(targets)
    k = len(pl.names)
    lower = [-1.5 * pl.sd]
    upper = [1.5 * pl.sd]
    if fix_sd is None:  # means and log-SDs
        start = np.concatenate([np.zeros(k), np.log(0.7 * pl.sd)]) if x0 is None else np.array(x0, float)
        lower.append(np.log(np.full(k, 0.05)))
        upper.append(np.log(0.95 * pl.sd))
        lo, hi = np.concatenate(lower), np.concatenate(upper)
        fixed = _fixed_variables(pl.names, hold)
        for i, v in fixed.items():
            if not lo[i] <= v <= hi[i]:
                raise ValueError(f"held spread of {pl.names[i - k]} ({np.exp(v):.3g}) is outside the search box "
                                 f"[0.05, {0.95 * pl.sd[i - k]:.3g}] of this plausible population")
            start[i] = v
        # CMA-ES searches the free coordinates only; the held ones are put back in (cma's own fixed_variables
        # option is deprecated in cma 4)
        free = np.array([i for i in range(2 * k) if i not in fixed], int)
        template = start.copy()

        def full(x: np.ndarray) -> np.ndarray:
            out = template.copy()
            out[free] = x
            return out

        start, lower, upper = start[free], [lo[free]], [hi[free]]
    else:  # means only
        start = np.zeros(k) if x0 is None else x0[:k]
        logsd = np.log(fix_sd)
        full = lambda x: np.concatenate([np.asarray(x), logsd])  # noqa: E731
    es = cma.CMAEvolutionStrategy(start, sigma0, {"seed": seed, "maxfevals": max_evals, "verbose": -9,
                                                  "bounds": [np.concatenate(lower).tolist(),
                                                             np.concatenate(upper).tolist()]})
    hist: list[float] = []
    t0 = time.time()
    while not es.stop():
        xs = es.ask()
        fs = [loss(full(x), pl, rows, control, profile_events, priors, offsets) for x in xs]
        es.tell(xs, fs)
        hist.append(float(min(fs)))
    return Fit(full(es.result.xbest), float(es.result.fbest), hist, int(es.result.evaluations), time.time() - t0)


def bootstrap(pl: Plausible, targets: Mapping, best: np.ndarray, *, control: str | None, reps: int = 8,
              seed: int = 2, max_evals: int = 800, priors: Mapping[str, tuple[float, float]] | None = None,
              offsets: np.ndarray | None = None, hold: Mapping[str, float] | None = None) -> np.ndarray:
    """Refit on bootstrap resamples of the plausible patients, started from ``best`` (with the same ``offsets``)."""
    rng = np.random.default_rng(seed)
    out = []
    rows = target_rows(targets)
    for b in range(reps):
        idx = rng.integers(0, pl.n, pl.n)
        sub = pl.take(idx)
        f = fit(sub, targets, control=control, seed=seed + b, max_evals=max_evals, x0=best, sigma0=0.1,
                priors=priors, offsets=offsets, hold=hold)
        out.append(np.append(f.phi, profile_event_rates(sub, weights(f.phi, sub), rows, offsets)))
    return np.asarray(out)  # (reps, 2K + 2): means, log-SDs, the two event rates (EVENT_RATES)


def calibrated_params(phi: np.ndarray, names: tuple[str, ...] = FITTED) -> dict[str, dict[str, object]]:
    """Fitted defaults and IIVs: default * exp(mu), IIV s."""
    mu, s = unpack(phi)
    out = {}
    for k, name in enumerate(names):
        prm = PARAM_INDEX[name]
        val = prm.value * np.exp(mu[k])
        out[name] = {"default": val.tolist(), "iiv": float(s[k]), "log_shift": float(mu[k])}
    return out


def write_calibration(path: Path, phi: np.ndarray, boot: np.ndarray | None, *, spec: TrialSpec, targets_path: str,
                      targets: Mapping, n: int, seed: int, result: Fit, rates: tuple[float, float],
                      extra: Mapping | None = None, hold: Mapping[str, float] | None = None,
                      notes: Mapping[str, str] | None = None) -> dict:
    """``hold``: the spreads held (not fitted) and ``notes`` their ``iiv_note`` (why and against what they were set):
    their bootstrap SE is not written, as the bootstrap did not vary them."""
    params = calibrated_params(phi)
    # log_shift relative to the installed default, as for the fitted parameters (calibrated_params)
    for name, rate, before in zip(EVENT_RATES, rates, default_rates(), strict=True):
        params[name] = {"default": rate, "iiv": 0.0, "log_shift": float(np.log(rate / before)), "profiled": True}
    if boot is not None and len(boot):
        for k, name in enumerate(FITTED):
            mus, sds = boot[:, k], np.exp(boot[:, len(FITTED) + k])
            params[name]["log_shift_se"] = float(np.std(mus, ddof=1)) if len(boot) > 1 else None
            params[name]["iiv_se"] = float(np.std(sds, ddof=1)) if len(boot) > 1 and name not in (hold or {}) \
                else None
        for j, name in enumerate(EVENT_RATES):
            params[name]["log_shift_se"] = float(np.std(np.log(boot[:, 2 * len(FITTED) + j]), ddof=1)) \
                if len(boot) > 1 else None
    for name in hold or {}:
        params[name]["iiv_held"] = True
        if (notes or {}).get(name):
            params[name]["iiv_note"] = notes[name]  # type: ignore[index]
    doc = {
        "provenance": {
            "label": f"calibrated to {targets.get('trial', 'targets')} ({time.strftime('%Y-%m-%d')})",
            "targets": targets_path, "trial": targets.get("trial"), "spec": spec.name, "spec_sha256": spec.sha256,
            "method": "importance reweighting of a plausible virtual population (twin design) + CMA-ES",
            "plausible_patients_per_arm": n, "optimiser_seed": seed, "loss": result.loss,
            "evaluations": result.evaluations, "date": time.strftime("%Y-%m-%d"),
            "fitted_endpoints": [ep for ep in FIT_ENDPOINTS if ep in targets.get("endpoints", {})],
            **(extra or {}),
        },
        "params": params,
    }
    path.write_text(json.dumps(doc, indent=1))
    return doc


def run_calibration(spec: TrialSpec, targets_path: Path, out: Path, *, n: int = 1536, max_evals: int = 3000,
                    reps: int = 8, seed: int = 1, install: bool = False, pool_with: tuple[Path, ...] = (),
                    priors: Mapping[str, tuple[float, float]] = PRIORS, correct_rounds: int = 0,
                    correct_patients: int = 1000, progress: Callable[[int, int], None] | None = None,
                    hold: Mapping[str, float] | None = None) -> dict:
    """Simulate the plausible population (cached in ``out``), fit, bootstrap, write
    ``out/calibration.json`` and ``out/fit.html``; ``install`` copies the result into the
    package data so it becomes the shipped default. ``pool_with``: folders of earlier plausible
    populations (with their recorded centres, simulated with other spec seeds) pooled with this one
    (:func:`pool`). ``priors``: on variabilities (``PRIORS``; ``{}`` for none), recorded in the provenance.
    ``correct_rounds``: fresh-trial corrections of the fit (:mod:`.calibrate_fresh`; ``correct_patients`` per arm),
    then one more fresh trial at the result, shown in ``fit.html`` beside the reweighted readings. ``hold``: spreads
    kept at a value instead of fitted (default: the installed calibration's hand-set ones, :func:`held_spreads`);
    they are written back with their notes."""
    from .report.fit_report import write_fit_report

    targets = json.loads(targets_path.read_text())
    out.mkdir(parents=True, exist_ok=True)
    pl = simulate_plausible(spec, n, out=out, progress=progress)
    if pool_with:
        pl = pool([load_plausible(out, pl.arms), *(load_plausible(Path(d), pl.arms) for d in pool_with)])
    from .validate import installed_calibration

    installed = installed_calibration().get("params", {})
    hold = held_spreads({"params": installed}) if hold is None else hold
    res = fit(pl, targets, control=spec.control, seed=seed, max_evals=max_evals, priors=priors, hold=hold)
    rows_t = target_rows(targets)
    offsets = None
    extra: dict = {"priors": {k: {"iiv": v[0], "log_sd": v[1]} for k, v in priors.items()}}
    if hold:
        extra["held_spreads"] = dict(hold)
    if correct_rounds:
        from .calibrate_fresh import CORRECTION_SEED, correct, fresh_population, rounds_table

        phi, offsets, hist = correct(pl, spec, targets, res.phi, rounds=correct_rounds, patients=correct_patients,
                                     optimiser_seed=seed, priors=priors, hold=hold)
        res = dataclasses.replace(res, phi=phi, loss=hist[-1].loss)
        rounds_table(rows_t, hist).to_csv(out / "fresh_correction.csv", index=False)
        extra["fresh_correction"] = {"rounds": correct_rounds, "patients_per_arm": correct_patients,
                                     "seeds": [r.seed for r in hist], "check_seed": CORRECTION_SEED + correct_rounds,
                                     "table": "fresh_correction.csv"}
    boot = bootstrap(pl, targets, res.phi, control=spec.control, reps=reps, seed=seed + 100,
                     priors=priors, offsets=offsets, hold=hold) if reps > 1 else None
    w = weights(res.phi, pl)
    rate = profile_event_rates(pl, w, rows_t, offsets)
    if pool_with:
        extra["pooled_with"] = [str(d) for d in pool_with]
    doc = write_calibration(out / "calibration.json", res.phi, boot, spec=spec, targets_path=str(targets_path),
                            targets=targets, n=pl.n, seed=seed, result=res, rates=rate, extra=extra, hold=hold,
                            notes={k: installed.get(k, {}).get("iiv_note", "") for k in hold})
    sim = endpoints(pl, w, spec.control, rate)
    fresh_sim = None
    if correct_rounds:
        check = fresh_population(spec, res.phi, correct_patients, CORRECTION_SEED + correct_rounds)
        fresh_sim = endpoints(check, np.full(correct_patients, 1.0 / correct_patients), spec.control, rate)
    rows, fresh_vals = [], []
    for ep, lm, arm, pub in rows_t:
        row = (ep, lm, arm, pub, simulated_value(sim, ep, lm, arm), target_band(ep, pub))
        if fresh_sim is not None:
            fresh_vals.append(simulated_value(fresh_sim, ep, lm, arm))
        if ep == "median_os_months" and pub > sim["os_km"][arm][2]:  # beyond follow-up: the fit asks S(end) >= 0.5
            row += (f"not reached by {sim['os_km'][arm][2]:.0f} months",)
        rows.append(row)
    write_fit_report(out / "fit.html", rows=rows, history=res.history, fitted=doc["params"],
                     provenance=doc["provenance"], ess=weighted.ess(w), n=pl.n,
                     fresh=fresh_vals if fresh_sim is not None else None)
    if install:
        from importlib import resources

        dest = Path(str(resources.files("immunotwin.data"))) / "calibration.json"
        dest.write_text((out / "calibration.json").read_text())
    return doc
