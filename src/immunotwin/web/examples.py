"""What the page offers to start from: label schedules per drug, example patients and a small trial.

Schedules are the approved label regimens (nivolumab, pembrolizumab, ipilimumab and docetaxel
US prescribing information; docetaxel 75 mg/m2 every 3 weeks is its NSCLC regimen; fludarabine 25 mg/m2 on days 1-5
of each 28-day course, the label's CLL regimen: the page offers one course, a trial spec repeats it); the example patients are illustrative, not real people.
"""

from __future__ import annotations

from typing import Any

__all__ = ["EXAMPLE_PATIENTS", "EXAMPLE_TRIAL_TOML", "SCHEDULES"]

#: drug -> (label, dose, every, doses)
SCHEDULES: dict[str, list[tuple[str, str, str | None, int | None]]] = {
    "nivolumab": [
        ("3 mg/kg every 2 weeks", "3 mg/kg", "2 weeks", None),
        ("240 mg every 2 weeks", "240 mg", "2 weeks", None),
        ("480 mg every 4 weeks", "480 mg", "4 weeks", None),
        ("1 mg/kg every 3 weeks x4 (with ipilimumab)", "1 mg/kg", "3 weeks", 4),
    ],
    "pembrolizumab": [
        ("200 mg every 3 weeks", "200 mg", "3 weeks", None),
        ("400 mg every 6 weeks", "400 mg", "6 weeks", None),
        ("2 mg/kg every 3 weeks", "2 mg/kg", "3 weeks", None),
    ],
    "ipilimumab": [
        ("3 mg/kg every 3 weeks x4", "3 mg/kg", "3 weeks", 4),
        ("10 mg/kg every 3 weeks x4 (adjuvant)", "10 mg/kg", "3 weeks", 4),
        ("1 mg/kg every 6 weeks", "1 mg/kg", "6 weeks", None),
    ],
    "docetaxel": [
        ("75 mg/m2 every 3 weeks", "75 mg/m2", "3 weeks", None),
    ],
    "fludarabine": [
        ("25 mg/m2 daily x5 (one 28-day course of CLL's regimen)", "25 mg/m2", "1 day", 5),
    ],
    "aldesleukin": [
        ("600,000 IU/kg every 8 hours, up to 14 doses (one cycle)", "600000 IU/kg", "8 hours", 14),
    ],
    "rituximab": [
        ("375 mg/m2 weekly x4", "375 mg/m2", "1 week", 4),
    ],
    "tocilizumab": [
        ("8 mg/kg once (cytokine release syndrome)", "8 mg/kg", None, 1),
    ],
    "interferon_alfa": [
        ("10 MIU/m2 three times a week", "10 MIU/m2", "56 hours", None),
    ],
    "gp100_vaccine": [
        ("1 mg every 3 weeks x4", "1 mg", "3 weeks", 4),
    ],
    "bcg": [
        ("50 mg weekly x6 (induction)", "50 mg", "1 week", 6),
    ],
    "axicabtagene": [
        ("2e6 CAR T cells/kg, one infusion", "2e6 cells/kg", None, 1),
    ],
    "dabrafenib": [
        ("150 mg twice daily (orally)", "150 mg", "12 hours", None),
    ],
    "trametinib": [
        ("2 mg once daily (orally)", "2 mg", "1 day", None),
    ],
}

_NIVO_IPI = [
    {"name": "nivolumab", "dose": "1 mg/kg", "every": "3 weeks", "doses": 4},
    {"name": "ipilimumab", "dose": "3 mg/kg", "every": "3 weeks", "doses": 4},
    {"name": "nivolumab", "dose": "3 mg/kg", "every": "2 weeks", "start": "12 weeks"},
]

EXAMPLE_PATIENTS: list[dict[str, Any]] = [
    {"id": "melanoma-typical", "label": "Melanoma, typical first-line patient: nivolumab + ipilimumab",
     "cancer": "melanoma",
     "patient": {"age": 61, "sex": "M", "weight_kg": 82, "ecog": 0, "ldh_uln": 0.9, "pdl1_tps": 0.1, "tmb": 12,
                 "sld0_mm": 80, "n_met_sites": 2, "brain_mets": False, "liver_mets": False, "prior_chemo": False,
                 "preexisting_ai": ""},
     "regimen": _NIVO_IPI},
    {"id": "melanoma-colitis", "label": "Melanoma with pre-existing colitis: ipilimumab",
     "cancer": "melanoma",
     "patient": {"age": 55, "sex": "F", "weight_kg": 68, "ecog": 0, "ldh_uln": 1.1, "pdl1_tps": 0.05, "tmb": 15,
                 "sld0_mm": 60, "n_met_sites": 2, "preexisting_ai": "colitis", "prior_chemo": False},
     "regimen": [{"name": "ipilimumab", "dose": "3 mg/kg", "every": "3 weeks", "doses": 4}]},
    {"id": "melanoma-bulky", "label": "Melanoma, bulky disease with raised LDH and liver metastases: nivolumab",
     "cancer": "melanoma",
     "patient": {"age": 68, "sex": "M", "weight_kg": 90, "ecog": 1, "ldh_uln": 2.5, "pdl1_tps": 0.0, "tmb": 6,
                 "sld0_mm": 220, "n_met_sites": 4, "liver_mets": True, "prior_chemo": False, "preexisting_ai": ""},
     "regimen": [{"name": "nivolumab", "dose": "240 mg", "every": "2 weeks"}]},
    {"id": "nsclc-pdl1-high", "label": "NSCLC, PD-L1 50% or more: pembrolizumab",
     "cancer": "nsclc",
     "patient": {"age": 66, "sex": "F", "weight_kg": 70, "ecog": 1, "pdl1_tps": 0.6, "tmb": 10, "sld0_mm": 90,
                 "prior_chemo": False, "preexisting_ai": ""},
     "regimen": [{"name": "pembrolizumab", "dose": "200 mg", "every": "3 weeks"}]},
]

EXAMPLE_TRIAL_TOML = """\
# A small virtual trial (edit freely; the format is documented in examples/checkmate067.toml).
name = "Nivolumab vs ipilimumab (small)"
seed = 1
follow_up = "6 months"

[population]
cancer = "melanoma"
size_per_arm = 8

[management]
guideline = "asco2021"

[[arm]]
name = "nivolumab"
  [[arm.drug]]
  name = "nivolumab"
  dose = "3 mg/kg"
  every = "2 weeks"

[[arm]]
name = "ipilimumab"
  [[arm.drug]]
  name = "ipilimumab"
  dose = "3 mg/kg"
  every = "3 weeks"
  doses = 4
"""
