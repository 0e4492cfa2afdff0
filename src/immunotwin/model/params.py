"""Parameter declarations shared by every subsystem.

A :class:`Param` carries a name, a unit, a default (a scalar, or one value per organ),
an inter-individual variability (standard deviation of a log-normal random effect, 0 for
none) and a source. ``assumed`` marks values that are not taken from the literature; their
``source`` then says why the value was chosen.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Param:
    name: str
    unit: str
    default: float | tuple[float, ...]
    source: str
    iiv: float = 0.0
    assumed: bool = False
    description: str = ""

    @property
    def value(self) -> np.ndarray:
        return np.asarray(self.default, dtype=np.float64)

    @property
    def is_vector(self) -> bool:
        return isinstance(self.default, tuple)


def assumed(name: str, unit: str, default: float | tuple[float, ...], reason: str,
            iiv: float = 0.0, description: str = "") -> Param:
    """A parameter without a literature value; ``reason`` says why the value was chosen."""
    return Param(name, unit, default, "assumed: " + reason, iiv=iiv, assumed=True,
                 description=description)


def sourced(name: str, unit: str, default: float | tuple[float, ...], source: str,
            iiv: float = 0.0, description: str = "") -> Param:
    return Param(name, unit, default, source, iiv=iiv, assumed=False, description=description)
