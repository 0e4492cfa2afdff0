"""New lesions through the micrometastatic pool, and the residual mass imaging measures:
steady state before treatment, the closed form of the first-order delay, clearance by
treatment, and the measured burden of a responding tumour."""

from __future__ import annotations

import numpy as np

from conftest import params
from immunotwin import engine
from immunotwin.model.core import LAYOUT, initial_state, tumour_cells


def _nivo(k: int) -> list[tuple[str, float]]:
    return [("pd1", 240.0)] if k % 2 == 0 else []


def test_pool_starts_at_steady_state_and_feeds_the_iwata_rate() -> None:
    from immunotwin.model.core import vector_field

    p = params()
    y = engine.burn_in(initial_state(p, np.full(1, 50.0)), p)
    seeding = p["metastasis_rate"][0] * 50.0 ** p["metastasis_alpha"][0]
    assert LAYOUT.get(y, "micrometastases")[0] == seeding * p["micrometastasis_delay"][0]  # held in burn-in
    engine.enrol(y, p)
    inp = {k: v[0] for k, v in engine.zero_inputs(1).items()}
    dy = np.asarray(vector_field(0.0, y[0], ({k: v[0] for k, v in p.items()}, inp)))
    np.testing.assert_allclose(dy[LAYOUT.slices["micrometastases"]], 0.0, atol=1e-12)
    np.testing.assert_allclose(dy[LAYOUT.slices["new_lesion_hazard"]], seeding, rtol=1e-12)
    # no killing above the enrolment level, so no residual mass forms (to rounding: enrolment reads the killing from a
    # batched call, this from one patient's, which XLA may fuse differently; 1.9e-17 since stop 47's added state)
    np.testing.assert_allclose(dy[LAYOUT.slices["residual_mass"]], 0.0, atol=1e-12)


def test_pool_is_a_first_order_delay_without_treatment_effect() -> None:
    # No killing at all and no growth: the pool relaxes to m T^a D with time constant D from any start.
    p = params(kill_max=0.0, growth_rate=0.0, il6_promotion=0.0)
    y = initial_state(p, np.full(1, 50.0))
    y[:, LAYOUT.slices["micrometastases"]] = 0.0
    days, ys = _integrate_from(y, p, 12)
    s = p["metastasis_rate"][0] * 50.0 ** p["metastasis_alpha"][0]
    d = p["micrometastasis_delay"][0]
    exact_pool = s * d * (1.0 - np.exp(-days / d))
    np.testing.assert_allclose(LAYOUT.get(ys[0], "micrometastases"), exact_pool, rtol=1e-6, atol=1e-12)
    exact_h = s * (days - d * (1.0 - np.exp(-days / d)))
    np.testing.assert_allclose(LAYOUT.get(ys[0], "new_lesion_hazard"), exact_h, rtol=1e-6, atol=1e-12)
    assert np.all(LAYOUT.get(ys[0], "residual_mass") == 0.0)  # nothing killed, nothing left


def _integrate_from(y: np.ndarray, p: dict, weeks: int) -> tuple[np.ndarray, np.ndarray]:
    inp = engine.zero_inputs(y.shape[0])
    inp["tfd"][:] = 0.0
    days, out = [], []
    for k in range(weeks):
        ys, ok = engine.step(y, p, inp, 7.0 * k)
        assert ok.all()
        days.extend(7.0 * k + np.arange(1, 8))
        out.append(ys)
        y = ys[:, -1].copy()
    return np.asarray(days), np.concatenate(out, axis=1)


def _nivolumab_course(n: int, weeks: int, **over: float) -> np.ndarray:
    """Daily states (n, days, size) of n patients with 50e9 tumour cells, enrolled (baseline killing: only killing
    above it is treatment-induced); patient 0 gets nivolumab 240 mg every 2 weeks, the others nothing."""
    p = params(n, drugs=("nivolumab",), immunogenicity=1.5, **over)
    y = engine.burn_in(initial_state(p, np.full(n, 50.0)), p)
    engine.enrol(y, p)
    inp = engine.zero_inputs(n)
    inp["tfd"][:] = 0.0
    out = []
    for k in range(weeks):
        if k % 2 == 0:
            y[0, LAYOUT.slices["pk_central"].start] += 240.0
        ys, ok = engine.step(y, p, inp, 7.0 * k)
        assert ok.all()
        out.append(ys)
        y = ys[:, -1].copy()
    return np.concatenate(out, axis=1)


def test_effective_treatment_clears_seeded_foci_and_leaves_residual_mass() -> None:
    ys = _nivolumab_course(2, 24)
    h = LAYOUT.get(ys, "new_lesion_hazard")
    assert h[0, -1] < 0.5 * h[1, -1]  # fewer visible new lesions on treatment
    viable = tumour_cells(ys)
    resid = LAYOUT.get(ys, "residual_mass")
    assert viable[0, -1] < 0.5 * viable[1, -1]
    assert resid[0].max() > 0.1 * viable[0, 0]  # the responding tumour leaves a measurable residue
    assert resid[1].max() < 1e-6 * viable[1, 0]  # untreated: no treatment-induced death
    # the residue clears: from its peak it falls, slower than the viable tumour did
    k = int(np.argmax(resid[0]))
    assert resid[0, -1] < resid[0, k]


def _responding(weeks: int, **over: float) -> np.ndarray:
    """Daily states of one responding patient on nivolumab every 2 weeks."""
    return _nivolumab_course(1, weeks, **over)[0]


def test_scar_takes_its_share_of_the_killed_mass() -> None:
    # Without resorption (both clearance times far beyond the run) debris, residue and scar just accumulate what
    # treatment kills, in the ratio f_D (1 - phi) : (1 - f_D)(1 - phi) : phi, at every time.
    phi, f_d = 0.02, 0.7
    ys = _responding(16, scar_fraction=phi, debris_share=f_d, residual_clearance_time=1e12,
                     debris_clearance_time=1e12)
    debris, resid, scar = (LAYOUT.get(ys, k) for k in ("debris_mass", "residual_mass", "scar_mass"))
    assert scar[-1] > 1e-3  # treatment killed something
    grown = scar > 1e-9
    np.testing.assert_allclose(scar[grown] / resid[grown], phi / ((1.0 - f_d) * (1.0 - phi)), rtol=1e-6)
    np.testing.assert_allclose(debris[grown] / resid[grown], f_d / (1.0 - f_d), rtol=1e-6)


def test_debris_and_residue_share_the_killed_mass_and_clear_at_their_own_rates() -> None:
    # The vector field at any state of a responding patient: what enters the debris and the slow residue,
    # dX/dt + X/tau_X, stands in the ratio f_D : (1 - f_D), whatever either holds.
    from immunotwin.model.core import vector_field

    f_d, tau_d, tau_r = 0.7, 14.0, 70.0
    over = dict(debris_share=f_d, debris_clearance_time=tau_d, residual_clearance_time=tau_r)
    ys = _responding(12, **over)
    p = params(1, drugs=("nivolumab",), immunogenicity=1.5, **over)
    engine.enrol(engine.burn_in(initial_state(p, np.full(1, 50.0)), p), p)
    pp = {k: v[0] for k, v in p.items()}
    inp = {k: v[0] for k, v in engine.zero_inputs(1).items()}
    inp["tfd"] = 0.0
    checked = 0
    for day in (20, 40, 60, 80):
        dy = np.asarray(vector_field(float(day), ys[day], (pp, inp)))
        d_in = dy[LAYOUT.slices["debris_mass"]][0] + LAYOUT.get(ys[day], "debris_mass") / tau_d
        r_in = dy[LAYOUT.slices["residual_mass"]][0] + LAYOUT.get(ys[day], "residual_mass") / tau_r
        if r_in > 1e-9:
            np.testing.assert_allclose(d_in / r_in, f_d / (1.0 - f_d), rtol=1e-9)
            checked += 1
    assert checked >= 2
    # debris clears five times faster than the residue: after the killing, it is the smaller of the two
    late = _responding(40, **over)
    debris, resid = LAYOUT.get(late, "debris_mass"), LAYOUT.get(late, "residual_mass")
    assert debris.max() > resid.max() * 0.5  # it takes most of the mass while the tumour dies
    assert debris[-1] < resid[-1]


def test_fast_debris_lets_ct_see_a_response_sooner() -> None:
    # Same patient, same killing: with most of the killed mass cleared in two weeks, CT at week 12 reads
    # closer to the viable tumour than with one slow residue.
    def ct(ys: np.ndarray) -> np.ndarray:
        viable = tumour_cells(ys)
        return viable + sum(LAYOUT.get(ys, k) for k in ("debris_mass", "residual_mass", "scar_mass"))

    slow, fast = _responding(13, debris_share=0.0), _responding(13, debris_share=0.7)
    via = tumour_cells(fast)
    np.testing.assert_allclose(via, tumour_cells(slow), rtol=1e-6)  # the tumour is the same
    assert ct(fast)[83] < ct(slow)[83]
    assert ct(fast)[83] - via[83] < 0.6 * (ct(slow)[83] - via[83])


def test_scar_stays_while_the_residue_resorbs() -> None:
    ys = _responding(40, scar_fraction=0.02)
    resid, scar = LAYOUT.get(ys, "residual_mass"), LAYOUT.get(ys, "scar_mass")
    assert np.all(np.diff(scar) >= -1e-12)  # never resorbed
    k = int(np.argmax(resid))
    assert resid[-1] < 0.5 * resid[k]  # the resorbing part falls from its peak
    no_scar = LAYOUT.get(_responding(40, scar_fraction=0.0), "scar_mass")
    assert np.all(no_scar == 0.0)


def test_a_surfaced_lesion_is_seen_only_while_the_burden_is_back_at_its_size() -> None:
    """Hand-made oracle: lesion k surfaces at the step its threshold is crossed, and a scan shows it while the viable
    burden is at least what it was then (it shrinks and regrows with the tumour)."""
    from immunotwin.clinic.observe import new_lesions_visible, surface

    surfaced = np.full((2, 3), np.nan)
    base = np.array([1, 0])  # patient 0 had one lesion surfaced by the first dose (not new)
    steps = [  # (crossed for both patients, ln burden for both)
        (np.array([[True, False, False], [False, False, False]]), np.log([10.0, 10.0])),
        (np.array([[True, True, False], [True, False, False]]), np.log([12.0, 8.0])),
        (np.array([[True, True, True], [True, True, False]]), np.log([6.0, 9.0])),
    ]
    seen = []
    for crossed, logb in steps:
        surfaced = surface(surfaced, crossed, logb)
        seen.append(new_lesions_visible(surfaced, crossed, logb, base).sum(axis=1).tolist())
    # patient 0: lesion 0 is baseline; lesion 1 surfaced at 12, lesion 2 at 6 -> at step 3 only lesion 2 is seen.
    # patient 1: lesion 0 surfaced at 8, lesion 1 at 9 -> both seen at step 3 (9 >= 8, 9 >= 9).
    assert seen == [[0, 0], [1, 1], [1, 2]]
    np.testing.assert_allclose(surfaced[0], np.log([10.0, 12.0, 6.0]))  # recorded once, at first crossing
    # The burden regrowing past a lesion's size brings it back: at 12.5 both of patient 0's new lesions show.
    assert new_lesions_visible(surfaced, steps[-1][0], np.log([12.5, 1.0]), base).sum(axis=1).tolist() == [2, 0]


def test_with_a_growing_burden_every_lesion_surfaced_after_baseline_is_seen() -> None:
    """Untreated growth: the count is the number of thresholds crossed since baseline (the rule before stop 28)."""
    from immunotwin.clinic.observe import new_lesions_visible, surface

    rng = np.random.default_rng(3)
    thresholds = np.cumsum(rng.exponential(1.0, (50, 16)), axis=1)
    base = (thresholds < 0.7).sum(axis=1)
    surfaced = np.full(thresholds.shape, np.nan)
    for k, h in enumerate(np.linspace(0.0, 6.0, 30)):
        crossed = h > thresholds
        logb = np.full(50, 0.1 * k)  # rising burden
        surfaced = surface(surfaced, crossed, logb)
        assert (new_lesions_visible(surfaced, crossed, logb, base).sum(axis=1) == np.maximum(crossed.sum(axis=1) - base, 0)).all()
