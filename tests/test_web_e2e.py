"""The explorer page in a real headless browser (Debian's chromium, driven by Playwright).

Builds a patient, runs it and reads the plotted traces back out of the page: they must hold
that run's data from the API, not just draw something. A bad dose shows its error next to
the field. Two regimens side by side. A small trial: progress, results, and its report.

Run alone: ``.venv/bin/pytest tests/test_web_e2e.py -m "slow or not slow"``. With
``IMMUNOTWIN_SCREENSHOTS=docs`` the page is also saved as docs/explorer-*.png.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
playwright_sync = pytest.importorskip("playwright.sync_api")

import httpx  # noqa: E402

from _webserver import CHROMIUM, CHROMIUM_ARGS, Server, serve  # noqa: E402

if not Path(CHROMIUM).exists():  # pragma: no cover - .ci/run installs it
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)", allow_module_level=True)

SHOTS = os.environ.get("IMMUNOTWIN_SCREENSHOTS")
VIEWPORT = {"width": 1500, "height": 1000}


def _shot(page: Any, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"explorer-{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve(tmp_path_factory.mktemp("web-e2e") / "data", "--max-patients", "40") as s:
        yield s


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    pw = playwright_sync.sync_playwright().start()
    b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
        yield b
    finally:
        b.close()
        pw.stop()


@pytest.fixture
def page(browser: Any, server: Server) -> Iterator[Any]:
    context = browser.new_context(viewport=VIEWPORT)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(server.url + "/")
    pg.wait_for_selector("body[data-ready='1']", timeout=30_000)
    yield pg
    context.close()
    assert not errors, errors


def _traces(page: Any, div: str) -> dict[str, dict[str, Any]]:
    data = page.evaluate(f"""() => document.getElementById({div!r}).data.map(t => (
        {{meta: t.meta, x: Array.from(t.x || []), y: Array.from(t.y || [])}}))""")
    return {t["meta"]: t for t in data}


def _run_patient(page: Any, root: str = "#patient-form") -> str:
    page.click(f"{root} button.run")
    page.wait_for_function("() => document.getElementById('patient-timeline').data && "
                           "document.getElementById('patient-results').dataset.runId", timeout=180_000)
    return str(page.eval_on_selector("#patient-results", "e => e.dataset.runId"))


def test_patient_timeline_holds_the_runs_data(page: Any, server: Server) -> None:
    page.select_option("#patient-form select.example", "melanoma-typical")
    page.fill("#patient-form input.seed", "2")
    page.fill("#patient-form input.cov-sld0_mm", "85")
    page.select_option("#patient-form select.cov-brain_mets", "")  # back to drawn from the population
    run_id = _run_patient(page)
    api = httpx.get(f"{server.url}/api/patients/{run_id}", timeout=30).json()
    assert api["request"]["seed"] == 2 and api["request"]["patient"]["sld0_mm"] == 85
    assert "brain_mets" not in api["request"]["patient"] and api["patient"]["preexisting_ai"] == ""
    t = _traces(page, "patient-timeline")
    s = api["series"]
    weeks = [d / 7 for d in s["day"]]
    for key in ("tumour_cells", "resistant_cells", "effector", "exhausted", "memory", "treg_tumour", "treg_systemic"):
        assert t[key]["y"] == s[key], key
        assert t[key]["x"] == pytest.approx(weeks)
    for slot in s["slots"]:
        assert t["conc:" + slot["slot"]]["y"] == slot["concentration"]
        assert t["occ:" + slot["slot"]]["y"] == slot["occupancy"]
    scans = [sc for sc in api["scans"] if sc["sld_mm"] is not None]
    assert t["sld"]["y"] == [sc["sld_mm"] for sc in scans]
    assert t["sld"]["x"] == pytest.approx([sc["day"] / 7 for sc in scans])
    assert t["steroid_mg"]["y"] == api["visits"]["steroid_mg"]
    organs = [m.split(":", 1)[1] for m in t if m.startswith("grade:")]
    for organ in organs:
        assert t["grade:" + organ]["y"] == api["visits"]["grades"][organ]
        assert t["damage:" + organ]["y"] == s["damage"][organ]
    assert any(m.startswith("dose:nivolumab") for m in t) and any(m.startswith("dose:ipilimumab") for m in t)
    n_nivo = sum("nivolumab" in d.split("+") for d in api["visits"]["dosed"])
    assert len(t["dose:nivolumab"]["x"]) == n_nivo
    assert page.locator("#patient-account li").all_inner_texts() == api["account"]
    assert page.inner_text("#patient-headline") == api["headline"]
    _shot(page, "patient")


def test_bad_dose_shows_its_error_next_to_the_field(page: Any) -> None:
    page.fill("#patient-form .drug-row:first-child input.drug-dose", "-3 mg/kg")
    page.click("#patient-form button.run")
    err = page.wait_for_selector("#patient-form .field.invalid[data-loc='body.regimen.0.dose'] .err", timeout=60_000)
    assert "positive" in err.inner_text()
    page.fill("#patient-form input.cov-age", "5")
    page.click("#patient-form button.run")
    err = page.wait_for_selector("#patient-form .field.invalid[data-loc='body.patient.age'] .err", timeout=60_000)
    assert "12" in err.inner_text()


def test_two_regimens_side_by_side(page: Any, server: Server) -> None:
    page.click("#tab-compare")
    page.fill("#compare-form-a input.seed", "11")
    page.fill("#compare-form-b input.seed", "11")
    page.click("#compare-run")
    page.wait_for_function("() => ['a', 'b'].every(k => document.getElementById('compare-timeline-' + k).data)",
                           timeout=180_000)
    a, b = (_traces(page, f"compare-timeline-{k}") for k in "ab")
    assert "conc:ctla4" in a and "conc:ctla4" not in b  # A: nivolumab + ipilimumab, B: nivolumab alone
    ids = [page.eval_on_selector(f"#compare-timeline-{k}", "e => e.dataset.runId") for k in "ab"]
    for k, run_id, traces in zip("ab", ids, (a, b), strict=True):
        api = httpx.get(f"{server.url}/api/patients/{run_id}", timeout=30).json()
        assert traces["tumour_cells"]["y"] == api["series"]["tumour_cells"], k
    assert page.is_visible("#compare-table")
    _shot(page, "compare")


def test_earlier_runs_reopen(page: Any, server: Server) -> None:
    req = {"cancer": "nsclc", "patient": {"pdl1_tps": 0.7}, "days": 120, "seed": 42, "label": "reopen me",
           "regimen": [{"name": "pembrolizumab", "dose": "200 mg", "every": "3 weeks"}]}
    run = httpx.post(f"{server.url}/api/patients/simulate", json=req, timeout=180).json()
    page.click("#tab-runs")
    row = page.wait_for_selector(f"#runs-table tr[data-run-id='{run['run_id']}']", timeout=30_000)
    assert "reopen me" in row.inner_text() and "done" in row.inner_text()
    row.query_selector("button.open").click()
    page.wait_for_function(f"() => document.getElementById('patient-timeline').dataset.runId === {run['run_id']!r}",
                           timeout=30_000)
    assert page.is_visible("#view-patient")
    assert page.input_value("#patient-form input.seed") == "42"
    assert page.input_value("#patient-form select.cancer") == "nsclc"
    assert page.input_value("#patient-form input.cov-pdl1_tps") == "0.7"
    assert _traces(page, "patient-timeline")["tumour_cells"]["y"] == run["series"]["tumour_cells"]


@pytest.mark.slow
def test_trial_progress_results_and_report(page: Any, server: Server) -> None:
    page.click("#tab-trial")
    page.click("#trial-start")
    page.wait_for_selector("#trial-job:not([hidden])", timeout=30_000)
    page.wait_for_selector("#trial-status[data-status='done'], #trial-status[data-status='failed']", timeout=600_000)
    assert page.get_attribute("#trial-status", "data-status") == "done", page.inner_text("#trial-status")
    page.wait_for_function("() => document.getElementById('trial-km-os').data", timeout=60_000)
    assert page.eval_on_selector("#trial-bar", "e => e.style.width") == "100%"
    run_id = page.get_attribute("#download-report-html", "href").split("/")[3]
    res = httpx.get(f"{server.url}/api/trials/{run_id}/results", timeout=60).json()
    assert res["summary"]["arms"]["nivolumab"]["n"] == 8 and res["summary"]["arms"]["ipilimumab"]["n"] == 8
    km = _traces(page, "trial-km-pfs")
    for arm in res["arms"]:
        assert km[f"km:pfs:{arm}"]["y"] == res["km"]["pfs"][arm]["survival"]
    rows = page.locator("#trial-summary tr").count()
    assert rows == 1 + len(res["arms"])
    for name in ("spec.toml", "patients.parquet", "summary.json"):
        assert page.is_visible(f"#download-{name.replace('.', '-')}")
    _shot(page, "trial")
    with page.expect_popup() as popup:
        page.click("#download-report-html")
    report = popup.value
    report.wait_for_load_state()
    assert "Kaplan" in report.content()
    report.close()
