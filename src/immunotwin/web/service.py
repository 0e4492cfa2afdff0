"""From validated request bodies to the package's own objects, through its own parsers.

Structured JSON is written out as TOML and read back by :func:`~immunotwin.spec.parse_spec`
and :func:`~immunotwin.spec.parse_patient`; a trial is overridden by
:func:`~immunotwin.spec.with_overrides` and checked by :func:`~immunotwin.trial.check_modelled`,
exactly as ``immunotwin simulate`` and ``immunotwin trial`` do, so the same inputs and seed
give the same numbers from the page, the API and the command line. Every problem becomes
an :class:`InputError` naming its field (a 422).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from pydantic import BaseModel

from ..spec import (
    DrugSchedule,
    SpecError,
    TrialSpec,
    format_regimen,
    parse_patient,
    parse_spec,
    with_overrides,
)
from . import tomlout
from .models import DrugIn, SimulateRequest, TrialRequest

__all__ = ["InputError", "PatientInputs", "TrialInputs", "patient_inputs", "trial_inputs"]

Loc = list[str | int]

#: Follow-up of a single patient when a request gives none (as ``immunotwin simulate``).
DEFAULT_DAYS = 365.0


class InputError(ValueError):
    """Invalid input: ``errors`` are ``(loc, message)`` pairs, ``loc`` as in FastAPI's 422 (``["body", ...]``)."""

    def __init__(self, errors: list[tuple[Loc, str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{'.'.join(map(str, loc))}: {msg}" for loc, msg in errors))

    def detail(self) -> list[dict[str, Any]]:
        return [{"type": "value_error", "loc": loc, "msg": msg} for loc, msg in self.errors]


_TOKEN = re.compile(r"^([^\[\]]+)((?:\[\d+\])*)$")


def split_error(message: str) -> tuple[Loc, str]:
    """``"arm[0].drug[1].dose: unknown unit"`` -> ``(["arm", 0, "drug", 1, "dose"], "unknown unit")``."""
    path, sep, msg = message.partition(": ")
    if not sep or path.startswith("<"):
        return [], message if not sep else msg
    loc: Loc = []
    for part in path.split("."):
        m = _TOKEN.match(part)
        if m is None:
            return [], message
        loc.append(m.group(1))
        loc.extend(int(i) for i in re.findall(r"\[(\d+)\]", m.group(2)))
    return loc, msg


def _unreadable(drugs: Sequence[DrugIn], loc: Loc) -> list[tuple[Loc, str]]:
    """Fields the unit parser cannot even read (it raises something other than SpecError on a few
    malformed unit texts such as ``"8 mg/"``): reported here, by field, as a 422."""
    from ..units import parse_dose, parse_duration_days

    errors: list[tuple[Loc, str]] = []
    for i, d in enumerate(drugs):
        texts: list[tuple[str, str | None, Any]] = [("dose", d.dose, parse_dose), ("every", d.every, parse_duration_days),
                                                    ("start", d.start, parse_duration_days)]
        if d.until not in ("progression", "completion"):
            texts.append(("until", d.until, parse_duration_days))
        for key, text, parse in texts:
            if text is None:
                continue
            try:
                parse(text, key)
            except SpecError:
                pass  # the spec parser reports it, with its own message
            except Exception:
                example = "'3 mg/kg' or '240 mg'" if key == "dose" else "'2 weeks' or '12 weeks'"
                errors.append(([*loc, i, key], f"cannot read {text!r}: expected a number and a unit, e.g. {example}"))
    return errors


def _parse_spec_text(text: str) -> TrialSpec:
    """:func:`parse_spec`, with any unexpected parser failure turned into a SpecError."""
    try:
        return parse_spec(text)
    except SpecError:
        raise
    except Exception as exc:
        raise SpecError(f"<spec>: cannot read the spec ({type(exc).__name__}: {exc}); check its doses and "
                        "durations (a number and a unit, e.g. '3 mg/kg', '12 weeks')") from None


def _drug_table(d: DrugIn) -> dict[str, Any]:
    t: dict[str, Any] = {"name": d.name.value, "dose": d.dose}
    if d.every is not None:
        t["every"] = d.every
    if d.doses is not None:
        t["doses"] = d.doses
    t["start"] = d.start
    t["until"] = d.until
    return t


# ---------------------------------------------------------------------------------------
# One patient
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PatientInputs:
    """Arguments of :func:`immunotwin.simulate.simulate_patient` for one request."""

    cancer: str
    regimen: tuple[DrugSchedule, ...]
    patient: dict[str, float | str | bool] | None
    days: float
    seed: int
    guideline: str

    def cli(self) -> str:
        """The equivalent ``immunotwin simulate`` command (covariates in a --patient file)."""
        pat = " --patient PATIENT.toml" if self.patient else ""
        return (f"immunotwin simulate --cancer {self.cancer} --regimen \"{format_regimen(self.regimen)}\""
                f"{pat} --days {self.days:g} --seed {self.seed} --guideline {self.guideline} --out OUT")

    def patient_toml(self) -> str:
        return tomlout.dumps(self.patient or {})


def regimen_from_drugs(drugs: Sequence[DrugIn], loc: Loc) -> tuple[DrugSchedule, ...]:
    """Parse drugs through the spec parser (as one arm of a one-patient spec); 422 errors under ``loc``."""
    from ..trial import check_modelled

    unreadable = _unreadable(drugs, loc)
    if unreadable:
        raise InputError(unreadable)
    doc = {"name": "one patient", "follow_up": "1 day", "population": {"cancer": "melanoma", "size_per_arm": 1},
           "arm": [{"name": "regimen", "drug": [_drug_table(d) for d in drugs]}]}
    try:
        spec = _parse_spec_text(tomlout.dumps(doc))
        check_modelled(spec)
    except SpecError as exc:
        errors: list[tuple[Loc, str]] = []
        for message in exc.errors:
            path, msg = split_error(message)
            if path[:3] == ["arm", 0, "drug"] and len(path) >= 4:
                errors.append(([*loc, *path[3:]], msg))
            else:
                errors.append((loc, msg))
        raise InputError(errors) from None
    return spec.arms[0].drugs


def patient_inputs(req: SimulateRequest, max_days: float) -> PatientInputs:
    """Check a simulate request and turn it into ``simulate_patient`` arguments."""
    errors: list[tuple[Loc, str]] = []
    days = float(req.days) if req.days is not None else min(DEFAULT_DAYS, max_days)
    if days > max_days:
        errors.append((["body", "days"], f"{days:g} days is over this server's limit of {max_days:g} days"))
    regimen: tuple[DrugSchedule, ...] = ()
    try:
        regimen = regimen_from_drugs(req.regimen, ["body", "regimen"])
    except InputError as exc:
        errors.extend(exc.errors)
    given = {k: v for k, v in cast(BaseModel, req.patient).model_dump().items() if v is not None}
    patient: dict[str, float | str | bool] | None = None
    if given:
        try:
            patient = parse_patient(tomlout.dumps(given))
        except SpecError as exc:
            for message in exc.errors:
                path, msg = split_error(message)
                errors.append((["body", "patient", *path], msg))
    if errors:
        raise InputError(errors)
    return PatientInputs(cancer=req.cancer.value, regimen=regimen, patient=patient, days=days,
                         seed=int(req.seed), guideline=req.guideline.value)


# ---------------------------------------------------------------------------------------
# A trial
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrialInputs:
    """A checked trial request: the spec text to run and the command-line overrides."""

    spec: TrialSpec
    spec_text: str
    seed: int | None
    patients_per_arm: int | None

    @property
    def total(self) -> int:
        return len(self.spec.arms) * self.spec.population.size_per_arm


_POPULATION_KEYS = ("cancer", "size_per_arm")


def structured_spec_toml(req: TrialRequest) -> str:
    """TOML text for a structured (JSON) spec."""
    s = req.spec
    assert s is not None
    doc: dict[str, Any] = {"name": s.name, "seed": s.seed, "follow_up": s.follow_up, "design": s.design}
    if s.control is not None:
        doc["control"] = s.control
    doc["population"] = {"cancer": s.population.cancer.value, "size_per_arm": s.population.size_per_arm,
                         **s.population.overrides}
    if s.assessment is not None:
        doc["assessment"] = s.assessment.model_dump(exclude_none=True)
    if s.management is not None:
        doc["management"] = {"guideline": s.management.guideline.value,
                             "treat_beyond_progression": s.management.treat_beyond_progression,
                             "steroid_dose_scale": s.management.steroid_dose_scale,
                             "cytokine_protocol": s.management.cytokine_protocol}
    doc["arm"] = [{"name": a.name, "drug": [_drug_table(d) for d in a.drugs]} for a in s.arms]
    return tomlout.dumps(doc)


def _structured_loc(path: Loc) -> Loc:
    out: Loc = []
    for i, part in enumerate(path):
        if part == "arm" and i == 0:
            out.append("arms")
        elif part == "drug" and i >= 2 and path[0] == "arm":
            out.append("drugs")
        elif i == 1 and path[0] == "population" and part not in _POPULATION_KEYS:
            out.extend(["overrides", part])
        else:
            out.append(part)
    return out


def trial_inputs(req: TrialRequest, max_patients: int) -> TrialInputs:
    """Check a trial request: parse the spec, apply overrides, check drugs and the size limit."""
    from ..trial import check_modelled
    from ..units import parse_duration_days

    structured = req.spec is not None
    text = structured_spec_toml(req) if structured else str(req.spec_toml)
    base: Loc = ["body", "spec"] if structured else ["body", "spec_toml"]

    def locate(message: str) -> tuple[Loc, str]:
        path, msg = split_error(message)
        if structured:
            return [*base, *_structured_loc(path)], msg
        return [*base, *path], message

    if req.spec is not None:
        unreadable = [e for a, arm in enumerate(req.spec.arms)
                      for e in _unreadable(arm.drugs, [*base, "arms", a, "drugs"])]
        try:
            parse_duration_days(req.spec.follow_up, "follow_up")
        except SpecError:
            pass
        except Exception:
            unreadable.append(([*base, "follow_up"], f"cannot read {req.spec.follow_up!r}: expected e.g. '6 months'"))
        if unreadable:
            raise InputError(unreadable)
    try:
        spec = _parse_spec_text(text)
        spec = with_overrides(spec, size_per_arm=req.patients_per_arm, seed=req.seed)
        check_modelled(spec)
    except SpecError as exc:
        raise InputError([locate(m) for m in exc.errors]) from None
    inputs = TrialInputs(spec=spec, spec_text=text, seed=req.seed, patients_per_arm=req.patients_per_arm)
    if inputs.total > max_patients:
        loc: Loc = ["body", "patients_per_arm"] if req.patients_per_arm is not None else [*base, "population",
                                                                                       "size_per_arm"]
        raise InputError([(loc, f"{len(spec.arms)} arm(s) x {spec.population.size_per_arm} patients = "
                                f"{inputs.total} patients, over this server's limit of {max_patients} per trial")])
    return inputs
