"""Vitiligo: melanocytes killed by the tumour-primed T cells (model.tolerance). Oracles: the closed form of the
depigmentation lag, the exact scaling of -ln(1 - V) with the rate (vitiligo feeds back on nothing), no vitiligo
without shared antigen or without a rise in killing, and the CTCAE grades of the clinic's reading."""

from __future__ import annotations

import numpy as np

from conftest import params
from immunotwin import engine
from immunotwin.clinic.observe import VITILIGO_SEEN_BSA, vitiligo_grade
from immunotwin.model.core import LAYOUT, initial_state
from immunotwin.model.organs import INDEX
from test_lesions import _integrate_from, _nivolumab_course

SKIN = np.zeros(12)
SKIN[INDEX["dermatitis"]] = 0.6  # melanoma's shared melanocyte antigen in the catalogue


def _course(n: int, weeks: int, **over: object) -> np.ndarray:
    """Daily states (n, days, size) of n enrolled patients with 50e9 tumour cells and melanoma's shared skin antigen
    (unless overridden); patient 0 gets nivolumab every 2 weeks (tests/test_lesions.py's course)."""
    over.setdefault("cross_reactivity", SKIN)
    return _nivolumab_course(n, weeks, **over)


def test_treatment_with_shared_antigen_destroys_melanocytes_and_the_skin_shows_it_later() -> None:
    ys = _course(2, 20)
    v, w = LAYOUT.get(ys, "melanocyte_loss"), LAYOUT.get(ys, "depigmentation")
    assert v[0, -1] > 1e-3  # treated: melanocytes lost
    assert np.all(np.diff(v[0]) >= -1e-12)  # never recovered
    assert np.all(w[0] <= v[0] + 1e-12) and w[0, -1] > 0.0  # the skin lags the loss
    assert v[1, -1] < 1e-3 * v[0, -1]  # untreated: killing does not rise above its enrolment level


def test_no_shared_antigen_no_vitiligo() -> None:
    ys = _course(1, 20, cross_reactivity=np.zeros(12))
    assert np.all(LAYOUT.get(ys, "melanocyte_loss") == 0.0)
    assert np.all(LAYOUT.get(ys, "depigmentation") == 0.0)


def test_loss_scales_exactly_with_the_rate() -> None:
    # dV/dt = k g(t) (1 - V) with g independent of k (vitiligo feeds back on nothing): -ln(1 - V) = k * integral(g).
    v1 = LAYOUT.get(_course(1, 16, vitiligo_rate=0.05), "melanocyte_loss")[0]
    v2 = LAYOUT.get(_course(1, 16, vitiligo_rate=0.10), "melanocyte_loss")[0]
    grown = v1 > 1e-4
    assert grown.sum() > 50
    np.testing.assert_allclose(-np.log1p(-v2[grown]), 2.0 * -np.log1p(-v1[grown]), rtol=1e-3)


def test_depigmentation_is_a_first_order_lag_of_one_epidermal_transit() -> None:
    # No killing: the loss stays where it starts, and the skin approaches it as V0 (1 - exp(-t / tau)).
    p = params(kill_max=0.0, cross_reactivity=SKIN)
    y = initial_state(p, np.full(1, 50.0))
    y[:, LAYOUT.slices["melanocyte_loss"]] = 0.2
    days, ys = _integrate_from(y, p, 10)
    ys = ys[0]
    tau = p["pigment_turnover"][0]
    np.testing.assert_allclose(LAYOUT.get(ys, "melanocyte_loss"), 0.2, rtol=1e-9)
    np.testing.assert_allclose(LAYOUT.get(ys, "depigmentation"), 0.2 * (1.0 - np.exp(-np.asarray(days) / tau)),
                               rtol=1e-5)


def test_held_in_burn_in() -> None:
    p = params(cross_reactivity=SKIN, immunogenicity=1.5)
    y = engine.burn_in(initial_state(p, np.full(1, 50.0)), p)
    assert LAYOUT.get(y, "melanocyte_loss")[0] == 0.0 and LAYOUT.get(y, "depigmentation")[0] == 0.0


def test_ctcae_grades_of_depigmented_surface() -> None:
    seen = VITILIGO_SEEN_BSA / 100.0
    g = vitiligo_grade(np.array([0.0, 0.999 * seen, seen, 0.05, 0.10, 0.1001, 0.9]))
    assert g.tolist() == [0, 0, 1, 1, 1, 2, 2]


def test_the_page_tells_and_plots_vitiligo() -> None:
    # The patient of tests/test_simulate.py's vitiligo check (melanoma, nivolumab 240 mg every 2 weeks, seed 5): the
    # page's account has a vitiligo sentence at its onset week, and the series reaches the 1% at which it is seen.
    from immunotwin.simulate import simulate_patient
    from immunotwin.spec import parse_regimen
    from immunotwin.web.patientview import account, patient_view

    run = simulate_patient(cancer="melanoma", regimen=parse_regimen("nivolumab 240 mg q2w"), days=365.0, seed=5)
    onset = run.events["vitiligo"]["onset_week"]
    sentences, _ = account(run)
    said = [x for x in sentences if "vitiligo" in x]
    assert len(said) == 1 and said[0].startswith(f"Week {onset:.0f}:")
    series = np.asarray([v for v in patient_view(run)["series"]["vitiligo_pct_bsa"] if v is not None])
    assert series.max() >= VITILIGO_SEEN_BSA and np.all(np.diff(series) >= -1e-9)
