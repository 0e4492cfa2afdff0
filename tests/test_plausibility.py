"""Population plausibility diagnostics against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from immunotwin.plausibility import kinetics, population_kinetics
from immunotwin.validate import plausibility_markdown


def test_kinetics_of_a_constructed_population() -> None:
    doubling = np.array([5.0, 10.0, 80.0, 80.0])
    g = np.log(2.0) / doubling
    k = kinetics(g, tumour0=np.ones(4), lethal=np.array([3.0, 100.0, 3.0, 4.0]))
    # times to death: doubling x log2(lethal / baseline) = 7.9, 66.4, 126.8 and 160 days
    assert k["median doubling time (days)"] == pytest.approx(45.0)
    assert k["1st percentile of doubling time (days)"] == pytest.approx(5.15)
    assert k["share doubling in under 7 days"] == 0.25
    assert k["share doubling in under 14 days"] == 0.5
    assert k["share at the lethal-burden floor (3x baseline)"] == 0.5
    assert k["share whose untreated disease kills within 91 days"] == 0.5
    assert k["share whose untreated disease kills within 30 days"] == 0.25


def test_population_kinetics_of_the_shipped_melanoma_population() -> None:
    k = population_kinetics("melanoma", n=500, seed=1)
    assert k == population_kinetics("melanoma", n=500, seed=1)  # same seed, same patients
    # the median doubling time follows the calibrated mean growth (0.0088/day: 79 days), give or take covariates
    assert 40.0 < k["median doubling time (days)"] < 160.0
    assert 0.0 <= k["share doubling in under 7 days"] <= k["share doubling in under 14 days"] <= 1.0
    assert k["share whose untreated disease kills within 30 days"] <= k["share whose untreated disease kills within 91 days"]
    text = plausibility_markdown(k, "melanoma")
    assert "Population plausibility" in text and all(name in text for name in k)


def test_early_deaths_of_a_constructed_trial() -> None:
    import pandas as pd

    from immunotwin.plausibility import early_deaths

    # Arm a: 4 patients, deaths at 0.5 and 2 months, two alive at 12 months; arm b: nobody dies early.
    p = pd.DataFrame({"arm": ["a"] * 4 + ["b"] * 2, "status": "ok",
                      "os_months": [0.5, 2.0, 12.0, 12.0, 6.0, 12.0], "os_event": [True, True, False, False, True, False],
                      "bor": ["NE", "PD", "PR", "SD", "PD", "CR"]})
    e = early_deaths(p)
    assert e["a: OS at 3 months"] == pytest.approx(0.5)
    assert e["a: share dead within 4 weeks"] == pytest.approx(0.25)  # 0.5 months = 15 days
    assert e["a: share with best response NE"] == pytest.approx(0.25)
    assert e["b: OS at 3 months"] == pytest.approx(1.0) and e["b: share dead within 4 weeks"] == 0.0
    text = plausibility_markdown({"x": 1.0}, "melanoma", e)
    assert "Early deaths" in text and "a: OS at 3 months | 0.5" in text
