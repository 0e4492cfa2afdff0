"""Tumour macrophages reprogrammed by an anti-PD-1's Fc (model.macrophages): a drug-caused faster growth."""

from __future__ import annotations

import numpy as np

from conftest import integrate, params
from immunotwin.drugs import CATALOGUE
from immunotwin.model.core import LAYOUT, tumour_cells
from immunotwin.model.slots import SLOTS


def _nivo(k: int) -> list[tuple[str, float]]:
    return [("pd1", 240.0)] if k % 2 == 0 else []


def _occupancy(p: dict, ys: np.ndarray) -> np.ndarray:
    j = SLOTS.index("pd1")
    c = np.maximum(LAYOUT.get(ys, "pk_central")[..., j] / p["pk_vc"][:, None, j], 0.0)
    return c / (c + p["pk_ec50"][:, None, j])


def test_only_the_anti_pd1_antibodies_engage_fc_gamma_receptors() -> None:
    engaging = {name for name, d in CATALOGUE.items() if d.fcgr > 0}
    assert engaging == {"nivolumab", "pembrolizumab"}
    for name in engaging:
        assert CATALOGUE[name].slot == "pd1" and "IgG4" in CATALOGUE[name].fcgr_source


def test_reprogramming_is_first_order_toward_fc_engaged_occupancy() -> None:
    """dM/dt = k (f b - M): integrated by hand (exact over each day for the day's mean occupancy) it matches the
    model's state; with no drug, or an Fc-silenced antibody (f = 0), M stays 0."""
    p = params(2, drugs=("nivolumab",))
    p["pk_fcgr"][1, SLOTS.index("pd1")] = 0.0  # the same antibody without Fc-gamma receptor binding
    days, ys = integrate(p, 12, doses=_nivo, burn=False)
    m = LAYOUT.get(ys, "fc_reprogrammed")
    b = _occupancy(p, ys)
    k = float(p["fc_reprogramming_rate"][0])
    assert np.all(m[1] == 0.0)
    # occupancy stays near full under nivolumab every 2 weeks, so M approaches it: after 12 weeks within 1%
    assert 0.9 < b[0, -1] <= 1.0 and abs(m[0, -1] - b[0, -1]) < 0.01
    # hand integration from day 1 (occupancy between samples taken as their mean)
    hand = [m[0, 0]]
    for i in range(1, len(days)):
        bb = 0.5 * (b[0, i - 1] + b[0, i])
        hand.append(bb + (hand[-1] - bb) * np.exp(-k * (days[i] - days[i - 1])))
    np.testing.assert_allclose(m[0], hand, atol=2e-3)
    _, y0 = integrate(params(1), 4, burn=False)
    assert np.all(LAYOUT.get(y0, "fc_reprogrammed") == 0.0)


def test_susceptible_tumours_grow_faster_under_an_fc_engaging_anti_pd1_only() -> None:
    """Without immune killing (kill_max 0) the log-size gap between a susceptible patient (h) and an insusceptible
    one is the integral of r [(1 - T_h/K)(1 + h M) - (1 - T_0/K)]; untreated, or under an Fc-silenced antibody, h changes nothing."""
    h = np.array([0.0, 1.5])
    over = dict(kill_max=0.0, il6_promotion=0.0, hpd_susceptibility=h)
    p = params(2, drugs=("nivolumab",), **over)
    days, ys = integrate(p, 12, doses=_nivo, burn=False)
    t = tumour_cells(ys)
    m = LAYOUT.get(ys, "fc_reprogrammed")[1]
    r, cap = p["growth_rate"][1], p["carrying_capacity"][1]
    gap = np.log(t[1] / t[0])
    rate = r * ((1.0 - t[1] / cap) * (1.0 + h[1] * m) - (1.0 - t[0] / cap))
    expected = np.concatenate([[0.0], np.cumsum(0.5 * (rate[1:] + rate[:-1]) * np.diff(days))]) + gap[0]
    np.testing.assert_allclose(gap, expected, atol=2e-3 * gap[-1])
    assert gap[-1] > 0.5  # a visibly faster growth over 12 weeks
    for drugs, silence in (((), False), (("nivolumab",), True)):
        q = params(2, drugs=drugs, **over)
        if silence:
            q["pk_fcgr"][:, SLOTS.index("pd1")] = 0.0
        _, y2 = integrate(q, 12, doses=_nivo if drugs else None, burn=False)
        t2 = tumour_cells(y2)
        np.testing.assert_array_equal(t2[0], t2[1])


def test_ferrara_figure_is_marked_fitted_while_the_susceptibility_is_installed(monkeypatch) -> None:
    """The macrophages' susceptibility is fitted to Ferrara's 13.8%, so validate's row reads it as fitted while the
    installed scales carry it, and as a validation figure otherwise."""
    from immunotwin import calibrate_cancers, validate

    assert "hpd_susceptibility" in calibrate_cancers.installed_fits()
    assert calibrate_cancers.PARAM_TARGETS["hpd_susceptibility"][:4] == (
        "hyperprogression", "phenomena", ("hyperprogression", "nsclc_pd1_pdl1", "value"), "hpd")
    (row,) = validate.hpd_rows(3, 20, None)
    assert row.fitted and row.published == 0.138
    monkeypatch.setattr(calibrate_cancers, "installed_fits", lambda: set())
    (row,) = validate.hpd_rows(3, 20, None)
    assert not row.fitted


def test_the_susceptibility_reaches_nsclc_only() -> None:
    """cancers.FC_MACROPHAGE_SOURCE: NSCLC carries the fitted median with its log-normal spread (log-SD 2), every
    other cancer none, so CheckMate 067's melanoma patients are untouched by the mechanism."""
    from immunotwin.cancers import CANCERS
    from immunotwin.model.core import default_params
    from immunotwin.population import sample_cohort

    assert {k for k, c in CANCERS.items() if c.fc_macrophages > 0} == {"nsclc"}
    median = float(default_params()["hpd_susceptibility"])
    lung = sample_cohort("nsclc", {}, 5, 1, range(4000), 1).params["hpd_susceptibility"]
    assert np.all(lung > 0)
    np.testing.assert_allclose(np.median(lung), median, rtol=0.1)  # 4,000 draws: SE of the log-median 0.04
    np.testing.assert_allclose(np.std(np.log(lung)), 2.0, rtol=0.05)
    for cancer in ("melanoma", "rcc", "hodgkin"):
        assert np.all(sample_cohort(cancer, {}, 5, 1, range(50), 1).params["hpd_susceptibility"] == 0.0)


def test_the_scenario_marks_ferraras_figure_fitted_while_the_susceptibility_is_installed(monkeypatch) -> None:
    """The hyperprogression scenario reads Ferrara's 13.8% as a fitted figure while the installed scales carry the
    susceptibility fitted to it, and as a validation figure otherwise (12 patients a spec: only the flag is read)."""
    from immunotwin import calibrate_cancers
    from immunotwin.scenarios.trials import hyperprogression

    def ferrara(result):  # type: ignore[no-untyped-def]
        (f,) = [f for f in result.figures if f.name.startswith("HPD rate, NSCLC on anti-PD-1")]
        return f

    assert ferrara(hyperprogression(patients=12)).fitted is True
    monkeypatch.setattr(calibrate_cancers, "installed_fits", lambda: set())
    assert ferrara(hyperprogression(patients=12)).fitted is False
