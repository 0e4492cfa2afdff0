"""Scenarios of non-checkpoint immunotherapies (issue 5): CAR T cells, high-dose IL-2, rituximab next to
nivolumab, a peptide vaccine, interferon-alpha, intravesical BCG.

Each runs at a modest size (``slow``). Bands are stated in each figure's ``band_note``: the exact 95%
CI of the published proportion where its denominator is known, otherwise a stated tolerance or a
direction. Fitted figures (one scale per mechanism, ``immunotwin.calibrate_cancers``) are checked
to show the fit holds at the test's size; everything else is unfitted. Where the model misses a band
the test is xfail with the value measured at the test's size; bands are not loosened.
"""

from __future__ import annotations

import pytest

from test_scenarios import _run, fig, obs

pytestmark = pytest.mark.slow


def _miss(prefix: str, reason: str) -> object:
    return pytest.param(prefix, marks=pytest.mark.xfail(reason=reason, strict=False))


@pytest.fixture(scope="module")
def cart(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return _run(tmp_path_factory, "car-t-crs", 300)


@pytest.mark.parametrize("prefix", [
    "ORR (best",
    # 51.3% (n=300, stop 47: the resistant clone's cells counted among the CAR T cells' targets, their reach spread
    # between patients, CAR T chain refitted) against 54% (exact CI 44.2-64.4%); 44.0% at stop 42, outside, 53.3% on
    # 2026-11-30
    "complete response",
    "CRS, any grade", "CRS, grade >= 3", "neurotoxicity, any grade",
    # grade >= 3 neurotoxicity is fitted by hand (icans_susceptibility's spread): 23.3% (n=300) against 28%; with the
    # label's rules and the activation-driven load it was 1.0%
    "neurotoxicity, grade >= 3",
    # unfitted, inside since the lysis-driven load and ZUMA-1's own rules (2026-11-30; n=300, after the loss of
    # support): CRS grade >= 3 16.0%, tocilizumab 44.0% (79% before, by the label), corticosteroids 24.3% (37.3%)
    "tocilizumab given", "corticosteroids given",
    # median neurotoxicity onset: day 4 (n=300), the label's median; day 7, at the band's edge, before.
    # The day of peak is fitted by hand since stop 30 (car_kill_s 1.0; 0.1 put it on day 5 with car_kill refitted to
    # 2.55 alongside the resistant clone's reach; 3.0 since stop 47: day 7 at n=300, day 5-6 at 1.0 with the reach spread)
    "median CRS onset", "median neurotoxicity onset", "median day of peak",
    # fitted by hand since stop 29 (car_expansion's log-SD 0.4, car_kill refitted): 3.82 at 300 patients with the
    # refit's probe, 3.69 after every refit (responders' median peak 51.1 cells/uL against ZUMA-1's 43.6,
    # non-responders' 13.8 against 20.2);
    # 16.1 with the assumed log-SD 0.8 (stop 28: non-responders' 2.6), an expected miss until then
    "peak CAR T cells, responders",
    # unfitted since CAR T cells lose the support of lymphodepletion (car_support_decay, fitted to B-cell return at
    # 1 year: 54.2% against 11/19; n=300, 2026-11-30): 5-year OS 38.0% (42.6%, exact CI 32.8-52.8%; 52.7% before,
    # inside by 0.001, and 61.7% with Pan 2019's B-cell turnover and no loss of support), in response at 5 years 26%
    # (31%, CI 21.9-40.7%), B cells back at 3 years in 96.9% of patients in remission (all evaluable)
    "overall survival at 5 years", "in response at 5 years", "B cells >= 10% of normal at 1 year",
    "B cells >= 10% of normal at 3 years",
    # fitted since stop 30 (car_resistant_kill, with car_kill): ZUMA-1's 42% in response at 15.4 months
    "in response at 15.4 months",
    # unfitted, new in stop 30: overall survival at 18 months (52%, exact CI of 53/101: 42.3-62.5%) and disease control
    # at the month-3 assessment (60 of 101, band 49.2-69.1%). Inside since stop 47, when the resistant clone's CAR T
    # reach got a spread between patients (log-SD 0.7): 58.7% and 66.0% (n=300). With one reach for every patient they
    # read 63.0% and 71.7% (stop 47, before the spread), 66.0% and 74.7% (stop 42): partial responses failed later than
    # ZUMA-1's.
    "overall survival at 18 months", "disease control at the month-3",
    # unfitted; inside since stop 30, when the resistant clone's CAR T reach was fitted to ZUMA-1's durability
    # (car_resistant_kill 0.1 assumed -> fitted): 54.3 months at stop 29, 36.8 at stop 28, against 25.8 (18.1-33.5)
    "median overall survival",
    "CRS grade >= 2: high minus low", "Spearman correlation, peak CAR T",
    # unfitted: the same patients under ZUMA-1 cohort 4's early steroids (n=300, 2026-11-30): CRS grade >= 3 1.3%
    # (2%, exact CI of 1/41 0.06-12.9%), neurotoxicity grade >= 3 8.7% (17%, CI 7.2-32.1%), 14.7 points below Lee 2014
    "early steroids (cohort 4 rules): CRS", "early steroids (cohort 4 rules): neurotoxicity",
    "neurotoxicity grade >= 3: early steroids minus",
])
def test_car_t_figures(cart: dict, prefix: str) -> None:
    f = fig(cart, prefix)
    assert f["inside"], f


def test_car_t_fitted_figures_are_marked(cart: dict) -> None:
    fitted = {f["name"] for f in cart["figures"] if f["fitted"]}
    assert fitted == {"ORR (best response CR or PR)", "CRS, any grade", "neurotoxicity, any grade",
                      "neurotoxicity, grade >= 3", "B cells >= 10% of normal at 1 year, patients in remission",
                      "peak CAR T cells, responders / non-responders (medians)", "median day of peak CAR T cells",
                      "in response at 15.4 months (all treated)"}


def test_car_t_non_response_attribution(cart: dict) -> None:
    """The twin at the median expansion rate (same patients) shows what the spread of expansion does, and the twin's
    ORR differs from the simulated one by removing expansion failures and expansion luck both. At one expansion rate
    responders still expand more than non-responders: their tumours carry more CD19+ cells for CAR T cells to
    expand on, where a non-responder's is more of the antigen-low clone, which CAR T cells lyse but do not expand on
    (model.celltherapy). At n=300 since stop 47 (the resistant clone's cells counted among the CAR T cells' targets,
    its reach spread between patients, car_kill_s 3.0, the chain refitted: car_kill 19.95, car_resistant_kill 0.00977):
    38.8% of non-responders at or above the median rate, twin ORR 0.783 against 0.777, tumour-intrinsic share 0.866,
    twin ratio 2.22 against 1.90 (before the spread: 38.7%, 0.813 against 0.793, 0.839, 1.92 against 1.65). Non-response is now
    mostly the tumour's own, so the spread of expansion rates no longer raises the ratio above the twin's, as it did
    up to stop 46 (the assertion dropped then). At n=300 with stop 30's chain (the
    resistant clone's CAR T reach fitted to durability, car_kill 3.71, car_kill_s 1.0): 28.6% of non-responders at or
    above the median rate, twin ORR 0.857 against 0.813, tumour-intrinsic share 0.714, twin ratio 2.15 against 3.05.
    At n=300 with stop 29's halved spread
    of expansion rates (log-SD 0.4) and the chain refitted: 25.5% of non-responders at or above the median rate, twin
    ORR 0.853 against 0.830, tumour-intrinsic share 0.667, twin ratio 2.15 against 3.69. At n=300 (stop 28, new lesions
    counted while visible, the CAR T chain refitted): 18.5% of non-responders at or above the median rate, twin ORR
    0.883 against 0.820, tumour-intrinsic share 0.481, twin ratio 2.37 against 16.1. Before stop 28 (2026-11-30: 0.468
    against 8.87) the twin's non-responders included patients called progressive by a new lesion the CAR T cells had already
    shrunk below detection, many of them high-burden expanders, so the twin ratio fell below 1; it is no longer
    asserted to lie below ZUMA-1's 2.2."""
    above = obs(cart, "non-responders whose CAR T expansion rate")
    share = obs(cart, "tumour-intrinsic share of non-response")
    twin_ratio = obs(cart, "peak CAR T cells, responders / non-responders (medians), twin")
    assert 0.0 <= above < 0.5  # expansion matters to response (Locke 2020): non-responders are below the median
    assert 0.0 < share < 1.0  # both causes are present
    # at one expansion rate responders still expand more: more CD19+ tumour to expand on
    assert twin_ratio > 1.0
    # removing expansion failures (and expansion luck) moves the ORR by less than 10 points either way
    orr = fig(cart, "ORR (best")["simulated"]
    assert abs(obs(cart, "ORR, the same patients with every CAR T expansion rate at the median") - orr) < 0.10


def test_car_t_b_cell_aplasia(cart: dict) -> None:
    assert obs(cart, "B cells at 6 months") < 0.2


def test_car_t_early_steroids_keep_response(cart: dict) -> None:
    """Topp 2021: earlier steroids did not cost response (cohort 4 ORR 73%); here the same patients lose at most 5
    points (about 1 SE of a 300-patient ORR difference counted twice) and are given steroids more often."""
    orr = fig(cart, "ORR (best")["simulated"]
    assert obs(cart, "early steroids (cohort 4 rules): ORR") >= orr - 0.05
    assert obs(cart, "early steroids (cohort 4 rules): corticosteroids given") > fig(cart, "corticosteroids given")["simulated"]


@pytest.fixture(scope="module")
def il2(tmp_path_factory: pytest.TempPathFactory) -> dict:
    # The scenario's own size (400): the fitted thyroid figure rises steeply with the thyroid's weight, and at 150
    # patients it read 50% against a band to 48% (stop 26); 400 reads 46%.
    return _run(tmp_path_factory, "high-dose-il2", 400)


@pytest.mark.parametrize("prefix", [
    "melanoma: ORR",
    # 4.5% (n=400, calibration iteration 16; 4.25% with 15) against 6% (exact CI 3.7-9.9%); 2.5% with iterations 12
    # to 14, when the fits lowered immunogenicity while NK/LAK killing stayed fitted to the ORR
    "melanoma: complete response",
    "melanoma: treatment-related deaths",  # 2 of 150 (calibration iterations 7, 8 and 9; 1 with 5) against 0.8-4.8%
    _miss("renal cell carcinoma: ORR", "24.5% (n=400, calibration iteration 13, stop 42); 22.5% (iteration 12, stop 41); 19.0% (calibration "
          "iteration 11, stop 29: inside at the band's top, so it XPASSed); 21.5% (n=400, stop 26); 23.3% (n=150, calibration iteration 9; 18.7% with 8, 19.3% with 7, 22% with 5) "
          "against 14% (exact CI 10-19%): the response comes from the NK/LAK killing fitted in melanoma (0.138/day "
          "with iteration 9 against 0.119) on top of RCC's immunogenicity, refitted to nivolumab's ORR in RCC (0.462 "
          "against 0.369)"),
    _miss("renal cell carcinoma: complete response", "1.5% (n=400, stop 26); 2.0% (3 of 150, calibration iteration 10 with the fibrotic scar "
          "of stop 25; 4.0% with iteration 9, 2.0% with 8, 1.3% with 7) against 5% (exact CI 2.5-8.1%): the scar's share, "
          "fitted to five-year complete responses in melanoma, keeps some eliminated tumours CT partial responses "
          "here too; a handful of patients at this size"),
    _miss("melanoma: responders still", "57% (n=400, stop 26); 52% (n=150, calibration iteration 9; 76% with 8, 78% with 7) vs 28% (band "
          "10-46%): responses are too durable once NK/LAK killing has cleared the sensitive clone; by best response "
          "(stop 21, observations): partial responses last a median 19.3 months against Atkins' 5.9, and 82% of "
          "complete responders stay progression-free against 59%"),
    "melanoma: thyroid dysfunction",  # fitted (the thyroid's weight on the cytokines' drive): holds at this size too
    _miss("melanoma: hypothyroidism needing", "36.7% (n=400, stop 47: TSH read from serum thyroxine, whose released "
          "colloid delays hypothyroidism to a median 63 days, Weijl 1993's 60-120; thyroid weight refitted); "
          "38.3% (n=400, stop 27: read as hypothyroidism of grade >= 2, TSH above "
          "10, the clinic's trigger for thyroid hormone, no longer as any thyroid grade 2, which counted the thyrotoxic "
          "phase; 38.5% so read at stop 26) vs 9% (Krouse 1995, exact CI of 19/216 5.4-13.4%): once the thyroid gives way to IL-2 the model loses thyroid cells for good (function loss "
          "while damaged), where most IL-2 hypothyroidism is mild and transient (Krouse: hypothyroidism 35%, 9% needing "
          "hormone): a reversible, functional thyroid suppression is not in the model"),
    _miss("melanoma: vitiligo (patients", "3.9% (n=400, stop 35) against Rosenberg & White's 15% (exact CI of 11/74: "
          "7.7-25%): vitiligo follows the rise in T-cell killing, and the model's IL-2 response is mostly NK/LAK "
          "killing (nk_kill, fitted to the ORR), which does not see melanocyte antigens"),
    _miss("melanoma: vitiligo among responders", "12.7% (n=400, calibration iteration 16; 14.3% with 15, inside; 9.4% at stop 35) against 11 of 43 (exact CI 13.5-41%): as above"),
    "melanoma: vitiligo among non-responders",  # 2.1% (n=400, stop 35) against none of 27 (exact CI 0-12.8%)
])
def test_il2_figures(il2: dict, prefix: str) -> None:
    f = fig(il2, prefix)
    assert f["inside"], f


def test_il2_fitted_figure_is_marked(il2: dict) -> None:
    assert {f["name"] for f in il2["figures"] if f["fitted"]} == {"melanoma: ORR",
                                                               "melanoma: thyroid dysfunction (any grade thyroiditis)"}


def test_il2_vitiligo_marks_responders(il2: dict) -> None:
    # Rosenberg & White 1996: vitiligo in 11 of 43 responders and none of 27 non-responders; unfitted under IL-2.
    assert fig(il2, "melanoma: vitiligo among responders")["simulated"] > \
        2 * fig(il2, "melanoma: vitiligo among non-responders")["simulated"]
    assert obs(il2, "renal cell carcinoma: vitiligo") == 0.0  # no antigen shared with skin


def test_il2_capillary_leak_limits_doses(il2: dict) -> None:
    # Leak grade >= 3 is common under high-dose IL-2 and withholds doses: the median patient gets fewer
    # than all the doses scheduled (Atkins 1999: doses are routinely withheld for toxicity).
    assert obs(il2, "melanoma: capillary leak grade >= 3") > 0.3
    assert obs(il2, "melanoma: share of scheduled doses given") < 1.0


@pytest.fixture(scope="module")
def mabs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return _run(tmp_path_factory, "monoclonal-antibodies", 300)


@pytest.mark.parametrize("prefix", [
    "rituximab: ORR",
    _miss("rituximab: complete response", "12.3% (37 of 300, stop 45) against 6% (exact CI of 10/166: 2.9-10.8%). "
          "Since stop 45 the follicular targets are lymph nodes, gone under 10 mm each as RECIST 1.1 reads nodes; "
          "before, CT needed them at 0 mm and read 1.0% (stop 28; 2.7% before its new-lesion rule, inside before the "
          "fibrotic scar of stop 25). Still missing: a lymphoma complete response also needs a clear bone marrow "
          "where it was involved, and the model has no marrow disease in follicular lymphoma"),
    # 17.9 months (n=300, since calibration iteration 11; checkpoint-free, so the calibrations leave it) against 13
    # (band 7.8-18.2): inside by 0.3 month; 20.9 at stop 28, before ADCC killing was refitted to the ORR
    "rituximab: median PFS",
    "rituximab: FCGR3A", "nivolumab: ORR", "any irAE: nivolumab minus rituximab",
    "rituximab: B cells at 3 months",
    # B cells 6 months after the last dose are fitted (b_cell_depletion_ec50); 12 months after it, unfitted: near
    # normal (band >= 50%); 38% of normal before the in-vivo EC50 and Pan 2019's turnover (2026-11-30)
    "rituximab: B cells 6 months after", "rituximab: B cells 12 months after",
])
def test_monoclonal_antibody_figures(mabs: dict, prefix: str) -> None:
    f = fig(mabs, prefix)
    assert f["inside"], f


def test_monoclonal_antibody_fitted_figures_are_marked(mabs: dict) -> None:
    assert {f["name"] for f in mabs["figures"] if f["fitted"]} == {
        "rituximab: ORR", "rituximab: B cells 6 months after the last dose (fraction of normal, median)"}


@pytest.fixture(scope="module")
def vaccine(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return _run(tmp_path_factory, "cancer-vaccine", 200)


@pytest.mark.parametrize("prefix", [
    "gp100: ORR",
    _miss("gp100: median OS", "8.28 months (n=200, calibration iteration 11, stop 29) against 6.4 (band 4.8-8.0): "
          "iteration 11 raised the lethal burden (256 to 396e9 cells) and the vaccine's refitted potency fell (0.0113 to "
          "0.0047), so untreated-like disease kills later; inside with iteration 10"),
    # 9.0% (n=200, calibration iteration 11) vs Hodi's 10.9% (exact CI 6.3-17.4%): inside; 7.5% with iteration 10 under
    # stop 28's rule, 6.0% before it (outside), 9.0% with 9
    "ipilimumab: ORR",
    _miss("ipilimumab + gp100: ORR", "9.5% (n=200, calibration iteration 11, stop 29) vs 5.7% (exact CI 3.7-8.4%): "
          "adding gp100 does not lower ipilimumab's response in the model (difference +0.5 points against Hodi's -5.2, "
          "inside its band); 6.5% with iteration 10, 10.5% with iterations 8 and 9"),
    # 7.8 months (n=200, calibration iteration 9; 7.8 with 5) against 10.0 (band 7.5-12.5) and 10.1 (7.6-12.6): inside
    # near the band's floor. Iterations 7 and 8 (6.7 and 6.4 months) were outside: they raised the mean growth rate
    # (to 0.0069 and 0.0088/day; 0.0075 with 9), and Hodi's pretreated patients died sooner
    # 10.3 and 10.1 months with iteration 11 (inside). Iteration 12 (stop 41) reads 13.3 for both (bands to 12.5 and
    # 12.6): it tripled the lethal burden (396 to 1,220e9 cells, fitted to CheckMate 067's survival, where
    # ipilimumab's median OS now reads 20.9 against 19.9), so Hodi's pretreated patients die later too
    # 10.8 months both (n=200, calibration iteration 16; 11.0 with 15) against 10.0 and 10.1 (bands 7.5-12.5 and
    # 7.6-12.6); 12.9 with iteration 13, when the lethal burden was tripled by the fit to CheckMate 067's survival
    "ipilimumab + gp100: median OS", "ipilimumab: median OS",
    "ORR, ipilimumab + gp100 minus", "ORR, nivolumab + gp100 minus",
])
def test_vaccine_figures(vaccine: dict, prefix: str) -> None:
    f = fig(vaccine, prefix)
    assert f["inside"], f


@pytest.mark.parametrize("prefix", [
    # how often an organ's irAEs under ipilimumab reach grade >= 3 once they occur (both ipilimumab arms pooled):
    # fitted figures since stop 23 (calibrate_cancers damage_rate.<organ>, 300 patients, seed 11: 0.053, 0.204,
    # 0.443); here another seed and size (n=200): skin 8% of 25, gut 20% of 40 with iteration 10; skin 3.2% with 11
    _miss("ipilimumab arms: skin irAEs reaching", "2.4% (n=200, calibration iteration 16, stop 60) against 5.3% (band "
          "2.7-9.2%): out by a third of a point below, at another seed and size than the fit's (9.3% with iteration 15, "
          "above; 3.2% with 14): a few skin events at n=200 (about 40 patients with one) swing it across the band"),
    # gut: 15.4% with calibration iteration 16 (n=200; 20%, band 14.1-27.0%); 11.8% with iteration 11, 12.5% with 15
    "ipilimumab arms: gut irAEs reaching",
    _miss("ipilimumab arms: liver irAEs reaching", "32.4% of 37 patients with a liver irAE (n=200, calibration "
          "iteration 10) against Eggermont 2016's 51/115 (exact CI 35.1-53.9%); the fit reached 44.3% at 300 "
          "patients and seed 11: the SE at 37 patients is about 8 points"),
    # unfitted incidences in Hodi's previously treated patients
    _miss("ipilimumab: skin irAE, any grade", "12.5% (n=200, calibration iteration 10; 18% with 9) against 57/131 "
          "(exact CI 34.9-52.4%)"),
    _miss("ipilimumab: gut irAE, any grade", "20% (n=200, iteration 10; 15% with 9) against 38/131 (exact CI "
          "21.4-37.6%)"),
    _miss("ipilimumab + gp100: skin irAE, any grade", "12.5% (n=200, iteration 10; 18% with 9) against 152/380 "
          "(exact CI 35-45.1%)"),
    _miss("ipilimumab + gp100: gut irAE, any grade", "20% (n=200, iteration 10; 15% with 9) against 122/380 (exact "
          "CI 27.4-37.1%)"),
])
def test_vaccine_ipilimumab_organ_figures(vaccine: dict, prefix: str) -> None:
    assert fig(vaccine, prefix)["inside"]


def test_vaccine_ipilimumab_organ_severity_ordered(vaccine: dict) -> None:
    # Direction (Hodi 2010; Eggermont 2016): skin irAEs are the mildest, liver irAEs the most often severe
    # (5.3% < 20% < 44% reach grade >= 3). Measured at n=200 (stop 22): 22.2% < 40% < 64.3%.
    skin, gut, liver = (fig(vaccine, f"ipilimumab arms: {o} irAEs reaching")["simulated"] for o in ("skin", "gut", "liver"))
    assert skin < gut < liver


def test_vaccine_organ_severity_marked_fitted_only_when_installed(vaccine: dict) -> None:
    from immunotwin.calibrate_cancers import installed_fits
    from immunotwin.model.core import PARAM_INDEX

    source = PARAM_INDEX["damage_rate"].source
    for organ, label in (("dermatitis", "skin"), ("colitis", "gut"), ("hepatitis", "liver")):
        f = fig(vaccine, f"ipilimumab arms: {label} irAEs reaching")
        assert f["fitted"] == (f"damage_rate.{organ}" in installed_fits())
        assert f["fitted"] == (f"{organ}: fitted" in source)  # and the parameter's source says the same
    # of the incidences, only the gut's is a fit target (its CTLA-4 weight, both ipilimumab arms pooled), when that
    # opt-in fit is the one installed; a weight fitted to CheckMate 067's safety table (calibrate_organs) leaves it
    # unfitted
    from immunotwin.calibrate_cancers import PARAM_TARGETS, installed_fit_specs

    gut_fitted = installed_fit_specs().get("weight_ctla4.colitis") == PARAM_TARGETS["weight_ctla4.colitis"][0]
    for f in vaccine["figures"]:
        if "any grade" in f["name"]:
            assert f["fitted"] == (gut_fitted and ": gut irAE" in f["name"]), f["name"]


@pytest.fixture(scope="module")
def ifn(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return _run(tmp_path_factory, "interferon-melanoma", 200)


@pytest.mark.parametrize("prefix", [
    "ORR",
    "autoimmunity during interferon",  # fitted (interferon's drive on autoreactive pools)
    # HR 0.625 (CI 0.42-0.92, n=200, stop 26: autoimmunity, mostly thyroiditis, by 12 weeks in 25% of the landmark
    # set since interferon's drive was fitted; 0.75 from 10 patients before) against the bias-corrected 0.81
    "OS HR, autoimmunity",
])
def test_interferon_figures(ifn: dict, prefix: str) -> None:
    f = fig(ifn, prefix)
    assert f["inside"], f


def test_interferon_fitted_figures_are_marked(ifn: dict) -> None:
    assert {f["name"] for f in ifn["figures"] if f["fitted"]} == {"ORR", "autoimmunity during interferon (any irAE)"}


def test_interferon_autoimmunity_is_thyroid_first(ifn: dict) -> None:
    """Thyroiditis is the commonest autoimmunity under interferon-alpha (Tomer, Blackard & Akeno, Endocrinol Metab Clin
    North Am 2007;36:1051). With the thyroid's weight on the cytokines' drive fitted under IL-2 (not here), thyroiditis
    makes up most of the autoimmunity."""
    auto = fig(ifn, "autoimmunity during interferon")["simulated"]
    assert obs(ifn, "thyroiditis, any grade") >= 0.5 * auto > 0


@pytest.fixture(scope="module")
def bcg(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return _run(tmp_path_factory, "bcg-bladder", 300)


@pytest.mark.parametrize("prefix", [
    "complete response",
    _miss("cystitis, any grade", "85% (n=300, calibration iterations 7 and 8) vs 67% (band 57-76%): the assumed cystitis ladder grades too many "
          "instillations as cystitis"),
    "cystitis, grade >= 3",
])
def test_bcg_figures(bcg: dict, prefix: str) -> None:
    f = fig(bcg, prefix)
    assert f["inside"], f
