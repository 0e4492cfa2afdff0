"""Virtual populations: covariates and inter-individual variability -> parameter arrays.

Every patient's random numbers come from a generator seeded by (seed, arm key, patient
index) alone (:func:`patient_streams`), so a patient is the same whatever the chunking or
the number of workers. In a twin design every arm uses arm key 0: the same patients.

Covariate effects on model parameters: the values, units and sources are declared in
:mod:`immunotwin.covariates` (listed by ``immunotwin params`` and in the table below):
- TMB raises immunogenicity as (TMB/TMB_ref)^tmb_exponent (Samstein et al., Nat Genet 2019;51:202).
- PD-L1 tumour proportion score sets constitutive tumour PD-L1 (a base plus a share per unit of
  score). The score is drawn rank-correlated with the patient's immunogenicity: PD-L1 is mostly
  adaptive, IFN-γ-induced expression in T-cell-inflamed tumours.
- Liver metastases lower immunogenicity.
- Age above the onset age lowers priming (immunosenescence) and raises the PD-1+ Treg
  expansion gain under PD-1 blockade.
- Prior chemotherapy lowers priming and raises the PD-1+ Treg gain.
- LDH (x ULN) raises growth as a power of it; each ECOG point lowers the lethal burden.
- Sex: men have a higher hypophysitis susceptibility, women a higher one in the other organs.
- Histological subtype (cancers with ``subtypes``, e.g. thymoma WHO type) scales the shared-antigen
  cross-reactivity (catalogue values and sources in :mod:`immunotwin.cancers`), and with it any organ
  susceptibility the cancer itself raises (thymoma: exported autoreactive T cells, neurologic).
- BRAF V600 mutation: drawn at the cancer's frequency; only BRAF and MEK inhibitors read it
  (:mod:`immunotwin.model.tumour`).
- FCGR3A 158V/V patients have the full antibody-dependent cytotoxicity; F carriers a fraction
  of it (Cartron et al., Blood 2002;99:754: response to rituximab by genotype).
- Pre-existing autoimmune disease multiplies that organ's susceptibility.
- A smoking history and prior thoracic radiotherapy, drawn at the cancer's prevalences, each multiply the lung's
  (pneumonitis) susceptibility by a factor fitted to its published odds ratio (:mod:`immunotwin.calibrate_lung`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .cancers import CANCERS
from .covariates import E
from .model.core import PARAMS, all_params, default_params
from .model.organs import INDEX, IRAES

N_NORMAL = 64
N_UNIFORM = 32
TARGET_SHARE = E["target_share"]
ELLIPSOID = E["ellipsoid"]
PREEXISTING_FACTOR = E["preexisting_factor"]
FCGR3A_FREQ = (0.20, 0.45, 0.35)  # VV, VF, FF (Cartron et al., Blood 2002;99:754)
#: Floor of each patient's lethal burden, as a multiple of the baseline burden (covariates.EFFECTS).
LETHAL_FLOOR = E["lethal_floor"]
# Lymph-node targets (Cancer.nodal), RECIST 1.1 (Eisenhauer et al., Eur J Cancer 2009;45:228, sections 3.1.1 and
# 4.3.1): a node is a measurable target at >= 15 mm short axis, and normal (gone, for a complete response) under 10 mm.
NODE_MEASURABLE_MM = 15.0
NODE_NORMAL_MM = 10.0
PDL1_IMMUNE_CORRELATION = E["pdl1_immune_correlation"]
#: Parameters given variability after the normal draws' 64 columns were all taken: their standard-normal
#: draws come from spare uniform columns (17 on), then from the second stream (``_normals``), so every earlier draw of
#: a patient is unchanged.
LATE_IIV = ("damage_rate", "scar_fraction", "car_resistant_kill", "mapk_persistence", "mapk_resistant_fraction",
            "hpd_susceptibility")
_IIV = [prm for prm in PARAMS if prm.iiv > 0 and prm.name not in LATE_IIV] \
    + [prm for name in LATE_IIV for prm in PARAMS if prm.name == name and prm.iiv > 0]
_FIRST_SPARE_UNIFORM = 17
#: Uniform draws of a patient's second stream (:func:`late_streams`), for what was added once the first stream's
#: columns were all taken (the last spare uniform, 31, went to mapk_persistence): column 0 the BRAF V600 status, the
#: rest standard normals for any LATE_IIV parameter added later.
N_LATE = 16
#: net_growth_rate as declared (1/day), before calibration: the reference of the cancers' growth rates.
REFERENCE_GROWTH = float(next(prm for prm in all_params() if prm.name == "net_growth_rate").value)
_PREEXISTING_ORGANS = ("arthritis", "dermatitis", "colitis", "thyroiditis", "neurologic", "hepatitis")
_PREEXISTING_WEIGHTS = (0.35, 0.25, 0.15, 0.15, 0.05, 0.05)  # RA, psoriasis, IBD, thyroid, neuro, liver (Menzies 2017 mix, approx.)


def _iiv_columns() -> dict[str, int]:
    """First column of ``z`` holding each IIV parameter's standard-normal draw (see ``_params``)."""
    out, col = {}, 20
    for prm in _IIV:
        if prm.name in LATE_IIV and col < N_NORMAL:
            col = N_NORMAL  # late parameters read the spare columns, whatever room is left among the first 64
        out[prm.name] = col
        col += int(np.prod(prm.value.shape)) if prm.value.shape else 1
    early = [out[p.name] + (int(np.prod(p.value.shape)) if p.value.shape else 1) for p in _IIV if p.name not in LATE_IIV]
    if early and max(early) > N_NORMAL:
        raise RuntimeError("the variabilities declared before LATE_IIV need more than the 64 normal draws: "
                           "add the new parameter to LATE_IIV so that existing draws stay unchanged")
    if col > N_NORMAL + N_UNIFORM - _FIRST_SPARE_UNIFORM + N_LATE - 1:
        raise RuntimeError(f"{col} normal draws are needed per patient; only "
                           f"{N_NORMAL + N_UNIFORM - _FIRST_SPARE_UNIFORM + N_LATE - 1} are drawn")
    return out


_IIV_COLUMN = _iiv_columns()


def _normals(z: np.ndarray, u: np.ndarray, late: np.ndarray) -> np.ndarray:
    """The 64 normal draws followed by standard normals from the spare uniform columns and from the second stream's
    columns 1 on (``LATE_IIV``)."""
    from scipy.special import ndtri

    extra = ndtri(np.clip(np.concatenate([u[:, _FIRST_SPARE_UNIFORM:], late[:, 1:]], axis=1), 1e-12, 1.0 - 1e-12))
    return np.concatenate([z, extra], axis=1)


def pdl1_tps(c, positive: float, u: np.ndarray, z_imm: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Tumour PD-L1 proportion score, rank-correlated (Gaussian copula, ``PDL1_IMMUNE_CORRELATION``)
    with the patient's immunogenicity draw: tumour PD-L1 is mostly induced by IFN-γ from infiltrating
    T cells, so PD-L1-positive tumours are the inflamed ones (Taube et al., Sci Transl Med
    2012;4:127ra37: PD-L1+ melanomas had TILs in 98% against 28% of PD-L1- ones). The fraction
    ``positive`` above the cancer's cut-off is kept exactly; below it, a fraction ``c.pdl1_lt1`` of
    all patients has a score under 1% where the catalogue gives one."""
    from scipy.stats import norm

    rho = PDL1_IMMUNE_CORRELATION
    v = norm.cdf(rho * z_imm + np.sqrt(1.0 - rho**2) * norm.ppf(np.clip(u, 1e-12, 1 - 1e-12)))
    cut, neg = c.pdl1_cutoff, 1.0 - positive
    pos = v >= neg
    w_pos = np.clip((v - neg) / max(positive, 1e-12), 0.0, 1.0)
    w_neg = np.clip(v / max(neg, 1e-12), 0.0, 1.0)
    low = min(c.pdl1_lt1 / max(neg, 1e-12), 1.0) if c.pdl1_lt1 > 0 else 0.0
    if low > 0:
        tps_neg = np.where(w_neg < low, 0.01 * w_neg / low, 0.01 + (cut - 0.01) * (w_neg - low) / max(1 - low, 1e-12))
    else:
        tps_neg = cut * w_neg
    return np.where(pos, cut + (1 - cut) * w_pos**2, np.minimum(tps_neg, cut * (1 - 1e-9)))


def target_lesions(n_met_sites: np.ndarray) -> np.ndarray:
    """Target lesions per patient: two per involved site, at most five (RECIST 1.1: <= 5, <= 2 per organ)."""
    return np.clip(2 * np.asarray(n_met_sites, dtype=np.int64), 1, 5)


def patient_streams(seed: int, arm_key: int, indices: Sequence[int]) -> list[np.random.Generator]:
    """One generator per patient from (seed, arm key, patient index)."""
    return [np.random.default_rng(np.random.SeedSequence([int(seed), int(arm_key), int(i)])) for i in indices]


def late_streams(seed: int, arm_key: int, indices: Sequence[int]) -> list[np.random.Generator]:
    """A second generator per patient from (seed, arm key, patient index, 1), for draws added after the first stream's
    were all taken: the first stream's draws, and so every earlier figure, are unchanged, and these do not depend on
    how many steps the first stream drew for the follow-up."""
    return [np.random.default_rng(np.random.SeedSequence([int(seed), int(arm_key), int(i), 1])) for i in indices]


#: Uniform draws of a patient's third stream (:func:`report_streams`): column 0 a background report of diarrhoea,
#: column 1 of rash (clinic/run.background_reports).
N_REPORT = 2


def report_streams(seed: int, arm_key: int, indices: Sequence[int]) -> list[np.random.Generator]:
    """A third generator per patient from (seed, arm key, patient index, 2), for the clinic's background reports of
    events without an immune cause: the first two streams' draws, and so every other figure, are unchanged."""
    return [np.random.default_rng(np.random.SeedSequence([int(seed), int(arm_key), int(i), 2])) for i in indices]


def scan_streams(seed: int, arm_key: int, indices: Sequence[int]) -> list[np.random.Generator]:
    """A fourth generator per patient from (seed, arm key, patient index, 3), for the day each on-treatment scan
    falls within the protocol's visit window (``Assessment.window_days``): the other streams' draws, and so every
    figure of a spec without a window, are unchanged."""
    return [np.random.default_rng(np.random.SeedSequence([int(seed), int(arm_key), int(i), 3])) for i in indices]


#: Uniform draws of a patient's fifth stream (:func:`lung_streams`): column 0 a smoking history, column 1 prior
#: thoracic radiotherapy.
N_LUNG = 2


def lung_streams(seed: int, arm_key: int, indices: Sequence[int]) -> list[np.random.Generator]:
    """A fifth generator per patient from (seed, arm key, patient index, 4), for the lung's risk factors: the other
    streams' draws are unchanged."""
    return [np.random.default_rng(np.random.SeedSequence([int(seed), int(arm_key), int(i), 4])) for i in indices]


@dataclass(frozen=True)
class Cohort:
    """A chunk of virtual patients: covariates, model parameters and clinic randomness."""

    index: np.ndarray
    covariates: pd.DataFrame
    params: Mapping[str, np.ndarray]
    tumour0: np.ndarray
    n_lesions: np.ndarray
    lethal: np.ndarray
    pk_eta: np.ndarray
    uniforms: np.ndarray  # (N, n_steps, 4): death draws; step 0 also: column 2 the next-line draw, column 3 other TRAEs
    scan_noise: np.ndarray  # (N, n_steps)
    effects: Mapping[str, np.ndarray]  # log-scale random effect of each IIV parameter (N, ...)
    lesion_thresholds: np.ndarray  # (N, 16) cumulative exponential draws
    ct_cr_sld_mm: np.ndarray  # (N,) target sum at or below which CT reads a complete response (nodes: 10 mm each)
    report_uniforms: np.ndarray  # (N, N_REPORT) the background-report draws (report_streams)
    scan_uniforms: np.ndarray  # (N, n_steps) the day of the k-th on-treatment scan within its window (scan_streams)

    @property
    def n(self) -> int:
        return len(self.index)


def _value(ov: object, z: np.ndarray, u: np.ndarray) -> np.ndarray:
    """A covariate override: a number, or a Distribution drawn by inverse transform."""
    if isinstance(ov, int | float):
        return np.full(z.shape, float(ov))
    dist, p = ov.dist, ov.params  # type: ignore[attr-defined]
    if dist == "normal":
        x = p["mean"] + p["sd"] * z
    elif dist == "lognormal":
        x = p["median"] * np.exp(p["sigma"] * z)
    elif dist == "uniform":
        x = p["min"] + (p["max"] - p["min"]) * u
    else:
        x = (u < p["p"]).astype(float)
    return np.clip(x, p.get("min", -np.inf), p.get("max", np.inf))


def sample_cohort(cancer: str, overrides: Mapping[str, object], seed: int, arm_key: int,
                  indices: Sequence[int], n_steps: int, fixed: Mapping[str, object] | None = None,
                  iiv_scale: Mapping[str, float] | None = None, mean_shift: Mapping[str, float] | None = None) -> Cohort:
    """Sample patients ``indices`` of one arm. ``fixed`` pins covariates (one patient's values);
    ``iiv_scale`` widens the variability of named parameters (a calibration's plausible population);
    ``mean_shift`` moves named parameters' population means by a log-scale shift (a draw of the
    calibration's parameter uncertainty); the patients' random numbers are unchanged by either."""
    c = CANCERS[cancer]
    idx = np.asarray(indices, dtype=np.int64)
    gens = patient_streams(seed, arm_key, idx)
    z = np.stack([g.standard_normal(N_NORMAL) for g in gens]) if len(gens) else np.zeros((0, N_NORMAL))
    u = np.stack([g.random(N_UNIFORM) for g in gens]) if len(gens) else np.zeros((0, N_UNIFORM))
    uniforms = np.stack([g.random((n_steps, 4)) for g in gens]) if len(gens) else np.zeros((0, n_steps, 4))
    noise = np.stack([g.standard_normal(n_steps) for g in gens]) if len(gens) else np.zeros((0, n_steps))
    thresholds = np.cumsum(np.stack([g.exponential(size=16) for g in gens]), axis=1) if len(gens) \
        else np.zeros((0, 16))
    late = np.stack([g.random(N_LATE) for g in late_streams(seed, arm_key, idx)]) if len(gens) \
        else np.zeros((0, N_LATE))
    report = np.stack([g.random(N_REPORT) for g in report_streams(seed, arm_key, idx)]) if len(gens) \
        else np.zeros((0, N_REPORT))
    scan_u = np.stack([g.random(n_steps) for g in scan_streams(seed, arm_key, idx)]) if len(gens) \
        else np.zeros((0, n_steps))
    lung = np.stack([g.random(N_LUNG) for g in lung_streams(seed, arm_key, idx)]) if len(gens) \
        else np.zeros((0, N_LUNG))
    ov = dict(overrides)
    frac = lambda key, default: float(ov.get(key, default))  # noqa: E731
    cov: dict[str, np.ndarray] = {}
    cov["age"] = np.clip(_value(ov.get("age", {"dist": "normal"}) if "age" in ov else c.age_mean, z[:, 0], u[:, 0])
                         if "age" in ov else c.age_mean + c.age_sd * z[:, 0], 18, 95)
    cov["sex"] = np.where(u[:, 1] < frac("female_fraction", c.female), "F", "M")
    female = cov["sex"] == "F"
    # Body size: adult US means by sex (CDC NHANES 2015-2018 anthropometric reference, assumed SDs).
    cov["weight_kg"] = np.clip(np.where(female, 75.0, 88.0) + 16.0 * z[:, 1], 40, 180)
    cov["height_cm"] = np.clip(np.where(female, 162.0, 175.5) + 7.0 * z[:, 2], 140, 205)
    for key in ("weight_kg", "height_cm"):
        if key in ov:
            cov[key] = _value(ov[key], z[:, 1 if key == "weight_kg" else 2], u[:, 2])
    cov["ecog"] = np.where(u[:, 3] < frac("ecog0_fraction", c.ecog0), 0, 1).astype(np.int64)
    high = u[:, 4] < frac("ldh_high_fraction", c.ldh_high)
    cov["ldh_uln"] = np.where(high, 1.0 + np.abs(0.8 * z[:, 3]), 0.55 + 0.4 * np.clip(0.5 + 0.25 * z[:, 3], 0, 1))
    cov["pdl1_tps"] = pdl1_tps(c, frac("pdl1_positive_fraction", c.pdl1_positive), u[:, 5],
                               z[:, _IIV_COLUMN["immunogenicity"]])
    cov["tmb"] = c.tmb_median * np.exp(c.tmb_sigma * z[:, 4])
    cov["sld0_mm"] = np.clip(c.sld_median_mm * np.exp(c.sld_sigma * z[:, 5]), 10.0, 600.0)
    cov["n_met_sites"] = 1 + np.floor(-np.log(np.maximum(u[:, 7], 1e-12)) * (c.sites_mean - 1)).astype(np.int64)
    cov["brain_mets"] = u[:, 8] < frac("brain_mets_fraction", c.brain)
    cov["liver_mets"] = u[:, 9] < frac("liver_mets_fraction", c.liver)
    cum = np.cumsum(c.m_stage)
    cov["m_stage"] = np.array(["M0", "M1a", "M1b", "M1c"])[np.searchsorted(cum, u[:, 10] * cum[-1])]
    cov["m_stage"] = np.where(cov["brain_mets"] | cov["liver_mets"], "M1c", cov["m_stage"])
    cov["prior_chemo"] = u[:, 11] < frac("prior_chemotherapy_fraction", c.prior_chemo)
    has_ai = u[:, 12] < frac("preexisting_autoimmune_fraction", c.preexisting_ai)
    which = np.searchsorted(np.cumsum(_PREEXISTING_WEIGHTS), u[:, 13] * sum(_PREEXISTING_WEIGHTS))
    cov["preexisting_ai"] = np.where(has_ai, np.array(_PREEXISTING_ORGANS)[np.minimum(which, 5)], "")
    for key in ("ldh_uln", "pdl1_tps", "tmb", "sld0_mm", "n_met_sites"):
        if key in ov:
            cov[key] = _value(ov[key], z[:, {"ldh_uln": 3, "pdl1_tps": 6, "tmb": 4, "sld0_mm": 5,
                                               "n_met_sites": 7}[key]], u[:, 14])
    if c.subtypes:  # histological subtype (uniform column 15: existing draws are unchanged)
        freq = np.array([f for _, f, _ in c.subtypes])
        k = np.searchsorted(np.cumsum(freq), u[:, 15] * freq.sum())
        cov["subtype"] = np.array([name for name, _, _ in c.subtypes])[np.minimum(k, len(freq) - 1)]
    # FCGR3A codon 158 genotype (uniform column 16): VV 20%, VF 45%, FF 35% (Cartron et al., Blood 2002;99:754).
    cov["fcgr3a"] = np.array(["VV", "VF", "FF"])[np.searchsorted(np.cumsum(FCGR3A_FREQ), u[:, 16] * sum(FCGR3A_FREQ))]
    # BRAF V600 mutation (the second stream's first column: existing draws are unchanged).
    cov["braf_v600"] = late[:, 0] < frac("braf_v600_fraction", c.braf_v600)
    # The lung's risk factors (the fifth stream: every other draw is unchanged).
    cov["ever_smoker"] = lung[:, 0] < frac("ever_smoker_fraction", c.ever_smoker)
    cov["thoracic_rt"] = lung[:, 1] < frac("thoracic_rt_fraction", c.thoracic_rt)
    if fixed:
        n = len(idx)
        for key, val in fixed.items():
            if key != "cancer":
                cov[key] = np.full(n, val)
    cov["n_met_sites"] = np.asarray(cov["n_met_sites"]).astype(np.int64)
    cov["ecog"] = np.asarray(cov["ecog"]).astype(np.int64)
    if c.nodal and "sld0_mm" not in ov and "sld0_mm" not in (fixed or {}):  # every target node measurable
        cov["sld0_mm"] = np.maximum(cov["sld0_mm"], NODE_MEASURABLE_MM * target_lesions(cov["n_met_sites"]))
    frame = pd.DataFrame(cov)

    params, extras, effects = _params(c, frame, _normals(z, u, late), iiv_scale or {}, mean_shift or {})
    return Cohort(index=idx, covariates=frame, params=params, pk_eta=z[:, 16:18], uniforms=uniforms,
                  report_uniforms=report, scan_uniforms=scan_u, scan_noise=noise, lesion_thresholds=thresholds, effects=effects, **extras)


def _params(c, cov: pd.DataFrame, z: np.ndarray, iiv_scale: Mapping[str, float],  # type: ignore[no-untyped-def]
            mean_shift: Mapping[str, float] | None = None):
    n = len(cov)
    base = default_params()
    p = {k: np.broadcast_to(v, (n, *v.shape)).astype(np.float64).copy() for k, v in base.items()}
    for name, shift in (mean_shift or {}).items():
        if name not in p or name in ("cross_reactivity", "pdl1_constitutive"):  # those two are set per patient below
            raise KeyError(f"mean_shift: {name!r} is not a parameter whose population mean can be shifted")
        p[name] = p[name] * np.exp(float(shift))
    factor: dict[str, np.ndarray] = {}
    effects: dict[str, np.ndarray] = {}
    for prm in _IIV:
        size = int(np.prod(prm.value.shape)) if prm.value.shape else 1
        col = _IIV_COLUMN[prm.name]
        effects[prm.name] = prm.iiv * iiv_scale.get(prm.name, 1.0) * z[:, col:col + size].reshape(p[prm.name].shape)
        factor[prm.name] = np.exp(effects[prm.name])
        p[prm.name] = p[prm.name] * factor[prm.name]
    age = cov["age"].to_numpy(float)
    old = np.maximum(age - E["age_onset_years"], 0.0)
    chemo = cov["prior_chemo"].to_numpy(bool)
    # Each cancer's growth rate is relative to the rate at which net_growth_rate is declared (melanoma's):
    # the calibrated mean then moves every cancer alike. (Dividing by the calibrated default, as before,
    # cancelled the calibration's shift of this mean in every simulation.)
    p["net_growth_rate"] *= c.growth_rate / REFERENCE_GROWTH * cov["ldh_uln"].to_numpy(float) ** E["ldh_growth_exponent"]
    imm = c.immunogenicity * (cov["tmb"].to_numpy(float) / base["tmb_ref"]) ** base["tmb_exponent"]
    imm = imm * np.where(cov["liver_mets"].to_numpy(bool), E["liver_mets_immunogenicity"], 1.0)
    p["immunogenicity"] *= imm
    p["hpd_susceptibility"] *= c.fc_macrophages  # cancers.FC_MACROPHAGE_SOURCE
    p["marrow_share"] = np.full(n, c.marrow_share)  # cancers.MARROW_SOURCE
    p["prime_rate"] *= np.clip(1.0 - E["age_priming_loss"] * old, E["age_priming_floor"], 1.0) \
        * np.where(chemo, E["prior_chemo_priming"], 1.0)
    p["treg_pd1_fraction"] *= np.exp(E["age_treg_pd1_gain"] * old) * np.where(chemo, E["prior_chemo_treg_pd1"], 1.0)
    p["pdl1_constitutive"] = E["pdl1_constitutive_base"] + E["pdl1_constitutive_per_tps"] * cov["pdl1_tps"].to_numpy(float)
    cross = np.asarray(c.cross_vector())
    p["cross_reactivity"] = cross[None, :] * factor["cross_reactivity"]
    sub_scale = np.ones(n)
    if c.subtypes and "subtype" in cov:
        scale = {name: x for name, _, x in c.subtypes}
        sub_scale = np.array([scale.get(str(s), 1.0) for s in cov["subtype"]])
        p["cross_reactivity"] *= sub_scale[:, None]
    susc = p["susceptibility"]
    for organ, k in c.susceptibility.items():  # the cancer's own effect on an organ's tolerance (thymoma)
        susc[:, INDEX[organ]] *= 1.0 + (k - 1.0) * sub_scale
    male = (cov["sex"] == "M").to_numpy()
    susc[:, INDEX["hypophysitis"]] *= np.where(male, E["male_hypophysitis"], 1.0)
    others = [i for i, k in enumerate(IRAES) if k != "hypophysitis"]
    susc[:, others] *= np.where(male, 1.0, E["female_other_organs"])[:, None]
    pre = cov["preexisting_ai"].to_numpy(str)
    for organ in set(pre) - {""}:
        susc[pre == organ, INDEX[organ]] *= PREEXISTING_FACTOR
    lung = INDEX["pneumonitis"]
    susc[:, lung] *= np.where(cov["ever_smoker"].to_numpy(bool), E["smoker_lung"], 1.0) \
        * np.where(cov["thoracic_rt"].to_numpy(bool), E["thoracic_rt_lung"], 1.0)
    p["braf_v600"] = cov["braf_v600"].to_numpy(bool).astype(np.float64)
    p["tumour_cd19"] = np.full(n, c.cd19)
    p["tumour_cd20"] = np.full(n, c.cd20)
    # ADCC through FCGR3A: 158F carriers bind IgG1 less tightly (Cartron 2002 compare V/V with F carriers).
    p["fcgr_factor"] = np.where(cov["fcgr3a"].to_numpy(str) == "VV", 1.0, p["fcgr_low_affinity"])
    sld0 = cov["sld0_mm"].to_numpy(float)
    n_les = target_lesions(cov["n_met_sites"].to_numpy(np.int64))
    d_cm = sld0 / n_les / 10.0
    tumour0 = n_les * np.pi / 6.0 * d_cm**3 * ELLIPSOID / TARGET_SHARE
    lethal = p["lethal_burden"] * E["ecog_lethal_factor"] ** cov["ecog"].to_numpy(float)
    lethal = np.maximum(lethal, LETHAL_FLOOR * tumour0)
    # CT reads a complete response when every target is gone: 0 mm, or for lymph nodes under 10 mm each
    ct_cr = NODE_NORMAL_MM * n_les if c.nodal else np.zeros(n)
    return p, {"tumour0": tumour0, "n_lesions": n_les.astype(float), "lethal": lethal,
               "ct_cr_sld_mm": ct_cr.astype(float)}, effects
