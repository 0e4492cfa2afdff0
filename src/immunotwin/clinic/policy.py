"""Management of immune-related adverse events at visits (ASCO 2021 guideline).

Each irAE and CTCAE grade maps to an action on the checkpoint inhibitors and a starting
prednisone-equivalent dose (mg/kg/day), from Schneider et al., J Clin Oncol 2021;39:4073
as quoted in data/clinical_rules.md section 4: hold at grade 2, permanent discontinuation
for grade 4 (and grade 3 of pneumonitis, hepatitis, nephritis, myocarditis, neurologic
events), anti-CTLA-4 stopped after grade 3 colitis; steroids 0.5-1 mg/kg at grade 2 and
1-2 mg/kg at grade 3-4, none for endocrinopathies, which get hormone replacement instead.
Steroids taper over 4 weeks (6 after grade >= 3) once every irAE is grade <= 1; a patient
still at grade >= 3 after a week of steroids, or grade >= 2 after three, is steroid-refractory
and gets a second-line immunosuppressant (infliximab, mycophenolate) for 4 weeks. Drugs
resume when every irAE is grade <= 1 and prednisone is <= 10 mg/day; a hold that lasts 12
weeks becomes a permanent discontinuation.

Policy ``none`` takes no action (a comparison for what management changes).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..model.organs import INDEX, IRAES

CONT, HOLD, STOP_CTLA4, STOP = 0, 1, 2, 3

# irAE -> per grade 1..4: (action, prednisone mg/kg/day)
ASCO2021: dict[str, tuple[tuple[int, float], ...]] = {
    "dermatitis": ((CONT, 0.0), (HOLD, 0.5), (HOLD, 1.0), (STOP, 1.5)),
    "colitis": ((CONT, 0.0), (HOLD, 1.0), (STOP_CTLA4, 1.5), (STOP, 2.0)),
    "hepatitis": ((CONT, 0.0), (HOLD, 0.75), (STOP, 1.5), (STOP, 2.0)),
    "pneumonitis": ((HOLD, 0.0), (HOLD, 1.5), (STOP, 1.5), (STOP, 2.0)),
    "thyroiditis": ((CONT, 0.0), (CONT, 0.0), (HOLD, 0.0), (HOLD, 0.0)),
    "hypophysitis": ((CONT, 0.0), (HOLD, 0.0), (HOLD, 1.0), (HOLD, 1.0)),
    "nephritis": ((CONT, 0.0), (HOLD, 0.75), (STOP, 1.5), (STOP, 1.5)),
    "myocarditis": ((HOLD, 0.0), (STOP, 1.5), (STOP, 2.0), (STOP, 2.0)),
    "neurologic": ((CONT, 0.0), (HOLD, 0.5), (STOP, 1.5), (STOP, 2.0)),
    "diabetes": ((CONT, 0.0), (HOLD, 0.0), (HOLD, 0.0), (HOLD, 0.0)),
    "arthritis": ((CONT, 0.0), (HOLD, 0.3), (HOLD, 0.75), (STOP, 1.0)),
    "hematologic": ((CONT, 0.0), (HOLD, 0.75), (STOP, 1.5), (STOP, 2.0)),
}
GUIDELINES = ("asco2021", "none")

_ACTION = np.array([[0] + [ASCO2021[k][g][0] for g in range(4)] for k in IRAES])  # (12, 5)
_MGKG = np.array([[0.0] + [ASCO2021[k][g][1] for g in range(4)] for k in IRAES])
RESUME_MAX_MG = 10.0
HOLD_LIMIT_WEEKS = 12.0
PHYSIOLOGICAL_MG = 5.0  # hydrocortisone 20 mg/day ~ prednisone 5 mg/day replacement


@dataclass
class Management:
    """Per-patient management state, arrays of length N."""

    n: int
    steroid_mg: np.ndarray = field(init=False)
    steroid_peak: np.ndarray = field(init=False)
    steroid_weeks: np.ndarray = field(init=False)
    taper_weeks: np.ndarray = field(init=False)
    second_line_left: np.ndarray = field(init=False)
    second_line_ever: np.ndarray = field(init=False)
    held: np.ndarray = field(init=False)
    held_for_irae: np.ndarray = field(init=False)
    held_weeks: np.ndarray = field(init=False)
    stopped: np.ndarray = field(init=False)
    ctla4_stopped: np.ndarray = field(init=False)
    rechallenged: np.ndarray = field(init=False)
    replaced: np.ndarray = field(init=False)
    steroid_start_day: np.ndarray = field(init=False)
    steroid_max: np.ndarray = field(init=False)
    stop_day: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        n = self.n
        z = lambda: np.zeros(n)  # noqa: E731
        b = lambda: np.zeros(n, dtype=bool)  # noqa: E731
        self.steroid_mg, self.steroid_peak, self.steroid_weeks, self.taper_weeks = z(), z(), z(), z()
        self.held_weeks = z()
        self.second_line_left = z()
        self.second_line_ever, self.held, self.held_for_irae, self.stopped = b(), b(), b(), b()
        self.ctla4_stopped, self.rechallenged = b(), b()
        self.replaced = np.zeros((n, 3), dtype=bool)
        self.steroid_start_day = np.full(n, np.nan)
        self.steroid_max = np.zeros(n)
        self.stop_day = np.full(n, np.nan)

    def immunosuppressive_mg(self) -> np.ndarray:
        """Steroid dose rate that suppresses immunity (replacement doses excluded)."""
        return self.steroid_mg


def manage(m: Management, grade: np.ndarray, weight_kg: np.ndarray, day: float, alive: np.ndarray,
           guideline: str, hypothyroid: np.ndarray, step_weeks: float = 1.0, steroid_scale: float = 1.0) -> None:
    """Apply one visit's decisions in place, from the current grades (N, 12) and the grade of hypothyroidism
    alone (N,; :func:`..clinic.observe.hypothyroid_grade`). ``steroid_scale`` multiplies the guideline's
    prednisone doses (a what-if on steroid intensity)."""
    if guideline == "none":
        return
    g = np.clip(grade, 0, 4).astype(int)
    acts = _ACTION[np.arange(12)[None, :], g]
    # ASCO 2021: endocrinopathies on hormone replacement continue treatment once stabilised.
    for k, organ in enumerate(("thyroiditis", "hypophysitis", "diabetes")):
        j = INDEX[organ]
        acts[:, j] = np.where(m.replaced[:, k] & (g[:, j] <= 2), CONT, acts[:, j])
    action = acts.max(axis=1)
    mgkg = _MGKG[np.arange(12)[None, :], g].max(axis=1)
    need = mgkg * weight_kg * steroid_scale
    worst = g.max(axis=1)

    # Hormone replacement for lost endocrine function (does not suppress immunity).
    # Thyroid hormone for hypothyroidism of grade >= 2 (TSH above 10), not for the thyrotoxic phase of painless
    # thyroiditis, which ASCO 2021 treats with beta-blockers and watches until it turns hypothyroid or resolves.
    m.replaced[:, 0] |= np.asarray(hypothyroid) >= 2
    m.replaced[:, 1] |= g[:, INDEX["hypophysitis"]] >= 2
    m.replaced[:, 2] |= g[:, INDEX["diabetes"]] >= 3

    # Steroids: start or escalate; count weeks; detect refractoriness; taper when <= G1.
    start = alive & (need > m.steroid_mg + 1e-9)
    first = start & (m.steroid_mg <= 0)
    m.steroid_start_day = np.where(first & np.isnan(m.steroid_start_day), day, m.steroid_start_day)
    m.steroid_weeks = np.where(first, 0.0, m.steroid_weeks)
    m.steroid_mg = np.where(start, need, m.steroid_mg)
    m.steroid_peak = np.where(start, np.maximum(need, m.steroid_peak), m.steroid_peak)
    m.steroid_max = np.maximum(m.steroid_max, m.steroid_mg)
    m.taper_weeks = np.where(start, np.where(worst >= 3, 6.0, 4.0), m.taper_weeks)
    on = m.steroid_mg > 0
    m.steroid_weeks = np.where(on, m.steroid_weeks + step_weeks, m.steroid_weeks)
    refractory = on & (((worst >= 3) & (m.steroid_weeks >= 1)) | ((worst >= 2) & (m.steroid_weeks >= 3)))
    new2 = refractory & (m.second_line_left <= 0)
    m.second_line_left = np.where(new2, 4.0, np.maximum(m.second_line_left - step_weeks, 0.0))
    m.second_line_ever |= new2
    taper = alive & on & (worst <= 1) & ~start
    dec = m.steroid_peak / np.maximum(m.taper_weeks, 1.0) * step_weeks
    m.steroid_mg = np.where(taper, np.maximum(m.steroid_mg - dec, 0.0), m.steroid_mg)
    m.steroid_peak = np.where(m.steroid_mg <= 0, 0.0, m.steroid_peak)

    # Drug: hold, stop anti-CTLA-4, stop all, resume.
    stop = alive & (action >= STOP) & ~m.stopped
    m.stop_day = np.where(stop, day, m.stop_day)
    m.stopped |= stop
    m.ctla4_stopped |= alive & (action >= STOP_CTLA4)
    hold = alive & (action >= HOLD)
    m.held_for_irae |= hold & (worst >= 2)
    resume = alive & m.held & ~hold & (worst <= 1) & (m.steroid_mg <= RESUME_MAX_MG) & ~m.stopped
    m.rechallenged |= resume & m.held_for_irae
    m.held = np.where(hold, True, np.where(resume, False, m.held))
    # ASCO 2021: permanently discontinue if an irAE cannot be brought to grade <= 1 (and prednisone
    # <= 10 mg/day) within 12 weeks of holding.
    m.held_weeks = np.where(m.held & m.held_for_irae, m.held_weeks + step_weeks, 0.0)
    late = alive & (m.held_weeks >= HOLD_LIMIT_WEEKS) & ~m.stopped
    m.stop_day = np.where(late, day, m.stop_day)
    m.stopped |= late
