"""The explorer's HTTP server: a FastAPI app with the page, the API and its OpenAPI schema.

Every run goes through the package's public functions (:func:`immunotwin.simulate_patient`
in the server process, :func:`immunotwin.run_trial` in a worker process per trial job)
with the same arguments and seed semantics as the command line, so a run gives the same
numbers wherever it came from.
"""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from .. import __version__
from ..spec import KNOWN_DRUGS, format_regimen
from .config import ServerConfig
from .jobs import JobLimitError, JobManager
from .models import (
    MAX_ARMS,
    MAX_REGIMEN_DRUGS,
    Catalogue,
    ErrorOut,
    Health,
    PatientRunOut,
    RunInfo,
    SimulateRequest,
    TrialRequest,
    TrialResults,
    TrialStatus,
)
from .service import InputError, patient_inputs, trial_inputs
from .store import RUN_ID_PATTERN, RunRecord, RunStore

__all__ = ["create_app"]

DISCLAIMER = ("immunotwin is for research and education. It is not a medical device and must not be used for "
              "decisions about a real patient's care.")

DESCRIPTION = f"""
Build a virtual cancer patient, treat it with checkpoint inhibitors, watch the immune system respond;
run small virtual trials as background jobs. {DISCLAIMER}

* Doses are strings with units (`"3 mg/kg"`, `"240 mg"`), intervals and times are durations
  (`"2 weeks"`, `"12 weeks"`, `"6 months"`), as in trial spec files.
* Bad input gets a 422 whose `detail[].loc` names the field (e.g. `["body", "regimen", 0, "dose"]`).
* Runs are kept in a catalogue (`/api/runs`) under server-generated ids and can be reopened.
* The same inputs and seed give the same numbers as `immunotwin simulate` and `immunotwin trial`.
"""

RunId = Annotated[str, PathParam(pattern=RUN_ID_PATTERN, description="a run id from this server (16 hex digits)")]


class TrialFile(StrEnum):
    spec = "spec.toml"
    patients = "patients.parquet"
    visits = "visits.parquet"
    summary = "summary.json"
    report = "report.html"


_MEDIA = {"spec.toml": "application/toml", "patients.parquet": "application/vnd.apache.parquet",
          "visits.parquet": "application/vnd.apache.parquet", "summary.json": "application/json",
          "report.html": "text/html; charset=utf-8"}

_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorOut, "description": "no such run"}}
_BAD_BODY: dict[int | str, dict[str, Any]] = {400: {"model": ErrorOut, "description": "the body is not JSON text"}}
_NOT_READY: dict[int | str, dict[str, Any]] = {409: {"model": ErrorOut, "description": "the trial has not finished"}}


def _static_dir() -> Path:
    return Path(str(resources.files("immunotwin.web") / "static"))


def _plotly_js() -> Path:
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def _iso(dt: Any) -> str | None:
    return None if dt is None else dt.isoformat(timespec="seconds") + "Z"


def _info(rec: RunRecord) -> dict[str, Any]:
    return {"run_id": rec.id, "kind": rec.kind, "label": rec.label, "status": rec.status, "created": _iso(rec.created),
            "finished": _iso(rec.finished), "done": rec.done, "total": rec.total, "error": rec.error,
            "headline": rec.headline, "request": rec.request, "spec_text": rec.spec_text}


def _error(status: int, detail: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"detail": detail})


def _trial_cli(rec: RunRecord) -> str:
    extra = "".join(f" --{flag} {rec.request[key]}" for key, flag in (("patients_per_arm", "patients-per-arm"),
                                                                       ("seed", "seed"))
                    if rec.request.get(key) is not None)
    return f"immunotwin trial spec.toml --out OUT{extra}"


def create_app(config: ServerConfig) -> FastAPI:
    """The app for ``config`` (opens, or creates, the run catalogue in ``config.data_dir``)."""
    store = RunStore(config.data_dir)
    jobs = JobManager(store, max_jobs=config.max_concurrent_jobs, time_limit_s=config.job_time_limit_s)
    sim_lock = threading.Lock()

    def warm_up() -> None:
        from ..simulate import simulate_patient
        from ..spec import parse_regimen

        with sim_lock:
            simulate_patient(cancer="melanoma", regimen=parse_regimen("nivolumab 3 mg/kg q2w"), days=7.0, seed=0)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if config.warm_up:
            threading.Thread(target=warm_up, name="warm-up", daemon=True).start()
        yield
        jobs.shutdown()

    app = FastAPI(title="immunotwin explorer", version=__version__, description=DESCRIPTION, lifespan=lifespan,
                  docs_url=None, redoc_url=None)
    app.state.config = config
    app.state.store = store
    app.state.jobs = jobs

    def openapi() -> dict[str, Any]:
        """The schema, with this server's limits as the documented maxima."""
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            props = doc["components"]["schemas"]["SimulateRequest"]["properties"]
            for alt in props["days"].get("anyOf", [props["days"]]):
                if alt.get("type") == "number":
                    alt["maximum"] = config.max_patient_days
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.exception_handler(InputError)
    async def _input_error(request: Request, exc: InputError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": exc.detail()})

    @app.exception_handler(JobLimitError)
    async def _busy(request: Request, exc: JobLimitError) -> JSONResponse:
        return JSONResponse(status_code=429, content={"detail": str(exc)}, headers={"Retry-After": "10"})

    # --- the page -----------------------------------------------------------------------

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(_static_dir() / "index.html", media_type="text/html")

    @app.get("/vendor/plotly.min.js", include_in_schema=False)
    def plotly_js() -> FileResponse:
        return FileResponse(_plotly_js(), media_type="text/javascript",
                            headers={"Cache-Control": "public, max-age=86400"})

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        return FileResponse(_static_dir() / "favicon.svg", media_type="image/svg+xml")

    app.mount("/static", StaticFiles(directory=_static_dir()), name="static")

    # --- the API ------------------------------------------------------------------------

    @app.get("/api/health", response_model=Health, tags=["server"], summary="Server status")
    def health() -> dict[str, Any]:
        return {"status": "ok", "version": __version__, "jobs_active": jobs.active()}

    @app.get("/api/catalogue", response_model=Catalogue, tags=["catalogue"],
             summary="Cancers, modelled drugs with units and label schedules, covariates with ranges, examples")
    def catalogue() -> dict[str, Any]:
        from ..drugs.catalogue import CATALOGUE
        from ..spec import _COVARIATES, CANCERS, GUIDELINES, IRAE_ORGANS
        from ..units import DOSE_KINDS
        from .examples import EXAMPLE_PATIENTS, EXAMPLE_TRIAL_TOML, SCHEDULES

        def units(d: Any) -> list[str]:
            return ["cells/kg"] if d.kind == "cell" else (["IU/kg", "MIU/m2"] if d.mg_per_iu else ["mg", "mg/kg", "mg/m2"])

        drugs = [{"name": d.name, "target": d.target, "slot": d.slot, "dose_units": units(d), "kind": d.kind,
                  "ec50_mg_l": d.ec50_mg_l, "source": d.source,
                  "schedules": [{"label": s[0], "dose": s[1], "every": s[2], "doses": s[3]}
                                for s in SCHEDULES.get(d.name, [])]}
                 for d in sorted(CATALOGUE.values(), key=lambda d: d.name)]
        covariates = []
        for key, cov in _COVARIATES.items():
            if key == "cancer":
                continue
            ranged = cov.kind in ("float", "int")
            covariates.append({"key": key, "kind": cov.kind, "description": cov.description,
                               "min": cov.lo if ranged else None, "max": cov.hi if ranged else None,
                               "choices": list(cov.choices) if cov.kind == "choice" else None})
        return {
            "version": __version__, "disclaimer": DISCLAIMER, "cancers": list(CANCERS), "guidelines": list(GUIDELINES),
            "drugs": drugs, "known_drugs_not_modelled": sorted(KNOWN_DRUGS - set(CATALOGUE)),
            "dose_units": list(DOSE_KINDS), "covariates": covariates, "irae_organs": list(IRAE_ORGANS),
            "example_patients": EXAMPLE_PATIENTS, "example_trial_toml": EXAMPLE_TRIAL_TOML,
            "limits": {"max_patients_per_trial": config.max_patients_per_trial,
                       "max_concurrent_jobs": config.max_concurrent_jobs, "job_time_limit_s": config.job_time_limit_s,
                       "max_patient_days": config.max_patient_days, "max_regimen_drugs": MAX_REGIMEN_DRUGS,
                       "max_arms": MAX_ARMS},
        }

    @app.post("/api/patients/simulate", response_model=PatientRunOut, tags=["patients"], responses=_BAD_BODY,
              summary="Simulate one patient under one regimen (as `immunotwin simulate`)")
    def simulate(req: SimulateRequest) -> dict[str, Any]:
        """Runs at once and returns the run's data for plotting; the run is kept in the catalogue."""
        from ..simulate import simulate_patient
        from .patientview import patient_view

        inputs = patient_inputs(req, config.max_patient_days)
        with sim_lock:
            run = simulate_patient(cancer=inputs.cancer, regimen=inputs.regimen, patient=inputs.patient,
                                   days=inputs.days, seed=inputs.seed, guideline=inputs.guideline)
        view = patient_view(run)
        regimen_text = format_regimen(inputs.regimen)
        label = req.label or f"{inputs.cancer} · {regimen_text} · seed {inputs.seed}"
        spec_text = f"# {inputs.cli()}\n" + (f"# PATIENT.toml:\n{inputs.patient_toml()}" if inputs.patient else "")
        rec = store.create(kind="patient", label=label, status="running",
                           request=req.model_dump(mode="json", exclude_none=True),
                           spec_text=spec_text)
        out = {"run_id": rec.id, "label": label, "created": _iso(rec.created), "request": rec.request,
               "cancer": run.cancer, "regimen_text": regimen_text, "cli": inputs.cli(), **view}
        (store.run_dir(rec.id) / "patient.json").write_text(json.dumps(out, allow_nan=False))
        store.update(rec.id, status="done", headline=view["headline"])
        return out

    @app.get("/api/patients/{run_id}", response_model=PatientRunOut, responses=_NOT_FOUND, tags=["patients"],
             summary="Reopen a patient run")
    def get_patient(run_id: RunId) -> Any:
        rec = store.get(run_id)
        path = store.run_dir(run_id) / "patient.json"
        if rec is None or rec.kind != "patient" or not path.exists():
            return _error(404, f"no patient run {run_id}")
        return json.loads(path.read_text())

    @app.post("/api/trials", response_model=TrialStatus, status_code=202, tags=["trials"],
              responses={**_BAD_BODY, 429: {"model": ErrorOut, "description": "too many jobs running"}},
              summary="Start a virtual trial as a background job (as `immunotwin trial`)")
    def start_trial(req: TrialRequest) -> Any:
        """Give the spec as TOML text or structured JSON; poll `GET /api/trials/{run_id}` for progress."""
        inputs = trial_inputs(req, config.max_patients_per_trial)
        jobs.reserve()
        rec = store.create(kind="trial", label=req.label or inputs.spec.name, status="queued",
                           request=req.model_dump(mode="json", exclude_none=True), spec_text=inputs.spec_text,
                           total=inputs.total)
        try:
            jobs.start(rec.id, {"spec_text": inputs.spec_text, "seed": inputs.seed,
                                "patients_per_arm": inputs.patients_per_arm})
        except JobLimitError as exc:
            store.update(rec.id, status="failed", error=str(exc))
            raise
        return _trial_status(rec.id)

    def _trial_status(run_id: str) -> dict[str, Any] | None:
        rec = store.get(run_id)
        if rec is None or rec.kind != "trial":
            return None
        trial_dir = store.run_dir(run_id) / "trial"
        summary = None
        files: list[str] = []
        if rec.status == "done":
            summary = json.loads((trial_dir / "summary.json").read_text())
            files = [f.value for f in TrialFile if (trial_dir / f.value).exists()]
        return {"run_id": rec.id, "label": rec.label, "status": rec.status, "done": rec.done, "total": rec.total,
                "error": rec.error, "created": _iso(rec.created), "finished": _iso(rec.finished),
                "spec_text": rec.spec_text, "cli": _trial_cli(rec), "summary": summary, "files": files}

    @app.get("/api/trials/{run_id}", response_model=TrialStatus, responses=_NOT_FOUND, tags=["trials"],
             summary="A trial job's status and progress (and summary once done)")
    def trial_status(run_id: RunId) -> Any:
        out = _trial_status(run_id)
        return out if out is not None else _error(404, f"no trial run {run_id}")

    @app.get("/api/trials/{run_id}/results", response_model=TrialResults, responses={**_NOT_FOUND, **_NOT_READY},
             tags=["trials"], summary="Kaplan–Meier curves, waterfall and irAE incidence of a finished trial")
    def trial_results(run_id: RunId) -> Any:
        from .trialview import trial_results as compute

        rec = store.get(run_id)
        if rec is None or rec.kind != "trial":
            return _error(404, f"no trial run {run_id}")
        if rec.status != "done":
            return _error(409, f"trial {run_id} is {rec.status}" + (f": {rec.error}" if rec.error else ""))
        cache = store.run_dir(run_id) / "results.json"
        if cache.exists():
            return json.loads(cache.read_text())
        out = {"run_id": run_id, **compute(store.run_dir(run_id) / "trial")}
        cache.write_text(json.dumps(out, allow_nan=False))
        return out

    @app.get("/api/trials/{run_id}/files/{name}", tags=["trials"], summary="Download a finished trial's file",
             responses={**_NOT_FOUND, **_NOT_READY,
                        200: {"description": "the file", "content": {m: {} for m in set(_MEDIA.values())}}},
             response_class=Response)
    def trial_file(run_id: RunId, name: TrialFile) -> Response:
        rec = store.get(run_id)
        if rec is None or rec.kind != "trial":
            return _error(404, f"no trial run {run_id}")
        if rec.status != "done":
            return _error(409, f"trial {run_id} is {rec.status}")
        path = store.run_dir(run_id) / "trial" / name.value
        if not path.exists():
            return _error(404, f"trial {run_id} has no {name.value}")
        inline = name.value in ("report.html", "spec.toml", "summary.json")
        return FileResponse(path, media_type=_MEDIA[name.value], filename=f"{run_id}-{name.value}",
                            content_disposition_type="inline" if inline else "attachment")

    @app.get("/api/runs", response_model=list[RunInfo], tags=["runs"], summary="The run catalogue, newest first")
    def list_runs(kind: Literal["patient", "trial"] | None = None,
                  limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[dict[str, Any]]:
        return [_info(r) for r in store.list(kind, limit)]

    @app.get("/api/runs/{run_id}", response_model=RunInfo, responses=_NOT_FOUND, tags=["runs"],
             summary="One catalogue entry: kind, status, the request and its spec")
    def get_run(run_id: RunId) -> Any:
        rec = store.get(run_id)
        return _info(rec) if rec is not None else _error(404, f"no run {run_id}")

    return app
