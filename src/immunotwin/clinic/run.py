"""The clinic: visits on a schedule around batched integration of the model.

From the pre-treatment scan (``pre_treatment_scan_days`` before day 0) to the end of
follow-up, each week the clinic sees what it would see: at scheduled visits (dosing days,
imaging days, while an irAE is being managed) and unscheduled ones (a grade >= 2 irAE), it
grades irAEs from the observed laboratory values, applies the management policy, gives the
doses due, and reads scans by RECIST 1.1 or iRECIST. Death comes from tumour burden, from
a fatal irAE or from other causes (life table). Every patient's randomness was drawn up
front from its own stream (:mod:`immunotwin.population`), so results do not depend on who
else is in the batch.

Scans keep to the spec's schedule, each on its day or, where the spec gives the protocol's visit window
(``[assessment] window``), on a day drawn for that patient within it and rounded to the week (:func:`scan_schedule`).
Progression is dated at the scan that shows it, so a schedule's fixed days put every progression of a
non-responding arm on one day and its median PFS on a scan day; a trial's own scans scatter around their days, and
its medians with them (Panageas et al., "When you look matters", J Natl Cancer Inst 2007;99:428, PMID 17374832).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .. import engine
from ..drugs.catalogue import CATALOGUE, dose_index, is_cytotoxic, slot_params
from ..model.core import LAYOUT, ct_residue, initial_state, tumour_cells
from ..model.organs import INDEX, IRAES
from ..model.slots import N_SLOTS, SLOTS
from ..population import Cohort
from ..spec import Assessment, DrugSchedule, PostProgression
from ..units import DAYS_PER_MONTH
from . import observe
from .celltox import CellTox
from .lifetable import weekly_death_probability
from .policy import Management, manage
from .recist import IrecistState
from .schedule import Dosing

STEP = engine.STEP_DAYS
# Weekly probability of death while an irAE is at grade 4 (assumed; ordered as the case
# fatality of fatal irAEs in Wang DY et al., JAMA Oncol 2018: myocarditis highest).
FATAL_WEEKLY = {"myocarditis": 0.25, "neurologic": 0.12, "pneumonitis": 0.12, "hepatitis": 0.08,
                "colitis": 0.06, "hematologic": 0.08, "nephritis": 0.03, "hypophysitis": 0.05,
                "diabetes": 0.03, "dermatitis": 0.02, "thyroiditis": 0.0, "arthritis": 0.0}
_FATAL = np.array([FATAL_WEEKLY[k] for k in IRAES])
# Probability that an organ's first severe (grade >= 3) irAE ends in death, drawn once, in the week the true grade first
# reaches 3: the gut's severe events kill through perforation and its sepsis without passing through a long grade 4.
# Colitis: 3 of the 79 patients whose gastrointestinal irAE reached grade 3 or worse died of colitis (2 of them with a
# perforation; 7 perforations in all) under adjuvant ipilimumab (Eggermont et al., N Engl J Med 2016;375:1845, Table 3:
# 70 at grade 3, 6 at grade 4, 3 at grade 5, of 471). Every other organ: 0 (their deaths come from grade 4 above;
# the same table has no hepatic death among 51 grade >= 3 hepatic events).
FATAL_SEVERE_ONSET = {k: 0.0 for k in IRAES} | {"colitis": 3 / 79}
_FATAL_ONSET = np.array([FATAL_SEVERE_ONSET[k] for k in IRAES])
# Cytotoxic drugs: blood counts weekly for three weeks after each dose (nadir monitoring, assumed
# practice), and a dose waits while neutrophils are below 1.5e9/L (docetaxel label).
CHEMO_MONITOR_DAYS = 21.0
CHEMO_MIN_ANC = 1.5
# Cell products: daily visits for 28 days from the infusion (the axicabtagene label asks patients to
# stay near the treating centre for four weeks; ZUMA-1 hospitalised them for at least 7 days).
CELL_MONITOR_DAYS = 28
# Fraction of the body's CAR T cells in blood (assumed: about 2% of lymphocytes circulate), to report
# blood levels (cells/µL, 5 L of blood) as trials do.
CAR_BLOOD_FRACTION = 0.02
BLOOD_UL = 5e6
SPENT = 1e-6  # a drug below this fraction of its EC50 in both compartments is set to 0 (_clear_spent_drug)
# B-cell depletion and recovery, read on the weekly grid: weeks 13, 26, 52 and 156 from the first dose, and
# weeks 29 and 55 (6 and 12 months after the last of four weekly doses, as the rituximab label counts).
B_CELL_DAYS = (91, 182, 203, 364, 385, 1092)
CHECKPOINT_SLOTS = ("pd1", "ctla4", "pdl1")
AE_WINDOW_DAYS = 30.0  # adverse events are collected until 30 days after the last dose (CheckMate 067 protocol)


def _clear_spent_drug(y: np.ndarray, params: dict, rate: np.ndarray) -> None:
    """Set a slot's amounts to exactly 0 once both compartments are below SPENT x EC50 and nothing is
    infused. Drugs that distribute and clear within minutes (aldesleukin, docetaxel) make the explicit
    solver take stability-limited steps for as long as any trace of them is left; an exact zero stays
    zero. Below a millionth of EC50 the drug has no effect the model can show, and the test is on the
    patient's own state, so results do not depend on the batch."""
    c = LAYOUT.slices["pk_central"].start
    p0 = LAYOUT.slices["pk_periph"].start
    ac, ap = y[:, c:c + N_SLOTS], y[:, p0:p0 + N_SLOTS]
    spent = (ac / params["pk_vc"] < SPENT * params["pk_ec50"]) & (ap / params["pk_vp"] < SPENT * params["pk_ec50"]) \
        & (rate == 0) & ((ac != 0) | (ap != 0))
    ac[spent] = 0.0
    ap[spent] = 0.0


def intensive_days(entries: Sequence[DrugSchedule], horizon_days: float) -> set[int]:
    """Days the clinic steps daily: every planned day of a schedule more frequent than weekly (the
    weekly clinic could give one dose a week only; oral drugs excepted, their doses enter as a mean rate over any
    step), and the monitoring period after a cell product."""
    out: set[int] = set()
    for d in entries:
        drug = CATALOGUE.get(d.name)
        if drug is None:
            continue
        planned = d.planned_days(horizon_days)
        if drug.kind == "cell":
            for t in planned:
                out.update(range(int(np.floor(t)), int(np.floor(t)) + CELL_MONITOR_DAYS))
        elif drug.route != "oral" and (0 < d.every_days < STEP or drug.route == "sc"):  # sc: absorbed over its day
            out.update(int(np.floor(t)) for t in planned)
    return out


def step_grid(t0: float, follow_up_days: float, daily: set[int]) -> list[tuple[float, int, int]]:
    """(day, step length, week index) of each clinic step: weekly, or seven daily steps in a week that
    holds an intensive day. Weeks keep their boundaries, so scans and weekly draws line up."""
    grid = []
    n_weeks = int(np.ceil((follow_up_days - t0) / STEP)) + 1
    for w in range(n_weeks):
        start = t0 + w * STEP
        if any(int(start) + i in daily for i in range(STEP)):
            grid.extend((start + i, 1, w) for i in range(STEP))
        else:
            grid.append((start, STEP, w))
    return grid


@dataclass
class Trajectory:
    """Daily hidden and observed series for a few patients (single-patient view)."""

    day: list[float] = field(default_factory=list)
    states: list[np.ndarray] = field(default_factory=list)


@dataclass
class ClinicResult:
    scans: list[list[tuple[float, float, int]]]  # per patient: (day, sld_mm, new lesions)
    visits: dict[str, list]  # column -> values (one row a patient-visit)
    grade_worst: np.ndarray
    onset1: np.ndarray
    onset3: np.ndarray
    onset2: np.ndarray
    last_grade: np.ndarray
    death_day: np.ndarray
    death_cause: np.ndarray
    progression_day: np.ndarray
    failed_reason: np.ndarray
    management: Management
    dosing: Dosing
    stop_reason: np.ndarray
    stop_day: np.ndarray
    cavg: np.ndarray
    cmin: np.ndarray
    trajectory: Trajectory | None
    end_day: float
    vc: np.ndarray  # (N, slots) central volumes (L), to turn amounts into concentrations
    neutropenia_worst: np.ndarray  # (N,) worst CTCAE grade of neutropenia seen at visits from day 0
    anc_nadir: np.ndarray  # (N,) lowest neutrophil count seen at visits from day 0 (1e9/L)
    tox: CellTox  # cytokine syndromes (CRS, ICANS, capillary leak) and their management
    car_peak: np.ndarray  # (N,) peak CAR T cells in blood (cells/µL); 0 without a cell product
    car_peak_day: np.ndarray  # (N,) day of that peak
    b_cells: dict[int, np.ndarray]  # day -> (N,) normal B cells relative to the normal pool (NaN if dead)
    checkpoint_exposure_days: np.ndarray  # (N,) first checkpoint-antibody dose of the arm to 30 days after the last
    nonimmune_trae: np.ndarray  # (N,) bool: a grade >= 3 non-immune treatment-related event in that exposure
    autoreactive_activity_days: np.ndarray  # (N,) organ-days of autoreactive activity above day 0's, in that exposure
    systemic_irae: np.ndarray  # (N,) bool: a grade >= 3 immune-related event outside the modelled organs
    hypothyroid_worst: np.ndarray  # (N,) worst grade of hypothyroidism alone seen at visits (observe.hypothyroid_grade)
    hypothyroid_onset: np.ndarray  # (N,) day it was first seen at grade >= 1
    vitiligo_worst: np.ndarray  # (N,) worst grade of vitiligo seen at visits (observe.vitiligo_grade); no irAE grade
    vitiligo_onset: np.ndarray  # (N,) day it was first seen
    cr_sld_mm: np.ndarray  # (N,) target sum read as a complete response (0; lymph nodes on CT: 10 mm each)
    ae_window_end: np.ndarray  # (N,) last day of the adverse-event reporting window (ae_window_end); NaN: never dosed
    background_reports: np.ndarray  # (N, 2) day diarrhoea, rash were reported without an immune cause; NaN: never


def _visit_columns() -> dict[str, list]:
    cols = ["patient", "day", "scan", "sld_mm", "sld_viable_mm", "new_lesions", "response", *IRAES,
            *observe.OBSERVATION_SCALES, "anc", "c_pd1", "c_ctla4", "steroid_mg", "dosed", "held", "stopped", "alive",
            "crs_grade", "icans_grade", "leak_grade", "cystitis_grade", "car_cells_ul"]
    return {c: [] for c in cols}


def pre_treatment_burden(tumour0: np.ndarray, params: dict, t0: float) -> np.ndarray:
    """Burden at the pre-treatment scan (day ``t0`` < 0) of a patient whose burden at the first dose is ``tumour0``.

    The cohort's covariates (baseline SLD) are what trial tables report: the disease at baseline, just before
    the first dose. Simulation starts at the pre-treatment scan, so the burden there is back-extrapolated at the
    patient's net growth rate at enrolment, the rate the engine's enrolment step gives the sensitive clone
    (``engine.enrol``); the untreated weeks then bring it back to about ``tumour0`` at day 0. (Starting at
    ``tumour0`` on day ``t0`` let a fast grower reach its lethal burden, whose floor is 3x ``tumour0``, before
    the first dose: 4-5% of every arm died in week 1.)"""
    return tumour0 * np.exp(np.asarray(params["net_growth_rate"], dtype=float) * t0)


def run_clinic(cohort: Cohort, arm: Sequence[DrugSchedule], *, assessment: Assessment, guideline: str,
               treat_beyond_progression: bool, post: PostProgression | None, follow_up_days: float,
               record_visits: bool = True, keep_trajectory: bool = False,
               steroid_scale: float = 1.0, cytokine_protocol: str = "label2017") -> ClinicResult:
    n = cohort.n
    cov = cohort.covariates
    weight = cov["weight_kg"].to_numpy(float)
    height = cov["height_cm"].to_numpy(float)
    post_drugs = post.drugs if post else ()
    names = [d.name for d in (*arm, *post_drugs)]
    if any(CATALOGUE[x].kind == "cell" for x in names if x in CATALOGUE):
        names.append("tocilizumab")  # CRS management (celltox.py)
    params = dict(cohort.params)
    params.update(slot_params(names, weight, cohort.pk_eta, cov["ldh_uln"].to_numpy(float) * 250.0))
    t0 = -STEP * int(np.ceil(assessment.pre_treatment_scan_days / STEP))
    y = engine.burn_in(initial_state(params, pre_treatment_burden(cohort.tumour0, params, t0)), params)
    engine.enrol(y, params)
    dosing = Dosing.create(arm, post_drugs, weight, height, {k: cov[k].to_numpy() for k in ("braf_v600",) if k in cov})
    n_arm = len(arm)
    m = Management(n)

    grid = step_grid(t0, follow_up_days, intensive_days(dosing.entries, follow_up_days))
    daily_weeks = {w for _, dt, w in grid if dt == 1}
    tox = CellTox(n, cytokine_protocol, cov["age"].to_numpy(float))
    toci_index = dose_index("tocilizumab")
    car_i = LAYOUT.slices["car_effector"].start
    car_peak = np.zeros(n)
    car_peak_day = np.full(n, np.nan)
    il6r, bcg = SLOTS.index("il6r"), SLOTS.index("bcg")
    fixed_scans = {t0, 0.0}  # the pre-treatment and baseline scans: every patient, on the day
    patient_scans = scan_schedule(scheduled_scan_days(assessment, follow_up_days), assessment.window_days,
                                  cohort.scan_uniforms)
    irecist = assessment.criteria == "irecist"
    # PET (Lugano) and cystoscopy with biopsy read viable tumour only: a complete response is none left. CT reads the
    # residue too, and a complete response is every target gone: 0 mm, or lymph nodes under 10 mm each (Cancer.nodal).
    viable_only = assessment.criteria in ("lugano2014", "cystoscopy")
    cr_sld = np.zeros(n) if viable_only else np.asarray(cohort.ct_cr_sld_mm, dtype=float)

    alive = np.ones(n, dtype=bool)
    death_day = np.full(n, np.nan)
    death_cause = np.full(n, "", dtype=object)
    failed = np.full(n, "", dtype=object)
    grade_worst = np.zeros((n, 12), dtype=np.int8)
    onset1 = np.full((n, 12), np.nan)
    onset3 = np.full((n, 12), np.nan)
    onset2 = np.full((n, 12), np.nan)
    last_grade = np.zeros((n, 12), dtype=np.int8)
    baseline_grade = np.zeros((n, 12), dtype=np.int8)
    baseline_sld = np.full(n, np.nan)
    nadir = np.full(n, np.nan)
    progressed = np.zeros(n, dtype=bool)
    prog_day = np.full(n, np.nan)
    post_u = cohort.uniforms[:, 0, 2]  # the next-line draw ([post_progression] fraction), fixed per patient
    stop_reason = np.full(n, "", dtype=object)
    stop_day = np.full(n, np.nan)
    scans: list[list[tuple[float, float, int]]] = [[] for _ in range(n)]
    visits = _visit_columns()
    conc_sum = np.zeros((n, N_SLOTS))
    conc_min = np.full((n, N_SLOTS), np.inf)
    neut_worst = np.zeros(n, dtype=np.int8)
    hypo_worst = np.zeros(n, dtype=np.int8)  # hypothyroidism alone (not the thyrotoxic phase)
    hypo_onset = np.full(n, np.nan)
    vit_worst = np.zeros(n, dtype=np.int8)  # vitiligo: seen at visits, not an organ irAE, never managed
    vit_onset = np.full(n, np.nan)
    baseline_hypo = np.zeros(n, dtype=np.int8)
    anc_nadir = np.full(n, np.nan)
    cyto = np.array([is_cytotoxic(d.name) for d in dosing.entries], dtype=bool)
    last_cyto = np.full(n, -np.inf)
    conc_cnt = np.zeros(n)
    traj = Trajectory() if keep_trajectory else None
    age0 = cov["age"].to_numpy(float)
    male = (cov["sex"] == "M").to_numpy()
    idx_vc = params["pk_vc"]

    ckpt = np.array([j < n_arm and d.name in CATALOGUE and CATALOGUE[d.name].slot in CHECKPOINT_SLOTS
                     for j, d in enumerate(dosing.entries)], dtype=bool)
    ckpt_first = np.full(n, np.nan)
    fail_day = np.full(n, np.nan)
    ckpt_last = np.full(n, np.nan)
    line1_last = np.full(n, np.nan)  # day of the last first-line dose given (any drug of the arm)
    base_les = np.zeros(n, dtype=np.int64)
    # ln of the viable burden when each potential new lesion surfaced (NaN: not yet; observe.new_lesions_visible)
    surfaced = np.full(cohort.lesion_thresholds.shape, np.nan)
    seen_new = np.zeros(cohort.lesion_thresholds.shape, dtype=bool)  # new lesions shown by a scan so far
    severe_before = np.zeros((n, len(IRAES)), dtype=bool)  # an organ's true grade has reached 3 (FATAL_SEVERE_ONSET)
    activity0 = autoreactive_activity(y[:, None, :], params)[:, 0]  # the patient's own level before the first dose
    activity_days = np.zeros(n)
    b_cells = {d: np.full(n, np.nan) for d in B_CELL_DAYS}
    for day, dt, k in grid:
        day = float(day)
        if day > follow_up_days + 1e-9 or not alive.any():
            break
        boundary = (day - t0) % STEP == 0
        if int(day) in b_cells and day == int(day):
            b_cells[int(day)] = np.where(alive, LAYOUT.get(y, "b_cells") / params["b_cell_normal"], np.nan)
        tum = tumour_cells(y)
        dmg, fun = LAYOUT.get(y, "damage"), LAYOUT.get(y, "function")
        t4 = LAYOUT.get(y, "thyroxine")
        lab = observe.labs(dmg, fun, m.replaced, t4)
        grade = observe.grades(lab, dmg, fun, m.replaced)
        hypo = observe.hypothyroid_grade(t4, m.replaced[:, 0])
        anc = LAYOUT.get(y, "neutrophils")
        toci_c = LAYOUT.get(y, "pk_central")[:, il6r] / idx_vc[:, il6r]
        syndromes = {"crs": observe.ladder_grade(observe.crs_index(LAYOUT.get(y, "crs_cytokine"), toci_c,
                                                                   params["crs_il6_share"], params["pk_ec50"][:, il6r]),
                                                 observe.CRS_LADDER),
                     "icans": observe.ladder_grade(LAYOUT.get(y, "icans_driver"), observe.ICANS_LADDER),
                     "leak": observe.ladder_grade(LAYOUT.get(y, "vascular_leak"), observe.LEAK_LADDER),
                     "cystitis": observe.ladder_grade(observe.occupancy(y, params, bcg) * params["bcg_cystitis_susceptibility"],
                                                      observe.CYSTITIS_LADDER)}

        # Deaths since the last weekly visit: tumour burden, grade-4 irAEs or syndromes, other causes.
        u = cohort.uniforms[:, min(k, cohort.uniforms.shape[1] - 1)]
        if boundary:
            tumour_death = alive & (tum >= cohort.lethal)
            severe = (grade >= 3) & (day > 0)
            first_severe = severe & ~severe_before
            severe_before |= severe
            p_organ = 1.0 - (1.0 - np.where(grade >= 4, _FATAL[None, :], 0.0)) \
                * (1.0 - np.where(first_severe, _FATAL_ONSET[None, :], 0.0))
            p_irae = 1.0 - np.prod(1.0 - p_organ, axis=1)
            p_synd = tox.fatal_probability()
            irae_death = alive & ~tumour_death & (u[:, 0] < 1.0 - (1.0 - p_irae) * (1.0 - p_synd))
            synd_death = irae_death & (u[:, 0] >= p_irae)
            other = alive & ~tumour_death & ~irae_death & \
                (u[:, 1] < weekly_death_probability(age0 + max(day, 0) / 365.25, male))
            if day <= 0:  # patients are enrolled alive: no death is recorded before the first dose
                tumour_death = irae_death = synd_death = other = np.zeros(n, dtype=bool)
            for mask, cause in ((tumour_death, "tumour"), (irae_death & ~synd_death, "irae"),
                                (synd_death, "treatment"), (other, "other")):
                death_day[mask] = day
                death_cause[mask] = cause
            alive &= ~(tumour_death | irae_death | other)
            irae_death = irae_death & ~synd_death  # grade 5 of an irAE below
        else:
            irae_death = np.zeros(n, dtype=bool)
            p_organ = np.zeros(grade.shape)

        is_scan = (day in fixed_scans) | (patient_scans == day).any(axis=1)  # (n,) this patient's scan today
        on_treatment = dosing.remaining(day, progressed, treat_beyond_progression, n_arm) & ~m.stopped
        due_any = (dosing.next_due <= day + 1e-6).any(axis=1) & on_treatment
        managed = (m.steroid_mg > 0) | m.held | (tox.steroid_mg > 0)
        monitor = day - last_cyto <= CHEMO_MONITOR_DAYS + 1e-9
        visit = alive & (is_scan | due_any | managed | monitor | (grade >= 2).any(axis=1) | (day == 0)
                         | (k in daily_weeks))
        if day == 0:
            baseline_grade = grade.copy()  # pre-existing (e.g. paraneoplastic) findings are not irAEs
            baseline_hypo = hypo.copy()
        seen = np.where(visit[:, None], grade, 0)
        if day >= 0:
            seen = np.where(seen > baseline_grade, seen, 0)
            first1 = visit[:, None] & (seen >= 1) & np.isnan(onset1)
            first3 = visit[:, None] & (seen >= 3) & np.isnan(onset3)
            first2 = visit[:, None] & (seen >= 2) & np.isnan(onset2)
            onset2[first2] = np.broadcast_to(day, onset2.shape)[first2]
            onset1[first1] = np.broadcast_to(day, onset1.shape)[first1]
            onset3[first3] = np.broadcast_to(day, onset3.shape)[first3]
            grade_worst = np.maximum(grade_worst, seen)
            last_grade = np.where(visit[:, None], seen, last_grade)
            # the organs that could have killed (grade 4, or a first severe event that can: FATAL_SEVERE_ONSET) are grade 5
            fatal = irae_death[:, None] & (p_organ > 0)
            grade_worst = np.where(fatal, 5, grade_worst).astype(np.int8)
            # a fatal irAE is seen at death even without a visit: its onsets are that day where none was seen before
            for onset in (onset1, onset2, onset3):
                onset[fatal & np.isnan(onset)] = day
            neut_worst = np.maximum(neut_worst, np.where(visit, observe.neutropenia_grade(anc), 0)).astype(np.int8)
            hypo_seen = np.where(visit & (hypo > baseline_hypo), hypo, 0)
            hypo_onset = np.where(np.isnan(hypo_onset) & (hypo_seen >= 1), day, hypo_onset)
            hypo_worst = np.maximum(hypo_worst, hypo_seen).astype(np.int8)
            vit = np.where(visit, observe.vitiligo_grade(LAYOUT.get(y, "depigmentation")), 0)
            vit_onset = np.where(np.isnan(vit_onset) & (vit >= 1), day, vit_onset)
            vit_worst = np.maximum(vit_worst, vit).astype(np.int8)
            anc_nadir = np.where(visit, np.fmin(anc_nadir, anc), anc_nadir)
            tox.observe(syndromes, day, visit)

        # Imaging and response.
        response = np.full(n, "", dtype=object)
        sld = np.full(n, np.nan)
        sld_viable = np.full(n, np.nan)
        crossed = LAYOUT.get(y, "new_lesion_hazard")[:, None] > cohort.lesion_thresholds
        log_tum = np.log(tum)
        surfaced = observe.surface(surfaced, crossed, log_tum)
        new_les = np.zeros(n, dtype=np.int64)
        if is_scan.any():
            scanned = alive & is_scan
            # CT reads viable tumour, debris, resorbing residue and scar (tumour.py); PET (Lugano) and cystoscopy with
            # biopsy read viable tumour only. The viable reading is kept for every scan (what a PET would show).
            noise_k = cohort.scan_noise[:, min(k, cohort.scan_noise.shape[1] - 1)]
            sld0 = cohort.covariates["sld0_mm"].to_numpy(float)
            sld_viable = np.where(scanned, observe.sld(tum, cohort.tumour0, sld0, cohort.n_lesions, noise_k), np.nan)
            measured = tum if viable_only else tum + ct_residue(y)
            sld = sld_viable if viable_only else observe.sld(measured, cohort.tumour0, sld0, cohort.n_lesions, noise_k)
            sld = np.where(scanned, sld, np.nan)
            if day == 0:
                base_les = crossed.sum(axis=1)  # lesions surfaced by baseline (since the pre-treatment scan) are not new
            if day > 0:
                seen_new |= observe.new_lesions_visible(surfaced, crossed, log_tum, base_les) & scanned[:, None]
            new_les = np.where(scanned, seen_new.sum(axis=1), 0)
            for i in np.flatnonzero(scanned):
                scans[i].append((day, float(sld[i]), int(new_les[i])))
            if day == 0:
                baseline_sld = sld.copy()
                nadir = sld.copy()
                ir_state = IrecistState(baseline_sld)
            elif day > 0:
                new_count = new_les
                pd_now = scanned & ((sld >= 1.2 * nadir - 1e-9) & (sld - nadir >= 5.0 - 1e-9) | (new_count > 0))
                pr_now = scanned & (sld <= 0.7 * baseline_sld + 1e-9)
                response = np.where(pd_now, "PD", np.where(sld <= cr_sld, "CR", np.where(pr_now, "PR", "SD")))
                response = np.where(scanned, response, "")
                if irecist:
                    # the scans read as clinic/recist.py reads them (IrecistState): a scan under 28 days after the
                    # iUPD neither confirms nor resets it, and what confirms depends on what triggered the iUPD
                    newly, confirm = ir_state.scan(scanned & ~progressed, sld, new_count.astype(float), day)
                    prog_day[confirm] = ir_state.upd_day[confirm]
                    progressed |= confirm
                    response = np.where(newly, "iUPD", np.where(confirm, "iCPD", response))
                else:
                    newly = pd_now & ~progressed
                    prog_day[newly] = day
                    progressed |= newly
                nadir = np.where(scanned, np.fmin(nadir, sld), nadir)
                if post is not None and post.drugs:
                    # One draw per patient (the first step's post-progression column), so ``fraction`` is the share
                    # of progressing patients treated, not a chance renewed at every visit.
                    # (at the patient's own scan: with a visit window, other patients' scan days must not matter)
                    start = scanned & progressed & ~dosing.active[:, n_arm:].any(axis=1) & (post_u < post.fraction)
                    # Next-line therapy is a new course: the first line ends, and a permanent stop or a hold for
                    # toxicity on it no longer bars the next line's drugs (an irAE still active holds or stops them
                    # again through the guideline at this visit).
                    dosing.active[start, :n_arm] = False
                    m.stopped[start], m.held[start], m.held_weeks[start] = False, False, 0.0
                    dosing.start_post(start, day, n_arm)

        # Management, then doses.
        if day >= 0:
            manage(m, np.where(visit[:, None], grade, 0), weight, day, alive & visit, guideline,
                   np.where(visit, hypo, 0), step_weeks=dt / STEP, steroid_scale=steroid_scale)
            toci = tox.manage({k_: np.where(visit, g_, 0) for k_, g_ in syndromes.items()}, weight, day,
                              alive & visit, dt) if guideline != "none" else np.zeros(n)
            y[:, toci_index] += toci
            ctla4_left = np.zeros(n, dtype=bool)
            for j, d in enumerate(dosing.entries[:n_arm]):
                if dosing.slot[j] == 1:
                    ctla4_left |= dosing.active[:, j] & ((dosing.given[:, j] < d.doses) if d.doses else True)
            stopped_now = alive & (m.stopped | (m.ctla4_stopped & ctla4_left)) & (stop_reason == "")
            stop_reason[stopped_now] = "toxicity"
            stop_day[stopped_now] = day
            # irAE holds apply to the immunotherapies; cytotoxic doses wait for neutrophil recovery.
            held = np.where(cyto[None, :], (anc < CHEMO_MIN_ANC)[:, None], m.held[:, None])
            held = held | (dosing.subdaily[None, :] & (syndromes["leak"] >= 3)[:, None]) \
                | ((dosing.slot == bcg)[None, :] & (syndromes["cystitis"] >= 3)[:, None])
            doses = dosing.due(day, alive & ~m.stopped, held, m.ctla4_stopped, progressed,
                               treat_beyond_progression, n_arm, dt)
            last_cyto = np.where((doses[:, cyto] > 0).any(axis=1), day, last_cyto)
            dosed_ckpt = (doses[:, ckpt] > 0).any(axis=1)
            ckpt_first = np.where(dosed_ckpt & np.isnan(ckpt_first), day, ckpt_first)
            ckpt_last = np.where(dosed_ckpt, day, ckpt_last)
            # a drug given over the step (oral, sub-daily, subcutaneous: Dosing.infused) is last taken on its last day
            given1 = doses[:, :n_arm] > 0
            line1_last = np.where(given1.any(axis=1),
                                  np.where((given1 & dosing.infused[None, :n_arm]).any(axis=1), day + dt - 1, day),
                                  line1_last)
            ended = alive & (stop_reason == "") & ~dosing.remaining(day + dt, progressed, treat_beyond_progression, n_arm) \
                & (dosing.given[:, :n_arm].sum(axis=1) > 0)
            stop_reason[ended] = np.where(progressed[ended], "progression", "completed")
            stop_day[ended] = day
            for j in np.flatnonzero(~dosing.infused):
                y[:, dosing.index[j]] += doses[:, j]
        else:
            doses = np.zeros_like(dosing.amount)
        rate = np.zeros((n, N_SLOTS))
        for j in np.flatnonzero(dosing.infused):
            rate[:, dosing.slot[j]] += doses[:, j] / dt  # the step's doses over the step (mg/day)

        if record_visits:
            conc = LAYOUT.get(y, "pk_central") / idx_vc
            rows = np.flatnonzero(visit | (is_scan & alive))
            visits["patient"].extend(cohort.index[rows].tolist())
            visits["day"].extend([day] * len(rows))
            visits["scan"].extend(is_scan[rows].tolist())
            visits["sld_mm"].extend(sld[rows].tolist())
            visits["sld_viable_mm"].extend(sld_viable[rows].tolist())
            visits["new_lesions"].extend(new_les[rows].tolist())
            visits["response"].extend(response[rows].tolist())
            for j, name in enumerate(IRAES):
                visits[name].extend(grade[rows, j].tolist())
            for key in observe.OBSERVATION_SCALES:
                visits[key].extend(lab[key][rows].tolist())
            visits["anc"].extend(anc[rows].tolist())
            visits["c_pd1"].extend(conc[rows, 0].tolist())
            visits["c_ctla4"].extend(conc[rows, 1].tolist())
            visits["steroid_mg"].extend(m.steroid_mg[rows].tolist())
            visits["dosed"].extend(["+".join(dosing.entries[j].name for j in np.flatnonzero(doses[i] > 0))
                                    for i in rows])
            visits["held"].extend(m.held[rows].tolist())
            visits["stopped"].extend(m.stopped[rows].tolist())
            visits["alive"].extend(alive[rows].tolist())
            for key in ("crs", "icans", "leak", "cystitis"):
                visits[f"{key}_grade"].extend(syndromes[key][rows].tolist())
            visits["car_cells_ul"].extend((y[rows, car_i] * 1e9 * CAR_BLOOD_FRACTION / BLOOD_UL).tolist())

        inputs = engine.zero_inputs(n)
        inputs["steroid"] = m.steroid_mg + tox.steroid_mg
        inputs["second_line"] = (m.second_line_left > 0).astype(float)
        inputs["tfd"] = dosing.first_dose.copy()
        inputs["rate"] = rate
        _clear_spent_drug(y, params, rate)
        ys, ok = engine.step(y, params, inputs, day, dt, active=alive)
        bad = alive & ~ok
        failed[bad] = f"integration failed between day {day:g} and {day + dt:g}"
        fail_day[bad] = day
        alive &= ok
        car = ys[:, :, car_i].max(axis=1) * 1e9 * CAR_BLOOD_FRACTION / BLOOD_UL
        higher = alive & (car > car_peak)
        car_peak_day = np.where(higher, day + 1 + ys[:, :, car_i].argmax(axis=1), car_peak_day)
        car_peak = np.where(higher, car, car_peak)
        days = day + np.arange(1, dt + 1)
        # cut at the first next-line dose, as the reporting window is (ae_window_end)
        window = ~np.isnan(ckpt_first)[:, None] & (days[None, :] <= (ckpt_last + AE_WINDOW_DAYS)[:, None]) \
            & ~(days[None, :] > dosing.next_line_day[:, None]) \
            & (days[None, :] <= follow_up_days) & alive[:, None]
        activity_days += np.where(window, np.maximum(autoreactive_activity(ys, params) - activity0[:, None], 0.0),
                                  0.0).sum(axis=1)
        if traj is not None:
            traj.day.extend((day + np.arange(1, dt + 1)).tolist())
            traj.states.append(ys)
        if 42 <= day < 84:  # per patient, over the weeks it is alive: independent of who shares the batch
            c = ys[:, :, LAYOUT.slices["pk_central"]] / idx_vc[:, None, :]
            conc_sum += np.where(alive[:, None], c.sum(axis=1), 0.0)
            conc_min = np.where(alive[:, None], np.minimum(conc_min, c.min(axis=1)), conc_min)
            conc_cnt += np.where(alive, dt, 0)
        y = np.where(alive[:, None], ys[:, -1], y)

    cavg = np.where(conc_cnt[:, None] > 0, conc_sum / np.maximum(conc_cnt, 1)[:, None], np.nan)
    # Exposure ends at death, at an integration failure, or at the end of follow-up (not at the batch's last
    # step, which depends on who shares the batch).
    exposure = checkpoint_exposure(ckpt_first, ckpt_last, np.fmin(np.fmin(death_day, fail_day), dosing.next_line_day),
                                   follow_up_days)
    nonimmune, systemic = other_trae(exposure, activity_days, params["nonimmune_trae_rate"],
                                     params["systemic_irae_rate"], cohort.uniforms[:, 0, 3])
    background = background_reports(ckpt_first, exposure,
                                    (params["background_diarrhoea_rate"], params["background_rash_rate"]),
                                    cohort.report_uniforms)
    cmin = np.where(np.isinf(conc_min), np.nan, conc_min)
    return ClinicResult(scans, visits, grade_worst, onset1, onset3, onset2, last_grade, death_day, death_cause,
                        prog_day, failed, m, dosing, stop_reason, stop_day, cavg, cmin, traj, day, idx_vc,
                        neut_worst, anc_nadir, tox, car_peak, car_peak_day, b_cells, exposure, nonimmune,
                        activity_days, systemic, hypo_worst, hypo_onset, vit_worst, vit_onset, cr_sld,
                        ae_window_end(line1_last, dosing.next_line_day), background)


def scheduled_scan_days(assessment: Assessment, follow_up_days: float) -> np.ndarray:
    """The on-treatment scan days of the protocol on the clinic's weekly grid (duplicates merged), up to the largest
    move the visit window makes past the follow-up: a scan the window pulls inside follow-up is kept, as one it
    pushes past is lost (the clinic's loop never reaches a day past follow-up)."""
    reach = STEP * np.round(assessment.window_days / STEP)
    weekly = np.unique(STEP * np.round(assessment.scan_days(follow_up_days + reach) / STEP))
    return weekly[weekly > 0]


def scan_schedule(scheduled: np.ndarray, window_days: float, u: np.ndarray) -> np.ndarray:
    """(N, S) each patient's on-treatment scan days: the scheduled days (S,), distinct and already on the clinic's
    weekly grid, each moved by a day drawn uniformly within ``window_days`` either side (``u``, (N, >= S) uniforms,
    column k for the k-th scan) and rounded to the week: a window under half a week moves no scan. The spec keeps
    the largest move under half the shortest interval between the rounded days (the first from day 0), so a
    patient's scans stay after day 0 and in their order."""
    scheduled = np.asarray(scheduled, dtype=float)
    n = len(u)
    if window_days <= 0 or len(scheduled) == 0:
        return np.broadcast_to(scheduled, (n, len(scheduled))).copy()
    shift = STEP * np.round((2.0 * u[:, : len(scheduled)] - 1.0) * window_days / STEP)
    return scheduled[None, :] + shift


def ae_window_end(last_dose_day: np.ndarray, next_line_day: np.ndarray) -> np.ndarray:
    """Last day of the adverse-event reporting window: ``AE_WINDOW_DAYS`` after the last first-line dose, or the day
    of the first next-line dose if that comes sooner (the clinic grades a visit before that day's doses, so what it
    sees then is the first line's; an event under another therapy is not the study drug's: assumed, as a trial's
    attribution would read it). NaN for a patient never dosed."""
    return np.fmin(last_dose_day + AE_WINDOW_DAYS, np.where(np.isnan(last_dose_day), np.nan, next_line_day))


def autoreactive_activity(states: np.ndarray, params: dict) -> np.ndarray:
    """Autoreactive activity of each state (``states``: patients x times x state): the sum over organs of
    h(A_o) = A_o^2/(A_o^2 + A50^2), the activity that sets systemic IL-2 (:mod:`..model.cytokines`); about
    0.013 in a tolerised patient, 1 per fully activated organ."""
    a = states[:, :, LAYOUT.slices["autoreactive"]]
    a50 = np.broadcast_to(np.asarray(params["a50"], float), (states.shape[0],))[:, None, None]
    return np.sum(a**2 / (a**2 + a50**2), axis=2)


def checkpoint_exposure(first: np.ndarray, last: np.ndarray, death_day: np.ndarray, end_day: float) -> np.ndarray:
    """Checkpoint-antibody exposure (days): first dose to ``AE_WINDOW_DAYS`` after the last, cut at ``death_day``
    (the clinic passes the earliest of death, an integration failure and the first next-line dose) or the end of
    follow-up; 0 if never dosed."""
    stop = np.fmin(np.fmin(last + AE_WINDOW_DAYS, death_day), end_day)
    return np.where(np.isnan(first), 0.0, np.maximum(stop - first, 0.0))


def other_trae(exposure_days: np.ndarray, activity_days: np.ndarray, nonimmune_per_month: np.ndarray,
               systemic_per_month: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Grade >= 3 treatment-related events outside the modelled organs, from one uniform draw ``u`` per patient:
    non-immune events at a constant hazard per month of checkpoint exposure, and immune-related ones (lipase and
    amylase rises, fatigue, pyrexia and the like) at a hazard proportional to the autoreactive activity above the
    patient's pre-treatment level, integrated over the same window (``activity_days``, organ-days). Competing
    hazards: an event happens with probability 1 - exp(-(H_n + H_s)) and is immune-related with probability
    H_s/(H_n + H_s). Returns (non-immune event, immune-related event)."""
    h_n = np.asarray(nonimmune_per_month, float) * exposure_days / DAYS_PER_MONTH
    h_s = np.asarray(systemic_per_month, float) * activity_days / DAYS_PER_MONTH
    h = h_n + h_s
    p = 1.0 - np.exp(-h)
    event = u < p
    systemic = event & (u < p * np.divide(h_s, h, out=np.zeros_like(h), where=h > 0))
    return event & ~systemic, systemic


def background_reports(first_day: np.ndarray, exposure_days: np.ndarray,
                       rates_per_month: Sequence[np.ndarray | float], u: np.ndarray) -> np.ndarray:
    """Events reported as treatment-related without an immune cause, as a placebo arm reports them (diarrhoea,
    rash: ``background_diarrhoea_rate``, ``background_rash_rate``), one per column of ``u`` (patients x events): each
    at a constant hazard per month of checkpoint exposure (the reporting window from the first dose, ``first_day``,
    :func:`checkpoint_exposure`), so it is reported with probability 1 - exp(-rate * exposure), on the day its
    exposure time -ln(1 - u)/rate is reached (inverse transform). Grade 1, not acted on; a safety table counts it
    with the organ's immune events (outcomes.reported_column). Returns the day of each report (patients x events),
    NaN where there is none."""
    exposure = np.asarray(exposure_days, float)[:, None]
    rates = np.stack([np.broadcast_to(np.asarray(r, float), exposure.shape[:1]) for r in rates_per_month], axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = -np.log1p(-np.asarray(u, float)) / rates * DAYS_PER_MONTH  # exposure days to the report
    return np.where(t < exposure, np.asarray(first_day, float)[:, None] + t, np.nan)


__all__ = ["run_clinic", "ClinicResult", "INDEX", "other_trae", "checkpoint_exposure", "ae_window_end",
           "background_reports"]
