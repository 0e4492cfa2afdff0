"""Units: durations, doses and body surface area, on one pint registry.

Every quantity read from a trial spec or the command line goes through the
module-level :data:`ureg`. It is pint's default registry plus:

* ``IU`` (international unit, a base dimension of its own, ``[biological_activity]``)
  and ``MIU`` = 1e6 IU;
* ``cell`` / ``cells``, a count unit with its own dimension ``[cell_count]``, so that
  ``2e6 cells/kg`` is not confused with a bare ``2e6 /kg``;
* ``month`` = 30.4375 day (365.25 / 12, the convention used in every output of the
  package), with the alias ``mo``; ``wk`` and ``w`` are aliases of ``week``;
* a preprocessor that reads a trailing exponent written without a caret on a unit
  name, so ``mg/m2`` means ``mg/m**2`` (pint itself reads ``m²`` and ``m^2``).

Internal amounts are mg for mass doses, IU for biological-activity doses and cells for
cell-therapy doses. Durations are in days.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, cast, overload

import numpy as np
import pint

__all__ = [
    "DOSE_KINDS",
    "DOSE_LIMITS",
    "Dose",
    "SpecError",
    "bsa_m2",
    "dose_amount",
    "format_dose",
    "format_number",
    "parse_dose",
    "parse_duration_days",
    "ureg",
]


class SpecError(ValueError):
    """Invalid user input (spec file, command-line option, patient description).

    ``errors`` lists every problem found, each message starting with the field it
    concerns (``arm[0].drug[1].dose: ...``); ``str()`` gives one message a line.
    """

    def __init__(self, errors: list[str] | str) -> None:
        self.errors: list[str] = [errors] if isinstance(errors, str) else list(errors)
        super().__init__("\n".join(self.errors))

    def __str__(self) -> str:
        return "\n".join(self.errors)


_EXPONENT_RE = re.compile(r"\b([A-Za-z]+)([23])\b")


def _bare_exponent(text: str) -> str:
    """Pint preprocessor: ``m2`` -> ``m**2`` (a unit name directly followed by 2 or 3)."""
    return _EXPONENT_RE.sub(r"\1**\2", text)


#: The package's unit registry (pint defaults plus the definitions in the module docstring).
ureg: pint.UnitRegistry = pint.UnitRegistry(on_redefinition="ignore", preprocessors=[_bare_exponent])
ureg.define("international_unit = [biological_activity] = IU")
ureg.define("mega_international_unit = 1e6 * international_unit = MIU")
ureg.define("cell = [cell_count] = _ = cells")
ureg.define("month = 30.4375 * day = mo = months")
ureg.define("@alias week = wk = w")

DAYS_PER_MONTH = 30.4375
assert abs(ureg.Quantity(1.0, "month").to("day").magnitude - DAYS_PER_MONTH) < 1e-12

# ---------------------------------------------------------------------------------------
# Durations
# ---------------------------------------------------------------------------------------

#: Time units accepted in durations (pint's canonical names).
_DURATION_UNITS = frozenset({"hour", "day", "week", "month", "year"})

_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_QUANTITY_RE = re.compile(rf"^\s*({_NUMBER})\s*(.*?)\s*$")


def _split_quantity(text: str) -> tuple[float, str] | None:
    """Split ``"3 mg/kg"`` into ``(3.0, "mg/kg")``; ``None`` when it does not start with a number."""
    m = _QUANTITY_RE.match(text)
    if m is None:
        return None
    return float(m.group(1)), m.group(2)


def _parse_units(unit_text: str) -> pint.Unit | None:
    """The pint unit for ``unit_text``, or ``None`` when pint cannot read it."""
    try:
        return ureg.parse_units(unit_text)
    except Exception:  # pint raises many kinds (tokenizer, parser, undefined unit) on malformed text
        return None


def parse_duration_days(text: str, field: str) -> float:
    """Parse a duration such as ``"12 weeks"``, ``"60 months"``, ``"8 h"`` or ``"2w"`` into days.

    Accepted units: hours, days, weeks, months (30.4375 days) and years (365.25 days),
    in any spelling pint knows (``h``, ``hr``, ``d``, ``day``, ``wk``, ``w``, ``mo``...).
    Zero is allowed; callers that need a positive duration check it themselves.

    Raises:
        SpecError: naming ``field`` when the text is not a number followed by one of those
            units, is negative or not finite, or has another dimension.
    """
    if not isinstance(text, str):
        raise SpecError(f"{field}: expected a duration string like '12 weeks', got {text!r}")
    split = _split_quantity(text)
    if split is None or not split[1]:
        raise SpecError(f"{field}: expected a duration like '12 weeks' or '60 months', got {text!r}")
    value, unit_text = split
    unit = _parse_units(unit_text)
    if unit is None:
        raise SpecError(f"{field}: unknown time unit {unit_text!r} in {text!r} (use hours, days, weeks or months)")
    names = _unit_items(unit)
    if len(names) != 1 or next(iter(names.values())) != 1 or next(iter(names)) not in _DURATION_UNITS:
        raise SpecError(
            f"{field}: {text!r} is not a duration in hours, days, weeks or months "
            f"(unit {unit_text!r} has dimension {unit.dimensionality})"
        )
    if not math.isfinite(value):
        raise SpecError(f"{field}: duration {text!r} is not finite")
    if value < 0:
        raise SpecError(f"{field}: duration {text!r} is negative")
    return float(ureg.Quantity(value, unit).to("day").magnitude)


# ---------------------------------------------------------------------------------------
# Doses
# ---------------------------------------------------------------------------------------

#: Canonical dose kinds -> (pint unit, dimensionality of the numerator, of the denominator).
DOSE_KINDS: dict[str, tuple[str, str, str]] = {
    "mg": ("mg", "[mass]", ""),
    "mg/kg": ("mg/kg", "[mass]", "[mass]"),
    "mg/m2": ("mg/m**2", "[mass]", "[length] ** 2"),
    "IU/kg": ("IU/kg", "[biological_activity]", "[mass]"),
    "MIU/m2": ("MIU/m**2", "[biological_activity]", "[length] ** 2"),
    "cells/kg": ("cells/kg", "[cell_count]", "[mass]"),
}

#: Largest plausible dose per kind, in the canonical unit; anything above is a typo.
DOSE_LIMITS: dict[str, float] = {
    "mg": 5000.0,
    "mg/kg": 100.0,
    "mg/m2": 3000.0,
    "IU/kg": 2e6,
    "MIU/m2": 1000.0,
    "cells/kg": 1e12,
}


#: Mass units accepted for an amount of drug (``3 kg`` is a body weight, not a dose).
_DRUG_MASS_UNITS = frozenset({"nanogram", "microgram", "milligram", "gram"})


@dataclass(frozen=True)
class Dose:
    """One administration's dose.

    Attributes:
        value: the dose in the canonical unit named by ``kind``.
        kind: one of ``"mg"``, ``"mg/kg"``, ``"mg/m2"``, ``"IU/kg"``, ``"MIU/m2"``, ``"cells/kg"``.
        text: the text it was read from (stripped), for reports.
    """

    value: float
    kind: str
    text: str

    def __post_init__(self) -> None:
        if self.kind not in DOSE_KINDS:
            raise ValueError(f"unknown dose kind {self.kind!r}; expected one of {sorted(DOSE_KINDS)}")


def _unit_items(unit: pint.Unit) -> dict[str, float]:
    """The unit's base names and powers, e.g. ``{"milligram": 1.0, "kilogram": -1.0}``."""
    return {str(name): float(cast(float, power)) for name, power in unit._units.items()}


def _dims_of(unit_items: dict[str, float]) -> str:
    """Dimensionality (as a string) of the product of ``unit_items``; ``""`` when empty."""
    if not unit_items:
        return ""
    unit = ureg.Unit("")
    for name, power in unit_items.items():
        unit = unit * ureg.Unit(name) ** power
    return str(unit.dimensionality)


def _canon(dims: str) -> str:
    """Canonical string form of a dimensionality written like ``"[length] ** 2"``; ``""`` for none."""
    if not dims:
        return ""
    return str(ureg.get_dimensionality(dims))


_KIND_DIMS: dict[tuple[str, str], str] = {
    (_canon(num), _canon(den)): kind for kind, (_, num, den) in DOSE_KINDS.items()
}


def _dose_kind(unit: pint.Unit) -> str | None:
    """Match a parsed unit to a canonical dose kind by the dimensions of its numerator and denominator.

    ``mg/kg`` is dimensionless as a whole, so the numerator (positive powers) and the
    denominator (negative powers) are compared separately: a bare number or ``%`` is no dose.
    """
    items = _unit_items(unit)
    num = {k: p for k, p in items.items() if p > 0}
    den = {k: -p for k, p in items.items() if p < 0}
    return _KIND_DIMS.get((_dims_of(num), _dims_of(den)))


def format_number(value: float) -> str:
    """Short exact text for a number: ``3``, ``1.5``, ``720000``, ``2000000``, ``0.1``."""
    if math.isfinite(value) and float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def format_dose(dose: Dose) -> str:
    """Canonical text of a dose, e.g. ``"3 mg/kg"``; :func:`parse_dose` reads it back to the same value."""
    return f"{format_number(dose.value)} {dose.kind}"


def parse_dose(text: str, field: str) -> Dose:
    """Parse a dose such as ``"3 mg/kg"``, ``"240 mg"``, ``"200mg"``, ``"1.5 mg/m²"``,
    ``"720000 IU/kg"``, ``"18 MIU/m^2"`` or ``"2e6 cells/kg"``.

    Any unit pint can convert to a canonical kind is accepted (``"0.24 g"`` is 240 mg,
    ``"500 µg/kg"`` is 0.5 mg/kg); the value is stored in the canonical unit.

    Raises:
        SpecError: naming ``field`` for a missing number, zero, negative or non-finite
            values, unknown units, units that are not a dose (``"3 kg"``), and values
            above :data:`DOSE_LIMITS`.
    """
    if not isinstance(text, str):
        raise SpecError(f"{field}: expected a dose string like '3 mg/kg', got {text!r}")
    split = _split_quantity(text)
    if split is None:
        raise SpecError(f"{field}: expected a dose like '3 mg/kg' or '240 mg', got {text!r}")
    value, unit_text = split
    if not unit_text:
        raise SpecError(f"{field}: dose {text!r} has no unit (use one of {', '.join(DOSE_KINDS)})")
    unit = _parse_units(unit_text)
    if unit is None:
        raise SpecError(f"{field}: unknown dose unit {unit_text!r} in {text!r} (use one of {', '.join(DOSE_KINDS)})")
    kind = _dose_kind(unit)
    drug_mass = [name for name, power in _unit_items(unit).items() if power > 0 and name not in _DRUG_MASS_UNITS]
    if kind is not None and DOSE_KINDS[kind][1] == "[mass]" and drug_mass:
        raise SpecError(
            f"{field}: {text!r} is not a dose: give amounts of drug in mg (or g, µg), not {unit_text!r}"
        )
    if kind is None:
        raise SpecError(
            f"{field}: {text!r} is not a dose: unit {unit_text!r} does not convert to any of {', '.join(DOSE_KINDS)}"
        )
    canonical = float(ureg.Quantity(value, unit).to(DOSE_KINDS[kind][0]).magnitude)
    if not math.isfinite(canonical):
        raise SpecError(f"{field}: dose {text!r} is not finite")
    if canonical <= 0:
        raise SpecError(f"{field}: dose {text!r} must be positive")
    if canonical > DOSE_LIMITS[kind]:
        raise SpecError(
            f"{field}: dose {text!r} is implausibly large (over {format_number(DOSE_LIMITS[kind])} {kind})"
        )
    return Dose(value=canonical, kind=kind, text=text.strip())


@overload
def dose_amount(dose: Dose, weight_kg: float, bsa_m2: float | None = ...) -> float: ...
@overload
def dose_amount(dose: Dose, weight_kg: np.ndarray, bsa_m2: Any = ...) -> np.ndarray: ...
@overload
def dose_amount(dose: Dose, weight_kg: Any, bsa_m2: np.ndarray) -> np.ndarray: ...


def dose_amount(dose: Dose, weight_kg: Any, bsa_m2: Any = None) -> Any:
    """Amount given per administration in the internal unit.

    mg for ``mg``, ``mg/kg`` and ``mg/m2`` doses; IU for ``IU/kg`` and ``MIU/m2`` doses;
    cells for ``cells/kg`` doses. ``weight_kg`` and ``bsa_m2`` may be floats or numpy
    arrays (broadcast together); a float is returned when both are scalars.
    ``bsa_m2`` is only needed for per-m² doses.

    Examples: 3 mg/kg at 80 kg is 240 mg; 18 MIU/m2 at 2 m² is 36e6 IU.
    """
    w = np.asarray(weight_kg, dtype=float)
    needs_bsa = dose.kind in ("mg/m2", "MIU/m2")
    if needs_bsa and bsa_m2 is None:
        raise ValueError(f"dose {dose.text!r} is per m² and needs bsa_m2")
    b = np.asarray(bsa_m2 if bsa_m2 is not None else 1.0, dtype=float)
    shape = np.broadcast_shapes(w.shape, b.shape)
    if dose.kind == "mg":
        out = np.full(shape, dose.value)
    elif dose.kind in ("mg/kg", "IU/kg", "cells/kg"):
        out = np.broadcast_to(dose.value * w, shape).copy()
    elif dose.kind == "mg/m2":
        out = np.broadcast_to(dose.value * b, shape).copy()
    else:  # MIU/m2 -> IU
        out = np.broadcast_to(dose.value * 1e6 * b, shape).copy()
    if out.ndim == 0:
        return float(out)
    return out


@overload
def bsa_m2(weight_kg: float, height_cm: float) -> float: ...
@overload
def bsa_m2(weight_kg: np.ndarray, height_cm: Any) -> np.ndarray: ...
@overload
def bsa_m2(weight_kg: Any, height_cm: np.ndarray) -> np.ndarray: ...


def bsa_m2(weight_kg: Any, height_cm: Any) -> Any:
    """Body surface area (m²) by the Mosteller formula, sqrt(height_cm * weight_kg / 3600).

    Mosteller RD. Simplified calculation of body-surface area. N Engl J Med 1987;317:1098.
    Works elementwise on numpy arrays; a float is returned for scalar inputs.
    """
    out = np.sqrt(np.asarray(height_cm, dtype=float) * np.asarray(weight_kg, dtype=float) / 3600.0)
    if out.ndim == 0:
        return float(out)
    return out
