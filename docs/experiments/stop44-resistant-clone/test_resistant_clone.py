"""The immune-resistant clone (model.tumour): it meets a fixed share of the T-cells' killing, before treatment as
under it, and the foci it seeds meet that share too. Oracles: the enrolment step's own definition of the sensitive
clone's net growth, the intrinsic growth when no T cell kills, and the closed form of a first-order delay."""

from __future__ import annotations

import numpy as np

from conftest import params
from immunotwin import engine
from immunotwin.model.core import LAYOUT, initial_state, vector_field


def _rates(**over: float) -> tuple[dict, np.ndarray]:
    """Enrolled patient (50e9 cells, no drug): its parameters and d/dt of every state at day 0."""
    p = params(**over)
    y = engine.burn_in(initial_state(p, np.full(1, 50.0)), p)
    engine.enrol(y, p)
    return p, _field(y[0], p)


def _field(y: np.ndarray, p: dict) -> np.ndarray:
    inp = {k: v[0] for k, v in engine.zero_inputs(1).items()}
    return np.asarray(vector_field(0.0, y, ({k: v[0] for k, v in p.items()}, inp)))


def test_before_treatment_the_resistant_clone_escapes_its_share_of_the_baseline_killing() -> None:
    p, dy = _rates(resistant_kill=0.3, resistant_fraction=0.05)
    k0 = p["baseline_kill"][0]
    assert k0 > 0.1 * p["net_growth_rate"][0]  # the check is not vacuous: T cells kill at enrolment
    d_s, d_r = dy[LAYOUT.slices["log_sensitive"]][0], dy[LAYOUT.slices["log_resistant"]][0]
    np.testing.assert_allclose(d_s, p["net_growth_rate"][0], rtol=1e-9)  # the enrolment step's definition
    np.testing.assert_allclose(d_r - d_s, (1.0 - 0.3) * k0, rtol=1e-9)


def test_a_reach_above_one_is_read_as_one() -> None:
    _, dy = _rates(resistant_kill=2.5, resistant_fraction=0.05)
    np.testing.assert_allclose(dy[LAYOUT.slices["log_resistant"]], dy[LAYOUT.slices["log_sensitive"]], rtol=1e-12)


def test_when_the_t_cells_are_gone_the_resistant_clone_grows_at_the_intrinsic_rate() -> None:
    # the old form kept the enrolment killing k_0 on the resistant clone whatever the T cells did afterwards
    p = params(resistant_kill=0.3, resistant_fraction=0.05)
    y = engine.burn_in(initial_state(p, np.full(1, 50.0)), p)
    engine.enrol(y, p)
    y[0, LAYOUT.slices["effector"]] = 0.0
    dy = _field(y[0], p)
    d_s, d_r = dy[LAYOUT.slices["log_sensitive"]][0], dy[LAYOUT.slices["log_resistant"]][0]
    np.testing.assert_allclose(d_r, d_s, rtol=1e-12)  # no killing: both clones grow alike
    np.testing.assert_allclose(d_r, p["net_growth_rate"][0] + p["baseline_kill"][0], rtol=1e-3)  # shape ~ 1 at 50e9


def test_foci_seeded_by_an_invisible_clone_are_not_cleared_by_treatment() -> None:
    # With no killing reaching the resistant clone its pool is a pure first-order delay of its own seeding,
    # m T^alpha T_r/T, under nivolumab as without it; the sensitive clone's pool is cleared.
    n, weeks = 2, 16
    p = params(n, drugs=("nivolumab",), immunogenicity=1.5, resistant_kill=0.0, resistant_fraction=0.1)
    y = engine.burn_in(initial_state(p, np.full(n, 50.0)), p)
    engine.enrol(y, p)
    inp = engine.zero_inputs(n)
    inp["tfd"][:] = 0.0
    out = [y[:, None, :]]
    for k in range(weeks):
        if k % 2 == 0:
            y[0, LAYOUT.slices["pk_central"].start] += 240.0  # patient 0 treated, patient 1 not
        ys, ok = engine.step(y, p, inp, 7.0 * k)
        assert ok.all()
        out.append(ys)
        y = ys[:, -1].copy()
    ys = np.concatenate(out, axis=1)  # daily, day 0 first
    ts, tr = np.exp(LAYOUT.get(ys, "log_sensitive")), np.exp(LAYOUT.get(ys, "log_resistant"))
    seed_r = p["metastasis_rate"][:, None] * (ts + tr) ** p["metastasis_alpha"][:, None] * tr / (ts + tr)
    d = p["micrometastasis_delay"][0]
    pool = LAYOUT.get(ys, "micrometastases_resistant")
    # closed form of dL/dt = s(t) - L/D with s linear between days
    e = np.exp(-1.0 / d)
    expect = [pool[:, 0]]
    for j in range(1, ys.shape[1]):
        s0, s1 = seed_r[:, j - 1], seed_r[:, j]
        slope = s1 - s0
        expect.append(expect[-1] * e + d * (s0 - slope * d) * (1 - e) + d * slope)
    np.testing.assert_allclose(pool, np.stack(expect, axis=1), rtol=2e-3)
    assert ts[0, -1] < 0.2 * ts[1, -1]  # the treatment works on the sensitive clone ...
    sens = LAYOUT.get(ys, "micrometastases")
    assert sens[0, -1] < 0.2 * sens[1, -1]  # ... and clears the foci it seeded
