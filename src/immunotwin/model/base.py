"""How a subsystem is declared and how the model composes them.

A :class:`Subsystem` declares its state variables (name and length), its parameters
(:class:`~immunotwin.model.params.Param`), a ``signals`` function that derives quantities
other subsystems read (receptor occupancy, cytokines, killing) and a ``derivatives``
function giving its terms of the vector field. Both are plain ``jax.numpy`` arithmetic on
one patient; the engine vectorises over patients with ``jax.vmap``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jax.numpy as jnp

from .params import Param

Array = Any


@dataclass
class Ctx:
    """What a subsystem sees: time (days), states, parameters, inputs and signals so far."""

    t: Array
    s: Mapping[str, Array]
    p: Mapping[str, Array]
    u: Mapping[str, Array]
    sig: dict[str, Array] = field(default_factory=dict)


def _no_signals(ctx: Ctx) -> dict[str, Array]:
    return {}


@dataclass(frozen=True)
class Subsystem:
    name: str
    states: tuple[tuple[str, int], ...]
    params: tuple[Param, ...]
    derivatives: Callable[[Ctx], dict[str, Array]]
    signals: Callable[[Ctx], dict[str, Array]] = _no_signals
    doc: str = ""


def pos(x: Array) -> Array:
    """max(x, 0), smooth enough for an explicit solver."""
    return jnp.maximum(x, 0.0)


def hill(x: Array, k: Array, n: float | Array = 1.0) -> Array:
    """x^n / (k^n + x^n) for x >= 0."""
    xn = pos(x) ** n
    return xn / (k**n + xn)
