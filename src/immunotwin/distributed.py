"""Scale-out: run a trial's chunks as tasks on a Dask distributed cluster.

``run_trial_dask(spec, out, scheduler="tcp://host:8786")`` uses an existing cluster;
``workers=N`` starts a :class:`distributed.LocalCluster` of N single-threaded worker
processes for the run and closes it after. The run directory is the serial path's
(:mod:`immunotwin.trial`): same chunk names, same ``manifest.json``, same assembly, so a run
started one way can be resumed the other, and ``patients.parquet`` is bit-identical to a
single-process run (patients are keyed by seed, arm and index, never by chunk or worker).

Each task simulates one chunk and writes its Parquet files itself through fsspec, so patient
data never travels through the scheduler; ``out`` may be a local path or an fsspec URL the
workers can reach (``file://``, ``s3://``...). Only the client writes ``manifest.json``, as
results come back, and a chunk counts only once its manifest entry is written: a chunk file
without an entry (a task killed half-way, or a store without atomic rename) is recomputed
and overwritten on resume. Tasks are idempotent: rewriting a chunk gives the same bytes.
A worker that dies mid-task has its tasks rescheduled by Dask (``allowed-failures``).

The ``distributed`` package is imported only when a run starts (importing this module is cheap).
"""

from __future__ import annotations

import io
import json
import logging
import os
import uuid
from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from . import __version__
from .spec import TrialSpec, parse_spec, with_overrides
from .trial import RunDirError, _covers, assemble, check_modelled, chunks, engine_name, simulate_chunk

MAX_WORKERS = 1024


class SchedulerUnreachable(Exception):
    """No Dask scheduler answered at the given address (exit code 2)."""


def _to_url(out: str | Path) -> str:
    """A plain path becomes absolute (workers may run elsewhere); a URL is kept as is."""
    text = str(out)
    return text if "://" in text else os.path.abspath(text)


def _fs(url: str, storage_options: Mapping[str, Any] | None = None):  # type: ignore[no-untyped-def]
    import fsspec

    return fsspec.core.url_to_fs(url, **dict(storage_options or {}))


def _is_local(fs) -> bool:  # type: ignore[no-untyped-def]
    from fsspec.implementations.local import LocalFileSystem

    return isinstance(fs, LocalFileSystem)


def _put_bytes(fs, path: str, data: bytes) -> None:  # type: ignore[no-untyped-def]
    """Write ``data`` to ``path``: atomically (unique temporary name, then rename) on a local
    file system; a plain write elsewhere, where the manifest entry is what commits a chunk."""
    if _is_local(fs):
        tmp = f"{path}.tmp-{uuid.uuid4().hex}"
        with fs.open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    else:
        with fs.open(path, "wb") as f:
            f.write(data)


def _parquet_bytes(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)  # same call as the serial path: same bytes
    return buf.getvalue()


def _spec_key(spec: TrialSpec) -> tuple[str, str]:
    """What a task needs to rebuild the spec (TrialSpec itself does not pickle)."""
    return spec.text, spec.sha256


@lru_cache(maxsize=8)
def _rebuild_spec(text: str, sha256: str) -> TrialSpec:
    """Parse ``text`` and re-apply the command-line overrides recorded in ``sha256``."""
    spec = parse_spec(text)
    _, *parts = sha256.split("+")
    over = dict(part.split("=", 1) for part in parts if "=" in part)
    spec = with_overrides(spec, size_per_arm=int(over["size_per_arm"]) if "size_per_arm" in over else None,
                          seed=int(over["seed"]) if "seed" in over else None)
    if spec.sha256 != sha256:
        raise ValueError(f"spec does not round-trip: {spec.sha256} != {sha256}")
    return spec


def simulate_and_write(url: str, storage_options: Mapping[str, Any] | None, spec_text: str, spec_sha256: str,
                       chunk: Any, visits: bool, integrator: str = "jax") -> tuple[str, int]:
    """The task: simulate one chunk and write its files under ``url``/chunks; return (name, n).

    ``chunk`` is a :class:`immunotwin.trial.ChunkId`. Importing the engine in the worker
    configures JAX's persistent compilation cache (``IMMUNOTWIN_JAX_CACHE``), so each worker
    process traces the engine once and takes the XLA executable from the cache when it holds it."""
    import os

    from . import engine  # noqa: F401  (configures float64 and the compilation cache)

    os.environ["IMMUNOTWIN_ENGINE"] = integrator  # the client's integrator, whatever the worker's environment
    spec = _rebuild_spec(spec_text, spec_sha256)
    rows, vis = simulate_chunk(spec, chunk, visits)
    fs, root = _fs(url, storage_options)
    _put_bytes(fs, f"{root}/chunks/{chunk.name}.patients.parquet", _parquet_bytes(rows))
    if vis is not None:
        _put_bytes(fs, f"{root}/chunks/{chunk.name}.visits.parquet", _parquet_bytes(vis))
    return chunk.name, len(rows)


def _read_manifest(fs, root: str) -> dict | None:  # type: ignore[no-untyped-def]
    path = f"{root}/manifest.json"
    if not fs.exists(path):
        return None
    with fs.open(path, "rb") as f:
        return json.loads(f.read())


def _write_manifest(fs, root: str, man: dict) -> None:  # type: ignore[no-untyped-def]
    _put_bytes(fs, f"{root}/manifest.json", json.dumps(man, indent=1).encode())


def _check_dir(fs, root: str, spec: TrialSpec, visits: bool) -> dict | None:  # type: ignore[no-untyped-def]
    """The run already in ``root`` (None if empty or absent); refuse another run. Writes nothing."""
    man = _read_manifest(fs, root)
    if man is not None:
        if man.get("spec_sha256") != spec.sha256 or man.get("visits") != visits:
            raise RunDirError(f"{root} holds a run of another spec (or visits setting); choose another --out")
        if man.get("engine", "jax") != engine_name():
            raise RunDirError(f"{root} holds a run integrated by the {man.get('engine', 'jax')} engine, not "
                              f"{engine_name()}; choose another --out")
        return man
    try:
        entries = fs.ls(root, detail=False) if fs.exists(root) else []
    except FileNotFoundError:
        entries = []
    if entries:
        raise RunDirError(f"{root} exists and is not an immunotwin run directory; choose another --out")
    return None


def _create_dir(fs, root: str, spec: TrialSpec, visits: bool) -> dict:  # type: ignore[no-untyped-def]
    fs.makedirs(f"{root}/chunks", exist_ok=True)
    _put_bytes(fs, f"{root}/spec.toml", spec.text.encode("utf-8"))
    man = {"spec_sha256": spec.sha256, "version": __version__, "visits": visits, "engine": engine_name(), "done": {}}
    _write_manifest(fs, root, man)
    return man


def _assemble(fs, root: str, spec: TrialSpec, visits: bool) -> dict:  # type: ignore[no-untyped-def]
    """Assemble on the client: in place on a local file system, else in a local staging folder
    (chunks listed in the manifest downloaded, results uploaded)."""
    if _is_local(fs):
        return assemble(spec, Path(root), visits)
    import tempfile

    with tempfile.TemporaryDirectory(prefix="immunotwin-assemble-") as tmp:
        stage = Path(tmp)
        (stage / "chunks").mkdir()
        man = _read_manifest(fs, root) or {"done": {}}
        (stage / "manifest.json").write_text(json.dumps(man))
        kinds = ("patients", "visits") if visits else ("patients",)
        for key in man["done"]:
            for kind in kinds:
                fs.get(f"{root}/chunks/{key}.{kind}.parquet", str(stage / "chunks" / f"{key}.{kind}.parquet"))
        summary = assemble(spec, stage, visits)
        for name in ("patients.parquet", "visits.parquet", "summary.json", "report.html"):
            if (stage / name).exists():
                _put_bytes(fs, f"{root}/{name}", (stage / name).read_bytes())
    return summary


def local_cluster(workers: int):  # type: ignore[no-untyped-def]
    """A LocalCluster of ``workers`` single-threaded processes; they inherit this process's
    JAX compilation cache setting."""
    from distributed import LocalCluster

    cache = os.environ.get("IMMUNOTWIN_JAX_CACHE", os.path.expanduser("~/.cache/immunotwin/jax"))
    return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                        silence_logs=logging.ERROR, env={"IMMUNOTWIN_JAX_CACHE": cache})


def run_trial_dask(spec: TrialSpec, out: str | Path, *, scheduler: str | None = None, workers: int | None = None,
                   chunk_size: int = 512, visits: bool = True, progress: Callable[[int, int], None] | None = None,
                   storage_options: Mapping[str, Any] | None = None, connect_timeout: float = 30.0) -> dict:
    """Run ``spec`` into ``out`` with its chunks as Dask tasks (resuming finished chunks).

    Exactly one of ``scheduler`` (address of a running cluster) and ``workers`` (start a
    LocalCluster of that many processes) is given. Returns the summary, as
    :func:`immunotwin.trial.run_trial` does, and writes the same files. ``storage_options``
    go to fsspec (driver and tasks); a scheduler that does not answer within
    ``connect_timeout`` seconds raises :class:`SchedulerUnreachable` before anything is written.
    With ``workers``, call this under ``if __name__ == "__main__":`` in a script (worker
    processes are spawned)."""
    if (scheduler is None) == (workers is None):
        raise ValueError("give exactly one of scheduler and workers")
    if workers is not None and not 1 <= workers <= MAX_WORKERS:
        raise ValueError(f"workers must be between 1 and {MAX_WORKERS}, got {workers}")
    check_modelled(spec)
    _rebuild_spec(*_spec_key(spec))  # fail here, not on every worker, if the spec does not round-trip
    url = _to_url(out)
    fs, root = _fs(url, storage_options)
    man = _check_dir(fs, root, spec, visits)  # refuse before starting anything

    from distributed import Client
    from distributed.utils import TimeoutError as DaskTimeout

    cluster = local_cluster(workers) if workers is not None else None
    try:
        try:
            client = Client(cluster if cluster is not None else scheduler, timeout=connect_timeout,
                            set_as_default=False)
        except (OSError, DaskTimeout) as e:
            raise SchedulerUnreachable(f"cannot connect to the Dask scheduler at {scheduler}: {e}") from e
        try:
            if man is None:
                man = _create_dir(fs, root, spec, visits)
            return _run(client, fs, root, url, spec, man, chunk_size, visits, progress, storage_options)
        finally:
            client.close()
    finally:
        if cluster is not None:
            cluster.close()


def _run(client, fs, root: str, url: str, spec: TrialSpec, man: dict, chunk_size: int,  # type: ignore[no-untyped-def]
         visits: bool, progress: Callable[[int, int], None] | None,
         storage_options: Mapping[str, Any] | None) -> dict:
    from dask.base import tokenize
    from distributed import as_completed

    total = len(spec.arms) * spec.population.size_per_arm
    done_patients = sum(man["done"].values())
    if progress:
        progress(done_patients, total)
    todo = [c for c in chunks(spec, chunk_size) if not any(_covers(key, c) for key in man["done"])]
    text, sha = _spec_key(spec)
    token = tokenize(url, sha, visits)
    futures = {client.submit(simulate_and_write, url, storage_options, text, sha, c, visits, engine_name(),
                             key=f"immunotwin-chunk-{token}-{c.name}"): c for c in todo}
    try:
        for fut in as_completed(list(futures), loop=client.loop):
            c = futures[fut]
            name, n = fut.result()
            if name != c.name or n != c.stop - c.start:
                raise RuntimeError(f"chunk {c.name}: task returned {name} with {n} patients")
            man["done"][c.name] = n
            _write_manifest(fs, root, man)
            done_patients += n
            if progress:
                progress(done_patients, total)
    finally:
        for fut in futures:
            fut.cancel()
    if _is_local(fs):  # temporary files of tasks killed half-way (none of this run's is still writing)
        for stale in fs.glob(f"{root}/chunks/*.tmp-*"):
            fs.rm(stale)
    return _assemble(fs, root, spec, visits)
