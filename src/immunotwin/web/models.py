"""Request and response bodies of the HTTP API (pydantic; they make the OpenAPI schema).

Inputs are validated twice: here for types, ranges and vocabularies (a 422 names the
field), then by the package's own spec parsers for doses, durations and schedules (a 422
names the field in the same way), so the API accepts exactly what the command line does.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from ..drugs.catalogue import CATALOGUE
from ..spec import (
    _COVARIATES,
    CANCERS,
    CRITERIA,
    CYTOKINE_PROTOCOLS,
    DESIGNS,
    GUIDELINES,
    HPD_DEFINITIONS,
    MAX_SIZE_PER_ARM,
)

# Vocabularies as string enums (documented in the OpenAPI schema; values are the plain strings).
Cancer = Enum("Cancer", {c: c for c in CANCERS}, type=str)  # type: ignore[misc]
DrugName = Enum("DrugName", {d: d for d in sorted(CATALOGUE)}, type=str)  # type: ignore[misc]
Guideline = Enum("Guideline", {g: g for g in GUIDELINES}, type=str)  # type: ignore[misc]

MAX_SEED = 2**32 - 1
MAX_REGIMEN_DRUGS = 8
MAX_ARMS = 8
MAX_SPEC_CHARS = 100_000
_DURATION_DOC = "a duration with its unit, e.g. '2 weeks', '21 days', '12 weeks', '6 months'"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _covariate_fields() -> dict[str, Any]:
    """Optional fields of one patient, typed and bounded from the spec's covariate table."""
    fields: dict[str, Any] = {}
    for key, cov in _COVARIATES.items():
        if key == "cancer":
            continue
        desc = cov.description + " (leave out to draw it from the cancer's population)"
        if cov.kind == "float":
            fields[key] = (float | None, Field(None, ge=cov.lo, le=cov.hi, allow_inf_nan=False, description=desc))
        elif cov.kind == "int":
            fields[key] = (int | None, Field(None, ge=int(cov.lo), le=int(cov.hi), description=desc))
        elif cov.kind == "bool":
            fields[key] = (bool | None, Field(None, description=desc))
        else:
            fields[key] = (Literal[cov.choices] | None, Field(None, description=desc))  # type: ignore[valid-type]
    return fields


#: One patient's covariates; every field optional (unset ones are drawn from the population).
PatientCovariates: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "PatientCovariates", __config__=ConfigDict(extra="forbid"), **_covariate_fields())


class DrugIn(_Strict):
    """One drug of a regimen, as in a trial spec's ``[[arm.drug]]``."""

    name: DrugName = Field(description="a modelled drug (see /api/catalogue)")
    dose: str = Field(min_length=1, max_length=40, description="dose with its unit, e.g. '3 mg/kg', '240 mg'",
                      examples=["3 mg/kg"])
    every: str | None = Field(None, max_length=40, description="interval between doses: " + _DURATION_DOC +
                              "; may be left out only for a single dose (doses = 1)", examples=["2 weeks"])
    doses: int | None = Field(None, ge=1, le=1000, description="number of doses; leave out for no limit")
    start: str = Field("0 days", max_length=40, description="first dose, from day 0: " + _DURATION_DOC)
    until: str = Field("progression", max_length=40,
                       description="'progression' (default), 'completion' or a duration such as '24 months'")


class SimulateRequest(_Strict):
    """One virtual patient, one regimen: the same inputs as ``immunotwin simulate``."""

    cancer: Cancer = Field(Cancer("melanoma"), description="cancer type")  # type: ignore[call-arg]
    patient: PatientCovariates = Field(default_factory=PatientCovariates,  # type: ignore[valid-type]
                                       description="covariates to pin; the others are drawn (seeded)")
    regimen: list[DrugIn] = Field(default_factory=list, max_length=MAX_REGIMEN_DRUGS,
                                  description="drugs given together or in sequence; empty for no treatment")
    guideline: Guideline = Field(Guideline("asco2021"),  # type: ignore[call-arg]
                                 description="irAE management: 'asco2021' or 'none'")
    days: float | None = Field(None, ge=1.0, le=50 * 365.25, allow_inf_nan=False,
                               description="days of follow-up from the first dose, at most the server's limit "
                               "(max_patient_days in /api/catalogue); default 365 or the limit if lower")
    seed: int = Field(0, ge=0, le=MAX_SEED, description="random seed: same seed and inputs, same patient")
    label: str | None = Field(None, max_length=200, description="a name for this run in the catalogue")


class PopulationIn(_Strict):
    cancer: Cancer
    size_per_arm: int = Field(ge=1, le=MAX_SIZE_PER_ARM, description="patients per arm (capped by the server)")
    overrides: dict[str, float] = Field(default_factory=dict, description="optional [population] overrides, "
                                        "keys as in a spec file (e.g. female_fraction, age), numbers only")


class ManagementIn(_Strict):
    guideline: Guideline = Guideline("asco2021")  # type: ignore[call-arg]
    treat_beyond_progression: bool = False
    steroid_dose_scale: float = Field(1.0, ge=0.0, le=4.0, description="multiplies the guideline's steroid doses")
    cytokine_protocol: Literal[CYTOKINE_PROTOCOLS] = Field(  # type: ignore[valid-type]
        "label2017", description="CRS/neurotoxicity rules after CAR T cells: " + ", ".join(CYTOKINE_PROTOCOLS))


class AssessmentIn(_Strict):
    criteria: Literal[CRITERIA] = "recist1.1"  # type: ignore[valid-type]
    confirm_response: bool = False
    hpd_definition: Literal[HPD_DEFINITIONS] = "champiat"  # type: ignore[valid-type]
    window: str | None = Field(None, max_length=40, description="the protocol's visit window either side of each "
                               "scheduled scan, e.g. '7 days' (none: every scan on its day)")


class ArmIn(_Strict):
    name: str = Field(min_length=1, max_length=100)
    drugs: list[DrugIn] = Field(default_factory=list, max_length=MAX_REGIMEN_DRUGS)


class TrialSpecIn(_Strict):
    """A trial spec as structured JSON: the TOML spec's fields (``arms``/``drugs`` for ``[[arm]]``/``[[arm.drug]]``)."""

    name: str = Field(min_length=1, max_length=200)
    seed: int = Field(0, ge=0, le=MAX_SEED)
    follow_up: str = Field(max_length=40, description="e.g. '6 months', '60 months'")
    design: Literal[DESIGNS] = "parallel"  # type: ignore[valid-type]
    control: str | None = Field(None, max_length=100, description="control arm name; default: the last arm")
    population: PopulationIn
    assessment: AssessmentIn | None = None
    management: ManagementIn | None = None
    arms: list[ArmIn] = Field(min_length=1, max_length=MAX_ARMS)


class TrialRequest(_Strict):
    """Start a virtual trial: a spec as TOML text (``spec_toml``) or structured JSON (``spec``), not both.

    ``seed`` and ``patients_per_arm`` override the spec as ``immunotwin trial --seed
    --patients-per-arm`` do.
    """

    spec_toml: str | None = Field(None, min_length=1, max_length=MAX_SPEC_CHARS, description="TOML trial spec")
    spec: TrialSpecIn | None = None
    seed: int | None = Field(None, ge=0, le=MAX_SEED)
    patients_per_arm: int | None = Field(None, ge=1, le=MAX_SIZE_PER_ARM)
    label: str | None = Field(None, max_length=200)

    @model_validator(mode="after")
    def _one_spec(self) -> TrialRequest:
        if (self.spec_toml is None) == (self.spec is None):
            raise ValueError("give exactly one of spec_toml (TOML text) and spec (structured JSON)")
        return self


# ---------------------------------------------------------------------------------------
# Responses
# ---------------------------------------------------------------------------------------

Num = float | None


class ErrorOut(BaseModel):
    detail: str


class Health(BaseModel):
    status: Literal["ok"]
    version: str
    jobs_active: int


class CovariateOut(BaseModel):
    key: str
    kind: Literal["float", "int", "bool", "choice"]
    description: str
    min: float | None = None
    max: float | None = None
    choices: list[str] | None = None


class ScheduleOut(BaseModel):
    label: str
    dose: str
    every: str | None
    doses: int | None = None


class DrugOut(BaseModel):
    name: str
    target: str
    slot: str
    dose_units: list[str]
    ec50_mg_l: float
    schedules: list[ScheduleOut]
    source: str


class ExamplePatient(BaseModel):
    id: str
    label: str
    cancer: str
    patient: dict[str, float | int | bool | str]
    regimen: list[dict[str, Any]]


class Limits(BaseModel):
    max_patients_per_trial: int
    max_concurrent_jobs: int
    job_time_limit_s: float
    max_patient_days: float
    max_regimen_drugs: int
    max_arms: int


class Catalogue(BaseModel):
    version: str
    disclaimer: str
    cancers: list[str]
    guidelines: list[str]
    drugs: list[DrugOut]
    known_drugs_not_modelled: list[str]
    dose_units: list[str]
    covariates: list[CovariateOut]
    irae_organs: list[str]
    example_patients: list[ExamplePatient]
    example_trial_toml: str
    limits: Limits


class SlotSeries(BaseModel):
    slot: str
    target: str
    drugs: list[str]
    ec50_mg_l: float
    concentration: list[Num] = Field(description="serum concentration, µg/mL, daily")
    occupancy: list[Num] = Field(description="receptor occupancy C / (C + EC50), 0-1, daily")


class Series(BaseModel):
    day: list[float] = Field(description="days from the first dose, daily")
    tumour_cells: list[Num] = Field(description="tumour cells, 1e9 (hidden state)")
    resistant_cells: list[Num] = Field(description="resistant clone, 1e9")
    effector: list[Num] = Field(description="effector T cells, 1e9")
    exhausted: list[Num] = Field(description="exhausted T cells, 1e9")
    memory: list[Num] = Field(description="memory T cells, 1e9")
    treg_tumour: list[Num] = Field(description="intratumoral regulatory T cells, 1e9")
    treg_systemic: list[Num] = Field(description="systemic regulatory T cells, 1e9")
    slots: list[SlotSeries]
    damage: dict[str, list[Num]] = Field(description="organ damage 0-1 per irAE organ, daily")
    vitiligo_pct_bsa: list[Num] = Field(description="vitiligo: depigmented skin, % of body surface, daily (melanocytes "
                                                    "killed by the tumour-primed T cells; seen from 1%)")


class ScanOut(BaseModel):
    day: float
    sld_mm: Num
    response: str
    new_lesions: int
    pct_change: Num = Field(description="% change from the baseline (day 0) scan")
    pr_threshold_mm: Num = Field(description="partial response: SLD at or below this (-30% of baseline)")
    pd_threshold_mm: Num = Field(description="progression: SLD at or above this (+20% and +5 mm over the nadir)")


class VisitsOut(BaseModel):
    day: list[float]
    steroid_mg: list[Num] = Field(description="prednisone-equivalent mg/day")
    anc: list[Num] = Field(description="absolute neutrophil count, 1e9/L (falls after cytotoxic doses)")
    dosed: list[str] = Field(description="drugs dosed at the visit, joined by '+'")
    held: list[bool]
    stopped: list[bool]
    alive: list[bool]
    grades: dict[str, list[int]] = Field(description="CTCAE grade per irAE organ at each visit")


class PatientRunOut(BaseModel):
    run_id: str
    label: str
    created: str
    request: dict[str, Any]
    cancer: str
    regimen_text: str = Field(description="the regimen in the command line's short form")
    cli: str = Field(description="the equivalent command line")
    patient: dict[str, Any] = Field(description="the simulated patient's covariates (given or drawn)")
    series: Series
    scans: list[ScanOut]
    visits: VisitsOut
    events: dict[str, Any] = Field(description="as events.json of `immunotwin simulate`")
    account: list[str] = Field(description="what happened, in plain language, in order")
    headline: str


class RunInfo(BaseModel):
    run_id: str
    kind: Literal["patient", "trial"]
    label: str
    status: Literal["queued", "running", "done", "failed"]
    created: str
    finished: str | None
    done: int
    total: int
    error: str
    headline: str
    request: dict[str, Any]
    spec_text: str


class TrialStatus(BaseModel):
    run_id: str
    label: str
    status: Literal["queued", "running", "done", "failed"]
    done: int = Field(description="patients simulated so far")
    total: int = Field(description="patients in the trial")
    error: str = Field(description="why the job failed ('' otherwise)")
    created: str
    finished: str | None
    spec_text: str
    cli: str = Field(description="the equivalent command line (with spec_text saved as spec.toml)")
    summary: dict[str, Any] | None = Field(None, description="summary.json, once done")
    files: list[str] = Field(default_factory=list, description="downloadable files, once done")


class KMCurve(BaseModel):
    time: list[float] = Field(description="months; step function starting at (0, 1)")
    survival: list[float]
    censor_time: list[float]
    censor_survival: list[float]
    median: Num
    n: int


class WaterfallBar(BaseModel):
    patient: int
    pct_change: float
    bor: str


class IraeBars(BaseModel):
    organs: list[str]
    any_grade: list[Num]
    grade3plus: list[Num]


class TrialResults(BaseModel):
    run_id: str
    arms: list[str]
    summary: dict[str, Any]
    km: dict[str, dict[str, KMCurve]] = Field(description="endpoint ('pfs', 'os') -> arm -> curve")
    waterfall: dict[str, list[WaterfallBar]] = Field(description="arm -> bars sorted by best % change (descending)")
    irae: dict[str, IraeBars] = Field(description="arm -> incidence by organ (fractions)")
