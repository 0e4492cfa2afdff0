"""Virtual trials: ``run_trial(spec, out)`` -> chunked Parquet results, summary and report.

Patients are simulated arm by arm in chunks. Each finished chunk is written to
``out/chunks/`` under a temporary name and renamed, then recorded in ``manifest.json``
(which holds the spec's hash); a run killed half-way resumes from the finished chunks,
and a different spec on the same directory is refused. The final ``patients.parquet``,
``visits.parquet``, ``summary.json`` and ``report.html`` are assembled at the end, chunk by
chunk, so memory stays bounded by the chunk size (plus the per-patient table).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from . import __version__
from .clinic.outcomes import patient_rows
from .clinic.run import run_clinic
from .drugs.catalogue import CATALOGUE
from .population import sample_cohort
from .spec import Arm, PostProgression, SpecError, TrialSpec

DEFAULT_CHUNK = 512


class RunDirError(Exception):
    """The output directory holds another run (exit code 2)."""


@dataclass(frozen=True)
class ChunkId:
    arm: int
    start: int
    stop: int

    @property
    def name(self) -> str:
        return f"arm{self.arm:02d}_{self.start:09d}_{self.stop:09d}"


def arm_post_progression(spec: TrialSpec, arm: Arm) -> PostProgression | None:
    """An arm's next-line therapy: its own ``[arm.post_progression]`` if given, else the trial's."""
    return arm.post_progression if arm.post_progression is not None else spec.post_progression


def check_modelled(spec: TrialSpec) -> None:
    """Every drug of the spec must have a model; raise SpecError naming each field."""
    errors = []
    for a, arm in enumerate(spec.arms):
        for d, drug in enumerate(arm.drugs):
            if drug.name not in CATALOGUE:
                errors.append(f"arm[{a}].drug[{d}].name: {drug.name!r} is catalogued but not yet modelled; "
                              f"modelled drugs: {', '.join(sorted(CATALOGUE))}")
    posts = [("post_progression", spec.post_progression)] + [
        (f"arm[{a}].post_progression", arm.post_progression) for a, arm in enumerate(spec.arms)]
    for path, post in posts:
        for d, drug in enumerate(post.drugs if post else ()):
            if drug.name not in CATALOGUE:
                errors.append(f"{path}.drug[{d}].name: {drug.name!r} is not yet modelled")
    for a, arm in enumerate(spec.arms):
        slots: dict[str, str] = {}
        post = arm_post_progression(spec, arm)
        for drug in (*arm.drugs, *(post.drugs if post else ())):
            if drug.name in CATALOGUE:
                slot = CATALOGUE[drug.name].slot
                if slots.setdefault(slot, drug.name) != drug.name:
                    errors.append(f"arm[{a}]: {drug.name} and {slots[slot]} block the same target; use one")
    if errors:
        raise SpecError(errors)


def chunks(spec: TrialSpec, chunk_size: int) -> list[ChunkId]:
    n = spec.population.size_per_arm
    return [ChunkId(a, s, min(s + chunk_size, n)) for a in range(len(spec.arms)) for s in range(0, n, chunk_size)]


def n_steps(spec: TrialSpec) -> int:
    return int(np.ceil((spec.follow_up_days + spec.assessment.pre_treatment_scan_days) / 7.0)) + 2


def simulate_chunk(spec: TrialSpec, c: ChunkId, visits: bool = True,
                   iiv_scale: dict[str, float] | None = None,
                   mean_shift: dict[str, float] | None = None) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Simulate one chunk; patients keyed by (seed, arm key, index) so chunking never matters.

    ``iiv_scale`` widens named parameters' variability (calibration's plausible population);
    their log-scale random effects are then returned as ``re_<name>`` columns. ``mean_shift``
    moves named parameters' population means (log scale)."""
    arm = spec.arms[c.arm]
    arm_key = 0 if spec.design == "twin" else c.arm + 1
    cohort = sample_cohort(spec.population.cancer, spec.population.overrides, spec.seed, arm_key,
                           range(c.start, c.stop), n_steps(spec), iiv_scale=iiv_scale, mean_shift=mean_shift)
    res = run_clinic(cohort, arm.drugs, assessment=spec.assessment, guideline=spec.management.guideline,
                     treat_beyond_progression=spec.management.treat_beyond_progression,
                     post=arm_post_progression(spec, arm), follow_up_days=spec.follow_up_days, record_visits=visits,
                     steroid_scale=spec.management.steroid_dose_scale,
                     cytokine_protocol=spec.management.cytokine_protocol)
    rows = patient_rows(res, cohort.covariates, criteria=spec.assessment.criteria,
                        confirm=spec.assessment.confirm_response, hpd_definition=spec.assessment.hpd_definition)
    rows.insert(0, "patient", cohort.index)
    rows.insert(0, "arm_index", c.arm)
    rows.insert(0, "arm", arm.name)
    for name in iiv_scale or {}:
        eff = cohort.effects[name]
        if eff.ndim == 1:
            rows[f"re_{name}"] = eff
    vis = None
    if visits:
        vis = pd.DataFrame(res.visits)
        vis.insert(0, "arm", arm.name)
    return rows, vis


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _write_parquet(df: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    df.to_parquet(tmp, index=False)
    os.replace(tmp, path)


def engine_name() -> str:
    """The integrator this process runs (``immunotwin.engine.current``); recorded in the manifest."""
    from .engine import current

    return current()


def _manifest(out: Path) -> dict | None:
    f = out / "manifest.json"
    return json.loads(f.read_text()) if f.exists() else None


def prepare_dir(spec: TrialSpec, out: Path, chunk_size: int, visits: bool) -> dict:
    """Create or reopen ``out``; refuse a directory that holds a different run."""
    man = _manifest(out)
    if man is not None:
        if man.get("spec_sha256") != spec.sha256 or man.get("visits") != visits:
            raise RunDirError(f"{out} holds a run of another spec (or visits setting); choose another --out")
        if man.get("engine", "jax") != engine_name():
            raise RunDirError(f"{out} holds a run integrated by the {man.get('engine', 'jax')} engine, not "
                              f"{engine_name()}; choose another --out")
        return man
    if out.exists() and any(out.iterdir()):
        raise RunDirError(f"{out} exists and is not an immunotwin run directory; choose another --out")
    (out / "chunks").mkdir(parents=True, exist_ok=True)
    (out / "spec.toml").write_text(spec.text)
    man = {"spec_sha256": spec.sha256, "version": __version__, "visits": visits, "engine": engine_name(), "done": {}}
    _atomic_write_bytes(out / "manifest.json", json.dumps(man, indent=1).encode())
    return man


def run_trial(spec: TrialSpec, out: Path, *, chunk_size: int = DEFAULT_CHUNK, visits: bool = True,
              progress: Callable[[int, int], None] | None = None) -> dict:
    """Run ``spec`` into ``out`` (resuming finished chunks) and return the summary."""
    check_modelled(spec)
    man = prepare_dir(spec, out, chunk_size, visits)
    todo = chunks(spec, chunk_size)
    total = len(spec.arms) * spec.population.size_per_arm
    done_patients = sum(v for v in man["done"].values())
    done_keys = set(man["done"])
    if progress:
        progress(done_patients, total)
    for c in todo:
        if any(_covers(key, c) for key in done_keys):
            continue
        rows, vis = simulate_chunk(spec, c, visits)
        _write_parquet(rows, out / "chunks" / f"{c.name}.patients.parquet")
        if vis is not None:
            _write_parquet(vis, out / "chunks" / f"{c.name}.visits.parquet")
        man["done"][c.name] = c.stop - c.start
        _atomic_write_bytes(out / "manifest.json", json.dumps(man, indent=1).encode())
        done_patients += c.stop - c.start
        if progress:
            progress(done_patients, total)
    return assemble(spec, out, visits)


def _covers(key: str, c: ChunkId) -> bool:
    """Whether finished chunk ``key`` (any chunk size) covers chunk ``c`` entirely."""
    arm, start, stop = key.split("_")
    return int(arm[3:]) == c.arm and int(start) <= c.start and int(stop) >= c.stop


def assemble(spec: TrialSpec, out: Path, visits: bool) -> dict:
    from .readouts import summarize
    from .reference import calibration_status, reference_for
    from .report.trial_report import write_trial_report

    man = _manifest(out) or {"done": {}}
    keys = sorted(man["done"])
    frames = [pd.read_parquet(out / "chunks" / f"{k}.patients.parquet") for k in keys]
    patients = pd.concat(frames, ignore_index=True).sort_values(["arm_index", "patient"], kind="stable")
    patients = patients.drop_duplicates(["arm_index", "patient"]).reset_index(drop=True)
    _write_parquet(patients, out / "patients.parquet")
    vis_df = None
    if visits:
        tmp = out / "visits.parquet.tmp"
        writer: pq.ParquetWriter | None = None
        for k in keys:
            table = pa.Table.from_pandas(pd.read_parquet(out / "chunks" / f"{k}.visits.parquet"), preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema)
            writer.write_table(table.cast(writer.schema))
        if writer is not None:
            writer.close()
            os.replace(tmp, out / "visits.parquet")
        vis_df = _visit_sample(out / "visits.parquet", patients)
    summary = summarize(patients, name=spec.name, seed=spec.seed, version=__version__, spec_sha256=spec.sha256,
                        arm_order=list(spec.arm_names), control=spec.control)
    ref = reference_for(spec)
    status = calibration_status(ref)
    if status is not None:
        summary["calibrated"] = status
    _atomic_write_bytes(out / "summary.json", json.dumps(summary, indent=1).encode())
    tmp_html = out / "report.html.tmp"
    write_trial_report(tmp_html, spec_text=spec.text, summary=summary, patients=patients, visits=vis_df,
                       reference=ref, design=spec.design)
    os.replace(tmp_html, out / "report.html")
    return summary


def _visit_sample(path: Path, patients: pd.DataFrame, per_arm: int = 50) -> pd.DataFrame:
    """Scan rows of the first ``per_arm`` patients of each arm (for the spider plot)."""
    import duckdb

    con = duckdb.connect()
    df = con.execute(f"SELECT * FROM read_parquet('{path.as_posix()}') WHERE scan AND patient < {int(per_arm)}").df()
    con.close()
    return df
