"""Cytokine syndromes as the clinic grades and manages them: cytokine release syndrome (CRS) and
neurotoxicity (ICANS) after CAR T cells, capillary leak under high-dose IL-2, cystitis after BCG.

Grades come from the model's severity indices (:mod:`.observe` ladders; ASTCT consensus grades for
CRS and ICANS, Lee et al., Biol Blood Marrow Transplant 2019;25:625; CTCAE v5.0 for capillary
leak). Management follows the axicabtagene ciloleucel label (Yescarta US prescribing information,
2017, section 2.3) and the CARTOX recommendations (Neelapu et al., Nat Rev Clin Oncol 2018;15:47), at
the clinic's daily visits during the monitoring period (protocol ``label2017``, the default):

- tocilizumab 8 mg/kg IV (at most 800 mg; one dose a visit, at most 4): CRS grade >= 2, and
  neurotoxicity (ICANS) grade >= 2 with concurrent CRS;
- dexamethasone 10 mg every 6 hours (267 mg/day prednisone equivalent): CRS grade >= 3; ICANS grade
  >= 2 without concurrent CRS, or still at grade >= 2 a day or more after tocilizumab (no
  improvement within 24 hours); methylprednisolone 1 g/day (1,250 mg/day prednisone equivalent) for
  grade 4 CRS or ICANS; tapered over a week once both syndromes are at grade <= 1 (assumed taper);
- capillary leak grade >= 3 under aldesleukin: that day's doses are withheld (skipped);
- BCG instillations are postponed while cystitis is grade >= 3 (label: delay for severe local reactions).

(Until 2026-11-29 dexamethasone followed any grade >= 2 ICANS, with or without CRS.)

Protocol ``lee2014`` is the algorithm of the early CAR T trials (Lee et
al., Blood 2014;124:188, Figure 2, as tabulated against the later systems in PMC9616161, Table 4),
under which ZUMA-1's cohorts 1-2 were managed (Neelapu et al., N Engl J Med 2017;377:2531: CRS graded by
Lee 2014; tocilizumab in 43% and corticosteroids in 27% of patients; the protocol's own text is not
shipped, so this reading is to verify): vigilant supportive care for grade 1-2 CRS unless the patient is
older (``OLDER_AGE``, assumed threshold) or has extensive comorbidities (not modelled), tocilizumab for
grade >= 3 CRS, or grade 2 in older patients, and for neurotoxicity grade >= 3 with concurrent CRS;
dexamethasone for grade >= 3 CRS a day or more after the first tocilizumab dose (so an older patient given
tocilizumab at grade 2 who reaches grade 3 later gets it at once, as refractory) and for neurotoxicity grade >= 3;
methylprednisolone for grade 4; the same taper.

Protocol ``topp2021`` is the earlier intervention of ZUMA-1's safety cohort 4 (Topp et al., Br J Haematol
2021;195:388; ASH 2019 abstract as reported by Oncology Nurse Advisor: steroids from grade 1 neurologic
events, and for grade 1 CRS not improving after 3 days of supportive care; CRS grade >= 3 in 2% and
neurologic events grade >= 3 in 17% of 41 patients, against 11% and 32% in cohorts 1-2 as reported there):
the label's rules, plus dexamethasone 10 mg a day (``DEX_LOW_PRED_EQ``; the daily dose is assumed) for
neurotoxicity grade >= 1 and for CRS grade >= 1 three days or more after its onset (``EARLY_CRS_DAYS``).

A week with a grade-4 syndrome carries a probability of death (``FATAL_WEEKLY``, assumed, in the
range of the fatal irAEs of :mod:`.run`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..spec import CYTOKINE_PROTOCOLS

TOCI_MG_PER_KG, TOCI_MAX_MG, TOCI_MAX_DOSES = 8.0, 800.0, 4
DEX_PRED_EQ = 40.0 * 6.67  # dexamethasone 10 mg q6h as prednisone mg/day (potency ratio 6.67)
MP_PRED_EQ = 1000.0 * 1.25  # methylprednisolone 1 g/day as prednisone mg/day
TAPER_DAYS = 7.0
SYNDROMES = ("crs", "icans", "leak", "cystitis")
FATAL_WEEKLY = {"crs": 0.25, "icans": 0.25, "leak": 0.1, "cystitis": 0.0}
PROTOCOLS = CYTOKINE_PROTOCOLS  # the spec's vocabulary (label2017, lee2014, topp2021)
DEX_LOW_PRED_EQ = 10.0 * 6.67  # dexamethasone 10 mg once a day as prednisone mg/day (early intervention, topp2021)
EARLY_CRS_DAYS = 3.0  # topp2021: steroids for grade-1 CRS not improving after 3 days of supportive care
OLDER_AGE = 65.0  # years: "older age" of Lee 2014's grade-2 rule (threshold assumed; ZUMA-1's median age was 58)


@dataclass
class CellTox:
    n: int
    protocol: str = "label2017"
    age: np.ndarray | None = None  # years, (n,); needed by lee2014
    worst: dict[str, np.ndarray] = field(init=False)
    onset: dict[str, np.ndarray] = field(init=False)
    last_high: dict[str, np.ndarray] = field(init=False)
    grade4_week: np.ndarray = field(init=False)
    toci_doses: np.ndarray = field(init=False)
    steroid_mg: np.ndarray = field(init=False)
    steroid_peak: np.ndarray = field(init=False)
    steroid_day: np.ndarray = field(init=False)
    steroid_max: np.ndarray = field(init=False)
    toci_day: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        n = self.n
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"cytokine_protocol: unknown {self.protocol!r}; known: {', '.join(PROTOCOLS)}")
        if self.protocol == "lee2014" and (self.age is None or np.shape(self.age) != (n,)):
            raise ValueError("cytokine_protocol lee2014 needs each patient's age")
        self.worst = {k: np.zeros(n, dtype=np.int8) for k in SYNDROMES}
        self.onset = {k: np.full(n, np.nan) for k in SYNDROMES}
        self.last_high = {k: np.full(n, np.nan) for k in SYNDROMES}
        self.grade4_week = np.zeros((n, len(SYNDROMES)), dtype=bool)
        self.toci_doses = np.zeros(n, dtype=np.int64)
        self.steroid_mg = np.zeros(n)
        self.steroid_peak = np.zeros(n)
        self.steroid_day = np.full(n, np.nan)
        self.steroid_max = np.zeros(n)
        self.toci_day = np.full(n, np.nan)  # day of the first tocilizumab dose

    def observe(self, grades: dict[str, np.ndarray], day: float, seen: np.ndarray) -> None:
        for j, k in enumerate(SYNDROMES):
            g = np.where(seen, grades[k], 0).astype(np.int8)
            first = (g >= 1) & np.isnan(self.onset[k])
            self.onset[k][first] = day
            self.worst[k] = np.maximum(self.worst[k], g)
            self.last_high[k] = np.where(g >= 1, day, self.last_high[k])
            self.grade4_week[:, j] |= g >= 4

    def fatal_probability(self) -> np.ndarray:
        """Probability of death from a grade-4 syndrome this week; resets the week's record."""
        p = 1.0 - np.prod(1.0 - self.grade4_week * np.array([FATAL_WEEKLY[k] for k in SYNDROMES])[None, :], axis=1)
        self.grade4_week[:] = False
        return p

    def manage(self, grades: dict[str, np.ndarray], weight_kg: np.ndarray, day: float, alive: np.ndarray,
               step_days: float) -> np.ndarray:
        """Steroids and tocilizumab for the day (rules above); returns tocilizumab doses (mg, N).
        ``alive`` marks the patients seen today."""
        crs, icans = grades["crs"], grades["icans"]
        refractory = ~np.isnan(self.toci_day) & (self.toci_day < day)  # tocilizumab given at an earlier visit
        early = np.zeros(len(crs), dtype=bool)
        if self.protocol == "lee2014":
            older = np.asarray(self.age) >= OLDER_AGE
            toci_rule = (crs >= 3) | ((crs == 2) & older) | ((icans >= 3) & (crs >= 1))
            dex = ((crs >= 3) & refractory) | (icans >= 3)
        else:
            toci_rule = (crs >= 2) | ((icans >= 2) & (crs >= 1))
            dex = (crs >= 3) | ((icans >= 2) & ((crs == 0) | refractory))
            if self.protocol == "topp2021":  # the label's rules plus early, low-dose steroids
                early = (icans >= 1) | ((crs >= 1) & (day - self.onset["crs"] >= EARLY_CRS_DAYS))
        toci = alive & toci_rule & (self.toci_doses < TOCI_MAX_DOSES)
        mg = np.where(toci, np.minimum(TOCI_MG_PER_KG * weight_kg, TOCI_MAX_MG), 0.0)
        self.toci_doses += toci
        self.toci_day = np.where(toci & np.isnan(self.toci_day), day, self.toci_day)
        need = np.where((icans >= 4) | (crs >= 4), MP_PRED_EQ,
                        np.where(dex, DEX_PRED_EQ, np.where(early, DEX_LOW_PRED_EQ, 0.0)))
        need = np.where(alive, need, 0.0)
        start = need > self.steroid_mg + 1e-9
        self.steroid_day = np.where(start & np.isnan(self.steroid_day), day, self.steroid_day)
        self.steroid_mg = np.where(start, need, self.steroid_mg)
        self.steroid_peak = np.maximum(self.steroid_peak, self.steroid_mg)
        self.steroid_max = np.maximum(self.steroid_max, self.steroid_mg)
        calm = alive & ~start & (crs <= 1) & (icans <= 1) & (self.steroid_mg > 0)
        self.steroid_mg = np.where(calm, np.maximum(self.steroid_mg - self.steroid_peak * step_days / TAPER_DAYS, 0.0),
                                   self.steroid_mg)
        self.steroid_peak = np.where(self.steroid_mg <= 0, 0.0, self.steroid_peak)
        return mg
