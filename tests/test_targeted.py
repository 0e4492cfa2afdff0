"""Oral BRAF and MEK inhibitors: PK against closed forms, the clinic's oral dosing, the BRAF V600 covariate,
and the direction of the MAPK kill (only BRAF-mutant tumours, fading with time on treatment)."""

from __future__ import annotations

import numpy as np

from conftest import integrate, params
from immunotwin.clinic.run import intensive_days
from immunotwin.clinic.schedule import Dosing
from immunotwin.drugs.catalogue import CATALOGUE
from immunotwin.model.core import LAYOUT, tumour_cells
from immunotwin.model.slots import SLOTS
from immunotwin.population import sample_cohort
from immunotwin.spec import DrugSchedule
from immunotwin.units import Dose


def _conc(ys: np.ndarray, p: dict, slot: str) -> np.ndarray:
    j = SLOTS.index(slot)
    return LAYOUT.get(ys[0], "pk_central")[:, j] / p["pk_vc"][0, j]


def test_dabrafenib_tracks_its_rising_clearance_at_constant_input() -> None:
    # One compartment eliminating within hours (k = CL/V about 12/day) under a constant input R follows R / CL(t)
    # (quasi-steady state: CL changes over days); CL(t) rises from 17.0 to 34.7 L/h (autoinduction, label).
    d = CATALOGUE["dabrafenib"]
    p = params(drugs=("dabrafenib",), weight=d.ref_weight_kg)
    days, ys = integrate(p, 8, rate={"braf": 300.0}, burn=False)
    c = _conc(ys, p, "braf")
    tau_h = days * 24.0
    cl = d.cl_l_day * np.exp(d.emax_cl * tau_h**d.gamma_cl / (d.t50_cl_h**d.gamma_cl + tau_h**d.gamma_cl))
    np.testing.assert_allclose(c[7:], 300.0 / cl[7:], rtol=0.02)
    # At steady state (eight weeks) the label's clearance, 34.7 L/h: a mean level of 0.36 mg/L at 150 mg twice daily.
    np.testing.assert_allclose(c[-1], 300.0 / (34.7 * 24.0), rtol=0.01)


def test_trametinib_reaches_rate_over_clearance() -> None:
    # Two compartments, constant input: C -> R / CL once several terminal half-lives (about 4.4 days) have passed.
    d = CATALOGUE["trametinib"]
    p = params(drugs=("trametinib",), weight=d.ref_weight_kg)
    days, ys = integrate(p, 10, rate={"mek": 2.0}, burn=False)
    c = _conc(ys, p, "mek")
    np.testing.assert_allclose(c[-1], 2.0 / d.cl_l_day, rtol=1e-3)
    # The terminal half-life lies in the label's 3.9-4.8 days: half the remaining gap closes over one.
    gap = 2.0 / d.cl_l_day - c
    half = float(np.interp(0.5, (gap[27:36] / gap[27])[::-1], days[27:36][::-1]) - days[27])
    assert 3.9 <= half <= 4.8, half


def test_oral_doses_enter_as_the_steps_mean_rate_without_daily_steps() -> None:
    dab = DrugSchedule("dabrafenib", Dose(150.0, "mg", "150 mg"), every_days=0.5, doses=None, start_days=0.0, until_days=None,
                       until_progression=True)
    tra = DrugSchedule("trametinib", Dose(2.0, "mg", "2 mg"), every_days=1.0, doses=None, start_days=0.0, until_days=None,
                       until_progression=True)
    assert intensive_days([dab, tra], 365.0) == set()  # the weekly clinic keeps its weekly steps
    dosing = Dosing.create([dab, tra], [], np.array([70.0, 90.0]), np.array([170.0, 180.0]))
    assert dosing.infused.all() and dosing.per_step.all() and not dosing.subdaily[1]
    no = np.zeros(2, dtype=bool)
    given = dosing.due(0.0, np.ones(2, dtype=bool), no, no, no, False, 2, 7.0)
    np.testing.assert_allclose(given, [[14 * 150.0, 7 * 2.0]] * 2)  # a week's doses, flat dosing
    given = dosing.due(7.0, np.ones(2, dtype=bool), np.array([True, False]), no, no, False, 2, 7.0)
    np.testing.assert_allclose(given, [[0.0, 0.0], [14 * 150.0, 7 * 2.0]])  # a held week is skipped, not made up
    assert dosing.skipped[0].tolist() == [14, 7]


def test_braf_status_is_drawn_apart_from_every_other_draw() -> None:
    idx = list(range(2000))
    none = sample_cohort("melanoma", {"braf_v600_fraction": 0.0}, 5, 0, idx, 10)
    half = sample_cohort("melanoma", {}, 5, 0, idx, 10)
    assert not none.covariates["braf_v600"].any()
    share = half.covariates["braf_v600"].mean()
    assert abs(share - 0.5) < 4 * np.sqrt(0.25 / len(idx))  # the catalogue's 50%, within 4 binomial SEs
    for key, v in none.params.items():
        if key != "braf_v600":
            np.testing.assert_array_equal(v, half.params[key], err_msg=key)
    np.testing.assert_array_equal(half.params["braf_v600"], half.covariates["braf_v600"].to_numpy(float))
    cov = none.covariates.drop(columns="braf_v600")
    assert cov.equals(half.covariates.drop(columns="braf_v600"))


def _tumour(ys: np.ndarray) -> np.ndarray:
    return tumour_cells(ys[0])


def test_mapk_kill_needs_braf_v600_and_fades_as_the_tumour_grows_tolerant() -> None:
    rate = {"braf": 300.0, "mek": 2.0}
    base = dict(drugs=("dabrafenib", "trametinib"), mapk_kill=0.05)
    _, untreated = integrate(params(**base), 20)
    _, wild = integrate(params(braf_v600=0.0, **base), 20, rate=rate)
    _, mutant = integrate(params(braf_v600=1.0, mapk_persistence=200.0, **base), 20, rate=rate)
    _, brief = integrate(params(braf_v600=1.0, mapk_persistence=10.0, **base), 20, rate=rate)
    _, alone = integrate(params(braf_v600=1.0, mapk_persistence=10.0, **base), 20, rate={"braf": 300.0})
    np.testing.assert_allclose(_tumour(wild), _tumour(untreated), rtol=1e-9)  # wild-type tumours are not touched
    t_mut, t_brief = _tumour(mutant), _tumour(brief)
    assert t_mut[55] < 0.2 * _tumour(untreated)[55]  # the mutant tumour shrinks
    # A briefer effect reaches a higher nadir sooner and regrows: resistance ends the response.
    assert np.argmin(t_brief) < np.argmin(t_mut) and t_brief.min() > t_mut.min()
    assert t_brief[-1] > 1.2 * t_brief.min() and t_brief[-1] > t_brief[-8]  # regrowing at the end
    # The pair's deeper inhibition outlasts one drug's as the tumour grows tolerant: a later, deeper nadir.
    t_alone = _tumour(alone)
    assert np.argmin(t_alone) < np.argmin(t_brief) and t_alone.min() > t_brief.min()


def test_a_larger_mapk_resistant_subclone_caps_the_response() -> None:
    """The pre-existing subclone that BRAF and MEK inhibition does not touch (stop 50). With the drugs' effect held
    (long persistence), a larger subclone leaves a larger tumour; the drugs do not kill it (it grows while the rest
    of the tumour falls), and only the immune response, raised by the antigen the dying cells release, holds it
    later (below where it would be with no MAPK killing, though that tumour leaves it less room to grow). A
    wild-type tumour has none."""
    rate = {"braf": 300.0, "mek": 2.0}
    base = dict(drugs=("dabrafenib", "trametinib"), mapk_kill=0.1, mapk_persistence=1e4, braf_v600=1.0)
    ys = {f: integrate(params(mapk_resistant_fraction=f, **base), 30, rate=rate)[1] for f in (1e-4, 1e-2)}
    small, large = _tumour(ys[1e-4]), _tumour(ys[1e-2])
    assert np.all(large[56:] > small[56:]) and large[-1] > 100.0 * small[-1]
    m = LAYOUT.get(ys[1e-2][0], "log_mapk_resistant")
    sens = LAYOUT.get(ys[1e-2][0], "log_sensitive")
    assert m[14] > m[0] and sens[14] < sens[0] - 1.0  # the drugs shrink the rest, not the subclone
    _, no_kill = integrate(params(mapk_resistant_fraction=1e-2, **{**base, "mapk_kill": 0.0}), 30, rate=rate)
    assert m[-1] < LAYOUT.get(no_kill[0], "log_mapk_resistant")[-1] - 1.0
    _, wild = integrate(params(mapk_resistant_fraction=1e-2, **{**base, "braf_v600": 0.0}), 4, rate=rate)
    assert np.all(LAYOUT.get(wild[0], "log_mapk_resistant") < -600.0)  # none in a wild-type tumour
