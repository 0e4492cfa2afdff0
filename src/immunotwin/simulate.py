"""One virtual patient, end to end: ``simulate_patient`` and its outputs.

The single-patient path is the trial path with a batch of one: the same population
sampler, clinic and engine, so a patient simulated here is the patient of that index in a
trial with the same seed and spec.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .clinic.outcomes import patient_rows
from .clinic.run import ClinicResult, run_clinic
from .model.organs import IRAES
from .population import sample_cohort
from .spec import DEFAULT_IMAGING, Assessment, DrugSchedule, PostProgression
from .units import DAYS_PER_MONTH


@dataclass(frozen=True)
class PatientRun:
    patient: pd.Series
    visits: pd.DataFrame
    events: dict[str, Any]
    clinic: ClinicResult
    cancer: str
    regimen: tuple[DrugSchedule, ...]


def simulate_patient(*, cancer: str = "melanoma", regimen: Sequence[DrugSchedule] = (),
                     patient: Mapping[str, Any] | None = None, days: float = 365.0, seed: int = 0,
                     guideline: str = "asco2021", assessment: Assessment | None = None,
                     post: PostProgression | None = None, index: int = 0) -> PatientRun:
    """Simulate patient ``index`` of ``cancer`` (covariates pinned by ``patient``) for ``days``."""
    assessment = assessment or Assessment(imaging=DEFAULT_IMAGING[cancer])
    n_steps = int(np.ceil((days + assessment.pre_treatment_scan_days) / 7.0)) + 2
    fixed = dict(patient or {})
    cancer = str(fixed.pop("cancer", cancer))
    cohort = sample_cohort(cancer, {}, seed, 0, [index], n_steps, fixed=fixed)
    res = run_clinic(cohort, tuple(regimen), assessment=assessment, guideline=guideline,
                     treat_beyond_progression=False, post=post, follow_up_days=days, record_visits=True,
                     keep_trajectory=True)
    row = patient_rows(res, cohort.covariates, criteria=assessment.criteria, confirm=assessment.confirm_response,
                       hpd_definition=assessment.hpd_definition).iloc[0]
    visits = pd.DataFrame(res.visits)
    return PatientRun(row, visits, _events(row, visits), res, cancer, tuple(regimen))


def _events(row: pd.Series, visits: pd.DataFrame) -> dict[str, Any]:
    def num(x: Any) -> float | None:
        return None if x is None or (isinstance(x, float) and np.isnan(x)) else round(float(x), 3)

    iraes = []
    for name in IRAES:
        g = int(row[f"irae_{name}_grade"])
        if g >= 1:
            iraes.append({"irae": name, "worst_grade": g, "onset_week": num(row[f"irae_{name}_onset_weeks"]),
                          "grade3_onset_week": num(row[f"irae_{name}_onset3_weeks"]),
                          "resolved": bool(row[f"irae_{name}_resolved"])})
    iraes.sort(key=lambda e: e["onset_week"] if e["onset_week"] is not None else 1e9)
    return {
        "status": row["status"], "status_reason": row["status_reason"],
        "response": {"best_overall_response": row["bor"], "criteria": row["criteria"],
                     "best_pct_change": num(row["best_pct_change"]), "duration_months": num(row["dor_months"])},
        "progression": {"month": num(row["pfs_months"]) if row["pfs_event"] and row["death_cause"] == ""
                        or (row["pfs_event"] and row["pfs_months"] < row["os_months"]) else None},
        "pfs": {"months": num(row["pfs_months"]), "event": bool(row["pfs_event"])},
        "os": {"months": num(row["os_months"]), "event": bool(row["os_event"])},
        "death": {"cause": row["death_cause"] or None,
                  "month": num(row["os_months"]) if row["os_event"] else None},
        "hyperprogression": {"call": row["hpd"], "tgr_ref": num(row["tgr_ref"]), "tgr_exp": num(row["tgr_exp"])},
        "iraes": iraes,
        # not an organ irAE: melanocytes killed by the tumour-primed T cells (model.tolerance); CTCAE grade 1 or 2
        "vitiligo": ({"worst_grade": int(row["vitiligo_grade"]), "onset_week": num(row["vitiligo_onset_weeks"])}
                     if int(row.get("vitiligo_grade", 0)) >= 1 else None),
        "steroids": {"given": bool(row["steroids"]), "start_week": num(row["steroid_start_weeks"]),
                     "second_line": bool(row["second_line"])},
        "discontinued": {"reason": row["discontinued"] or None, "week": num(row["discontinued_weeks"])},
        "days_per_month": DAYS_PER_MONTH,
    }


def write_patient(run: PatientRun, out: Path) -> None:
    """Write visits.parquet, events.json and patient.png into ``out`` (created)."""
    from .report.patient import plot_patient

    out.mkdir(parents=True, exist_ok=True)
    run.visits.to_parquet(out / "visits.parquet", index=False)
    (out / "events.json").write_text(json.dumps(run.events, indent=2))
    plot_patient(run, out / "patient.png")
