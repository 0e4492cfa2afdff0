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


#: The slow test files, longest first: `make test-slow` hands whole files to two workers (--dist loadfile) in this
#: order, so the longest start first and the short ones fill in. Measured with --durations on the slow suite (stop 65,
#: two workers): test_trial_slow about 13 minutes of its worker's time (CheckMate 067 at 1,000 per arm), test_scenarios
#: 9, test_scenarios_biologics 6, test_scenarios_targeted 4, then 2-3 each. Files not named go last.
SLOW_FILES_LONGEST_FIRST = ("test_trial_slow.py", "test_scenarios.py", "test_scenarios_biologics.py",
                            "test_scenarios_targeted.py", "test_calibrate.py", "test_bench.py", "test_scenarios_dose.py",
                            "test_distributed.py")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Put the slow tests in :data:`SLOW_FILES_LONGEST_FIRST`'s order of files (a stable sort: within a file, and
    among the fast tests, which stay ahead of every slow one, the order is pytest's)."""
    rank = {name: i for i, name in enumerate(SLOW_FILES_LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)) if item.get_closest_marker("slow") else -1)
