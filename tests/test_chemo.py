"""Cytotoxic chemotherapy (docetaxel): PK and the Friberg 2002 myelosuppression model through the
model's own ODE path against an independent SciPy solution, steady state without drug, CTCAE
neutropenia grades, the label's dose delay, and the directions of its effects."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from conftest import integrate, params
from immunotwin.clinic.observe import neutropenia_grade
from immunotwin.drugs.catalogue import CATALOGUE
from immunotwin.model.core import LAYOUT, PARAM_INDEX, initial_state, tumour_cells, vector_field
from immunotwin.model.slots import SLOTS

DOSE_MG = 142.5  # 75 mg/m2 x 1.9 m2


def friberg_reference(days: np.ndarray, dose: float) -> np.ndarray:
    """Docetaxel two-compartment PK + Friberg 2002 (Emax drug effect) written out separately."""
    d = CATALOGUE["docetaxel"]
    cl, q, vc, vp = d.cl_l_day, d.q_l_day, d.vc_l, d.vp_l
    emax, ec50 = PARAM_INDEX["chemo_emax"].value, d.ec50_mg_l
    ktr = 4.0 / PARAM_INDEX["marrow_mtt"].value
    gam, c0 = PARAM_INDEX["marrow_feedback"].value, PARAM_INDEX["anc_baseline"].value

    def f(_t, y):  # type: ignore[no-untyped-def]
        ac, ap, prol, t1, t2, t3, circ = y
        c = ac / vc
        e = emax * c / (ec50 + c)
        return [-(cl + q) / vc * ac + q / vp * ap, q / vc * ac - q / vp * ap,
                ktr * prol * (1 - e) * (c0 / circ) ** gam - ktr * prol,
                ktr * (prol - t1), ktr * (t1 - t2), ktr * (t2 - t3), ktr * (t3 - circ)]

    sol = solve_ivp(f, (0.0, days[-1]), [dose, 0.0, c0, c0, c0, c0, c0], method="LSODA", rtol=1e-10, atol=1e-12,
                    t_eval=days)
    return sol.y[6]


def test_neutrophils_match_independent_solution() -> None:
    p = params(drugs=("docetaxel",), weight=70.0)
    days, ys = integrate(p, 3, doses=lambda k: [("cyto", DOSE_MG)] if k == 0 else [], burn=False)
    anc = LAYOUT.get(ys[0], "neutrophils")
    ref = friberg_reference(days, DOSE_MG)
    np.testing.assert_allclose(anc, ref, rtol=2e-5)
    assert 6.0 <= days[np.argmin(anc)] <= 10.0  # nadir a week or so after the dose (Friberg 2002)


def test_marrow_at_steady_state_without_drug() -> None:
    p = params(drugs=())
    y = initial_state(p, np.full(1, 50.0))
    inp = {k: (np.zeros(v.shape[1:]) if np.ndim(v) > 1 else 0.0) for k, v in
           __import__("immunotwin.engine", fromlist=["zero_inputs"]).zero_inputs(1).items()}
    inp["tfd"] = np.full(len(SLOTS), 1e9)
    dy = np.asarray(vector_field(0.0, y[0], ({k: v[0] for k, v in p.items()}, inp)))
    for name in ("marrow_prol", "marrow_transit", "neutrophils"):
        assert np.all(dy[LAYOUT.slices[name]] == 0.0), name


@pytest.mark.parametrize("anc,grade", [(5.0, 0), (1.9, 1), (1.5, 1), (1.2, 2), (0.99, 3), (0.6, 3), (0.49, 4)])
def test_ctcae_neutropenia_grades(anc: float, grade: int) -> None:
    assert int(neutropenia_grade(np.array([anc]))[0]) == grade


def test_docetaxel_shrinks_tumour_and_depletes_effectors() -> None:
    p = params(n=2, drugs=("docetaxel",), weight=70.0)
    doses = lambda k: [("cyto", np.array([DOSE_MG, 0.0]))] if k % 3 == 0 else []  # noqa: E731
    _, ys = integrate(p, 9, doses=doses)
    tum = tumour_cells(ys)
    eff = LAYOUT.get(ys, "effector")
    assert tum[0, -1] < tum[1, -1]
    assert eff[0, 6] < eff[1, 6]  # a week after the first dose


def test_neutropenia_delays_docetaxel_dose() -> None:
    from immunotwin.clinic.schedule import Dosing
    from immunotwin.spec import parse_regimen

    reg = parse_regimen("docetaxel 75 mg/m2 q3w + nivolumab 3 mg/kg q2w")
    dosing = Dosing.create(reg, (), np.array([70.0, 70.0]), np.array([170.0, 170.0]))
    held = np.array([[True, False], [False, False]])  # patient 0: docetaxel waits (low ANC)
    out = dosing.due(0.0, np.ones(2, bool), held, np.zeros(2, bool), np.zeros(2, bool), False, 2, 7.0)
    assert out[0, 0] == 0.0 and out[1, 0] > 0.0
    assert out[0, 1] > 0.0  # the checkpoint inhibitor is given
    assert dosing.next_due[0, 0] == 7.0  # retried at the next visit
