"""Shared helpers: one-patient parameter sets and a plain integration loop over the engine."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("IMMUNOTWIN_JAX_CACHE", os.path.expanduser("~/.cache/immunotwin/jax"))

from immunotwin import engine  # noqa: E402
from immunotwin.drugs.catalogue import slot_params  # noqa: E402
from immunotwin.model.core import LAYOUT, default_params, initial_state  # noqa: E402
from immunotwin.model.slots import SLOTS  # noqa: E402


def params(n: int = 1, drugs: tuple[str, ...] = (), weight: float = 80.0, **over: object) -> dict[str, np.ndarray]:
    p = {k: np.broadcast_to(v, (n, *v.shape)).astype(float).copy() for k, v in default_params().items()}
    p.update(slot_params(list(drugs), np.full(n, weight), np.zeros((n, 2)), np.full(n, 206.0)))
    for k, v in over.items():
        p[k] = np.broadcast_to(np.asarray(v, dtype=float), p[k].shape).copy()
    return p


def integrate(p: dict[str, np.ndarray], weeks: int, *, tumour0: float = 50.0, doses=None, steroid: float = 0.0,
              burn: bool = True, rate: dict[str, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Integrate ``weeks`` weeks from day 0; ``doses(week) -> list[(slot, mg)]``; ``rate``: slot -> constant input
    (mg/day) throughout, as the clinic gives oral drugs. Returns daily days and states."""
    n = next(iter(p.values())).shape[0]
    y = initial_state(p, np.full(n, tumour0))
    if burn:
        y = engine.burn_in(y, p)
    inp = engine.zero_inputs(n)
    inp["steroid"][:] = steroid
    inp["tfd"][:] = 0.0
    for slot, mg_day in (rate or {}).items():
        inp["rate"][:, SLOTS.index(slot)] = mg_day
    days, out = [], []
    for k in range(weeks):
        for slot, mg in (doses(k) if doses else []):
            y[:, LAYOUT.slices["pk_central"].start + SLOTS.index(slot)] += mg
        ys, ok = engine.step(y, p, inp, 7.0 * k)
        assert ok.all()
        days.extend(7.0 * k + np.arange(1, 8))
        out.append(ys)
        y = ys[:, -1].copy()
    return np.asarray(days), np.concatenate(out, axis=1)


@pytest.fixture(scope="session")
def layout():  # type: ignore[no-untyped-def]
    return LAYOUT


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under ``--dist loadgroup`` (``make test-slow`` on two workers), keep the tests that share a module-scoped
    fixture on one worker, so each shared trial or scenario is simulated once; tests sharing none go anywhere.

    Within a module, tests are joined when they use a common module-scoped fixture (directly or through another
    fixture): the groups are the connected components of that relation.
    """
    if config.getoption("dist", "no") != "loadgroup":
        return
    parent: dict[str, str] = {}

    def find(a: str) -> str:
        while parent.setdefault(a, a) != a:
            a = parent[a]
        return a

    shared: dict[pytest.Item, list[str]] = {}
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        if info is None:
            continue
        keys = [f"{item.module.__name__}::{name}" for name in info.names_closure
                if any(d.scope == "module" for d in info.name2fixturedefs.get(name, ()))]
        shared[item] = keys
        for key in keys[1:]:
            parent[find(key)] = find(keys[0])
    for item, keys in shared.items():
        if keys:
            item.add_marker(pytest.mark.xdist_group(find(keys[0])))
