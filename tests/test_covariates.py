"""Covariate effects are declared with a unit and a source (immunotwin.covariates) and are what the population applies:
the same patients' parameters, with one covariate pinned either way, differ by exactly the declared effect."""

from __future__ import annotations

import numpy as np
import pytest

from immunotwin.covariates import EFFECTS, E
from immunotwin.model.organs import INDEX
from immunotwin.population import sample_cohort


def _cohort(**fixed: object):  # type: ignore[no-untyped-def]
    return sample_cohort("melanoma", {}, seed=5, arm_key=0, indices=range(40), n_steps=4, fixed=fixed or None)


def test_every_effect_has_a_unit_a_source_and_a_value() -> None:
    assert len({e.name for e in EFFECTS}) == len(EFFECTS)
    for e in EFFECTS:
        assert e.unit and e.source and e.applies and np.isfinite(e.value), e.name


def test_sex_scales_organ_susceptibility_by_the_declared_factors() -> None:
    men, women = _cohort(sex="M"), _cohort(sex="F")
    ratio = men.params["susceptibility"] / women.params["susceptibility"]
    hyp = INDEX["hypophysitis"]
    np.testing.assert_allclose(ratio[:, hyp], E["male_hypophysitis"], rtol=1e-12)
    others = [i for i in range(ratio.shape[1]) if i != hyp]
    np.testing.assert_allclose(ratio[:, others], 1.0 / E["female_other_organs"], rtol=1e-12)


def test_ecog_lowers_the_lethal_burden_by_the_declared_factor_above_its_floor() -> None:
    fit, frail = _cohort(ecog=0), _cohort(ecog=1)
    raw = frail.lethal / fit.lethal
    floored = frail.lethal <= E["lethal_floor"] * frail.tumour0 * (1 + 1e-12)
    assert (~floored).sum() > 20
    np.testing.assert_allclose(raw[~floored], E["ecog_lethal_factor"], rtol=1e-12)


def test_pdl1_score_sets_constitutive_pdl1_and_age_lowers_priming() -> None:
    c = _cohort()
    tps = c.covariates["pdl1_tps"].to_numpy(float)
    np.testing.assert_allclose(c.params["pdl1_constitutive"],
                               E["pdl1_constitutive_base"] + E["pdl1_constitutive_per_tps"] * tps, rtol=1e-12)
    young, old = _cohort(age=50.0, prior_chemo=False), _cohort(age=80.0, prior_chemo=False)
    expected = 1.0 - E["age_priming_loss"] * (80.0 - E["age_onset_years"])
    np.testing.assert_allclose(old.params["prime_rate"] / young.params["prime_rate"], expected, rtol=1e-12)
    np.testing.assert_allclose(old.params["treg_pd1_fraction"] / young.params["treg_pd1_fraction"],
                               np.exp(E["age_treg_pd1_gain"] * (80.0 - E["age_onset_years"])), rtol=1e-12)


@pytest.mark.parametrize("flag", [True, False])
def test_params_command_lists_the_effects(capsys: pytest.CaptureFixture[str], flag: bool) -> None:
    from immunotwin.cli import main

    assert main(["params", "--assumed"] if flag else ["params"]) == 0
    out = capsys.readouterr().out
    # --assumed lists only the assumed effects: the sourced one (men's hypophysitis, Min 2015) is left out
    assert ("covariate effect male_hypophysitis" in out) is (not flag)
    assert "covariate effect age_priming_loss = 0.01 1/year  ASSUMED" in out
