"""Dosing schedules as the clinic runs them: due doses, holds that shift later doses, stops.

A held dose moves that drug's next dose to the next visit after the hold ends, shifting
every later dose (issue 3); a permanent stop for toxicity stops every checkpoint
inhibitor of the arm; progression ends drugs given "until progression" unless the spec
treats beyond progression.

Schedules more frequent than daily (aldesleukin every 8 hours) are given as the day's doses
over the day (a zero-order input, :mod:`immunotwin.model.pk`); a dose withheld for toxicity is
skipped, not made up (high-dose IL-2 practice: Schwartzentruber, J Immunother 2001;24:287), and
still counts towards the cycle's ``doses``. Oral drugs taken daily or twice daily for months
(dabrafenib, trametinib) are given the same way over the clinic's step, daily or weekly: the
week's doses as their mean rate, so the mean exposure is kept and the swing between doses is
not (a trough-to-peak swing within a day does not move tumour kill over weeks; assumed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..drugs.catalogue import CATALOGUE, dose_index
from ..model.slots import N_SLOTS, SLOTS
from ..spec import WHEN, DrugSchedule
from ..units import bsa_m2, dose_amount


@dataclass
class Dosing:
    entries: tuple[DrugSchedule, ...]
    next_due: np.ndarray  # (N, E) day
    given: np.ndarray  # (N, E) count
    active: np.ndarray  # (N, E) bool: entry in force for this patient
    offset: np.ndarray  # (N, E) clock origin (0, or the progression day for next-line drugs)
    amount: np.ndarray  # (N, E) mg per dose
    slot: np.ndarray  # (E,) PK slot index (-1 for a cell product)
    first_dose: np.ndarray  # (N, slots) day of each slot's first dose (1e9 if none)
    index: np.ndarray  # (E,) state index a dose goes into
    subdaily: np.ndarray  # (E,) bool: given as a zero-order input over the day
    skipped: np.ndarray  # (N, E) sub-daily doses withheld (counted against ``doses``)
    infused: np.ndarray  # (E,) bool: given as a zero-order input over the step (sub-daily, subcutaneous or oral)
    per_step: np.ndarray  # (E,) bool: every dose falling in the step is given (sub-daily or oral), not one a visit
    allowed: np.ndarray  # (N, E) bool: the patient meets the entry's ``when`` (a biomarker; True without one)
    next_line_day: np.ndarray  # (N,) day of the first next-line dose given (NaN: none)

    @classmethod
    def create(cls, arm: Sequence[DrugSchedule], post: Sequence[DrugSchedule], weight_kg: np.ndarray,
               height_cm: np.ndarray, covariates: Mapping[str, np.ndarray] | None = None) -> Dosing:
        """``covariates`` (name -> (N,) values) decide the entries given ``when`` a biomarker is present."""
        entries = tuple(arm) + tuple(post)
        n, e = len(weight_kg), len(entries)
        allowed = np.ones((n, e), dtype=bool)
        for j, d in enumerate(entries):
            if d.when:
                key, value = WHEN[d.when]
                if covariates is None or key not in covariates:
                    raise ValueError(f"{d.name}: 'when = {d.when!r}' needs the covariate {key}")
                allowed[:, j] = np.asarray(covariates[key], dtype=bool) == value
        bsa = bsa_m2(weight_kg, height_cm)
        amount = np.zeros((n, e))
        slot = np.zeros(e, dtype=np.int64)
        index = np.zeros(e, dtype=np.int64)
        for j, d in enumerate(entries):
            drug = CATALOGUE[d.name]
            amount[:, j] = dose_amount(d.dose, weight_kg, bsa) * drug.amount_scale(d.dose.kind)
            slot[j] = SLOTS.index(drug.slot) if drug.slot in SLOTS else -1
            index[j] = dose_index(d.name)
        active = np.zeros((n, e), dtype=bool)
        active[:, : len(arm)] = allowed[:, : len(arm)]
        next_due = np.array([[d.start_days for d in entries]] * n, dtype=float).reshape(n, e)
        subdaily = np.array([0 < d.every_days < 1.0 for d in entries], dtype=bool)
        oral = np.array([CATALOGUE[d.name].route == "oral" for d in entries], dtype=bool)
        infused = subdaily | oral | np.array([CATALOGUE[d.name].route == "sc" for d in entries], dtype=bool)
        return cls(entries, next_due, np.zeros((n, e), dtype=np.int64), active, np.zeros((n, e)), amount,
                   slot, np.full((n, N_SLOTS), 1e9), index, subdaily, np.zeros((n, e), dtype=np.int64), infused,
                   subdaily | oral, allowed, np.full(n, np.nan))

    def start_post(self, mask: np.ndarray, day: float, n_arm: int) -> None:
        """Start next-line drugs (entries after the arm's) for ``mask`` patients from ``day``."""
        for j in range(n_arm, len(self.entries)):
            go = mask & self.allowed[:, j]
            self.active[go, j] = True
            self.offset[go, j] = day
            self.next_due[go, j] = day + self.entries[j].start_days

    def due(self, day: float, eligible: np.ndarray, held: np.ndarray, ctla4_stopped: np.ndarray,
            progressed: np.ndarray, beyond: bool, n_arm: int, step: float) -> np.ndarray:
        """Doses given at ``day`` (N, E) as amounts (mg); updates counters and shifts held doses.
        ``held`` is (N,) for every drug or (N, E) per drug entry."""
        out = np.zeros_like(self.amount)
        held_all = np.asarray(held)
        for j, d in enumerate(self.entries):
            held = held_all[:, j] if held_all.ndim == 2 else held_all
            go = self.active[:, j] & eligible & (self.next_due[:, j] <= day + 1e-6)
            if d.doses is not None:
                go &= self.given[:, j] + self.skipped[:, j] < d.doses
            if d.until_days is not None:
                go &= day <= self.offset[:, j] + d.until_days + 1e-6
            if d.until_progression and not beyond and j < n_arm:
                go &= ~progressed
            if self.slot[j] == SLOTS.index("ctla4"):
                go &= ~ctla4_stopped
            if self.per_step[j]:
                # Every dose falling in [day, day + step), up to the cycle's count; withheld ones are skipped.
                left = (d.doses - self.given[:, j] - self.skipped[:, j]) if d.doses is not None else np.inf
                count = np.ceil((day + step - 1e-9 - self.next_due[:, j]) / d.every_days)
                count = np.where(go, np.clip(np.minimum(count, left), 0, None), 0).astype(np.int64)
                give = go & ~held & (count > 0)
                out[give, j] = self.amount[give, j] * count[give]
                self.given[give, j] += count[give]
                self.skipped[go & held, j] += count[go & held]
                self.next_due[go, j] += count[go] * d.every_days
            else:
                shifted = go & held
                self.next_due[shifted, j] = day + step
                give = go & ~held
                out[give, j] = self.amount[give, j]
                self.given[give, j] += 1
                interval = d.every_days if d.every_days > 0 else np.inf
                self.next_due[give, j] = self.next_due[give, j] + interval
            s = self.slot[j]
            if s >= 0:
                self.first_dose[give, s] = np.minimum(self.first_dose[give, s], day)
            if j >= n_arm:  # a next-line drug's first dose given (started but never dosed does not count)
                self.next_line_day[give & np.isnan(self.next_line_day)] = day
        return out

    def remaining(self, day: float, progressed: np.ndarray, beyond: bool, n_arm: int) -> np.ndarray:
        """Whether any arm drug still has doses to come (N,)."""
        left = np.zeros(self.amount.shape[0], dtype=bool)
        for j, d in enumerate(self.entries[:n_arm]):
            more = self.active[:, j].copy()
            if d.doses is not None:
                more &= self.given[:, j] + self.skipped[:, j] < d.doses
            if d.until_days is not None:
                more &= day <= self.offset[:, j] + d.until_days
            if d.until_progression and not beyond:
                more &= ~progressed
            left |= more
        return left
