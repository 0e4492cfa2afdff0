"""Tests of immunotwin.spec: the TOML trial spec, the regimen short form, one patient."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import pytest

from immunotwin.spec import (
    CANCERS,
    DEFAULT_IMAGING,
    KNOWN_DRUGS,
    POPULATION_OVERRIDES,
    Assessment,
    Distribution,
    DrugSchedule,
    ImagingRule,
    SpecError,
    TrialSpec,
    format_regimen,
    load_spec,
    parse_patient,
    parse_regimen,
    parse_spec,
    with_overrides,
)

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "checkmate067.toml"

HEADER = """
name = "test trial"
seed = 1
follow_up = "24 months"
"""
POPULATION = """
[population]
cancer = "melanoma"
size_per_arm = 10
"""
ARM = """
[[arm]]
name = "nivolumab"
  [[arm.drug]]
  name = "nivolumab"
  dose = "3 mg/kg"
  every = "2 weeks"
"""
VALID = HEADER + POPULATION + ARM


def errors_of(text: str) -> list[str]:
    """The messages of the SpecError that parsing ``text`` must raise."""
    with pytest.raises(SpecError) as info:
        parse_spec(text)
    assert str(info.value) == "\n".join(info.value.errors)
    return info.value.errors


def has_error(errors: list[str], field: str, fragment: str = "") -> bool:
    return any(e.startswith(field + ": ") and fragment in e for e in errors)


# --------------------------------------------------------------------------- the example file


def test_example_parses() -> None:
    spec = load_spec(EXAMPLE)
    assert isinstance(spec, TrialSpec)
    assert spec.name == "CheckMate 067 (virtual)"
    assert spec.seed == 67
    assert spec.follow_up_days == pytest.approx(60 * 30.4375)
    assert spec.design == "parallel"
    assert spec.arm_names == ("nivolumab + ipilimumab", "nivolumab", "ipilimumab")
    assert spec.control == "ipilimumab" and spec.control_index == 2
    assert spec.population.cancer == "melanoma" and spec.population.size_per_arm == 300
    assert spec.assessment.criteria == "recist1.1" and not spec.assessment.confirm_response
    assert spec.assessment.pre_treatment_scan_days == 42.0
    assert spec.management.guideline == "asco2021" and not spec.management.treat_beyond_progression
    # next line: 70% of progressing patients, by the tumour's BRAF status (fitted to the ipilimumab arm's months to it)
    assert spec.post_progression is not None and spec.post_progression.fraction == 0.7
    assert format_regimen(spec.post_progression.drugs) == \
        "nivolumab 3 mg/kg q2w + dabrafenib 150 mg q12h + trametinib 2 mg q1d"
    assert [d.when for d in spec.post_progression.drugs] == ["braf_wild_type", "braf_v600", "braf_v600"]
    assert dict(spec.population.overrides) == {"braf_v600_fraction": 0.316}
    combo = spec.arms[0].drugs
    assert [d.name for d in combo] == ["nivolumab", "ipilimumab", "nivolumab"]
    assert combo[0].dose.value == 1.0 and combo[0].doses == 4 and combo[0].every_days == 21.0
    assert combo[2].start_days == 84.0 and combo[2].every_days == 14.0 and combo[2].doses is None
    assert combo[2].until_progression and combo[2].until_days is None
    assert spec.arms[2].drugs[0].doses == 4
    text = EXAMPLE.read_bytes()
    assert spec.sha256 == hashlib.sha256(text).hexdigest()
    assert spec.text == text.decode("utf-8")


def test_example_matches_regimen_short_form() -> None:
    spec = load_spec(EXAMPLE)
    assert spec.arms[0].drugs == parse_regimen(
        "nivolumab 1 mg/kg q3w x4 + ipilimumab 3 mg/kg q3w x4 + nivolumab 3 mg/kg q2w from 12w"
    )
    assert spec.arms[1].drugs == parse_regimen("nivolumab 3 mg/kg q2w")
    assert spec.arms[2].drugs == parse_regimen("ipilimumab 3 mg/kg q3w x4")


def test_spec_objects_are_immutable() -> None:
    spec = load_spec(EXAMPLE)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.seed = 3  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.arms[0].drugs[0].doses = 2  # type: ignore[misc]
    assert isinstance(spec.arms, tuple) and isinstance(spec.arms[0].drugs, tuple)
    assert isinstance(spec.assessment.imaging, tuple)
    with pytest.raises(TypeError):
        spec.population.overrides["age"] = 50.0  # type: ignore[index]


# --------------------------------------------------------------------------- imaging


def test_checkmate_scan_days() -> None:
    spec = load_spec(EXAMPLE)
    days = spec.assessment.scan_days(spec.follow_up_days)
    q6 = [84.0 + 42.0 * k for k in range(7)]  # 84, 126, ..., 336 (week 48, the last within 49 weeks)
    assert days[:7].tolist() == q6
    assert days[6] <= 343 < days[6] + 42
    q12 = np.arange(336.0 + 84.0, spec.follow_up_days + 1e-9, 84.0)
    assert days[7:].tolist() == q12.tolist()
    assert days[-1] <= spec.follow_up_days
    assert np.all(np.diff(days) > 0)


def test_scan_days_follow_up_cut() -> None:
    melanoma = Assessment(imaging=DEFAULT_IMAGING["melanoma"])
    assert melanoma.scan_days(100.0).tolist() == [84.0]
    assert melanoma.scan_days(50.0).tolist() == []
    assert melanoma.scan_days(126.0).tolist() == [84.0, 126.0]


def test_default_imaging() -> None:
    assert set(DEFAULT_IMAGING) == set(CANCERS)
    assert load_spec(EXAMPLE).assessment.imaging == DEFAULT_IMAGING["melanoma"]
    nsclc = parse_spec(VALID.replace('"melanoma"', '"nsclc"'))
    assert nsclc.assessment.imaging == DEFAULT_IMAGING["nsclc"]
    days = nsclc.assessment.scan_days(730.0)
    assert days[:8].tolist() == [42.0 * k for k in range(1, 9)]  # to week 48
    assert days[8] == 336.0 + 63.0 and days[9] == 336.0 + 126.0
    spec = parse_spec(VALID)
    assert spec.assessment.criteria == "recist1.1" and spec.assessment.hpd_definition == "champiat"
    assert spec.assessment.pre_treatment_scan_days == 42.0
    assert spec.management.guideline == "asco2021"
    assert spec.post_progression is None
    assert spec.control == "nivolumab" and spec.design == "parallel"


def test_imaging_first_and_every_in_one_rule() -> None:
    a = Assessment(imaging=(ImagingRule(first_days=10.0, every_days=20.0, until_days=50.0), ImagingRule(every_days=5.0)))
    assert a.scan_days(62.0).tolist() == [10.0, 30.0, 50.0, 55.0, 60.0]


def test_assessment_section() -> None:
    text = VALID + """
[assessment]
imaging = [{every = "8 weeks"}]
confirm_response = true
criteria = "irecist"
hpd_definition = "ferrara"
pre_treatment_scan = "4 weeks"
"""
    spec = parse_spec(text)
    assert spec.assessment.imaging == (ImagingRule(every_days=56.0),)
    assert spec.assessment.confirm_response
    assert spec.assessment.criteria == "irecist" and spec.assessment.hpd_definition == "ferrara"
    assert spec.assessment.pre_treatment_scan_days == 28.0


def test_assessment_errors() -> None:
    text = VALID + """
[assessment]
imaging = [{every = "6 weeks"}, {first = "2 weeks", until = "4 weeks"}, {evry = "2 weeks"}]
criteria = "who"
hpd_definition = "kato"
confirm_response = "yes"
"""
    errors = errors_of(text)
    assert has_error(errors, "assessment.imaging[0]", "only the last")
    assert has_error(errors, "assessment.imaging[1].until", "only allowed with 'every'")
    assert has_error(errors, "assessment.imaging[2].evry", "did you mean 'every'")
    assert has_error(errors, "assessment.criteria")
    assert has_error(errors, "assessment.hpd_definition")
    assert has_error(errors, "assessment.confirm_response")


# --------------------------------------------------------------------------- malformed specs


def test_unknown_top_level_key() -> None:
    errors = errors_of("followup = 3\n" + VALID)
    assert has_error(errors, "followup", "unknown key")
    errors = errors_of('sede = 3\n' + VALID)
    assert has_error(errors, "sede", "did you mean 'seed'")


def test_unknown_key_in_drug() -> None:
    errors = errors_of(VALID + '  dosse = 3\n')
    assert has_error(errors, "arm[0].drug[0].dosse", "unknown key")
    assert "did you mean 'dose'" in errors[0]


def test_unknown_drug_with_suggestion() -> None:
    errors = errors_of(VALID.replace('name = "nivolumab"\n  dose', 'name = "nivolumabb"\n  dose'))
    assert has_error(errors, "arm[0].drug[0].name", "unknown drug 'nivolumabb'")
    assert "did you mean 'nivolumab'" in errors[0]
    assert "nivolumab" in KNOWN_DRUGS


def test_negative_dose() -> None:
    errors = errors_of(VALID.replace('"3 mg/kg"', '"-3 mg/kg"'))
    assert has_error(errors, "arm[0].drug[0].dose", "positive")


def test_unknown_unit() -> None:
    errors = errors_of(VALID.replace('"3 mg/kg"', '"3 mg/kgg"'))
    assert has_error(errors, "arm[0].drug[0].dose", "unknown dose unit")
    errors = errors_of(VALID.replace('"2 weeks"', '"2 fortnightz"'))
    assert has_error(errors, "arm[0].drug[0].every")


def test_missing_and_zero_arms() -> None:
    assert has_error(errors_of(HEADER + POPULATION), "arm", "missing")
    assert has_error(errors_of(HEADER + "arm = []\n" + POPULATION), "arm", "no arms")
    assert has_error(errors_of(HEADER + 'arm = "x"\n' + POPULATION), "arm")


def test_size_beyond_limits() -> None:
    for size in ("0", "10000001", "-5", "2.5", '"100"'):
        errors = errors_of(VALID.replace("size_per_arm = 10", f"size_per_arm = {size}"))
        assert has_error(errors, "population.size_per_arm"), size
    assert parse_spec(VALID.replace("size_per_arm = 10", "size_per_arm = 10_000_000")).population.size_per_arm == 10**7


def test_duplicate_arms_control_design() -> None:
    errors = errors_of(VALID + ARM + 'control = "x"')
    assert has_error(errors, "arm[1].name", "duplicate")
    errors = errors_of('control = "nivolumabb"\n' + VALID)
    assert has_error(errors, "control", "did you mean 'nivolumab'")
    errors = errors_of('design = "crossover"\n' + VALID)
    assert has_error(errors, "design")
    assert parse_spec('design = "twin"\n' + VALID).design == "twin"


@pytest.mark.parametrize("follow_up", ['"0 months"', '"51 years"', '"-1 days"', "12", '"12 parsecs"'])
def test_follow_up_limits(follow_up: str) -> None:
    errors = errors_of(VALID.replace('follow_up = "24 months"', f"follow_up = {follow_up}"))
    assert has_error(errors, "follow_up")


@pytest.mark.parametrize("seed", ["-1", "1.5", "true", '"7"'])
def test_bad_seed(seed: str) -> None:
    assert has_error(errors_of(VALID.replace("seed = 1", f"seed = {seed}")), "seed")


def test_invalid_toml() -> None:
    errors = errors_of(VALID + "\nname = = 3\n")
    assert len(errors) == 1 and "invalid TOML" in errors[0]


def test_missing_required_fields() -> None:
    errors = errors_of(ARM)
    for field in ("name", "follow_up", "population"):
        assert has_error(errors, field, "missing"), field
    errors = errors_of(HEADER + "[population]\n" + ARM)
    assert has_error(errors, "population.cancer", "missing")
    assert has_error(errors, "population.size_per_arm", "missing")
    errors = errors_of(VALID.replace('  dose = "3 mg/kg"\n', ""))
    assert has_error(errors, "arm[0].drug[0].dose", "missing")


def test_several_errors_reported_together() -> None:
    text = (
        HEADER.replace("seed = 1", "seed = -1\nsurprise = 1")
        + POPULATION.replace('"melanoma"', '"melanomma"').replace("size_per_arm = 10", "size_per_arm = 0")
        + ARM.replace('"3 mg/kg"', '"-3 mg/kg"').replace('name = "nivolumab"\n  dose', 'name = "nivolumabb"\n  dose')
        + '  dosse = 4\n'
        + """
[[arm]]
name = "ipilimumab"
  [[arm.drug]]
  name = "ipilimumab"
  dose = "3 mg/kgg"
  every = "3 weeks"
"""
    )
    errors = errors_of(text)
    for field in (
        "seed",
        "surprise",
        "population.cancer",
        "population.size_per_arm",
        "arm[0].drug[0].name",
        "arm[0].drug[0].dose",
        "arm[0].drug[0].dosse",
        "arm[1].drug[0].dose",
    ):
        assert has_error(errors, field), (field, errors)
    assert len(errors) == 8


def test_drug_schedule_fields() -> None:
    text = VALID.replace('every = "2 weeks"', 'every = "3 weeks"\n  doses = 4\n  start = "8 h"\n  until = "24 months"')
    drug = parse_spec(text).arms[0].drugs[0]
    assert drug == DrugSchedule(
        name="nivolumab", dose=drug.dose, every_days=21.0, doses=4, start_days=1 / 3,
        until_progression=True, until_days=24 * 30.4375,
    )
    errors = errors_of(VALID.replace('every = "2 weeks"', 'every = "2 weeks"\n  doses = 0\n  until = "progresion"'))
    assert has_error(errors, "arm[0].drug[0].doses")
    assert has_error(errors, "arm[0].drug[0].until")
    single = parse_spec(
        VALID.replace('every = "2 weeks"', 'doses = 1\n  until = "completion"').replace('"3 mg/kg"', '"2e6 cells/kg"')
    ).arms[0].drugs[0]
    assert single.every_days == 0.0 and single.doses == 1 and not single.until_progression
    assert single.planned_days(100.0).tolist() == [0.0]


def test_planned_days() -> None:
    ipi = parse_regimen("ipilimumab 3 mg/kg q3w x4")[0]
    assert ipi.planned_days(365.0).tolist() == [0.0, 21.0, 42.0, 63.0]
    niv = parse_regimen("nivolumab 3 mg/kg q2w from 12w until 20w")[0]
    assert niv.planned_days(365.0).tolist() == [84.0, 98.0, 112.0, 126.0, 140.0]


def test_untreated_arm() -> None:
    spec = parse_spec(HEADER + POPULATION + '[[arm]]\nname = "untreated"\n')
    assert spec.arms[0].drugs == ()


# --------------------------------------------------------------------------- population, post-progression


def test_population_overrides() -> None:
    text = VALID.replace(
        "size_per_arm = 10",
        'size_per_arm = 10\npdl1_positive_fraction = 0.4\nbrain_mets_fraction = {dist = "bernoulli", p = 0.2}\n'
        'age = {dist = "normal", mean = 61, sd = 12, min = 18}\nweight_kg = 80\n'
        'tmb = {dist = "lognormal", median = 10, sigma = 0.8}\nldh_uln = {dist = "uniform", min = 0.5, max = 3}',
    )
    overrides = parse_spec(text).population.overrides
    assert overrides["pdl1_positive_fraction"] == 0.4
    assert overrides["brain_mets_fraction"] == 0.2
    assert overrides["weight_kg"] == 80.0
    age = overrides["age"]
    assert isinstance(age, Distribution) and age.dist == "normal" and age.params["min"] == 18.0
    draws = age.sample(np.random.default_rng(0), 1000)
    assert draws.min() >= 18.0 and abs(draws.mean() - 61) < 2
    tmb = overrides["tmb"]
    assert isinstance(tmb, Distribution) and tmb.sample(np.random.default_rng(1), 10).min() > 0
    assert set(overrides) <= set(POPULATION_OVERRIDES)


def test_population_override_errors() -> None:
    text = VALID.replace(
        "size_per_arm = 10",
        'size_per_arm = 10\npdl1_positive_fraction = 1.5\nprior_chemotherapy_fraction = -0.1\n'
        'age = {dist = "normal", mean = 61}\ntmb = {dist = "gamma", shape = 2}\nweight_kg = 5\n'
        'immunogenicity = 2\nldh_high_fraction = {dist = "normal", mean = 0.3, sd = 0.1}',
    )
    errors = errors_of(text)
    assert has_error(errors, "population.pdl1_positive_fraction", "[0, 1]")
    assert has_error(errors, "population.prior_chemotherapy_fraction", "[0, 1]")
    assert has_error(errors, "population.age.sd", "missing")
    assert has_error(errors, "population.tmb.dist")
    assert has_error(errors, "population.weight_kg")
    assert has_error(errors, "population.immunogenicity", "unknown key")
    assert has_error(errors, "population.ldh_high_fraction.dist")


def test_post_progression_errors() -> None:
    errors = errors_of(VALID + "\n[post_progression]\nfraction = 1.2\n")
    assert has_error(errors, "post_progression.fraction")
    assert has_error(errors, "post_progression.drug", "missing")
    errors = errors_of(
        VALID + '\n[post_progression]\nfraction = 0.3\n[[post_progression.drug]]\nname = "docetaxol"\ndose = "75 mg/m2"\nevery = "3 weeks"\n'
    )
    assert has_error(errors, "post_progression.drug[0].name", "did you mean 'docetaxel'")
    errors = errors_of(
        VALID + '\n[post_progression]\nfraction = 0.3\n[[post_progression.drug]]\nname = "dabrafenib"\ndose = "150 mg"\n'
        'every = "12 hours"\nwhen = "braf"\n'
    )
    assert has_error(errors, "post_progression.drug[0].when", "'braf_v600'")
    spec = parse_spec(VALID.replace('size_per_arm = 10', 'size_per_arm = 10\nbraf_v600_fraction = 0.4')
                      + '\n[post_progression]\nfraction = 0.3\n[[post_progression.drug]]\nname = "dabrafenib"\n'
                      'dose = "150 mg"\nevery = "12 hours"\nwhen = "braf_v600"\n')
    assert spec.post_progression is not None and spec.post_progression.drugs[0].when == "braf_v600"
    assert spec.population.overrides["braf_v600_fraction"] == 0.4


def test_arm_post_progression_replaces_the_trials() -> None:
    """An arm's own next-line therapy is parsed with the arm, errors named by its path; arms without one keep the
    trial's (``trial.arm_post_progression``)."""
    from immunotwin.trial import arm_post_progression

    post = '\n[post_progression]\nfraction = 0.5\n[[post_progression.drug]]\nname = "nivolumab"\ndose = "3 mg/kg"\nevery = "2 weeks"\n'
    own = ('  [arm.post_progression]\n  fraction = 0.9\n    [[arm.post_progression.drug]]\n    name = "ipilimumab"\n'
           '    dose = "3 mg/kg"\n    every = "3 weeks"\n    doses = 4\n')
    second = '[[arm]]\nname = "ipilimumab"\n  [[arm.drug]]\n  name = "ipilimumab"\n  dose = "3 mg/kg"\n  every = "3 weeks"\n'
    spec = parse_spec(HEADER + POPULATION + post + ARM + own + second)
    first, other = spec.arms
    assert first.post_progression is not None and first.post_progression.fraction == 0.9
    assert format_regimen(first.post_progression.drugs) == "ipilimumab 3 mg/kg q3w x4"
    assert arm_post_progression(spec, first) is first.post_progression
    assert other.post_progression is None and arm_post_progression(spec, other) is spec.post_progression
    errors = errors_of(VALID + "  [arm.post_progression]\n  fraction = 2\n")
    assert has_error(errors, "arm[0].post_progression.fraction")
    assert has_error(errors, "arm[0].post_progression.drug", "[[arm.post_progression.drug]]")


# --------------------------------------------------------------------------- overrides


def test_with_overrides() -> None:
    spec = load_spec(EXAMPLE)
    assert with_overrides(spec) is spec
    small = with_overrides(spec, size_per_arm=20)
    assert small.population.size_per_arm == 20 and small.seed == 67
    assert small.sha256 == spec.sha256 + "+size_per_arm=20"
    both = with_overrides(small, seed=5)
    assert both.seed == 5 and both.sha256 == spec.sha256 + "+size_per_arm=20+seed=5"
    again = with_overrides(both, size_per_arm=30)
    assert again.sha256 == spec.sha256 + "+size_per_arm=30+seed=5"
    assert spec.population.size_per_arm == 300  # the original is untouched
    with pytest.raises(SpecError, match="size_per_arm"):
        with_overrides(spec, size_per_arm=0)
    with pytest.raises(SpecError, match="seed"):
        with_overrides(spec, seed=-1)


# --------------------------------------------------------------------------- regimen short form


@pytest.mark.parametrize(
    "text",
    [
        "nivolumab 1 mg/kg q3w x4 + ipilimumab 3 mg/kg q3w x4 + nivolumab 3 mg/kg q2w from 12w",
        "pembrolizumab 200 mg q3w",
        "pembrolizumab 200 mg q3w until 24mo",
        "aldesleukin 720000 IU/kg q8h x14",
        "interferon_alfa 20 MIU/m2 q1d x20",
        "docetaxel 75 mg/m2 q3w + prednisone 5 mg q1d",
        "tisagenlecleucel 2000000 cells/kg x1 until completion",
        "nivolumab 480 mg q4w from 10d until 2w",
    ],
)
def test_regimen_round_trip(text: str) -> None:
    drugs = parse_regimen(text)
    assert format_regimen(drugs) == text
    assert parse_regimen(format_regimen(drugs)) == drugs


def test_regimen_values() -> None:
    combo = parse_regimen("nivolumab 1 mg/kg q3w x4 + ipilimumab 3 mg/kg q3w x4 + nivolumab 3 mg/kg q2w from 12w")
    assert [(d.name, d.dose.value, d.dose.kind, d.every_days, d.doses, d.start_days) for d in combo] == [
        ("nivolumab", 1.0, "mg/kg", 21.0, 4, 0.0),
        ("ipilimumab", 3.0, "mg/kg", 21.0, 4, 0.0),
        ("nivolumab", 3.0, "mg/kg", 14.0, None, 84.0),
    ]
    pembro = parse_regimen("pembrolizumab 200mg q3w")
    assert pembro[0].dose.value == 200.0 and pembro[0].dose.kind == "mg" and pembro[0].until_progression
    assert parse_regimen("nivolumab 3 mg/kg q14d from 12 weeks")[0].start_days == 84.0
    assert parse_regimen("") == () and parse_regimen("none") == () and parse_regimen(" None ") == ()
    assert format_regimen(()) == "none"


def test_regimen_errors() -> None:
    with pytest.raises(SpecError) as info:
        parse_regimen("nivolumabb 3 mg/kg q2w + ipilimumab -3 mg/kg q3w + pembrolizumab 200 mg", field="--regimen")
    errors = info.value.errors
    assert has_error(errors, "--regimen[0].name", "did you mean 'nivolumab'")
    assert has_error(errors, "--regimen[1].dose", "positive")
    assert has_error(errors, "--regimen[2].every", "missing")
    with pytest.raises(SpecError, match=r"regimen\[0\]: unexpected 'weekly'"):
        parse_regimen("nivolumab 3 mg/kg q2w weekly")
    with pytest.raises(SpecError, match=r"regimen\[0\].dose"):
        parse_regimen("nivolumab q2w")


# --------------------------------------------------------------------------- one patient


def test_parse_patient_forms() -> None:
    loose = parse_patient("cancer=melanoma, age=63, sex=F, weight_kg=70.5, ecog=1, brain_mets=true, preexisting_ai=colitis")
    assert loose == {
        "cancer": "melanoma", "age": 63.0, "sex": "F", "weight_kg": 70.5, "ecog": 1.0,
        "brain_mets": True, "preexisting_ai": "colitis",
    }
    toml = parse_patient('cancer = "nsclc"\npdl1_tps = 0.6\nprior_chemo = false\npreexisting_ai = ""\ntmb = 12')
    assert toml == {"cancer": "nsclc", "pdl1_tps": 0.6, "prior_chemo": False, "preexisting_ai": "", "tmb": 12.0}
    assert parse_patient("") == {}


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("agee=60", "agee"),
        ("age=300", "age"),
        ("age=old", "age"),
        ("ecog=1.5", "ecog"),
        ("ecog=4", "ecog"),
        ("pdl1_tps=1.2", "pdl1_tps"),
        ("sex=X", "sex"),
        ("cancer=melanomma", "cancer"),
        ("preexisting_ai=lupus", "preexisting_ai"),
        ("brain_mets=maybe", "brain_mets"),
        ("immunogenicity_multiplier=2", "immunogenicity_multiplier"),
        ("tumour_immunogenicity=2", "tumour_immunogenicity"),
    ],
)
def test_parse_patient_errors(text: str, key: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_patient(text)
    assert info.value.errors[0].startswith(key + ": ")


def test_parse_patient_reports_all() -> None:
    with pytest.raises(SpecError) as info:
        parse_patient("age=300, sexx=F, ecog=1")
    assert [e.split(":")[0] for e in info.value.errors] == ["age", "sexx"]
