"""Per-patient outcomes from what the clinic observed: response, PFS, OS, irAEs, exposure.

Only observed data enter here (scans, visit grades, event dates): RECIST 1.1 / iRECIST
categories and best overall response (:mod:`.recist`), progression-free survival
(progression or death; censored at the last scan, FDA 2018 guidance), overall survival
(censored at the end of follow-up), duration of response, hyperprogression (:mod:`.hpd`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..model.organs import IRAES
from ..units import DAYS_PER_MONTH
from . import hpd, recist
from .run import ClinicResult


def patient_rows(res: ClinicResult, covariates: pd.DataFrame, *, criteria: str, confirm: bool,
                 hpd_definition: str) -> pd.DataFrame:
    n = len(covariates)
    rows: dict[str, list] = {k: [] for k in (
        "status", "status_reason", "bor", "criteria", "best_pct_change", "dor_months", "dor_event",
        "pfs_months", "pfs_event", "os_months", "os_event", "death_cause", "hpd", "tgr_ref", "tgr_exp",
        "response_onset_months", "cr_onset_months", "next_line_bor", "next_line_bor_confirmed")}
    for i in range(n):
        failed = bool(res.failed_reason[i])
        scans = res.scans[i]
        days = np.array([s[0] for s in scans if s[0] > 0])
        sld = np.array([s[1] for s in scans if s[0] > 0])
        new = np.array([s[2] for s in scans if s[0] > 0])
        base = next((s for s in scans if s[0] == 0), None)
        pre = next((s for s in scans if s[0] < 0), None)
        if base is not None:
            new = new - base[2]
        b = base[1] if base is not None else np.nan
        cr = float(res.cr_sld_mm[i])  # lymph nodes on CT: under 10 mm each (Cancer.nodal)
        if criteria == "irecist":
            cats = recist.irecist_timepoints(sld, new, b, days, cr_threshold_mm=cr) if len(days) else []
            bor = recist.irecist_best_response(days, cats, confirm=confirm) if len(days) else "NE"
            bor_plain = bor[1:] if bor.startswith("i") else bor
            bor_plain = {"UPD": "PD", "CPD": "PD"}.get(bor_plain, bor_plain)
        else:
            cats = recist.timepoint_response(sld, new, b, cr_threshold_mm=cr) if len(days) else []
            bor_plain = recist.best_overall_response(days, cats, confirm=confirm) if len(days) else "NE"
        pday = recist.progression_day(days, cats) if len(days) else None
        pday = None if pday is None or (isinstance(pday, float) and np.isnan(pday)) else float(pday)
        dd = res.death_day[i]
        last_scan = float(days[-1]) if len(days) else 0.0
        end = res.end_day
        if pday is not None and (np.isnan(dd) or pday <= dd):
            pfs, pfs_e = pday, True
        elif not np.isnan(dd):
            pfs, pfs_e = dd, True
        else:
            pfs, pfs_e = last_scan, False
        os_t, os_e = (dd, True) if not np.isnan(dd) else (end, False)
        onset, dur = recist.response_onset_and_duration(days, cats, pday) if len(days) else (None, None)
        if onset is not None and dur is None:
            if not np.isnan(dd):
                dor, dor_e = dd - onset, True
            else:
                dor, dor_e = last_scan - onset, False
        elif onset is not None:
            dor, dor_e = float(dur), True  # type: ignore[arg-type]
        else:
            dor, dor_e = np.nan, False
        best = float(np.nanmin((sld - b) / b * 100.0)) if len(days) and b > 0 and np.isfinite(sld).any() else np.nan
        if pre is not None and base is not None and len(days):
            first_pd = bool(cats and cats[0] in ("PD", "iUPD", "iCPD"))
            h, tr, te = hpd.hyperprogression(pre[1], pre[0], base[1], base[0], float(sld[0]), float(days[0]),
                                              first_pd, hpd_definition)
        else:
            h, tr, te = "NE", np.nan, np.nan
        rows["status"].append("failed" if failed else "ok")
        rows["status_reason"].append(res.failed_reason[i])
        rows["bor"].append("NE" if failed else bor_plain)
        rows["criteria"].append(criteria)
        rows["best_pct_change"].append(best)
        rows["dor_months"].append(dor / DAYS_PER_MONTH)
        rows["dor_event"].append(bool(dor_e))
        rows["pfs_months"].append(np.nan if failed else pfs / DAYS_PER_MONTH)
        rows["pfs_event"].append(bool(pfs_e) and not failed)
        rows["os_months"].append(np.nan if failed else os_t / DAYS_PER_MONTH)
        rows["os_event"].append(bool(os_e) and not failed)
        rows["death_cause"].append(res.death_cause[i])
        rows["hpd"].append(h)
        rows["tgr_ref"].append(tr)
        rows["tgr_exp"].append(te)
        cr_days = [d for d, c in zip(days, cats, strict=False) if c in ("CR", "iCR")]
        nl_day = float(res.dosing.next_line_day[i])
        rows["next_line_bor"].append("" if failed else next_line_bor(scans, nl_day, cr, confirm))
        # Confirmed whatever the spec asks: a second-line cohort's response (CheckMate 037) is read with confirmation.
        rows["next_line_bor_confirmed"].append("" if failed else next_line_bor(scans, nl_day, cr, True))
        rows["response_onset_months"].append(np.nan if failed or onset is None else onset / DAYS_PER_MONTH)
        rows["cr_onset_months"].append(np.nan if failed or not cr_days else float(cr_days[0]) / DAYS_PER_MONTH)
    out = pd.DataFrame(rows)
    for j, name in enumerate(IRAES):
        worst = res.grade_worst[:, j].astype(int)
        out[f"irae_{name}_grade"] = worst
        out[f"irae_{name}_onset_weeks"] = res.onset1[:, j] / 7.0
        out[f"irae_{name}_onset2_weeks"] = res.onset2[:, j] / 7.0
        out[f"irae_{name}_onset3_weeks"] = res.onset3[:, j] / 7.0
        out[f"irae_{name}_resolved"] = (worst >= 1) & (res.last_grade[:, j] <= (worst >= 2).astype(int))
    extra: dict[str, object] = {}
    extra["any_irae_grade"] = res.grade_worst.max(axis=1).astype(int)
    extra["neutropenia_grade"] = res.neutropenia_worst.astype(int)
    # Hypothyroidism as trial tables report it, apart from the thyrotoxic phase the thyroid's irAE grade includes.
    extra["hypothyroidism_grade"] = res.hypothyroid_worst.astype(int)
    extra["hypothyroidism_onset_weeks"] = res.hypothyroid_onset / 7.0
    # Vitiligo (depigmentation by tumour-primed T cells, model.tolerance): apart from the organ irAEs and any_irae_grade.
    extra["vitiligo_grade"] = res.vitiligo_worst.astype(int)
    extra["vitiligo_onset_weeks"] = res.vitiligo_onset / 7.0
    extra["anc_nadir"] = res.anc_nadir
    extra["checkpoint_exposure_months"] = res.checkpoint_exposure_days / DAYS_PER_MONTH
    extra["nonimmune_trae_grade3"] = res.nonimmune_trae
    extra["autoreactive_activity_months"] = res.autoreactive_activity_days / DAYS_PER_MONTH
    extra["systemic_irae_grade3"] = res.systemic_irae
    # Diarrhoea and rash reported as treatment-related without an immune cause (run.background_reports), grade 1:
    # counted where a safety table counts the organ's events (reported_column), not as irAEs.
    extra["diarrhoea_background_onset_weeks"] = res.background_reports[:, 0] / 7.0
    extra["rash_background_onset_weeks"] = res.background_reports[:, 1] / 7.0
    # Treatment-related adverse events as trial tables count them: irAEs, neutropenia and the grade >= 3 events
    # outside the modelled organs drawn by the clinic, non-immune and immune-related (graded 3: their grade beyond
    # 3 is not modelled).
    drawn = 3 * (res.nonimmune_trae | res.systemic_irae).astype(int)
    extra["any_trae_grade"] = np.maximum(np.maximum(extra["any_irae_grade"], extra["neutropenia_grade"]), drawn)
    # The same as a trial's safety table reports them: events first seen within the reporting window (first dose to
    # 30 days after the last first-line dose, cut at the first next-line dose: run.ae_window_end). Neutropenia is
    # counted over all follow-up (no onset day is kept); the drawn events are already counted in the exposure window.
    extra["ae_window_end_weeks"] = res.ae_window_end / 7.0
    extra["any_irae_grade_reported"] = reported_grade(res.grade_worst, res.onset1, res.onset2, res.onset3,
                                                      res.ae_window_end).max(axis=1).astype(int)
    extra["any_trae_grade_reported"] = np.maximum(np.maximum(extra["any_irae_grade_reported"],
                                                             extra["neutropenia_grade"]), drawn)
    m = res.management
    extra["steroids"] = ~np.isnan(m.steroid_start_day)
    extra["steroid_start_weeks"] = m.steroid_start_day / 7.0
    extra["steroid_max_mg"] = m.steroid_max
    extra["second_line"] = m.second_line_ever
    died_on = (res.stop_reason == "") & ~np.isnan(res.death_day) & (res.dosing.given.sum(axis=1) > 0)
    extra["discontinued"] = np.where(died_on, "death", res.stop_reason)
    extra["discontinued_weeks"] = np.where(died_on, res.death_day, res.stop_day) / 7.0
    extra["rechallenged"] = m.rechallenged
    # Next-line therapy ([post_progression]): months from the first dose to the first next-line dose (NaN: none given).
    extra["next_line_months"] = res.dosing.next_line_day / DAYS_PER_MONTH
    t = res.tox
    for key, label in (("crs", "crs"), ("icans", "icans"), ("leak", "capillary_leak"), ("cystitis", "cystitis")):
        extra[f"{label}_grade"] = t.worst[key].astype(int)
        extra[f"{label}_onset_days"] = t.onset[key]
        extra[f"{label}_last_day"] = t.last_high[key]
    extra["tocilizumab_doses"] = t.toci_doses
    extra["syndrome_steroids"] = ~np.isnan(t.steroid_day)
    extra["syndrome_steroid_max_mg"] = t.steroid_max
    extra["car_peak_cells_ul"] = res.car_peak
    extra["car_peak_day"] = res.car_peak_day
    for d, v in res.b_cells.items():
        extra[f"b_cells_day{d}"] = v
    sub = res.dosing.subdaily
    extra["subdaily_doses_given"] = res.dosing.given[:, sub].sum(axis=1) if sub.any() else 0
    extra["subdaily_doses_skipped"] = res.dosing.skipped[:, sub].sum(axis=1) if sub.any() else 0
    for s, slot in ((0, "pd1"), (1, "ctla4"), (3, "cyto")):
        used = (res.dosing.slot == s).any()
        extra[f"cavg_{slot}"] = res.cavg[:, s] if used else np.nan
        extra[f"cmin_{slot}"] = res.cmin[:, s] if used else np.nan
    out = pd.concat([out, pd.DataFrame(extra, index=out.index)], axis=1)
    return pd.concat([covariates.reset_index(drop=True), out], axis=1)


def next_line_bor(scans: list[tuple[float, float, int]], start_day: float, cr_threshold_mm: float,
                  confirm: bool) -> str:
    """RECIST 1.1 best overall response to next-line therapy ("" when none was given): the last scan on or before
    its first dose (the scan that found the progression) is the new baseline, and new lesions count from it, as a
    second-line trial such as CheckMate 037 reads response in patients who progressed on ipilimumab."""
    if np.isnan(start_day):
        return ""
    before = [s for s in scans if s[0] <= start_day + 1e-9]
    after = [s for s in scans if s[0] > start_day + 1e-9]
    if not before or not after:
        return "NE"
    base_day, base_sld, base_new = before[-1]
    days = np.array([s[0] for s in after]) - base_day
    sld = np.array([s[1] for s in after])
    new = np.array([s[2] for s in after], dtype=float) - base_new
    cats = recist.timepoint_response(sld, new, base_sld, cr_threshold_mm=cr_threshold_mm)
    return recist.best_overall_response(days, cats, confirm=confirm)


def reported_grade(worst: np.ndarray, onset1: np.ndarray, onset2: np.ndarray, onset3: np.ndarray,
                   window_end: np.ndarray) -> np.ndarray:
    """(N, organs) worst irAE grade first seen by ``window_end`` (day, per patient): grade k counts if its first
    visit at grade >= k (``onset_k``) falls in the window. Grades 4 and 5 count with their grade-3 onset (their own
    onset is not kept; assumed close to it). A patient never dosed (``window_end`` NaN) keeps every grade seen."""
    end = np.where(np.isnan(window_end), np.inf, window_end)[:, None]
    rep = np.where(onset3 <= end, 3, np.where(onset2 <= end, 2, np.where(onset1 <= end, 1, 0)))
    return np.where(rep == 3, np.maximum(worst, 3), rep).astype(np.int8)


#: Organ grade column -> the column of its background reports (events reported as treatment-related without an immune
#: cause, clinic/run.background_reports): the gut's any grade is read as diarrhoea, the skin's as rash.
BACKGROUND_REPORTS = {"irae_colitis_grade": "diarrhoea_background_onset_weeks",
                      "irae_dermatitis_grade": "rash_background_onset_weeks"}


def reported_column(df: pd.DataFrame, column: str, cutoff_weeks: float | None = None,
                    background: bool = True) -> np.ndarray:
    """A patient table's organ grade column (``irae_<organ>_grade`` or ``hypothyroidism_grade``) as a trial's safety
    table counts it: the events first seen within the reporting window (``ae_window_end_weeks``; see
    :func:`reported_grade`), and before the analysis's data cut-off ``cutoff_weeks`` from the start of treatment
    where one is given (it applies to every patient, a patient never dosed too). Hypothyroidism keeps only its first
    onset, so its worst grade counts when that onset is in the window. A table without the window and without a
    cut-off, or without the onsets, keeps every grade. The gut's and the skin's add the diarrhoea and rash
    reported without an immune cause (``BACKGROUND_REPORTS``, grade 1), as a safety table counts every event the
    investigator attributes to the drug, unless ``background`` is False (the organ's immune events alone)."""
    end = _table_end_weeks(df, cutoff_weeks)
    grade = _reported_immune(df, column, None if np.isinf(end).all() else end * 7.0)
    if background:
        grade = np.maximum(grade, _background_by(df, column, end).astype(int))
    return grade


def reported_background(df: pd.DataFrame, column: str, cutoff_weeks: float | None = None) -> np.ndarray:
    """Which patients' table has a background report (no immune cause) where ``column``'s organ is read: reported
    within the reporting window and before the cut-off, as :func:`reported_column` counts it. All False for an organ
    without background reports or a table without their column."""
    return _background_by(df, column, _table_end_weeks(df, cutoff_weeks))


def _background_by(df: pd.DataFrame, column: str, end: np.ndarray) -> np.ndarray:
    """Background reports of ``column``'s organ made by week ``end`` (per patient; NaN: a patient never dosed)."""
    reports = BACKGROUND_REPORTS.get(column)
    if reports not in df:
        return np.zeros(len(df), bool)
    onset = df[reports].to_numpy(float)
    return (onset <= end) | (~np.isnan(onset) & np.isnan(end))


def _table_end_weeks(df: pd.DataFrame, cutoff_weeks: float | None) -> np.ndarray:
    """Each patient's last week in a safety table: the reporting window's end, cut at ``cutoff_weeks``; inf where the
    table has neither."""
    end = df["ae_window_end_weeks"].to_numpy(float) if "ae_window_end_weeks" in df else np.full(len(df), np.inf)
    return end if cutoff_weeks is None else np.fmin(end, float(cutoff_weeks))


def _reported_immune(df: pd.DataFrame, column: str, end: np.ndarray | None) -> np.ndarray:
    """The organ's immune events of :func:`reported_column`, without the background reports: those first seen by day
    ``end`` (None: every grade)."""
    grade = df[column].fillna(0).to_numpy(int)
    stem = column[: -len("_grade")]
    if end is None or f"{stem}_onset_weeks" not in df:  # no window, or no onsets to place in one: every grade
        return grade
    if column == "hypothyroidism_grade":
        onset = df["hypothyroidism_onset_weeks"].to_numpy(float) * 7.0
        return np.where(np.isnan(end) | (onset <= end), grade, 0)
    days = [df[f"{stem}_onset{k}_weeks"].to_numpy(float)[:, None] * 7.0 for k in ("", "2", "3")]
    return reported_grade(grade[:, None], *days, end)[:, 0].astype(int)
