"""The explorer's HTTP API over a real server process on loopback (``immunotwin serve``).

Same inputs and seed, same numbers as the package's public functions (and so as the command
line); bad input gets a 422 naming the field; limits; downloads; unknown ids; a failing job
reports why and leaves the server healthy; the run catalogue survives a restart.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

import httpx  # noqa: E402

from _webserver import Server, serve, wait_for_trial  # noqa: E402
from immunotwin.drugs.catalogue import CATALOGUE  # noqa: E402
from immunotwin.spec import CANCERS, PATIENT_COVARIATES, parse_patient, parse_regimen, parse_spec  # noqa: E402

REGIMEN_SHORT = "nivolumab 1 mg/kg q3w x4 + ipilimumab 3 mg/kg q3w x4 + nivolumab 3 mg/kg q2w from 12w"
REGIMEN = [
    {"name": "nivolumab", "dose": "1 mg/kg", "every": "3 weeks", "doses": 4},
    {"name": "ipilimumab", "dose": "3 mg/kg", "every": "3 weeks", "doses": 4},
    {"name": "nivolumab", "dose": "3 mg/kg", "every": "2 weeks", "start": "12 weeks"},
]
PATIENT = {"age": 58, "sex": "F", "weight_kg": 70, "sld0_mm": 90, "pdl1_tps": 0.2, "tmb": 14, "ldh_uln": 1.2,
           "prior_chemo": False, "preexisting_ai": "colitis"}
PATIENT_TOML = 'age = 58\nsex = "F"\nweight_kg = 70\nsld0_mm = 90\npdl1_tps = 0.2\ntmb = 14\nldh_uln = 1.2\n' \
               'prior_chemo = false\npreexisting_ai = "colitis"\n'

TRIAL_TOML = """\
name = "web api test"
seed = 11
follow_up = "3 months"
[population]
cancer = "melanoma"
size_per_arm = 4
[[arm]]
name = "nivolumab"
  [[arm.drug]]
  name = "nivolumab"
  dose = "3 mg/kg"
  every = "2 weeks"
[[arm]]
name = "ipilimumab"
  [[arm.drug]]
  name = "ipilimumab"
  dose = "3 mg/kg"
  every = "3 weeks"
  doses = 4
"""
#: TRIAL_TOML as structured JSON.
STRUCTURED = {"name": "web api test", "seed": 11, "follow_up": "3 months",
              "population": {"cancer": "melanoma", "size_per_arm": 4},
              "arms": [{"name": "nivolumab", "drugs": [{"name": "nivolumab", "dose": "3 mg/kg", "every": "2 weeks"}]},
                       {"name": "ipilimumab", "drugs": [{"name": "ipilimumab", "dose": "3 mg/kg", "every": "3 weeks",
                                                         "doses": 4}]}]}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("web-api")
    with serve(root / "data", "--max-patients", "40", "--max-jobs", "1", "--no-warm-up") as s:
        yield s


@pytest.fixture(scope="module")
def client(server: Server) -> Iterator[httpx.Client]:
    with server.client() as c:
        yield c


def _loc(resp: httpx.Response) -> list[list[str | int]]:
    assert resp.status_code == 422, resp.text
    return [d["loc"] for d in resp.json()["detail"]]


# ---------------------------------------------------------------------------------------


def test_page_assets_and_schema(client: httpx.Client) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "immunotwin explorer" in page.text
    assert "/vendor/plotly.min.js" in page.text and "cdn" not in page.text.lower()
    js = client.get("/vendor/plotly.min.js")
    assert js.status_code == 200 and len(js.content) > 1_000_000 and b"plotly" in js.content[:2000].lower()
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/static/style.css").status_code == 200
    doc = client.get("/openapi.json").json()
    assert {"/api/catalogue", "/api/patients/simulate", "/api/trials", "/api/trials/{run_id}",
            "/api/trials/{run_id}/results", "/api/trials/{run_id}/files/{name}", "/api/runs"} <= set(doc["paths"])
    assert "422" in doc["paths"]["/api/patients/simulate"]["post"]["responses"]
    assert doc["components"]["schemas"]["DrugIn"]["properties"]["dose"]["description"]


def test_catalogue(client: httpx.Client) -> None:
    cat = client.get("/api/catalogue").json()
    assert cat["cancers"] == list(CANCERS)
    assert [d["name"] for d in cat["drugs"]] == sorted(CATALOGUE)
    assert all(d["schedules"] and d["dose_units"] for d in cat["drugs"])
    units = {d["name"]: d["dose_units"] for d in cat["drugs"]}
    assert "mg/kg" in units["nivolumab"] and units["axicabtagene"] == ["cells/kg"] and "IU/kg" in units["aldesleukin"]
    covs = {c["key"]: c for c in cat["covariates"]}
    assert set(covs) == set(PATIENT_COVARIATES) - {"cancer"}
    assert (covs["age"]["min"], covs["age"]["max"]) == (12.0, 110.0)
    assert "colitis" in covs["preexisting_ai"]["choices"]
    assert cat["limits"]["max_patients_per_trial"] == 40
    assert parse_spec(cat["example_trial_toml"]).population.size_per_arm == 8
    assert len(cat["example_patients"]) >= 3


def test_simulate_equals_simulate_patient(client: httpx.Client) -> None:
    """The API's patient run has the numbers of simulate_patient called as `immunotwin simulate` calls it."""
    from immunotwin.simulate import simulate_patient
    from immunotwin.web.patientview import patient_view

    req = {"cancer": "melanoma", "patient": PATIENT, "regimen": REGIMEN, "days": 182, "seed": 5}
    resp = client.post("/api/patients/simulate", json=req)
    assert resp.status_code == 200, resp.text
    api = resp.json()
    ref = simulate_patient(cancer="melanoma", regimen=parse_regimen(REGIMEN_SHORT), patient=parse_patient(PATIENT_TOML),
                           days=182.0, seed=5, guideline="asco2021")
    assert api["events"] == json.loads(json.dumps(ref.events))
    view = patient_view(ref)
    assert api["series"]["day"] == view["series"]["day"]
    for key in ("tumour_cells", "effector", "treg_tumour"):
        assert api["series"][key] == pytest.approx(view["series"][key], rel=1e-12)
    assert api["series"]["slots"][0]["concentration"] == pytest.approx(view["series"]["slots"][0]["concentration"])
    scans = ref.visits[ref.visits["scan"]]
    assert [s["sld_mm"] for s in api["scans"]] == pytest.approx(scans["sld_mm"].tolist())
    assert api["visits"]["steroid_mg"] == pytest.approx(ref.visits["steroid_mg"].tolist())
    assert api["regimen_text"] == REGIMEN_SHORT
    assert f'--regimen "{REGIMEN_SHORT}"' in api["cli"] and "--seed 5" in api["cli"]
    assert api["account"] and api["account"][0].startswith("Best overall response")
    assert api["patient"]["preexisting_ai"] == "colitis" and api["patient"]["age"] == 58.0
    assert {s["slot"] for s in api["series"]["slots"]} == {"pd1", "ctla4"}
    assert all(0.0 <= x <= 1.0 for s in api["series"]["slots"] for x in s["occupancy"] if x is not None)
    # Reopen: the catalogue keeps the run, with its request.
    again = client.get(f"/api/patients/{api['run_id']}").json()
    assert again == api
    runs = client.get("/api/runs", params={"kind": "patient"}).json()
    entry = next(r for r in runs if r["run_id"] == api["run_id"])
    assert entry["status"] == "done" and entry["request"]["seed"] == 5 and REGIMEN_SHORT in entry["spec_text"]


@pytest.mark.parametrize("change, loc", [
    ({"regimen": [{"name": "nivolumab", "dose": "-3 mg/kg", "every": "2 weeks"}]}, ["body", "regimen", 0, "dose"]),
    ({"regimen": [{"name": "nivolumab", "dose": "3 furlongs", "every": "2 weeks"}]}, ["body", "regimen", 0, "dose"]),
    ({"regimen": [{"name": "nivolumab", "dose": "3 mg/", "every": "2 weeks"}]}, ["body", "regimen", 0, "dose"]),
    ({"regimen": [REGIMEN[0], {"name": "ipilimumab", "dose": "3 mg/kg", "every": "soon"}]},
     ["body", "regimen", 1, "every"]),
    ({"regimen": [{"name": "ipilimumab", "dose": "3 mg/kg"}]}, ["body", "regimen", 0, "every"]),
    ({"regimen": [{"name": "nivolumabb", "dose": "3 mg/kg", "every": "2 weeks"}]}, ["body", "regimen", 0, "name"]),
    ({"regimen": [{"name": "nivolumab", "dose": "3 mg/kg", "every": "2 weeks"},
                  {"name": "pembrolizumab", "dose": "200 mg", "every": "3 weeks"}]}, ["body", "regimen"]),
    ({"patient": {"age": 5}}, ["body", "patient", "age"]),
    ({"patient": {"preexisting_ai": "spleen"}}, ["body", "patient", "preexisting_ai"]),
    ({"patient": {"genetic_risk": 2}}, ["body", "patient", "genetic_risk"]),
    ({"cancer": "spleen"}, ["body", "cancer"]),
    ({"days": 100000}, ["body", "days"]),
    ({"days": 4000}, ["body", "days"]),
    ({"seed": -1}, ["body", "seed"]),
])
def test_bad_patient_input_names_the_field(client: httpx.Client, change: dict, loc: list) -> None:
    req = {"cancer": "melanoma", "regimen": REGIMEN, "days": 30, **change}
    assert loc in _loc(client.post("/api/patients/simulate", json=req))


@pytest.mark.slow
def test_trial_equals_run_trial_with_downloads(client: httpx.Client, tmp_path: Path) -> None:
    """A trial job gives run_trial's summary and patients for the same spec and seed; limits hold meanwhile."""
    from immunotwin.spec import with_overrides
    from immunotwin.trial import run_trial

    resp = client.post("/api/trials", json={"spec_toml": TRIAL_TOML, "seed": 3, "label": "api test"})
    assert resp.status_code == 202, resp.text
    job = resp.json()
    assert job["status"] in ("queued", "running") and job["total"] == 8 and job["label"] == "api test"
    # One job at a time on this server: a second valid request is refused while it runs.
    busy = client.post("/api/trials", json={"spec_toml": TRIAL_TOML})
    assert busy.status_code == 429 and busy.headers["retry-after"]
    # The same run in this process, as `immunotwin trial SPEC --seed 3` runs it.
    ref_dir = tmp_path / "ref"
    ref = run_trial(with_overrides(parse_spec(TRIAL_TOML), seed=3), ref_dir)
    st = wait_for_trial(client, job["run_id"])
    assert st["status"] == "done", st["error"]
    assert st["done"] == st["total"] == 8 and st["summary"] == ref
    assert st["cli"].endswith("--seed 3")
    base = f"/api/trials/{job['run_id']}/files"
    assert client.get(f"{base}/spec.toml").text == TRIAL_TOML
    assert client.get(f"{base}/summary.json").json() == ref
    got = pd.read_parquet(io.BytesIO(client.get(f"{base}/patients.parquet").content))
    pd.testing.assert_frame_equal(got, pd.read_parquet(ref_dir / "patients.parquet"))
    report = client.get(f"{base}/report.html")
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
    assert "<html" in report.text[:500].lower()
    res = client.get(f"/api/trials/{job['run_id']}/results").json()
    assert res["arms"] == ["nivolumab", "ipilimumab"] and res["summary"] == ref
    assert sum(len(v) for v in res["waterfall"].values()) == int(got["best_pct_change"].notna().sum())
    for ep in ("pfs", "os"):
        for arm in res["arms"]:
            km = res["km"][ep][arm]
            assert km["time"][0] == 0.0 and km["survival"][0] == 1.0
            assert all(a >= b for a, b in zip(km["survival"], km["survival"][1:], strict=False))
    entry = client.get(f"/api/runs/{job['run_id']}").json()
    assert entry["kind"] == "trial" and entry["status"] == "done" and entry["spec_text"] == TRIAL_TOML


def test_structured_spec_is_the_toml_spec() -> None:
    """A structured (JSON) spec becomes the same trial as its TOML text."""
    from immunotwin.web.models import TrialRequest
    from immunotwin.web.service import trial_inputs

    a = trial_inputs(TrialRequest.model_validate({"spec": STRUCTURED}), 100).spec
    b = trial_inputs(TrialRequest.model_validate({"spec_toml": TRIAL_TOML}), 100).spec
    assert (a.name, a.seed, a.follow_up_days, a.population, a.arms, a.control) == \
           (b.name, b.seed, b.follow_up_days, b.population, b.arms, b.control)
    assert parse_spec(a.text).arms == b.arms
    managed = {**STRUCTURED, "management": {"guideline": "asco2021", "steroid_dose_scale": 0.5,
                                            "cytokine_protocol": "lee2014"}}
    m = trial_inputs(TrialRequest.model_validate({"spec": managed}), 100).spec.management
    assert (m.steroid_dose_scale, m.cytokine_protocol) == (0.5, "lee2014")
    with pytest.raises(ValueError, match="cytokine_protocol"):
        TrialRequest.model_validate({"spec": {**STRUCTURED, "management": {"cytokine_protocol": "cartox"}}})
    windowed = {**STRUCTURED, "assessment": {"criteria": "irecist", "window": "7 days"}}
    w = trial_inputs(TrialRequest.model_validate({"spec": windowed}), 100).spec.assessment
    assert (w.criteria, w.window_days) == ("irecist", 7.0)
    assert trial_inputs(TrialRequest.model_validate({"spec": {**STRUCTURED, "assessment": {}}}), 100
                        ).spec.assessment.window_days == 0.0


@pytest.mark.parametrize("body, loc", [
    ({"spec_toml": TRIAL_TOML.replace("size_per_arm = 4", "size_per_arm = 30")},
     ["body", "spec_toml", "population", "size_per_arm"]),
    ({"spec_toml": TRIAL_TOML, "patients_per_arm": 21}, ["body", "patients_per_arm"]),
    ({"spec_toml": TRIAL_TOML.replace('dose = "3 mg/kg"\n  every = "2 weeks"', 'dose = "-1 mg/kg"\n  every = "2 weeks"')},
     ["body", "spec_toml", "arm", 0, "drug", 0, "dose"]),
    ({"spec_toml": "name = "}, ["body", "spec_toml"]),
    ({"spec_toml": TRIAL_TOML, "spec": STRUCTURED}, ["body"]),
    ({}, ["body"]),
    ({"spec": {"name": "x", "follow_up": "3 months", "population": {"cancer": "melanoma", "size_per_arm": 50},
               "arms": [{"name": "a", "drugs": []}]}}, ["body", "spec", "population", "size_per_arm"]),
    ({"spec": {"name": "x", "follow_up": "3 months", "population": {"cancer": "melanoma", "size_per_arm": 2},
               "arms": [{"name": "a", "drugs": [{"name": "nivolumab", "dose": "3 mg/kg", "every": "2 weeks",
                                                 "until": "someday"}]}]}},
     ["body", "spec", "arms", 0, "drugs", 0, "until"]),
    ({"spec": {"name": "x", "follow_up": "3 months", "population": {"cancer": "melanoma", "size_per_arm": 2},
               "assessment": {"window": "-3 days"}, "arms": [{"name": "a", "drugs": []}]}},
     ["body", "spec", "assessment", "window"]),
])
def test_bad_trial_input_names_the_field(client: httpx.Client, body: dict, loc: list) -> None:
    assert loc in _loc(client.post("/api/trials", json=body))


def test_unknown_and_malformed_ids(client: httpx.Client) -> None:
    assert client.get("/api/patients/0123456789abcdef").status_code == 404
    assert client.get("/api/trials/0123456789abcdef").status_code == 404
    assert client.get("/api/runs/0123456789abcdef").status_code == 404
    assert client.get("/api/patients/not-an-id").status_code == 422
    assert client.get("/api/trials/0123456789abcdef/files/..%2F..%2Fcatalogue.duckdb").status_code in (404, 422)
    assert client.get("/api/trials/0123456789abcdef/files/catalogue.duckdb").status_code == 422
    assert client.get("/api/trials/..%2F..%2Fetc/results").status_code in (404, 422)


def test_failing_job_reports_why_and_catalogue_survives_restart(tmp_path: Path) -> None:
    """A job past its time limit fails with the reason, the server stays healthy; a restarted server
    lists earlier runs (a job cut short by the stop is marked failed) and reopens them."""
    data = tmp_path / "data"
    with serve(data, "--job-timeout", "1", "--no-warm-up") as s, s.client() as c:
        job = c.post("/api/trials", json={"spec_toml": TRIAL_TOML}).json()
        st = wait_for_trial(c, job["run_id"], timeout=120)
        assert st["status"] == "failed" and "time limit" in st["error"]
        assert c.get("/api/health").json()["status"] == "ok"
        assert c.get(f"/api/trials/{job['run_id']}/results").status_code == 409
        assert c.get("/api/catalogue").status_code == 200
        assert _loc(c.post("/api/patients/simulate", json={"days": 0})) == [["body", "days"]]
    with serve(data, "--job-timeout", "600", "--no-warm-up") as s, s.client() as c:
        cut = c.post("/api/trials", json={"spec_toml": TRIAL_TOML, "label": "cut short"}).json()
        time.sleep(0.5)
    with serve(data, "--no-warm-up") as s, s.client() as c:
        runs = {r["run_id"]: r for r in c.get("/api/runs").json()}
        assert runs[job["run_id"]]["status"] == "failed" and runs[job["run_id"]]["spec_text"] == TRIAL_TOML
        assert runs[cut["run_id"]]["status"] == "failed" and "stopped" in runs[cut["run_id"]]["error"]
        assert c.get(f"/api/trials/{job['run_id']}").json()["error"] == st["error"]


def test_config_file_and_options(tmp_path: Path) -> None:
    from immunotwin.web import ConfigError, load_config

    f = tmp_path / "server.toml"
    f.write_text('data_dir = "runs"\nport = 8123\n[limits]\nmax_patients_per_trial = 64\njob_time_limit_s = 30\n')
    cfg = load_config(f)
    assert (cfg.data_dir, cfg.port, cfg.host) == ((tmp_path / "runs").resolve(), 8123, "127.0.0.1")
    assert (cfg.max_patients_per_trial, cfg.job_time_limit_s, cfg.max_concurrent_jobs) == (64, 30.0, 1)
    assert cfg.replace(port=None, max_concurrent_jobs=2).max_concurrent_jobs == 2
    f.write_text("[limits]\nmax_patient = 3\nmax_concurrent_jobs = -1\n")
    with pytest.raises(ConfigError, match="limits.max_patient: unknown key"):
        load_config(f)
    with pytest.raises(ConfigError, match="port"):
        cfg.replace(port=70000)


def test_toml_writer_round_trips() -> None:
    import tomllib

    from immunotwin.web import tomlout

    doc = {"name": 'a "quoted"\\ name\twith\x01control\x7f and ünïcode', "n": 3, "x": 0.1, "flag": True,
           "list": [1, 2], "empty": [], "table": {"k": "v", "odd key": 1},
           "arm": [{"name": "a", "drug": [{"name": "nivolumab", "dose": "3 mg/kg"}]}, {"name": "b", "drug": []}]}
    assert tomllib.loads(tomlout.dumps(doc)) == doc


def test_docetaxel_patient_shows_cytotoxic_slot_and_neutrophils(client: httpx.Client) -> None:
    req = {"cancer": "nsclc", "patient": PATIENT,
           "regimen": [{"name": "docetaxel", "dose": "75 mg/m2", "every": "3 weeks"}], "days": 56, "seed": 2}
    resp = client.post("/api/patients/simulate", json=req)
    assert resp.status_code == 200, resp.text
    api = resp.json()
    slots = {s["slot"]: s for s in api["series"]["slots"]}
    assert set(slots) == {"cyto"} and slots["cyto"]["target"].startswith("cytotoxic")
    # daily series: docetaxel (half-lives of hours) is nearly gone a day after each dose; the solver's
    # absolute tolerance (1e-9 mg) bounds how far below zero an emptied compartment may dip
    assert all(x is None or -1e-8 <= x < 1.0 for x in slots["cyto"]["concentration"])
    anc = [x for x in api["visits"]["anc"] if x is not None]
    assert min(anc) < anc[0]  # the nadir after the first dose
