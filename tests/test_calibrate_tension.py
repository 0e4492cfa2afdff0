"""The calibration's tensions (``immunotwin.calibrate_tension``): the constrained linear least-squares step against
a null-space solution, an exact conflict between two rows, seed blocks averaged, and the file a direct fit writes
read back, with bad input refused (exit 2, the row named)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.linalg import null_space
from tests.test_calibrate import SPEC
from tests.test_calibrate_direct import stand_in

from immunotwin import calibrate_direct as cd
from immunotwin import calibrate_tension as ct
from immunotwin.calibrate import FITTED
from immunotwin.spec import parse_spec


def test_step_matches_the_null_space_solution() -> None:
    # 2 seed blocks of 3 rows, 3 free coordinates; force row 1 (its two blocks summed) to zero
    rng = np.random.default_rng(4)
    J, r = rng.normal(size=(6, 3)), rng.normal(size=6)
    dx = ct.force_rows(J, r, [1], 3)
    C = np.zeros((1, 6))
    C[0, [1, 4]] = 1.0
    A, b = C @ J, -C @ r
    dp = np.linalg.pinv(A) @ b
    N = null_space(A)
    z = np.linalg.lstsq(J @ N, -(r + J @ dp), rcond=None)[0]
    np.testing.assert_allclose(dx, dp + N @ z, atol=1e-10)
    np.testing.assert_allclose(C @ (r + J @ dx), 0.0, atol=1e-12)  # the forced row is met ...
    np.testing.assert_allclose(ct.row_means(r + J @ dx, 3)[1], 0.0, atol=1e-12)  # ... on the seeds' mean


def test_two_rows_pulled_by_one_coordinate_in_opposite_directions() -> None:
    # one coordinate raises row 0 and lowers row 1 equally: meeting row 0 (residual +1) costs row 1 exactly +1
    J, r = np.array([[1.0], [-1.0]]), np.array([1.0, 0.0])
    dx = ct.force_rows(J, r, [0], 2)
    np.testing.assert_allclose(dx, [-1.0])
    np.testing.assert_allclose(r + J @ dx, [0.0, 1.0], atol=1e-12)


def test_unforced_rows_are_fitted_as_well_as_the_constraint_allows() -> None:
    # a second coordinate that moves only row 1 is used to bring row 1 back to zero as well
    J, r = np.array([[1.0, 0.0], [-1.0, 1.0]]), np.array([1.0, 0.0])
    dx = ct.force_rows(J, r, [0], 2)
    np.testing.assert_allclose(r + J @ dx, [0.0, 0.0], atol=1e-12)


def test_a_direct_fit_writes_what_the_tension_reads(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    spec = parse_spec(SPEC)
    targets = {"endpoints": {"orr": {"nivolumab": 0.5, "ipilimumab": 0.3},
                             "median_pfs_months": {"nivolumab": 6.0, "ipilimumab": 3.0}}}
    fit = cd.direct_fit(spec, targets, free=["immunogenicity", "net_growth_rate"], patients=400, seeds=(5, 6),
                        phi0=np.zeros(2 * len(FITTED)), iterations=1, simulate=stand_in)
    path = tmp_path / "direct_history.json"
    cd.write_history(path, fit)
    doc = json.loads(path.read_text())
    assert doc["rows"] == ["orr / nivolumab", "orr / ipilimumab", "median_pfs_months / nivolumab",
                           "median_pfs_months / ipilimumab"]
    assert doc["seeds"] == 2 and np.shape(doc["jacobian"]) == (8, 2)
    for h in doc["history"]:  # each trial's residuals are its loss
        assert sum(v * v for v in h["residuals"]) == pytest.approx(h["loss"])
    t = ct.tension(doc, ["orr / ipilimumab"])
    assert abs(t.after[1]) < 1e-9
    # the least loss among the steps that meet the row: below the minimum-norm step that meets it too
    J, r = np.asarray(doc["jacobian"]), np.asarray(next(h for h in doc["history"] if h["x"] == doc["jacobian_at"])["residuals"])
    C = np.zeros((1, 8))
    C[0, [1, 5]] = 1.0
    other = r + J @ (np.linalg.pinv(C @ J) @ (-C @ r))
    assert abs(float((C @ other)[0])) < 1e-9 and t.loss_after <= float(other @ other) + 1e-12
    entry = next(h for h in doc["history"] if h["x"] == doc["jacobian_at"])
    assert t.loss_before == pytest.approx(entry["loss"])
    assert ct.main([str(path), "--force", "orr / ipilimumab"]) == 0
    assert "orr / ipilimumab" in capsys.readouterr().out
    # bad input: an unknown row is named; a history without a Jacobian is refused
    assert ct.main([str(path), "--force", "orr / combination"]) == 2
    assert "orr / combination" in capsys.readouterr().err
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"free": doc["free"], "history": doc["history"]}))
    assert ct.main([str(old), "--force", "orr / ipilimumab"]) == 2
    assert "no Jacobian" in capsys.readouterr().err


def test_no_step_records_the_jacobian_at_the_start() -> None:
    """``iterations=0`` (``calibrate --direct --iterations 0``): the start and one trial per free coordinate, no
    step, and the Jacobian taken at the start: the tension of the installed calibration."""
    spec = parse_spec(SPEC)
    targets = {"endpoints": {"orr": {"nivolumab": 0.5, "ipilimumab": 0.3}}}
    start = np.zeros(2 * len(FITTED))
    fit = cd.direct_fit(spec, targets, free=["immunogenicity", "net_growth_rate"], patients=300, seeds=(5,),
                        phi0=start, iterations=0, simulate=stand_in)
    assert fit.evaluations == 3 and np.all(fit.phi == start)
    assert fit.jacobian is not None and fit.jacobian.shape == (2, 2)
    np.testing.assert_array_equal(fit.jacobian_at, [0.0, 0.0])
    # growth does not touch the response rates of the stand-in trial; immunogenicity raises both
    assert np.all(fit.jacobian[:, 1] == 0.0) and np.all(fit.jacobian[:, 0] > 0.0)
