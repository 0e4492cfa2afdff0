"""Published reference figures shipped with the package (copied from shared/reference with sources)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .spec import TrialSpec

FILES = ("checkmate067", "irae", "phenomena", "pk", "scenario_refs")


@cache
def load(name: str) -> dict[str, Any]:
    """A reference file by name (``checkmate067``, ``irae``, ``phenomena``, ``pk``, ``scenario_refs``)."""
    if name not in FILES:
        raise KeyError(f"unknown reference {name!r}; known: {', '.join(FILES)}")
    return json.loads(resources.files("immunotwin.data").joinpath(f"{name}.json").read_text())


def reference_for(spec: TrialSpec) -> dict[str, Any] | None:
    """The published trial whose arms the spec reproduces (matched by arm names), if any."""
    ref = load("checkmate067")
    if spec.population.cancer == "melanoma" and set(spec.arm_names) <= set(ref["arms"]):
        return ref
    return None


def calibration_status(reference: dict[str, Any] | None) -> str | None:
    """One line on the installed calibration (``data/calibration.json``) as it bears on ``reference``: which of its
    figures were fitted, so that a report does not present them as validation. None where no calibration ships."""
    f = resources.files("immunotwin.data").joinpath("calibration.json")
    if not f.is_file():
        return None
    prov = json.loads(f.read_text()).get("provenance", {})
    label = str(prov.get("label", "calibrated"))
    method = prov.get("method")
    head = f"{label}" + (f" by {method}" if method else "")
    if reference is not None and reference.get("trial") == prov.get("trial"):
        fitted = ", ".join(prov.get("fitted_endpoints", ())) or "its endpoints"
        return (f"{head}; the endpoints it was fitted to ({fitted}) are fitted figures here, not validation "
                "(immunotwin validate keeps fitted and unfitted figures apart)")
    return f"{head}; none of this reference's figures were used in the fit"
