"""The targeted-therapy scenario (COMBI-d: dabrafenib + trametinib against dabrafenib in BRAF V600 melanoma) at the
scenario's own size, 300 per arm (``slow``). The combination's ORR, median PFS and 3-year PFS are fitted together
(mapk_kill, mapk_persistence, mapk_resistant_fraction: immunotwin.calibrate_joint at seed 11); everything else is
unfitted. Bands are each figure's
``band_note``: the exact 95% CI of a published proportion, ±20% for a median PFS, ±25% for a median OS, ±6 points
for a survival rate, the published CI for a hazard ratio. Misses are xfail with the value measured here (stop 50);
bands are not loosened."""

from __future__ import annotations

import pytest

from test_scenarios import _run, fig

pytestmark = pytest.mark.slow


def _miss(prefix: str, reason: str) -> object:
    return pytest.param(prefix, marks=pytest.mark.xfail(reason=reason, strict=False))


@pytest.fixture(scope="module")
def targeted(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return _run(tmp_path_factory, "targeted-therapy", 300)


_TAIL = ("too many patients stay progression-free for years: a deep response regrows at the model's untreated net "
         "rate, which is too slow (natural history, stop 48); at the fit's seed 11 the figure is 0.243 (fitted)")
_OS = "survival after progression runs on the model's untreated disease, which lives too long (natural history)"


@pytest.mark.parametrize("prefix", [
    "dabrafenib + trametinib: ORR",  # fitted: 68.0% (69%, exact CI 62.5-75.4%)
    # fitted at seed 11 (11.04 months, unchanged by stop 69). Progression is seen at scans, so the median jumps from one
    # scan's day to the next (weeks 48, 56 and 68: 11.0, 12.9 and 15.6 months; docs/experiments/stop59-iteration15/
    # joint59_start.log). At the scenario's seed it read 12.9 with calibration iteration 16; stop 69's lung moved two
    # of the 300 patients (neither with pneumonitis: an early progression each, now none) and the median to the next
    # scan, 15.6 (docs/experiments/stop69-lung-risk/README.md).
    _miss("dabrafenib + trametinib: median PFS", "15.6 months against 11.0 (band to 13.2) at the scenario's seed, one "
          "scan later than before stop 69 (12.9): the curve is flat at one half over two scans, so two patients of 300 "
          "move the median; at the fit's seed 11 it reads 11.04"),
    "dabrafenib: ORR",  # unfitted: 50.3% (53%, exact CI 45.9-59.7%)
    "dabrafenib: median PFS",  # unfitted: 9.2 months (8.8, band 7.0-10.6)
    "PFS hazard ratio",  # unfitted: 0.78 (0.67, CI 0.53-0.84)
    "OS hazard ratio",  # unfitted: 0.77 (0.71, CI 0.55-0.92)
    _miss("dabrafenib + trametinib: PFS at 36 months", "34.3% against 22% (fitted at seed 11: 24.3%): " + _TAIL),
    _miss("dabrafenib: PFS at 36 months", "25.3% against 12%: " + _TAIL),
    _miss("dabrafenib + trametinib: PFS at 60 months", "25.7% against 19% (band to 25%): " + _TAIL),
    _miss("dabrafenib + trametinib: CR by 5 years", "14.0% against 19% (exact CI from 15.8%): fewer tumours fall "
          "below detection since the MAPK-resistant subclone was added (stop 50; 17.3% without it)"),
    _miss("dabrafenib + trametinib: median OS", "43.7 months against 25.1: " + _OS),
    _miss("dabrafenib: median OS", "28.5 months against 18.7: " + _OS),
    _miss("dabrafenib + trametinib: OS at 36 months", "54.0% against 44%: " + _OS),
    _miss("dabrafenib: OS at 36 months", "43.0% against 32%: " + _OS),
    _miss("dabrafenib + trametinib: OS at 60 months", "44.7% against 34%: " + _OS),
])
def test_targeted_therapy_figures(targeted: dict, prefix: str) -> None:
    f = fig(targeted, prefix)
    assert f["inside"], f


def test_targeted_therapy_fitted_figures_are_marked(targeted: dict) -> None:
    fitted = {f["name"] for f in targeted["figures"] if f["fitted"]}
    assert fitted == {"dabrafenib + trametinib: ORR", "dabrafenib + trametinib: median PFS (months)",
                      "dabrafenib + trametinib: PFS at 36 months"}


def test_the_pair_outdoes_one_drug(targeted: dict) -> None:
    """Direction, from PK and mechanism alone (Bliss independence, one tolerance for both drugs): more responses and
    longer PFS with trametinib added."""
    assert fig(targeted, "dabrafenib + trametinib: ORR")["simulated"] > fig(targeted, "dabrafenib: ORR")["simulated"]
    assert fig(targeted, "PFS hazard ratio")["simulated"] < 1.0
    assert fig(targeted, "dabrafenib + trametinib: median PFS")["simulated"] > fig(targeted, "dabrafenib: median PFS")[
        "simulated"]
