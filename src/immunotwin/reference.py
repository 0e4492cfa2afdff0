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
