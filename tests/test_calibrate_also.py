"""A drug's PD constant as a free coordinate of the direct fit, and a further trial's rows beside the fit's own
(``calibrate --direct --free d:ipilimumab.ec50_mg_l --also ipilimumab-dose``): the catalogue override and its
restoration, the residuals of CA184-169's rows by hand, a round trip that recovers an EC50 from a stand-in dose trial
whose toxicity difference follows the catalogue's EC50, and the installed drugs section."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tests.test_calibrate import SPEC
from tests.test_calibrate_direct import GROWTH, stand_in

from immunotwin import calibrate_also as ca
from immunotwin import calibrate_direct as cd
from immunotwin.calibrate import FITTED, endpoints
from immunotwin.drugs.catalogue import CATALOGUE, apply_calibration, drug_values
from immunotwin.scenarios.compare import scenario_refs
from immunotwin.scenarios.dose import HIGH, LOW, difference_band
from immunotwin.spec import parse_spec
from immunotwin.survival import hazard_ratio

EC50 = "ipilimumab.ec50_mg_l"


@pytest.fixture(autouse=True)
def assumed_ec50():  # type: ignore[no-untyped-def]
    """Every test here starts from the EC50 assumed before any fit, 5 mg/L, whatever the installed calibration holds
    (the stand-in's figures below are worked out from it), and leaves the catalogue as it found it."""
    installed = CATALOGUE["ipilimumab"]
    with drug_values({EC50: 5.0}):
        yield
    assert CATALOGUE["ipilimumab"] is installed


def test_drug_values_change_the_catalogue_in_place_and_restore_it() -> None:
    from immunotwin.clinic import run  # imported the catalogue by name: sees the same dict

    before = CATALOGUE["ipilimumab"]
    with drug_values({EC50: 40.0}):
        assert run.CATALOGUE["ipilimumab"].ec50_mg_l == 40.0
        assert run.CATALOGUE["ipilimumab"].cl_l_day == before.cl_l_day  # only the field named
    assert CATALOGUE["ipilimumab"] is before
    with pytest.raises(ValueError, match="nope"), drug_values({"nope.ec50_mg_l": 1.0}):
        pass
    with pytest.raises(ValueError, match="cl_l_day"), drug_values({"ipilimumab.cl_l_day": 1.0}):
        pass
    assert CATALOGUE["ipilimumab"] is before


def test_drug_coordinates_are_named_and_come_last() -> None:
    free = ["d:ipilimumab.ec50_mg_l", "immunogenicity", "p:checkpoint_synergy"]
    assert cd.drug_coordinates(free) == [EC50]
    assert cd.coordinates(free) == [FITTED.index("immunogenicity")]
    assert cd.model_coordinates(free) == ["checkpoint_synergy"]
    with pytest.raises(ValueError) as e:
        cd.drug_coordinates(["d:nope.ec50_mg_l", "d:ipilimumab.vc_l"])
    assert "nope" in str(e.value) and "vc_l" in str(e.value)
    with pytest.raises(ValueError, match="twice"):
        cd.drug_coordinates([f"d:{EC50}", f"d:{EC50}"])
    with pytest.raises(ValueError, match="not further trials: nope"):
        ca.check_names(["ipilimumab-dose", "nope"])


def dose_patients(n: int, seed: int) -> pd.DataFrame:
    """A stand-in for the ipilimumab-dose trial (twin design: patient i in both arms with the same uniform and the
    same exponential draw). Severe toxicity: u below 0.20 at 3 mg/kg, below 0.20 + 0.3 E/(E + 20) at 10 mg/kg, E
    the catalogue's ipilimumab EC50 as the simulation sees it; OS: exponential, 10 mg/kg's times 1/0.84 longer."""
    ec50 = CATALOGUE["ipilimumab"].ec50_mg_l
    rng = np.random.default_rng(seed)
    u, e = rng.random(n), rng.exponential(12.0, n)
    frames = []
    for arm, cut, scale in ((HIGH, 0.20 + 0.3 * ec50 / (ec50 + 20.0), 1 / 0.84), (LOW, 0.20, 1.0)):
        frames.append(pd.DataFrame({"patient": np.arange(n), "arm": arm, "status": "ok",
                                    "any_trae_grade_reported": np.where(u < cut, 3, 1), "os_months": e * scale,
                                    "os_event": True}))
    return pd.concat(frames, ignore_index=True)


def test_further_residuals_by_hand() -> None:
    """The difference of the arms' severe rates over the Wald half-width of the published 0.36 - 0.20, and the log
    hazard ratio over the half-width of log(0.71)..log(0.99)."""
    ref = scenario_refs()["ipilimumab_dose"]
    p = dose_patients(2000, 3)
    r, sims = ca.further_residuals(["ipilimumab-dose"], np.zeros(2 * len(FITTED)), 2000, 3,
                                   simulate=lambda name, phi, n, seed: p)
    hi, lo = p[p["arm"] == HIGH], p[p["arm"] == LOW]
    diff = (hi["any_trae_grade_reported"] >= 3).mean() - (lo["any_trae_grade_reported"] >= 3).mean()
    band = difference_band(0.36, ref["high"]["n"], 0.20, ref["low"]["n"])
    assert r[0] == pytest.approx((diff - 0.16) / ((band[1] - band[0]) / 2))
    hr = hazard_ratio(hi["os_months"], hi["os_event"], lo["os_months"], lo["os_event"])[0]
    assert r[1] == pytest.approx((np.log(hr) - np.log(0.84)) / ((np.log(0.99) - np.log(0.71)) / 2))
    assert sims[ca.FURTHER["ipilimumab-dose"].rows[1]] == pytest.approx(np.log(hr))
    rows = ca.report_rows(["ipilimumab-dose"], sims)
    assert [r[0] for r in rows] == list(ca.FURTHER["ipilimumab-dose"].rows)
    assert rows[0][3:] == pytest.approx((0.16, diff, (band[1] - band[0]) / 2))
    assert abs(hr - 0.84) < 0.05  # the stand-in's proportional hazards, read back


def test_round_trip_recovers_the_ec50_that_makes_the_published_difference() -> None:
    """The stand-in dose trial gives the published difference 0.16 at E/(E + 20) = 0.533, E = 22.9 mg/L; the fit,
    started at the catalogue's 5 mg/L with the growth rate free too, lands within 0.15 of log(22.9) (at 2,000
    patients the paired difference's sampling SD is about 0.008, 0.13 of a unit on the log EC50 here), the catalogue
    is back at 5 mg/L after it, and the calibration document's drugs section carries the value, which the catalogue
    installs (apply_calibration)."""
    spec = parse_spec(SPEC)
    truth = np.zeros(2 * len(FITTED))
    truth[GROWTH] = -0.15
    made = stand_in(spec, truth, 4000, 99)
    sim = endpoints(made, np.full(4000, 1.0 / 4000), "ipilimumab")
    targets = {"endpoints": {"orr": dict(sim["orr"]), "median_pfs_months": dict(sim["median_pfs_months"])}}
    before = CATALOGUE["ipilimumab"]
    fit = cd.direct_fit(spec, targets, free=[f"d:{EC50}", "net_growth_rate"], patients=2000, seeds=(5,),
                        phi0=np.zeros(2 * len(FITTED)), iterations=8, simulate=stand_in, also=["ipilimumab-dose"],
                        simulate_also=lambda name, phi, n, seed: dose_patients(n, seed))
    assert fit.free == ["net_growth_rate", f"d:{EC50}"]
    assert abs(np.log(fit.drugs[EC50]) - np.log(20.0 * 0.16 / 0.14)) < 0.15, fit.drugs
    assert abs(fit.phi[GROWTH] + 0.15) < 0.03
    assert fit.rows[-2:] == list(ca.FURTHER["ipilimumab-dose"].rows)
    assert CATALOGUE["ipilimumab"] is before
    doc = cd.calibration_document(fit, spec=spec, targets=targets, targets_path="t.json", patients=2000, seeds=(5,),
                                  engine="jax", also=["ipilimumab-dose"])
    entry = doc["drugs"]["ipilimumab"]["ec50_mg_l"]
    assert entry["default"] == pytest.approx(fit.drugs[EC50])
    assert entry["log_shift"] == pytest.approx(np.log(fit.drugs[EC50] / 5.0)) and np.isfinite(entry["log_shift_se"])
    assert doc["provenance"]["also"] == ["ipilimumab-dose"]
    assert set(ca.FURTHER["ipilimumab-dose"].rows) <= set(doc["provenance"]["fitted_endpoints"])
    try:
        apply_calibration(doc)
        assert CATALOGUE["ipilimumab"].ec50_mg_l == pytest.approx(fit.drugs[EC50])
        assert CATALOGUE["ipilimumab"].ec50_source.startswith("fitted")
    finally:
        CATALOGUE["ipilimumab"] = before


def test_held_out_check_gives_the_further_rows_loss_apart() -> None:
    spec = parse_spec(SPEC)
    made = stand_in(spec, np.zeros(2 * len(FITTED)), 4000, 99)
    sim = endpoints(made, np.full(4000, 1.0 / 4000), "ipilimumab")
    targets = {"endpoints": {"orr": dict(sim["orr"])}}
    start = np.zeros(2 * len(FITTED))
    out = cd.held_out_check(spec, targets, start=start, fitted=start, patients=1000, seeds=(11, 12),
                            simulate=stand_in, fitted_drugs={EC50: 22.9}, also=["ipilimumab-dose"],
                            simulate_also=lambda name, phi, n, seed: dose_patients(n, seed))
    assert out["also"] == ["ipilimumab-dose"]
    # at 5 mg/L the stand-in's difference is 0.06, 1.6 units short; at 22.9 it is the published one
    assert out["mean_further_loss_start"] > 2.0 and out["mean_further_loss_fit"] < 0.5
    for per in out["start"] + out["fit"]:
        assert 0.0 <= per["further_loss"] <= per["loss"]
    assert CATALOGUE["ipilimumab"].ec50_mg_l == 5.0


def test_installed_further_reads_the_installed_provenance(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The ipilimumab-dose scenario labels its two figures fitted exactly when the installed calibration read them."""
    from immunotwin import validate

    monkeypatch.setattr(validate, "installed_calibration", lambda: {"provenance": {"also": ["ipilimumab-dose"]}})
    assert ca.installed_further() == ["ipilimumab-dose"]
    monkeypatch.setattr(validate, "installed_calibration", lambda: {"provenance": {}})
    assert ca.installed_further() == []


def test_the_dose_scenario_states_the_catalogue_ec50_and_whether_it_was_fitted() -> None:
    from immunotwin.scenarios.dose import ec50_text

    assert "5 mg/L" in ec50_text(False) and "assumed" in ec50_text(False) and "Nothing is fitted" in ec50_text(False)
    with drug_values({EC50: 17.61}):
        assert "17.6 mg/L, fitted" in ec50_text(True) and "assumed" not in ec50_text(True)
