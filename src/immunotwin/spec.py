"""Trial specifications: a TOML file (or command-line short forms) -> immutable objects.

The TOML format is a public interface (see ``examples/checkmate067.toml``)::

    name = "CheckMate 067 (virtual)"
    seed = 67                      # optional, default 0
    follow_up = "60 months"
    design = "parallel"            # or "twin" (every arm on the same virtual patients); default parallel
    control = "ipilimumab"         # optional arm name; default: last arm
    [population]
    cancer = "melanoma"            # one of CANCERS
    size_per_arm = 1000            # 1 .. 10_000_000
    # optional overrides, keys from POPULATION_OVERRIDES
    [assessment]                   # optional; default per cancer (DEFAULT_IMAGING)
    imaging = [{first = "12 weeks"}, {every = "6 weeks", until = "49 weeks"}, {every = "12 weeks"}]
    confirm_response = false
    criteria = "recist1.1"         # or "irecist", or "lugano2014" (lymphoma: PET-based complete response)
    hpd_definition = "champiat"    # or "ferrara", "kas" or "aacr"
    pre_treatment_scan = "6 weeks"
    window = "7 days"              # optional visit window either side of each on-treatment scan (default none)
    [management]                   # optional
    guideline = "asco2021"         # or "none"
    treat_beyond_progression = false
    steroid_dose_scale = 1.0       # optional: multiplies the guideline's steroid doses (0-4)
    cytokine_protocol = "label2017"  # optional: CRS/neurotoxicity after CAR T cells, or "lee2014", "topp2021"
                                   # (guideline = "none" turns off this management too)
    [post_progression]             # optional
    fraction = 0.5                 # share of progressing patients treated (one draw per patient)
      [[post_progression.drug]]    # same table as arm.drug; start counts from progression
    [[arm]]
    name = "nivolumab + ipilimumab"
      [[arm.drug]]
      name = "nivolumab"
      dose = "1 mg/kg"
      every = "3 weeks"
      doses = 4                    # optional
      start = "12 weeks"           # optional, default "0 days"
      until = "progression"        # optional: "progression" (default), a duration, or "completion"
      when = "braf_v600"           # optional: only patients whose tumour carries BRAF V600 ("braf_wild_type": the rest)
      [arm.post_progression]       # optional: this arm's next-line therapy, in place of the trial's
      fraction = 0.8
        [[arm.post_progression.drug]]

Unknown keys are errors. Every problem in a file is collected and reported at once in
one :class:`SpecError`, each message starting with the dotted path of its field, e.g.
``arm[0].drug[1].dose: unknown dose unit 'mg/kgg' ...``.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import math
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from immunotwin.units import (
    DAYS_PER_MONTH,
    Dose,
    SpecError,
    format_dose,
    format_number,
    parse_dose,
    parse_duration_days,
)

from .clinic import hpd

__all__ = [
    "CANCERS",
    "CRITERIA",
    "DEFAULT_IMAGING",
    "DESIGNS",
    "GUIDELINES",
    "HPD_DEFINITIONS",
    "IRAE_ORGANS",
    "KNOWN_DRUGS",
    "MAX_FOLLOW_UP_DAYS",
    "MAX_SIZE_PER_ARM",
    "PATIENT_COVARIATES",
    "POPULATION_OVERRIDES",
    "Arm",
    "Assessment",
    "Distribution",
    "DrugSchedule",
    "ImagingRule",
    "Management",
    "Population",
    "PostProgression",
    "SpecError",
    "TrialSpec",
    "format_regimen",
    "load_spec",
    "parse_patient",
    "parse_regimen",
    "parse_spec",
    "with_overrides",
]

# ---------------------------------------------------------------------------------------
# Vocabularies
# ---------------------------------------------------------------------------------------

CANCERS: tuple[str, ...] = ("melanoma", "nsclc", "rcc", "hodgkin", "crc_msih", "thymoma", "cll", "aml", "lbcl",
                            "follicular", "nmibc")
DESIGNS: tuple[str, ...] = ("parallel", "twin")
#: ``lugano2014``: lymphoma response (Cheson et al., J Clin Oncol 2014;32:3059) read as RECIST's
#: diameter thresholds (a 50% fall in the sum of products is about a 30% fall in diameters) with a
#: PET-based complete response: residual masses without viable tumour are metabolically inactive.
#: ``cystoscopy``: bladder carcinoma in situ, complete response when no viable tumour is seen (cystoscopy,
#: cytology and biopsy); the same diameter thresholds otherwise.
CRITERIA: tuple[str, ...] = ("recist1.1", "irecist", "lugano2014", "cystoscopy")
HPD_DEFINITIONS: tuple[str, ...] = hpd.DEFINITIONS  # the calls' own list (immunotwin.clinic.hpd)
GUIDELINES: tuple[str, ...] = ("asco2021", "none")
#: Management of cytokine release syndrome and neurotoxicity after CAR T cells (immunotwin.clinic.celltox):
#: ``label2017`` (axicabtagene label and CARTOX: tocilizumab from CRS grade 2) or ``lee2014`` (Lee et al.,
#: Blood 2014;124:188, the algorithm of the early CAR T trials: tocilizumab from CRS grade 3, or grade 2 in
#: older patients; steroids for refractory grade 3 CRS and for grade >= 3 neurotoxicity) or ``topp2021`` (the label
#: plus early low-dose steroids: ZUMA-1's safety cohort 4, Topp et al., Br J Haematol 2021;195:388).
CYTOKINE_PROTOCOLS: tuple[str, ...] = ("label2017", "lee2014", "topp2021")

#: irAE names, in the order of ``immunotwin.model.organs.IRAES`` (docs/schema.md).
IRAE_ORGANS: tuple[str, ...] = (
    "dermatitis", "colitis", "hepatitis", "pneumonitis", "thyroiditis", "hypophysitis",
    "nephritis", "myocarditis", "neurologic", "diabetes", "arthritis", "hematologic",
)

KNOWN_DRUGS: frozenset[str] = frozenset(
    {
        "nivolumab", "pembrolizumab", "ipilimumab", "atezolizumab", "durvalumab", "tremelimumab",
        "aldesleukin", "interferon_alfa", "tisagenlecleucel", "axicabtagene", "prednisone",
        "carboplatin_paclitaxel", "docetaxel", "fludarabine", "rituximab", "gp100_vaccine", "tocilizumab", "bcg", "dabrafenib",
        "trametinib",
    }
)

MAX_SIZE_PER_ARM = 10_000_000
#: 50 years of 365.25 days.
MAX_FOLLOW_UP_DAYS = 50 * 365.25

# ---------------------------------------------------------------------------------------
# Covariates (patients and population overrides)
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Covariate:
    """How one patient covariate is typed and bounded."""

    kind: str  # "float", "int", "bool", "choice"
    description: str
    lo: float = -math.inf
    hi: float = math.inf
    choices: tuple[str, ...] = ()


_COVARIATES: dict[str, _Covariate] = {
    "cancer": _Covariate("choice", "cancer type", choices=CANCERS),
    "age": _Covariate("float", "age (years)", 12.0, 110.0),
    "sex": _Covariate("choice", 'sex, "F" or "M"', choices=("F", "M")),
    "weight_kg": _Covariate("float", "body weight (kg)", 25.0, 300.0),
    "height_cm": _Covariate("float", "height (cm)", 100.0, 230.0),
    "ecog": _Covariate("int", "ECOG performance status (0, 1 or 2)", 0, 2),
    "ldh_uln": _Covariate("float", "serum LDH as a multiple of the upper limit of normal", 0.1, 50.0),
    "pdl1_tps": _Covariate("float", "tumour PD-L1 fraction (0-1)", 0.0, 1.0),
    "tmb": _Covariate("float", "tumour mutational burden (mutations per Mb)", 0.0, 500.0),
    "sld0_mm": _Covariate("float", "baseline sum of target-lesion diameters (mm)", 0.0, 1500.0),
    "n_met_sites": _Covariate("int", "number of metastatic sites", 0, 20),
    "brain_mets": _Covariate("bool", "brain metastases"),
    "liver_mets": _Covariate("bool", "liver metastases"),
    "prior_chemo": _Covariate("bool", "prior chemotherapy"),
    "preexisting_ai": _Covariate(
        "choice", 'organ of a pre-existing autoimmune disease (an irAE name), "" if none', choices=("", *IRAE_ORGANS)
    ),
    "fcgr3a": _Covariate("choice", 'FCGR3A codon 158 genotype, "VV", "VF" or "FF"', choices=("VV", "VF", "FF")),
    "braf_v600": _Covariate("bool", "tumour carries a BRAF V600 mutation"),
    "ever_smoker": _Covariate("bool", "a smoking history, current or former"),
    "thoracic_rt": _Covariate("bool", "prior thoracic radiotherapy"),
}

#: Keys accepted by :func:`parse_patient` -> description.
PATIENT_COVARIATES: dict[str, str] = {key: cov.description for key, cov in _COVARIATES.items()}

_FRACTION_OVERRIDES: dict[str, str] = {
    "female_fraction": "fraction of women",
    "ecog0_fraction": "fraction with ECOG performance status 0",
    "pdl1_positive_fraction": "fraction with PD-L1-positive tumours (cut-off of the cancer's trials, e.g. >=5% in CheckMate 067)",
    "ldh_high_fraction": "fraction with LDH above the upper limit of normal",
    "brain_mets_fraction": "fraction with brain metastases",
    "liver_mets_fraction": "fraction with liver metastases",
    "prior_chemotherapy_fraction": "fraction with prior chemotherapy",
    "preexisting_autoimmune_fraction": "fraction with a pre-existing autoimmune disease",
    "braf_v600_fraction": "fraction whose tumour carries a BRAF V600 mutation",
    "ever_smoker_fraction": "fraction with a smoking history, current or former",
    "thoracic_rt_fraction": "fraction with prior thoracic radiotherapy",
}

_CONTINUOUS_OVERRIDES: tuple[str, ...] = (
    "age", "weight_kg", "height_cm", "ldh_uln", "pdl1_tps", "tmb", "sld0_mm", "n_met_sites",
)

#: Optional ``[population]`` keys -> description. ``*_fraction`` keys take a number in [0, 1]
#: (or ``{dist = "bernoulli", p = ...}``, stored as the number p); the covariate keys take a
#: number (every patient gets that value) or a distribution table (:class:`Distribution`).
POPULATION_OVERRIDES: dict[str, str] = {
    **_FRACTION_OVERRIDES,
    **{
        key: f"{_COVARIATES[key].description}: a number or a distribution table {{dist = ...}}"
        for key in _CONTINUOUS_OVERRIDES
    },
}

#: Parameters of each distribution; min/max (optional) truncate normal and lognormal draws.
_DIST_PARAMS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "normal": (("mean", "sd"), ("min", "max")),
    "lognormal": (("median", "sigma"), ("min", "max")),
    "uniform": (("min", "max"), ()),
    "bernoulli": (("p",), ()),
}


@dataclass(frozen=True)
class Distribution:
    """A covariate distribution from a ``[population]`` override table.

    ``dist`` is ``"normal"`` (``mean``, ``sd``, optional ``min``/``max``),
    ``"lognormal"`` (``median``, ``sigma`` = SD of the log, optional ``min``/``max``) or
    ``"uniform"`` (``min``, ``max``). ``params`` is a read-only mapping.
    """

    dist: str
    params: Mapping[str, float]

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Draw ``n`` values; normal and lognormal draws are clipped to ``min``/``max`` when given."""
        p = self.params
        if self.dist == "normal":
            x = rng.normal(p["mean"], p["sd"], n)
        elif self.dist == "lognormal":
            x = np.exp(rng.normal(math.log(p["median"]), p["sigma"], n))
        elif self.dist == "uniform":
            x = rng.uniform(p["min"], p["max"], n)
        elif self.dist == "bernoulli":
            x = (rng.random(n) < p["p"]).astype(float)
        else:  # pragma: no cover - guarded by the parser
            raise ValueError(f"unknown distribution {self.dist!r}")
        lo, hi = p.get("min", -math.inf), p.get("max", math.inf)
        return np.clip(x, lo, hi)


# ---------------------------------------------------------------------------------------
# Spec objects
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DrugSchedule:
    """One drug's dosing schedule within an arm (or after progression).

    Attributes:
        name: a name from :data:`KNOWN_DRUGS`.
        dose: dose per administration.
        every_days: interval between administrations (0 for a single administration,
            ``doses == 1``, given without ``every``).
        doses: number of administrations, ``None`` for no limit.
        start_days: first administration, days from the arm's day 0 (for post-progression
            drugs: days from the progression date).
        until_progression: ``True`` (default) when progression or unacceptable toxicity
            ends the schedule; ``False`` for ``until = "completion"``: the course runs
            its ``doses`` regardless of progression (single infusions, fixed courses).
        until_days: last day dosing may occur, on the same clock as ``start_days``
            (``until = "24 months"`` means progression or 24 months, whichever first);
            ``None`` for no limit.
        when: ``""`` (every patient of the arm, or every patient starting next-line therapy), or a
            biomarker the patient's tumour must show (:data:`WHEN`): a targeted drug for BRAF-mutant
            patients only, immunotherapy for the rest.
    """

    name: str
    dose: Dose
    every_days: float
    doses: int | None = None
    start_days: float = 0.0
    until_progression: bool = True
    until_days: float | None = None
    when: str = ""

    def planned_days(self, horizon_days: float) -> np.ndarray:
        """Planned administration days up to ``horizon_days`` (inclusive), ignoring progression and toxicity."""
        end = horizon_days if self.until_days is None else min(horizon_days, self.until_days)
        if self.start_days > end:
            return np.zeros(0)
        if self.every_days <= 0:
            count = 1
        else:
            count = int(math.floor((end - self.start_days) / self.every_days + 1e-9)) + 1
        if self.doses is not None:
            count = min(count, self.doses)
        return self.start_days + self.every_days * np.arange(count, dtype=float)


@dataclass(frozen=True)
class Arm:
    """A trial arm: a name and its drugs (an empty tuple is an untreated arm); ``post_progression``, when given,
    is this arm's next-line therapy, in place of the trial's."""

    name: str
    drugs: tuple[DrugSchedule, ...]
    post_progression: PostProgression | None = None


@dataclass(frozen=True)
class ImagingRule:
    """One step of an imaging schedule.

    ``first_days`` alone: one scan on that day. ``every_days`` (with optional
    ``until_days``): repeat from the previous scan (day 0 if none) every so many days up
    to ``until_days`` (inclusive) or, without it, to the end of follow-up. A rule with both
    ``first_days`` and ``every_days`` scans at ``first_days`` and repeats from there.
    """

    first_days: float | None = None
    every_days: float | None = None
    until_days: float | None = None


@dataclass(frozen=True)
class Assessment:
    """Tumour assessment: imaging schedule, response criteria, hyperprogression definition.

    ``pre_treatment_scan_days`` is how many days before the first dose the pre-treatment
    (pre-baseline) scan is taken, for tumour growth rates.

    ``window_days`` is the protocol's visit window for on-treatment scans: each patient's scan falls on a day drawn
    uniformly within that many days either side of the scheduled day (0: every scan on its day). The clinic steps
    in weeks, so the drawn day is rounded to the nearest week (a 7-day window moves a quarter of scans a week
    earlier and a quarter a week later); the pre-treatment and baseline scans keep their days.
    """

    imaging: tuple[ImagingRule, ...]
    confirm_response: bool = False
    criteria: str = "recist1.1"
    hpd_definition: str = "champiat"
    pre_treatment_scan_days: float = 42.0
    window_days: float = 0.0

    def scan_days(self, follow_up_days: float) -> np.ndarray:
        """On-treatment scan days (after day 0, up to ``follow_up_days`` inclusive), rules applied in sequence.

        For CheckMate 067 (first 12 weeks, every 6 weeks until 49 weeks, then every 12 weeks):
        84, 126, ..., 336, 420, 504, ...
        """
        days: list[float] = []
        prev = 0.0
        eps = 1e-9
        for rule in self.imaging:
            if rule.first_days is not None:
                if rule.first_days > follow_up_days + eps:
                    break
                if rule.first_days > prev + eps or not days:
                    days.append(rule.first_days)
                    prev = rule.first_days
            if rule.every_days is not None and rule.every_days > 0:
                end = follow_up_days if rule.until_days is None else min(rule.until_days, follow_up_days)
                count = int(math.floor((end - prev) / rule.every_days + eps))
                start = prev
                for k in range(1, count + 1):
                    days.append(start + k * rule.every_days)
                if count > 0:
                    prev = days[-1]
        return np.asarray(days, dtype=float)


@dataclass(frozen=True)
class Management:
    """Clinical management: irAE guideline (``"asco2021"`` or ``"none"``), treatment beyond progression,
    ``steroid_dose_scale``, a multiplier on the guideline's prednisone doses (mg/kg/day) for
    what-if studies of steroid intensity (1 = the guideline as written), and ``cytokine_protocol``, the
    rules for cytokine release syndrome and neurotoxicity after CAR T cells (``CYTOKINE_PROTOCOLS``;
    ``guideline = "none"`` turns that management off too, whatever the protocol)."""

    guideline: str = "asco2021"
    treat_beyond_progression: bool = False
    steroid_dose_scale: float = 1.0
    cytokine_protocol: str = "label2017"


@dataclass(frozen=True)
class PostProgression:
    """Next-line therapy: a ``fraction`` of progressing patients start ``drugs`` (clock starts at progression)."""

    fraction: float
    drugs: tuple[DrugSchedule, ...]


@dataclass(frozen=True)
class Population:
    """Who is enrolled: cancer, patients per arm, and covariate overrides.

    ``overrides`` maps keys of :data:`POPULATION_OVERRIDES` to a number or a
    :class:`Distribution` (read-only mapping).
    """

    cancer: str
    size_per_arm: int
    overrides: Mapping[str, float | Distribution] = dataclasses.field(
        default_factory=lambda: MappingProxyType({})
    )


@dataclass(frozen=True)
class TrialSpec:
    """A parsed, validated trial.

    ``sha256`` is the hex SHA-256 of ``text`` (the spec file's bytes); after
    :func:`with_overrides` it is followed by ``+size_per_arm=N`` and/or ``+seed=S`` (in
    that order) for the values overridden.
    """

    name: str
    seed: int
    follow_up_days: float
    design: str
    control: str
    population: Population
    assessment: Assessment
    management: Management
    post_progression: PostProgression | None
    arms: tuple[Arm, ...]
    text: str
    sha256: str

    @property
    def arm_names(self) -> tuple[str, ...]:
        """Arm names, in spec order."""
        return tuple(arm.name for arm in self.arms)

    @property
    def control_index(self) -> int:
        """Position of the control arm."""
        return self.arm_names.index(self.control)


# "assumed: common protocol schedule" for every cancer but melanoma, whose default is
# the CheckMate 067 schedule (Larkin et al., N Engl J Med 2015;373:23): week 12, then
# every 6 weeks to week 49, then every 12 weeks.
_W = 7.0
_COMMON_IMAGING: tuple[ImagingRule, ...] = (  # assumed: common protocol schedule
    ImagingRule(every_days=6 * _W, until_days=48 * _W),
    ImagingRule(every_days=9 * _W),
)
#: Imaging schedule used when a spec gives none, per cancer.
DEFAULT_IMAGING: dict[str, tuple[ImagingRule, ...]] = {
    cancer: _COMMON_IMAGING for cancer in CANCERS
}
DEFAULT_IMAGING["melanoma"] = (
    ImagingRule(first_days=12 * _W),
    ImagingRule(every_days=6 * _W, until_days=49 * _W),
    ImagingRule(every_days=12 * _W),
)

_DEFAULT_PRE_TREATMENT_SCAN_DAYS = 6 * _W

# ---------------------------------------------------------------------------------------
# Validation helpers
# ---------------------------------------------------------------------------------------

_MISSING = object()


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _suggest(word: str, options: Any) -> str:
    """`` (did you mean 'x'?)`` for close matches, else ``""``."""
    matches = difflib.get_close_matches(str(word), sorted(options), n=3, cutoff=0.6)
    if not matches:
        return ""
    return " (did you mean " + " or ".join(repr(m) for m in matches) + "?)"


class _Errors:
    """Collects error messages, each prefixed by its field path."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.items.append(f"{path or '<spec>'}: {message}")

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Call a parser that raises :class:`SpecError`; record its errors and return ``None`` on failure."""
        try:
            return fn(*args)
        except SpecError as exc:
            self.items.extend(exc.errors)
            return None


def _check_keys(table: Mapping[str, Any], allowed: Any, path: str, errs: _Errors) -> None:
    for key in table:
        if key not in allowed:
            errs.add(_join(path, key), "unknown key" + _suggest(key, allowed))


def _type_name(value: Any) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "table"}.get(
        type(value), type(value).__name__
    )


def _get_table(table: Mapping[str, Any], key: str, path: str, errs: _Errors) -> dict[str, Any] | None:
    value = table.get(key, _MISSING)
    if value is _MISSING:
        return None
    if not isinstance(value, dict):
        errs.add(_join(path, key), f"expected a table [{key}], got {_type_name(value)}")
        return None
    return value


def _get_str(
    table: Mapping[str, Any],
    key: str,
    path: str,
    errs: _Errors,
    *,
    default: Any = _MISSING,
    choices: tuple[str, ...] | None = None,
) -> Any:
    """A string value; ``default`` when absent (an error when no default); ``None`` on error."""
    p = _join(path, key)
    value = table.get(key, _MISSING)
    if value is _MISSING:
        if default is _MISSING:
            errs.add(p, "missing (required)")
            return None
        return default
    if not isinstance(value, str):
        errs.add(p, f"expected a string, got {_type_name(value)} {value!r}")
        return None
    if choices is not None and value not in choices:
        errs.add(p, f"{value!r} is not one of {', '.join(choices)}" + _suggest(value, choices))
        return None
    if choices is None and not value.strip():
        errs.add(p, "must not be empty")
        return None
    return value


def _get_bool(table: Mapping[str, Any], key: str, path: str, errs: _Errors, default: bool) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        errs.add(_join(path, key), f"expected true or false, got {_type_name(value)} {value!r}")
        return default
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _get_int(
    table: Mapping[str, Any], key: str, path: str, errs: _Errors, *, lo: int, hi: int, default: Any = _MISSING
) -> Any:
    p = _join(path, key)
    value = table.get(key, _MISSING)
    if value is _MISSING:
        if default is _MISSING:
            errs.add(p, "missing (required)")
            return None
        return default
    if not isinstance(value, int) or isinstance(value, bool):
        errs.add(p, f"expected an integer, got {_type_name(value)} {value!r}")
        return None
    if not lo <= value <= hi:
        errs.add(p, f"{value} is out of range ({lo:_} .. {hi:_})")
        return None
    return value


def _get_fraction(table: Mapping[str, Any], key: str, path: str, errs: _Errors) -> float | None:
    p = _join(path, key)
    value = table.get(key, _MISSING)
    if value is _MISSING:
        errs.add(p, "missing (required)")
        return None
    if not _is_number(value) or not math.isfinite(value):
        errs.add(p, f"expected a number between 0 and 1, got {value!r}")
        return None
    if not 0.0 <= value <= 1.0:
        errs.add(p, f"fraction {value!r} is outside [0, 1]")
        return None
    return float(value)


def _get_duration(
    table: Mapping[str, Any],
    key: str,
    path: str,
    errs: _Errors,
    *,
    default: Any = _MISSING,
    positive: bool = False,
) -> Any:
    p = _join(path, key)
    value = table.get(key, _MISSING)
    if value is _MISSING:
        if default is _MISSING:
            errs.add(p, "missing (required)")
            return None
        return default
    days = errs.call(parse_duration_days, value, p)
    if days is not None and positive and days <= 0:
        errs.add(p, f"duration {value!r} must be positive")
        return None
    return days


def _array_of_tables(value: Any, path: str, errs: _Errors) -> list[dict[str, Any]] | None:
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        errs.add(path, f"expected an array of tables ([[{path.rsplit('.', 1)[-1]}]]), got {_type_name(value)}")
        return None
    return value


# ---------------------------------------------------------------------------------------
# Section parsers
# ---------------------------------------------------------------------------------------

_DRUG_KEYS = ("name", "dose", "every", "doses", "start", "until", "when")
#: A drug entry's ``when`` -> (covariate, value it must have).
WHEN: dict[str, tuple[str, bool]] = {"braf_v600": ("braf_v600", True), "braf_wild_type": ("braf_v600", False)}


def _normalise_drug_name(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def _parse_drug_name(value: Any, path: str, errs: _Errors) -> str | None:
    if not isinstance(value, str):
        errs.add(path, f"expected a drug name string, got {_type_name(value)} {value!r}")
        return None
    name = _normalise_drug_name(value)
    if name not in KNOWN_DRUGS:
        errs.add(path, f"unknown drug {value!r}" + (_suggest(name, KNOWN_DRUGS) or f" (known: {', '.join(sorted(KNOWN_DRUGS))})"))
        return None
    return name


def _parse_drug(table: dict[str, Any], path: str, errs: _Errors) -> DrugSchedule | None:
    n_before = len(errs.items)
    _check_keys(table, _DRUG_KEYS, path, errs)
    name = None
    if "name" not in table:
        errs.add(_join(path, "name"), "missing (required)")
    else:
        name = _parse_drug_name(table["name"], _join(path, "name"), errs)
    dose = None
    if "dose" not in table:
        errs.add(_join(path, "dose"), "missing (required)")
    else:
        dose = errs.call(parse_dose, table["dose"], _join(path, "dose"))
    doses = _get_int(table, "doses", path, errs, lo=1, hi=100_000, default=None)
    if "every" in table or doses != 1:
        every = _get_duration(table, "every", path, errs, positive=True)
    else:
        every = 0.0
    start = _get_duration(table, "start", path, errs, default=0.0)
    until_progression, until_days = True, None
    until = table.get("until", "progression")
    if until == "completion":
        until_progression = False
    elif until != "progression":
        if isinstance(until, str) and until.strip() and until.strip()[0].isalpha():
            errs.add(_join(path, "until"), f"{until!r} is not 'progression', 'completion' or a duration like '24 months'")
        else:
            until_days = _get_duration(table, "until", path, errs, positive=True)
            if until_days is not None and start is not None and until_days < start:
                errs.add(_join(path, "until"), f"ends (day {format_number(until_days)}) before the drug starts")
    when = table.get("when", "")
    if not isinstance(when, str) or (when != "" and when not in WHEN):
        errs.add(_join(path, "when"), f"{when!r} is not one of {', '.join(repr(k) for k in WHEN)}")
        when = ""
    if len(errs.items) > n_before:
        return None
    return DrugSchedule(
        name=name, dose=dose, every_days=every, doses=doses, start_days=start,  # type: ignore[arg-type]
        until_progression=until_progression, until_days=until_days, when=when,
    )


def _parse_drugs(value: Any, path: str, errs: _Errors) -> tuple[DrugSchedule, ...] | None:
    tables = _array_of_tables(value, path, errs)
    if tables is None:
        return None
    drugs = [_parse_drug(t, f"{path}[{i}]", errs) for i, t in enumerate(tables)]
    if any(d is None for d in drugs):
        return None
    return tuple(d for d in drugs if d is not None)


def _parse_arms(value: Any, errs: _Errors) -> tuple[Arm, ...] | None:
    if value is _MISSING:
        errs.add("arm", "missing: at least one [[arm]] is required")
        return None
    tables = _array_of_tables(value, "arm", errs)
    if tables is None:
        return None
    if not tables:
        errs.add("arm", "no arms: at least one [[arm]] is required")
        return None
    arms: list[Arm | None] = []
    seen: dict[str, int] = {}
    for i, table in enumerate(tables):
        path = f"arm[{i}]"
        n_before = len(errs.items)
        _check_keys(table, ("name", "drug", "post_progression"), path, errs)
        name = _get_str(table, "name", path, errs)
        if isinstance(name, str):
            if name in seen:
                errs.add(_join(path, "name"), f"duplicate arm name {name!r} (also arm[{seen[name]}])")
            else:
                seen[name] = i
        drugs = _parse_drugs(table.get("drug", []), _join(path, "drug"), errs)
        post = _parse_post_progression(_get_table(table, "post_progression", path, errs), errs,
                                       _join(path, "post_progression"))
        arms.append(Arm(name=name, drugs=drugs or (), post_progression=post) if len(errs.items) == n_before else None)
    if any(a is None for a in arms):
        return None
    return tuple(a for a in arms if a is not None)


def _parse_distribution(key: str, value: dict[str, Any], path: str, errs: _Errors) -> Distribution | float | None:
    dist = value.get("dist", _MISSING)
    is_fraction = key in _FRACTION_OVERRIDES
    allowed_dists = ("bernoulli",) if is_fraction else ("normal", "lognormal", "uniform")
    if dist is _MISSING:
        errs.add(_join(path, "dist"), f"missing: one of {', '.join(allowed_dists)}")
        return None
    if dist not in allowed_dists:
        errs.add(_join(path, "dist"), f"{dist!r} is not one of {', '.join(allowed_dists)} for {key}")
        return None
    required, optional = _DIST_PARAMS[dist]
    n_before = len(errs.items)
    _check_keys(value, ("dist", *required, *optional), path, errs)
    params: dict[str, float] = {}
    for name in (*required, *optional):
        if name not in value:
            if name in required:
                errs.add(_join(path, name), "missing (required)")
            continue
        v = value[name]
        if not _is_number(v) or not math.isfinite(v):
            errs.add(_join(path, name), f"expected a number, got {v!r}")
            continue
        params[name] = float(v)
    if len(errs.items) > n_before:
        return None
    if dist == "bernoulli":
        if not 0.0 <= params["p"] <= 1.0:
            errs.add(_join(path, "p"), f"probability {params['p']!r} is outside [0, 1]")
            return None
        return params["p"]
    cov = _COVARIATES[key]
    for name in ("sd", "sigma"):
        if name in params and params[name] < 0:
            errs.add(_join(path, name), "must not be negative")
    if "median" in params and params["median"] <= 0:
        errs.add(_join(path, "median"), "must be positive")
    for name in ("mean", "median", "min", "max"):
        if name in params and not cov.lo <= params[name] <= cov.hi:
            errs.add(_join(path, name), f"{params[name]!r} is outside the plausible range of {key} ({format_number(cov.lo)} .. {format_number(cov.hi)})")
    if "min" in params and "max" in params and params["min"] > params["max"]:
        errs.add(path, f"min {params['min']!r} exceeds max {params['max']!r}")
    if len(errs.items) > n_before:
        return None
    return Distribution(dist=dist, params=MappingProxyType(params))


def _parse_population(table: dict[str, Any] | None, errs: _Errors) -> Population | None:
    if table is None:
        return None
    path = "population"
    n_before = len(errs.items)
    allowed = ("cancer", "size_per_arm", *POPULATION_OVERRIDES)
    _check_keys(table, allowed, path, errs)
    cancer = _get_str(table, "cancer", path, errs, choices=CANCERS)
    size = _get_int(table, "size_per_arm", path, errs, lo=1, hi=MAX_SIZE_PER_ARM)
    overrides: dict[str, float | Distribution] = {}
    for key, value in table.items():
        if key not in POPULATION_OVERRIDES:
            continue
        p = _join(path, key)
        if isinstance(value, dict):
            parsed = _parse_distribution(key, value, p, errs)
            if parsed is not None:
                overrides[key] = parsed
        elif key in _FRACTION_OVERRIDES:
            frac = _get_fraction(table, key, path, errs)
            if frac is not None:
                overrides[key] = frac
        else:
            number = _covariate_value(key, value, p, errs)
            if number is not None:
                overrides[key] = float(number)
    if len(errs.items) > n_before:
        return None
    return Population(cancer=cancer, size_per_arm=size, overrides=MappingProxyType(overrides))


def _parse_imaging(value: Any, path: str, errs: _Errors) -> tuple[ImagingRule, ...] | None:
    tables = _array_of_tables(value, path, errs)
    if tables is None:
        return None
    if not tables:
        errs.add(path, "empty: give at least one rule such as {every = \"8 weeks\"}")
        return None
    n_before = len(errs.items)
    rules: list[ImagingRule] = []
    bound = 0.0
    for i, table in enumerate(tables):
        p = f"{path}[{i}]"
        _check_keys(table, ("first", "every", "until"), p, errs)
        first = _get_duration(table, "first", p, errs, default=None, positive=True)
        every = _get_duration(table, "every", p, errs, default=None, positive=True)
        until = _get_duration(table, "until", p, errs, default=None, positive=True)
        if "first" not in table and "every" not in table:
            errs.add(p, "needs 'first' or 'every'")
        if "until" in table and "every" not in table:
            errs.add(_join(p, "until"), "only allowed with 'every'")
        if "every" in table and "until" not in table and i < len(tables) - 1:
            errs.add(p, "only the last imaging rule may repeat without 'until'")
        if first is not None:
            if first <= bound and i > 0:
                errs.add(_join(p, "first"), f"day {format_number(first)} is not after the previous rule (day {format_number(bound)})")
            bound = max(bound, first)
        if until is not None:
            if until <= bound:
                errs.add(_join(p, "until"), f"day {format_number(until)} is not after the previous scan rule (day {format_number(bound)})")
            bound = max(bound, until)
        rules.append(ImagingRule(first_days=first, every_days=every, until_days=until))
    if len(errs.items) > n_before:
        return None
    return tuple(rules)


def _parse_assessment(table: dict[str, Any] | None, cancer: str | None, errs: _Errors) -> Assessment | None:
    default_imaging = DEFAULT_IMAGING.get(cancer or "", _COMMON_IMAGING)
    if table is None:
        return Assessment(imaging=default_imaging, pre_treatment_scan_days=_DEFAULT_PRE_TREATMENT_SCAN_DAYS)
    path = "assessment"
    n_before = len(errs.items)
    _check_keys(table, ("imaging", "confirm_response", "criteria", "hpd_definition", "pre_treatment_scan", "window"),
                path, errs)
    imaging = default_imaging
    if "imaging" in table:
        imaging = _parse_imaging(table["imaging"], _join(path, "imaging"), errs) or default_imaging
    confirm = _get_bool(table, "confirm_response", path, errs, False)
    criteria = _get_str(table, "criteria", path, errs, default="recist1.1", choices=CRITERIA)
    hpd = _get_str(table, "hpd_definition", path, errs, default="champiat", choices=HPD_DEFINITIONS)
    pre = _get_duration(table, "pre_treatment_scan", path, errs, default=_DEFAULT_PRE_TREATMENT_SCAN_DAYS, positive=True)
    window = _get_duration(table, "window", path, errs, default=0.0)
    if window:
        move, gap = _W * round(window / _W), _shortest_scan_gap(imaging)
        if 2.0 * move >= gap:
            errs.add(_join(path, "window"), f"{table['window']!r} either side moves a scan by up to {format_number(move)} "
                     f"days (the clinic's week), which would let scans {format_number(gap)} days apart (on the weekly "
                     "grid, the first from day 0) meet or swap: keep the move under half the shortest interval")
    if len(errs.items) > n_before:
        return None
    return Assessment(
        imaging=imaging, confirm_response=confirm, criteria=criteria, hpd_definition=hpd, pre_treatment_scan_days=pre,
        window_days=float(window or 0.0),
    )


def _shortest_scan_gap(imaging: tuple[ImagingRule, ...]) -> float:
    """The shortest interval between consecutive scans as the clinic keeps them, each rounded to the week and
    duplicates merged, the first measured from day 0 (the rules' scans over ten years, which covers every repeat)."""
    days = np.unique(_W * np.round(Assessment(imaging=imaging).scan_days(3652.5) / _W))
    days = np.concatenate([[0.0], days[days > 0]])
    return float(np.diff(days).min()) if len(days) > 1 else float("inf")


def _parse_management(table: dict[str, Any] | None, errs: _Errors) -> Management | None:
    if table is None:
        return Management()
    path = "management"
    n_before = len(errs.items)
    _check_keys(table, ("guideline", "treat_beyond_progression", "steroid_dose_scale", "cytokine_protocol"), path,
                errs)
    guideline = _get_str(table, "guideline", path, errs, default="asco2021", choices=GUIDELINES)
    protocol = _get_str(table, "cytokine_protocol", path, errs, default="label2017", choices=CYTOKINE_PROTOCOLS)
    tbp = _get_bool(table, "treat_beyond_progression", path, errs, False)
    scale = table.get("steroid_dose_scale", 1.0)
    if not _is_number(scale) or not math.isfinite(scale) or not 0.0 <= scale <= 4.0:
        errs.add(_join(path, "steroid_dose_scale"), f"expected a number between 0 and 4, got {scale!r}")
    if len(errs.items) > n_before:
        return None
    return Management(guideline=guideline, treat_beyond_progression=tbp, steroid_dose_scale=float(scale),
                      cytokine_protocol=protocol)


def _parse_post_progression(table: dict[str, Any] | None, errs: _Errors,
                            path: str = "post_progression") -> PostProgression | None:
    if table is None:
        return None
    n_before = len(errs.items)
    _check_keys(table, ("fraction", "drug"), path, errs)
    fraction = _get_fraction(table, "fraction", path, errs)
    drugs: tuple[DrugSchedule, ...] | None = None
    if "drug" not in table:
        header = re.sub(r"\[\d+\]", "", path)  # arm[0].post_progression -> the TOML table arm.post_progression
        errs.add(_join(path, "drug"), f"missing: at least one [[{header}.drug]] is required")
    else:
        drugs = _parse_drugs(table["drug"], _join(path, "drug"), errs)
        if drugs is not None and not drugs:
            errs.add(_join(path, "drug"), "empty: at least one drug is required")
    if len(errs.items) > n_before or fraction is None or drugs is None:
        return None
    return PostProgression(fraction=fraction, drugs=drugs)


_TOP_KEYS = (
    "name", "seed", "follow_up", "design", "control", "population", "assessment", "management",
    "post_progression", "arm",
)


def parse_spec(text: str) -> TrialSpec:
    """Parse and validate a TOML trial spec.

    Raises:
        SpecError: listing every problem (invalid TOML syntax is reported alone).
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"<toml>: invalid TOML syntax: {exc}") from None
    errs = _Errors()
    _check_keys(data, _TOP_KEYS, "", errs)
    name = _get_str(data, "name", "", errs)
    seed = data.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        errs.add("seed", f"expected a non-negative integer, got {_type_name(seed)} {seed!r}")
    follow_up = _get_duration(data, "follow_up", "", errs, positive=True)
    if follow_up is not None and follow_up > MAX_FOLLOW_UP_DAYS:
        errs.add("follow_up", f"{data['follow_up']!r} is longer than 50 years")
    design = _get_str(data, "design", "", errs, default="parallel", choices=DESIGNS)
    population = None
    if "population" not in data:
        errs.add("population", "missing: a [population] table with cancer and size_per_arm is required")
    else:
        population = _parse_population(_get_table(data, "population", "", errs), errs)
    raw_population = data.get("population")
    cancer = raw_population.get("cancer") if isinstance(raw_population, dict) else None
    assessment = _parse_assessment(
        _get_table(data, "assessment", "", errs), cancer if isinstance(cancer, str) else None, errs
    )
    management = _parse_management(_get_table(data, "management", "", errs), errs)
    post = _parse_post_progression(_get_table(data, "post_progression", "", errs), errs)
    arms = _parse_arms(data.get("arm", _MISSING), errs)
    control = _get_str(data, "control", "", errs, default=None)
    raw_arms = data.get("arm")
    names = [t.get("name") for t in raw_arms if isinstance(t, dict)] if isinstance(raw_arms, list) else []
    if names and all(isinstance(n, str) for n in names):
        if control is None and "control" not in data:
            control = names[-1]
        elif isinstance(control, str) and control not in names:
            errs.add("control", f"{control!r} is not an arm name ({', '.join(repr(n) for n in names)})" + _suggest(control, names))
    if errs.items:
        raise SpecError(errs.items)
    return TrialSpec(
        name=name, seed=seed, follow_up_days=follow_up, design=design, control=control,
        population=population, assessment=assessment, management=management,  # type: ignore[arg-type]
        post_progression=post, arms=arms, text=text,  # type: ignore[arg-type]
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
    )


def load_spec(path: str | Path) -> TrialSpec:
    """Read and parse a TOML trial spec file (UTF-8); ``sha256`` is the hash of the file's bytes."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise SpecError(f"{p}: cannot read spec file: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(f"{p}: not UTF-8 text: {exc}") from None
    return parse_spec(text)


def with_overrides(spec: TrialSpec, *, size_per_arm: int | None = None, seed: int | None = None) -> TrialSpec:
    """A copy of ``spec`` with command-line overrides applied.

    ``sha256`` becomes ``<file hash>+size_per_arm=N+seed=S``, listing (in that order)
    every value overridden so far; the file hash before the first ``+`` is unchanged.
    With no override the spec is returned as is.
    """
    errors: list[str] = []
    if size_per_arm is not None and (
        not isinstance(size_per_arm, int) or isinstance(size_per_arm, bool) or not 1 <= size_per_arm <= MAX_SIZE_PER_ARM
    ):
        errors.append(f"size_per_arm: {size_per_arm!r} is not an integer in 1 .. {MAX_SIZE_PER_ARM:_}")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or seed < 0):
        errors.append(f"seed: {seed!r} is not a non-negative integer")
    if errors:
        raise SpecError(errors)
    if size_per_arm is None and seed is None:
        return spec
    base, *parts = spec.sha256.split("+")
    done = dict(part.split("=", 1) for part in parts if "=" in part)
    if size_per_arm is not None:
        done["size_per_arm"] = str(size_per_arm)
    if seed is not None:
        done["seed"] = str(seed)
    suffix = "".join(f"+{key}={done[key]}" for key in ("size_per_arm", "seed") if key in done)
    population = spec.population
    if size_per_arm is not None:
        population = dataclasses.replace(population, size_per_arm=size_per_arm)
    return dataclasses.replace(
        spec,
        population=population,
        seed=spec.seed if seed is None else seed,
        sha256=base + suffix,
    )


# ---------------------------------------------------------------------------------------
# Command-line short forms
# ---------------------------------------------------------------------------------------

_Q_RE = re.compile(r"^q(\d+(?:\.\d+)?)([hdw])$", re.IGNORECASE)
_X_RE = re.compile(r"^x(\d+)$", re.IGNORECASE)
_SHORT_UNITS = {"h": "hours", "d": "days", "w": "weeks"}


def _take_duration(tokens: list[str], j: int, path: str, errs: _Errors) -> tuple[float | None, int]:
    """Read a duration at ``tokens[j]`` (``12w``) or ``tokens[j:j+2]`` (``12 weeks``); return (days, next index)."""
    if j >= len(tokens):
        errs.add(path, "missing duration")
        return None, j
    if re.fullmatch(r"[0-9.eE+-]+", tokens[j]) and j + 1 < len(tokens):
        return errs.call(parse_duration_days, f"{tokens[j]} {tokens[j + 1]}", path), j + 2
    return errs.call(parse_duration_days, tokens[j], path), j + 1


def _parse_one_regimen(part: str, path: str, errs: _Errors) -> DrugSchedule | None:
    n_before = len(errs.items)
    tokens = part.split()
    if not tokens:
        errs.add(path, "empty drug (expected 'NAME DOSE UNIT qNw [xN] [from Nw]')")
        return None
    name = _parse_drug_name(tokens[0], _join(path, "name"), errs)
    j = 1
    dose_tokens: list[str] = []
    while j < len(tokens) and not (
        _Q_RE.match(tokens[j]) or _X_RE.match(tokens[j]) or tokens[j].lower() in ("from", "until")
    ):
        dose_tokens.append(tokens[j])
        j += 1
    dose = None
    if not dose_tokens:
        errs.add(_join(path, "dose"), "missing (expected e.g. '3 mg/kg')")
    else:
        dose = errs.call(parse_dose, " ".join(dose_tokens), _join(path, "dose"))
    every: float | None = None
    doses: int | None = None
    start = 0.0
    until_progression, until_days = True, None
    while j < len(tokens):
        tok = tokens[j]
        if m := _Q_RE.match(tok):
            every = errs.call(parse_duration_days, f"{m.group(1)} {_SHORT_UNITS[m.group(2).lower()]}", _join(path, "every"))
            if every is not None and every <= 0:
                errs.add(_join(path, "every"), f"{tok!r} must be a positive interval")
            j += 1
        elif m := _X_RE.match(tok):
            doses = int(m.group(1))
            if doses < 1:
                errs.add(_join(path, "doses"), f"{tok!r} must be at least x1")
            j += 1
        elif tok.lower() == "from":
            value, j = _take_duration(tokens, j + 1, _join(path, "start"), errs)
            start = value if value is not None else start
        elif tok.lower() == "until":
            nxt = tokens[j + 1].lower() if j + 1 < len(tokens) else ""
            if nxt in ("progression", "completion"):
                until_progression = nxt == "progression"
                j += 2
            else:
                until_days, j = _take_duration(tokens, j + 1, _join(path, "until"), errs)
        else:
            errs.add(path, f"unexpected {tok!r} (expected qNw, xN, 'from Nw' or 'until ...')")
            j += 1
    if every is None:
        if doses == 1:
            every = 0.0
        else:
            errs.add(_join(path, "every"), "missing interval such as q3w")
    if len(errs.items) > n_before:
        return None
    return DrugSchedule(
        name=name, dose=dose, every_days=every, doses=doses, start_days=start,  # type: ignore[arg-type]
        until_progression=until_progression, until_days=until_days,
    )


def parse_regimen(text: str, field: str = "regimen") -> tuple[DrugSchedule, ...]:
    """Parse the command-line regimen short form.

    Drugs are joined by ``" + "``; each is ``NAME DOSE UNIT qNw|qNd [xN] [from Nw]
    [until progression|completion|Nw]``, e.g.
    ``"nivolumab 1 mg/kg q3w x4 + ipilimumab 3 mg/kg q3w x4 + nivolumab 3 mg/kg q2w from 12w"``
    or ``"pembrolizumab 200 mg q3w"``. ``q`` may be omitted with ``x1``. An empty string
    or ``"none"`` is an untreated regimen (empty tuple).

    Raises:
        SpecError: every problem, named ``regimen[i].dose`` etc. (``field`` replaces ``regimen``).
    """
    if text.strip().lower() in ("", "none"):
        return ()
    errs = _Errors()
    parts = re.split(r"\s\+\s", text.strip())
    drugs = [_parse_one_regimen(part, f"{field}[{i}]", errs) for i, part in enumerate(parts)]
    if errs.items:
        raise SpecError(errs.items)
    return tuple(d for d in drugs if d is not None)


def _short_duration(days: float) -> str:
    """``84`` -> ``12w``, ``730.5`` -> ``24mo``, ``10`` -> ``10d``, else hours."""
    if days > 0 and float(days / 7).is_integer():
        return f"{format_number(days / 7)}w"
    if days > 0 and float(days / DAYS_PER_MONTH).is_integer():
        return f"{format_number(days / DAYS_PER_MONTH)}mo"
    if float(days).is_integer():
        return f"{format_number(days)}d"
    return f"{format_number(days * 24)}h"


def format_regimen(drugs: tuple[DrugSchedule, ...]) -> str:
    """Short form of a regimen (``"none"`` when empty); :func:`parse_regimen` reads it back to equal schedules
    (dose texts become the canonical ``"3 mg/kg"`` form)."""
    if not drugs:
        return "none"
    parts = []
    for d in drugs:
        words = [d.name, format_dose(d.dose)]
        if d.every_days > 0:
            words.append("q" + _short_duration(d.every_days))
        if d.doses is not None:
            words.append(f"x{d.doses}")
        if d.start_days > 0:
            words.append("from " + _short_duration(d.start_days))
        if d.until_days is not None:
            words.append("until " + _short_duration(d.until_days))
        elif not d.until_progression:
            words.append("until completion")
        parts.append(" ".join(words))
    return " + ".join(parts)


# ---------------------------------------------------------------------------------------
# One patient
# ---------------------------------------------------------------------------------------


def _covariate_value(key: str, value: Any, path: str, errs: _Errors) -> float | str | bool | None:
    """Validate one covariate value against :data:`_COVARIATES`; ``None`` (and an error) when invalid."""
    cov = _COVARIATES[key]
    if cov.kind == "choice":
        if not isinstance(value, str) or value not in cov.choices:
            shown = ", ".join(repr(c) for c in cov.choices)
            errs.add(path, f"{value!r} is not one of {shown}" + _suggest(value, [c for c in cov.choices if c]))
            return None
        return value
    if cov.kind == "bool":
        if isinstance(value, bool):
            return value
        if _is_number(value) and value in (0, 1):
            return bool(value)
        errs.add(path, f"expected true or false, got {value!r}")
        return None
    if not _is_number(value) or not math.isfinite(value):
        errs.add(path, f"expected a number, got {_type_name(value)} {value!r}")
        return None
    if cov.kind == "int" and not float(value).is_integer():
        errs.add(path, f"expected a whole number, got {value!r}")
        return None
    if not cov.lo <= value <= cov.hi:
        errs.add(path, f"{value!r} is outside the plausible range {format_number(cov.lo)} .. {format_number(cov.hi)}")
        return None
    return float(value)


def _loose_value(raw: str) -> Any:
    """A value from the ``key=value`` form: quoted string, true/false, number, or bare string."""
    raw = raw.strip()
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
        return raw[1:-1]
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    try:
        number = float(raw)
    except ValueError:
        return raw
    return int(number) if re.fullmatch(r"[+-]?\d+", raw) else number


def parse_patient(text: str) -> dict[str, float | str | bool]:
    """Covariates of one patient, from TOML (``age = 63\\nsex = "F"``) or ``key=value`` pairs
    separated by commas, semicolons or newlines (``"age=63, sex=F, brain_mets=true"``).

    Keys are those of :data:`PATIENT_COVARIATES` (``cancer`` plus single covariate
    values); numbers come back as floats, flags as bools, the rest as strings. Only the
    keys given are returned. Model parameters (such as immunogenicity multipliers) are
    not patient covariates and are rejected.

    Raises:
        SpecError: naming every unknown key, wrong type or out-of-range value.
    """
    errs = _Errors()
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        data = {}
        for i, item in enumerate(p for p in re.split(r"[,;\n]", text) if p.strip()):
            if "=" not in item:
                errs.add(f"patient[{i}]", f"expected key=value, got {item.strip()!r}")
                continue
            key, raw = item.split("=", 1)
            data[key.strip()] = _loose_value(raw)
    out: dict[str, float | str | bool] = {}
    for key, value in data.items():
        if key not in _COVARIATES:
            hint = _suggest(key, _COVARIATES)
            if "immunogenicity" in key or "multiplier" in key:
                hint = " (model parameters are not patient covariates)"
            errs.add(key, "unknown patient covariate" + hint)
            continue
        parsed = _covariate_value(key, value, key, errs)
        if parsed is not None:
            out[key] = parsed
    if errs.items:
        raise SpecError(errs.items)
    return out

