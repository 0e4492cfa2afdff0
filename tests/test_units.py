"""Tests of immunotwin.units: durations, doses, body surface area."""

from __future__ import annotations

import math

import numpy as np
import pytest

from immunotwin.units import (
    DOSE_KINDS,
    Dose,
    SpecError,
    bsa_m2,
    dose_amount,
    format_dose,
    parse_dose,
    parse_duration_days,
    ureg,
)

# --------------------------------------------------------------------------- registry


def test_registry_definitions() -> None:
    assert ureg.Quantity(1, "month").to("day").magnitude == pytest.approx(30.4375)
    assert ureg.Quantity(1, "MIU").to("IU").magnitude == pytest.approx(1e6)
    assert ureg.Quantity(3, "cells").to("cell").magnitude == 3
    # cells are a count of their own, not a bare number
    assert str(ureg.parse_units("cells/kg").dimensionality) != str(ureg.parse_units("1/kg").dimensionality)


# --------------------------------------------------------------------------- durations


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("12 weeks", 84.0),
        ("60 months", 60 * 30.4375),
        ("1 month", 30.4375),
        ("8 h", 1 / 3),
        ("2 weeks", 14.0),
        ("2w", 14.0),
        ("3 days", 3.0),
        ("0 days", 0.0),
        ("1.5 months", 1.5 * 30.4375),
        ("36 hours", 1.5),
    ],
)
def test_parse_duration_days(text: str, days: float) -> None:
    assert parse_duration_days(text, "f") == pytest.approx(days)


@pytest.mark.parametrize("text", ["-2 days", "3 kg", "10 parsecs", "weeks", "", "12", "10 min", "2 weeks/day", "1e999 days"])
def test_parse_duration_days_rejects(text: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_duration_days(text, "arm[0].drug[1].every")
    assert str(info.value).startswith("arm[0].drug[1].every: ")
    assert info.value.errors and all(e.startswith("arm[0].drug[1].every") for e in info.value.errors)


def test_parse_duration_days_rejects_non_string() -> None:
    with pytest.raises(SpecError, match=r"^follow_up: "):
        parse_duration_days(12, "follow_up")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- doses


@pytest.mark.parametrize(
    ("text", "value", "kind"),
    [
        ("3 mg/kg", 3.0, "mg/kg"),
        ("240 mg", 240.0, "mg"),
        ("200mg", 200.0, "mg"),
        ("1.5 mg/m²", 1.5, "mg/m2"),
        ("1.5 mg/m2", 1.5, "mg/m2"),
        ("75 mg/m^2", 75.0, "mg/m2"),
        ("720000 IU/kg", 720000.0, "IU/kg"),
        ("18 MIU/m^2", 18.0, "MIU/m2"),
        ("18 MIU/m2", 18.0, "MIU/m2"),
        ("2e6 cells/kg", 2e6, "cells/kg"),
        ("0.24 g", 240.0, "mg"),
        ("500 µg/kg", 0.5, "mg/kg"),
    ],
)
def test_parse_dose(text: str, value: float, kind: str) -> None:
    dose = parse_dose(text, "dose")
    assert dose.kind == kind
    assert dose.value == pytest.approx(value)
    assert dose.text == text


@pytest.mark.parametrize(
    "text",
    [
        "0 mg",
        "-3 mg/kg",
        "nan mg/kg",
        "3 mg/kgg",
        "3 kg",
        "3",
        "mg/kg",
        "3 %",
        "3 mg/kg/day",
        "5001 mg",
        "101 mg/kg",
        "3001 mg/m2",
        "2000001 IU/kg",
        "1001 MIU/m2",
        "2e12 cells/kg",
    ],
)
def test_parse_dose_rejects(text: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_dose(text, "arm[0].drug[1].dose")
    assert info.value.errors[0].startswith("arm[0].drug[1].dose: ")


def test_parse_dose_messages() -> None:
    with pytest.raises(SpecError, match="unknown dose unit 'mg/kgg'"):
        parse_dose("3 mg/kgg", "d")
    with pytest.raises(SpecError, match="must be positive"):
        parse_dose("-3 mg/kg", "d")
    with pytest.raises(SpecError, match="implausibly large"):
        parse_dose("300 mg/kg", "d")
    with pytest.raises(SpecError, match="not a dose"):
        parse_dose("3 kg", "d")


def test_dose_is_frozen_and_checks_kind() -> None:
    dose = parse_dose("3 mg/kg", "d")
    with pytest.raises(AttributeError):
        dose.value = 4.0  # type: ignore[misc]
    with pytest.raises(ValueError):
        Dose(1.0, "mg/lb", "1 mg/lb")


@pytest.mark.parametrize("kind", list(DOSE_KINDS))
def test_format_dose_round_trip(kind: str) -> None:
    dose = Dose(value=1.5, kind=kind, text="")
    again = parse_dose(format_dose(dose), "d")
    assert (again.value, again.kind) == (1.5, kind)


# --------------------------------------------------------------------------- amounts and BSA


def test_dose_amount_oracles() -> None:
    assert dose_amount(parse_dose("3 mg/kg", "d"), 80.0, None) == pytest.approx(240.0)
    assert dose_amount(parse_dose("18 MIU/m2", "d"), 80.0, 2.0) == pytest.approx(36e6)
    assert dose_amount(parse_dose("240 mg", "d"), 55.0, None) == pytest.approx(240.0)
    assert dose_amount(parse_dose("720000 IU/kg", "d"), 70.0) == pytest.approx(720000 * 70)
    assert dose_amount(parse_dose("175 mg/m2", "d"), 70.0, 1.8) == pytest.approx(315.0)
    assert dose_amount(parse_dose("2e6 cells/kg", "d"), 50.0) == pytest.approx(1e8)
    assert isinstance(dose_amount(parse_dose("3 mg/kg", "d"), 80.0), float)


def test_dose_amount_arrays() -> None:
    weights = np.array([50.0, 80.0, 100.0])
    np.testing.assert_allclose(dose_amount(parse_dose("3 mg/kg", "d"), weights), [150.0, 240.0, 300.0])
    flat = dose_amount(parse_dose("240 mg", "d"), weights)
    assert flat.shape == (3,)
    np.testing.assert_allclose(flat, 240.0)
    bsa = bsa_m2(weights, np.array([160.0, 180.0, 190.0]))
    np.testing.assert_allclose(dose_amount(parse_dose("18 MIU/m2", "d"), weights, bsa), 18e6 * bsa)


def test_dose_amount_needs_bsa_for_per_m2() -> None:
    with pytest.raises(ValueError):
        dose_amount(parse_dose("18 MIU/m2", "d"), 80.0, None)


def test_bsa_mosteller() -> None:
    assert bsa_m2(80.0, 180.0) == pytest.approx(math.sqrt(180 * 80 / 3600)) == pytest.approx(2.0)
    np.testing.assert_allclose(bsa_m2(np.array([80.0, 45.0]), 180.0), [2.0, math.sqrt(180 * 45 / 3600)])


def test_spec_error_joins_messages() -> None:
    err = SpecError(["a: one", "b: two"])
    assert err.errors == ["a: one", "b: two"]
    assert str(err) == "a: one\nb: two"
    assert SpecError("c: three").errors == ["c: three"]
    assert isinstance(err, ValueError)


def test_malformed_unit_text_is_a_spec_error() -> None:
    import pytest as _pytest

    from immunotwin.units import SpecError, parse_dose

    for text in ("8 mg/", "3 (mg", "3 mg**"):
        with _pytest.raises(SpecError):
            parse_dose(text, "dose")
