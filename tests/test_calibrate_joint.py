"""The joint fitter (immunotwin.calibrate_joint): its solver against systems with known roots, and its checks on the
command line."""

from __future__ import annotations

import numpy as np
import pytest

from immunotwin import calibrate_joint as cj


def _coupled(v: np.ndarray) -> np.ndarray:
    """Three metrics that each rise with their own value and are pulled by the others (as a kill, its persistence and
    a resistant subclone pull ORR, median PFS and 3-year progression): a smooth map of log(v)."""
    u = np.log(v)
    a = np.array([[1.0, 0.4, -0.5], [0.6, 1.0, -0.8], [0.3, -0.2, 0.7]])
    return np.tanh(0.3 * (a @ u)) + np.array([0.5, 0.4, 0.6])


def test_solve_finds_a_coupled_root() -> None:
    root = np.array([0.3, 6.0, 0.02])
    targets = _coupled(root)
    tols = np.full(3, 1e-3)
    res = cj.solve(_coupled, np.array([0.2, 7.0, 0.001]), targets, tols, np.full(3, 1e-7), np.full(3, 1e4), iters=20)
    assert res["reached"]
    np.testing.assert_allclose(res["metrics"], targets, atol=1e-3)
    np.testing.assert_allclose(np.log(res["values"]), np.log(root), atol=0.05)


def test_solve_on_step_functions_stops_within_tolerance() -> None:
    """Metrics read on a grid (a median PFS falls on scan days; a share moves by one patient in n): flat over small
    intervals, so tiny difference steps would read no slope."""
    def stepped(v: np.ndarray) -> np.ndarray:
        return np.floor(_coupled(v) * 300.0) / 300.0

    targets = _coupled(np.array([0.5, 3.0, 0.05]))
    tols = np.full(3, 0.01)
    res = cj.solve(stepped, np.array([0.3, 6.0, 0.02]), targets, tols, np.full(3, 1e-7), np.full(3, 1e4), iters=20)
    assert res["reached"]
    assert np.all(np.abs(res["metrics"] - targets) <= tols)
    assert len(res["trace"]) <= 24


def test_solve_unreachable_target_returns_best_point_not_reached() -> None:
    """A target the bracket cannot reach: the closest point tried (the smallest largest scaled residual), marked not
    reached, never outside the bracket."""
    def capped(v: np.ndarray) -> np.ndarray:
        return np.minimum(np.log(v), 1.0)

    res = cj.solve(capped, np.array([1.0, 1.0]), np.array([5.0, 0.5]), np.full(2, 0.01), np.full(2, 0.1),
                   np.full(2, 100.0), iters=6)
    assert not res["reached"]
    assert np.all(res["values"] <= 100.0 + 1e-9) and np.all(res["values"] >= 0.1 - 1e-9)
    trace = np.array(res["trace"])
    assert np.all(trace[:, :2] <= 100.0 + 1e-9) and np.all(trace[:, :2] >= 0.1 - 1e-9)
    worst = np.max(np.abs(trace[:, 2:] - [5.0, 0.5]), axis=1)
    assert np.max(np.abs(res["metrics"] - [5.0, 0.5])) == pytest.approx(worst.min())


def test_tolerance_of_a_proportion_and_of_a_median() -> None:
    assert cj.tolerance("orr", 300, 0.69) == pytest.approx(np.sqrt(0.69 * 0.31 / 300))
    assert cj.tolerance("orr", 300, 0.69, 1.5) == pytest.approx(1.5 * np.sqrt(0.69 * 0.31 / 300))
    assert cj.tolerance("median_pfs", 300, 11.0) == 0.5


@pytest.mark.parametrize("argv, field", [
    (["--params", "mapk_kill"], "--params"),
    (["--params", "mapk_kill,no_such_param"], "--params"),
    (["--params", "mapk_kill,car_kill"], "--params"),
    (["--params", "mapk_kill,mapk_persistence", "--patients", "3"], "--patients"),
    (["--params", "mapk_kill,mapk_persistence", "--ses", "0"], "--ses"),
    (["--params", "mapk_kill,mapk_kill"], "--params"),
    (["--params", "mapk_kill,mapk_persistence", "--iters", "0"], "--iters"),
    (["--params", "mapk_kill,mapk_persistence", "--out", "/no/such/folder/fit.json"], "--out"),
])
def test_bad_arguments_name_the_field_and_exit_2(argv: list[str], field: str, capsys: pytest.CaptureFixture[str]
                                                 ) -> None:
    with pytest.raises(SystemExit) as e:
        cj.main(argv)
    assert e.value.code == 2
    error = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert error and field in error[0]  # the error line, not the usage line that names every option


def test_a_probe_within_tolerance_ends_the_fit() -> None:
    """The Jacobian's probes are simulations too: one that lands within every tolerance is the answer."""
    res = cj.solve(np.log, np.array([1.0, 1.0]), np.array([np.log(1.5), 0.0]), np.full(2, 0.01), np.full(2, 0.1),
                   np.full(2, 10.0))
    assert res["reached"] and len(res["trace"]) == 2
    np.testing.assert_allclose(res["values"], [1.5, 1.0])


def test_targets_of_survival_complements_and_metric_tolerances() -> None:
    """A 3-year PFS is fitted as the share progressed (it must rise with the subclone); a median PFS counts as reached
    within half a month (the scan grid), warm or not."""
    from immunotwin import calibrate_cancers as cc
    from immunotwin.reference import load

    pfs36 = load("scenario_refs")["combi_d"]["combination"]["pfs_36_months"]
    assert cc.param_target("mapk_resistant_fraction")[0] == pytest.approx(1.0 - pfs36)
    assert cc.bisect(lambda x: 11.039, 11.0, iters=1, reach=cc.METRIC_TOL["median_pfs"])["reached"]
    assert not cc.bisect(lambda x: 11.039, 11.0, iters=1)["reached"]
    assert "mapk_kill" not in cc.DEFAULT_PARAMS  # fitted jointly, never one at a time by default
