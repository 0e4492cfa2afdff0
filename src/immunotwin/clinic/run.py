"""The clinic: visits on a schedule around batched integration of the model.

From the pre-treatment scan (``pre_treatment_scan_days`` before day 0) to the end of
follow-up, each week the clinic sees what it would see: at scheduled visits (dosing days,
imaging days, while an irAE is being managed) and unscheduled ones (a grade >= 2 irAE), it
grades irAEs from the observed laboratory values, applies the management policy, gives the
doses due, and reads scans by RECIST 1.1 or iRECIST. Death comes from tumour burden, from
a fatal irAE or from other causes (life table). Every patient's randomness was drawn up
front from its own stream (:mod:`immunotwin.population`), so results do not depend on who
else is in the batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .. import engine
from ..drugs.catalogue import is_cytotoxic, slot_params
from ..model.core import LAYOUT, initial_state
from ..model.organs import INDEX, IRAES
from ..model.slots import N_SLOTS
from ..population import Cohort
from ..spec import Assessment, DrugSchedule, PostProgression
from . import observe
from .lifetable import weekly_death_probability
from .policy import Management, manage
from .schedule import Dosing

STEP = engine.STEP_DAYS
IRCP_CONFIRM_DAYS = 28.0
# Weekly probability of death while an irAE is at grade 4 (assumed; ordered as the case
# fatality of fatal irAEs in Wang DY et al., JAMA Oncol 2018: myocarditis highest).
FATAL_WEEKLY = {"myocarditis": 0.25, "neurologic": 0.12, "pneumonitis": 0.12, "hepatitis": 0.08,
                "colitis": 0.06, "hematologic": 0.08, "nephritis": 0.03, "hypophysitis": 0.05,
                "diabetes": 0.03, "dermatitis": 0.02, "thyroiditis": 0.0, "arthritis": 0.0}
_FATAL = np.array([FATAL_WEEKLY[k] for k in IRAES])
# Cytotoxic drugs: blood counts weekly for three weeks after each dose (nadir monitoring, assumed
# practice), and a dose waits while neutrophils are below 1.5e9/L (docetaxel label).
CHEMO_MONITOR_DAYS = 21.0
CHEMO_MIN_ANC = 1.5


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


def _visit_columns() -> dict[str, list]:
    cols = ["patient", "day", "scan", "sld_mm", "new_lesions", "response", *IRAES,
            *observe.OBSERVATION_SCALES, "anc", "c_pd1", "c_ctla4", "steroid_mg", "dosed", "held", "stopped", "alive"]
    return {c: [] for c in cols}


def run_clinic(cohort: Cohort, arm: Sequence[DrugSchedule], *, assessment: Assessment, guideline: str,
               treat_beyond_progression: bool, post: PostProgression | None, follow_up_days: float,
               record_visits: bool = True, keep_trajectory: bool = False,
               steroid_scale: float = 1.0) -> ClinicResult:
    n = cohort.n
    cov = cohort.covariates
    weight = cov["weight_kg"].to_numpy(float)
    height = cov["height_cm"].to_numpy(float)
    post_drugs = post.drugs if post else ()
    names = [d.name for d in (*arm, *post_drugs)]
    params = dict(cohort.params)
    params.update(slot_params(names, weight, cohort.pk_eta, cov["ldh_uln"].to_numpy(float) * 250.0))
    y = engine.burn_in(initial_state(params, cohort.tumour0), params)
    engine.enrol(y, params)
    dosing = Dosing.create(arm, post_drugs, weight, height)
    n_arm = len(arm)
    m = Management(n)

    t0 = -STEP * int(np.ceil(assessment.pre_treatment_scan_days / STEP))
    n_steps = int(np.ceil((follow_up_days - t0) / STEP)) + 1
    scan_days = {t0, 0.0, *(STEP * np.round(assessment.scan_days(follow_up_days) / STEP)).tolist()}
    irecist = assessment.criteria == "irecist"

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
    iupd_sld = np.full(n, np.nan)
    iupd_day = np.full(n, np.nan)
    iupd_new = np.zeros(n)
    stop_reason = np.full(n, "", dtype=object)
    stop_day = np.full(n, np.nan)
    scans: list[list[tuple[float, float, int]]] = [[] for _ in range(n)]
    visits = _visit_columns()
    conc_sum = np.zeros((n, N_SLOTS))
    conc_min = np.full((n, N_SLOTS), np.inf)
    neut_worst = np.zeros(n, dtype=np.int8)
    anc_nadir = np.full(n, np.nan)
    cyto = np.array([is_cytotoxic(d.name) for d in dosing.entries], dtype=bool)
    last_cyto = np.full(n, -np.inf)
    conc_cnt = np.zeros(n)
    traj = Trajectory() if keep_trajectory else None
    age0 = cov["age"].to_numpy(float)
    male = (cov["sex"] == "M").to_numpy()
    idx_vc = params["pk_vc"]

    for k in range(n_steps):
        day = float(t0 + k * STEP)
        if day > follow_up_days + 1e-9 or not alive.any():
            break
        tum = np.exp(LAYOUT.get(y, "log_sensitive")) + np.exp(LAYOUT.get(y, "log_resistant"))
        dmg, fun = LAYOUT.get(y, "damage"), LAYOUT.get(y, "function")
        lab = observe.labs(dmg, fun, m.replaced)
        grade = observe.grades(lab, dmg, fun, m.replaced)
        anc = LAYOUT.get(y, "neutrophils")

        # Deaths since the last visit: tumour burden, grade-4 irAEs, other causes.
        u = cohort.uniforms[:, min(k, cohort.uniforms.shape[1] - 1)]
        tumour_death = alive & (tum >= cohort.lethal)
        p_irae = 1.0 - np.prod(1.0 - np.where(grade >= 4, _FATAL[None, :], 0.0), axis=1)
        irae_death = alive & ~tumour_death & (u[:, 0] < p_irae)
        other = alive & ~tumour_death & ~irae_death & \
            (u[:, 1] < weekly_death_probability(age0 + max(day, 0) / 365.25, male))
        for mask, cause in ((tumour_death, "tumour"), (irae_death, "irae"), (other, "other")):
            death_day[mask] = day
            death_cause[mask] = cause
        if day > 0:
            alive &= ~(tumour_death | irae_death | other)

        is_scan = day in scan_days
        on_treatment = dosing.remaining(day, progressed, treat_beyond_progression, n_arm) & ~m.stopped
        due_any = (dosing.next_due <= day + 1e-6).any(axis=1) & on_treatment
        managed = (m.steroid_mg > 0) | m.held
        monitor = day - last_cyto <= CHEMO_MONITOR_DAYS + 1e-9
        visit = alive & (is_scan | due_any | managed | monitor | (grade >= 2).any(axis=1) | (day == 0))
        if day == 0:
            baseline_grade = grade.copy()  # pre-existing (e.g. paraneoplastic) findings are not irAEs
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
            grade_worst = np.where((irae_death[:, None]) & (grade >= 4), 5, grade_worst).astype(np.int8)
            neut_worst = np.maximum(neut_worst, np.where(visit, observe.neutropenia_grade(anc), 0)).astype(np.int8)
            anc_nadir = np.where(visit, np.fmin(anc_nadir, anc), anc_nadir)

        # Imaging and response.
        response = np.full(n, "", dtype=object)
        sld = np.full(n, np.nan)
        new_les = (LAYOUT.get(y, "new_lesion_hazard")[:, None] > cohort.lesion_thresholds).sum(axis=1)
        if is_scan:
            measured = tum + LAYOUT.get(y, "residual_mass")  # viable tumour and residual mass (tumour.py)
            sld = observe.sld(measured, cohort.tumour0, cohort.covariates["sld0_mm"].to_numpy(float),
                              cohort.n_lesions, cohort.scan_noise[:, k])
            sld = np.where(alive, sld, np.nan)
            if day <= 0:
                new_les = np.zeros(n, dtype=np.int64)
            for i in np.flatnonzero(alive):
                scans[i].append((day, float(sld[i]), int(new_les[i])))
            if day == 0:
                baseline_sld = sld.copy()
                nadir = sld.copy()
                base_les = new_les.copy()
            elif day > 0:
                new_count = new_les - base_les
                pd_now = alive & ((sld >= 1.2 * nadir - 1e-9) & (sld - nadir >= 5.0 - 1e-9) | (new_count > 0))
                pr_now = alive & (sld <= 0.7 * baseline_sld + 1e-9)
                response = np.where(pd_now, "PD", np.where(sld == 0, "CR", np.where(pr_now, "PR", "SD")))
                response = np.where(alive, response, "")
                if irecist:
                    confirm = alive & ~np.isnan(iupd_day) & ~progressed & (day - iupd_day >= IRCP_CONFIRM_DAYS - 1e-6) \
                        & ((sld - iupd_sld >= 5.0) | (new_count > iupd_new))
                    reset = alive & ~np.isnan(iupd_day) & ~progressed & ~pd_now
                    newly = alive & np.isnan(iupd_day) & pd_now & ~progressed
                    iupd_day[newly], iupd_sld[newly], iupd_new[newly] = day, sld[newly], new_count[newly]
                    prog_day[confirm] = iupd_day[confirm]
                    progressed |= confirm
                    iupd_day[reset] = np.nan
                    response = np.where(newly, "iUPD", np.where(confirm, "iCPD", response))
                else:
                    newly = pd_now & ~progressed
                    prog_day[newly] = day
                    progressed |= newly
                nadir = np.where(alive, np.fmin(nadir, sld), nadir)
                if post is not None and post.drugs:
                    start = progressed & alive & ~dosing.active[:, n_arm:].any(axis=1) & (u[:, 2] < post.fraction)
                    dosing.start_post(start, day, n_arm)

        # Management, then doses.
        if day >= 0:
            manage(m, np.where(visit[:, None], grade, 0), weight, day, alive & visit, guideline,
                   steroid_scale=steroid_scale)
            ctla4_left = np.zeros(n, dtype=bool)
            for j, d in enumerate(dosing.entries[:n_arm]):
                if dosing.slot[j] == 1:
                    ctla4_left |= dosing.active[:, j] & ((dosing.given[:, j] < d.doses) if d.doses else True)
            stopped_now = alive & (m.stopped | (m.ctla4_stopped & ctla4_left)) & (stop_reason == "")
            stop_reason[stopped_now] = "toxicity"
            stop_day[stopped_now] = day
            # irAE holds apply to the immunotherapies; cytotoxic doses wait for neutrophil recovery.
            held = np.where(cyto[None, :], (anc < CHEMO_MIN_ANC)[:, None], m.held[:, None])
            doses = dosing.due(day, alive & ~m.stopped, held, m.ctla4_stopped, progressed,
                               treat_beyond_progression, n_arm, STEP)
            last_cyto = np.where((doses[:, cyto] > 0).any(axis=1), day, last_cyto)
            ended = alive & (stop_reason == "") & ~dosing.remaining(day + STEP, progressed, treat_beyond_progression, n_arm) \
                & (dosing.given[:, :n_arm].sum(axis=1) > 0)
            stop_reason[ended] = np.where(progressed[ended], "progression", "completed")
            stop_day[ended] = day
            pk0 = LAYOUT.slices["pk_central"].start
            for j in range(len(dosing.entries)):
                y[:, pk0 + dosing.slot[j]] += doses[:, j]
        else:
            doses = np.zeros_like(dosing.amount)

        if record_visits:
            conc = LAYOUT.get(y, "pk_central") / idx_vc
            rows = np.flatnonzero(visit | (is_scan & alive))
            visits["patient"].extend(cohort.index[rows].tolist())
            visits["day"].extend([day] * len(rows))
            visits["scan"].extend([is_scan] * len(rows))
            visits["sld_mm"].extend(sld[rows].tolist())
            visits["new_lesions"].extend((new_les[rows] if is_scan else np.zeros(len(rows), int)).tolist())
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

        inputs = engine.zero_inputs(n)
        inputs["steroid"] = m.steroid_mg.copy()
        inputs["second_line"] = (m.second_line_left > 0).astype(float)
        inputs["tfd"] = dosing.first_dose.copy()
        ys, ok = engine.step(y, params, inputs, day)
        bad = alive & ~ok
        failed[bad] = f"integration failed between day {day:g} and {day + STEP:g}"
        alive &= ok
        if traj is not None:
            traj.day.extend((day + np.arange(1, STEP + 1)).tolist())
            traj.states.append(ys)
        if 42 <= day < 84:  # per patient, over the weeks it is alive: independent of who shares the batch
            c = ys[:, :, LAYOUT.slices["pk_central"]] / idx_vc[:, None, :]
            conc_sum += np.where(alive[:, None], c.sum(axis=1), 0.0)
            conc_min = np.where(alive[:, None], np.minimum(conc_min, c.min(axis=1)), conc_min)
            conc_cnt += np.where(alive, STEP, 0)
        y = np.where(alive[:, None], ys[:, -1], y)

    cavg = np.where(conc_cnt[:, None] > 0, conc_sum / np.maximum(conc_cnt, 1)[:, None], np.nan)
    cmin = np.where(np.isinf(conc_min), np.nan, conc_min)
    return ClinicResult(scans, visits, grade_worst, onset1, onset3, onset2, last_grade, death_day, death_cause,
                        prog_day, failed, m, dosing, stop_reason, stop_day, cavg, cmin, traj, day, idx_vc,
                        neut_worst, anc_nadir)


__all__ = ["run_clinic", "ClinicResult", "INDEX"]
