"""Dask scale-out of `immunotwin trial`: results identical to the serial path, a worker killed
mid-task, resume past a stray chunk file, a store without atomic rename, and the CLI's flags."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
from pathlib import Path

import pandas as pd
import pytest

from immunotwin.cli import main
from immunotwin.distributed import SchedulerUnreachable, run_trial_dask, simulate_and_write
from immunotwin.spec import load_spec
from immunotwin.trial import ChunkId, run_trial
from test_trial import write_spec

ARM1_MID = "arm01_000000008_000000016"  # one chunk at --chunk-size 8


def _same_results(ref: Path, got: Path, same_spec_file: bool = True) -> None:
    pd.testing.assert_frame_equal(pd.read_parquet(ref / "patients.parquet"), pd.read_parquet(got / "patients.parquet"),
                                  check_exact=True)
    if same_spec_file:
        assert (ref / "summary.json").read_bytes() == (got / "summary.json").read_bytes()
    else:  # the spec hash differs (another file, or an override); every figure is the same
        a, b = (json.loads((d / "summary.json").read_text()) for d in (ref, got))
        assert a.pop("spec_sha256") != b.pop("spec_sha256") and a == b


@pytest.fixture(scope="module")
def serial_ref(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The single-process run (2 arms x 24 patients, one chunk an arm); also warms JAX here."""
    tmp = tmp_path_factory.mktemp("serial")
    run_trial(load_spec(write_spec(tmp)), tmp / "ref", chunk_size=24)
    return tmp / "ref"


def test_cli_workers_identical_to_serial(serial_ref: Path, tmp_path: Path) -> None:
    """--workers 2: a LocalCluster of 2 processes, a file:// URL, 6 chunks, and --patients-per-arm
    (an override the workers must re-apply); patients, visits and summary equal the serial run's."""
    spec = write_spec(tmp_path, n=30)
    out = tmp_path / "dask"
    assert main(["trial", str(spec), "--out", f"file://{out}", "--workers", "2", "--chunk-size", "8",
                 "--patients-per-arm", "24", "--quiet"]) == 0
    _same_results(serial_ref, out, same_spec_file=False)
    # visits.parquet is written chunk by chunk (row order follows the chunks): compare sorted
    a, b = (pd.read_parquet(d / "visits.parquet").sort_values(["arm", "patient", "day"], kind="stable")
            .reset_index(drop=True) for d in (serial_ref, out))
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    man = json.loads((out / "manifest.json").read_text())
    assert man["done"] == {f"arm{a:02d}_{s:09d}_{s + 8:09d}": 8 for a in (0, 1) for s in (0, 8, 16)}
    assert man["spec_sha256"].endswith("+size_per_arm=24")
    assert sorted(p.name for p in (out / "chunks").iterdir()) == sorted(
        f"{k}.{kind}.parquet" for k in man["done"] for kind in ("patients", "visits"))  # no temporary files left


def test_task_rewrites_identical_bytes(serial_ref: Path, tmp_path: Path) -> None:
    """A task is idempotent, and writes the very bytes the serial path writes for the same chunk."""
    spec = load_spec(serial_ref / "spec.toml")
    (tmp_path / "chunks").mkdir()
    c = ChunkId(1, 0, 24)
    f = tmp_path / "chunks" / f"{c.name}.patients.parquet"
    assert simulate_and_write(str(tmp_path), None, spec.text, spec.sha256, c, True) == (c.name, 24)
    first = f.read_bytes()
    assert simulate_and_write(f"file://{tmp_path}", None, spec.text, spec.sha256, c, True) == (c.name, 24)
    assert f.read_bytes() == first == (serial_ref / "chunks" / f.name).read_bytes()
    assert (tmp_path / "chunks" / f"{c.name}.visits.parquet").read_bytes() == \
        (serial_ref / "chunks" / f"{c.name}.visits.parquet").read_bytes()


def test_store_without_rename_in_process_cluster(serial_ref: Path) -> None:
    """memory:// (no atomic rename, not a local path): plain chunk writes, manifest as the commit
    point, assembly staged locally and uploaded. An in-process worker thread shares the store."""
    import fsspec
    from distributed import LocalCluster

    spec = load_spec(serial_ref / "spec.toml")
    fs = fsspec.filesystem("memory")
    try:
        with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cl:
            run_trial_dask(spec, "memory://itw-test/run", scheduler=cl.scheduler_address, chunk_size=12)
        with fs.open("/itw-test/run/patients.parquet", "rb") as f:
            got = pd.read_parquet(f)
        pd.testing.assert_frame_equal(pd.read_parquet(serial_ref / "patients.parquet"), got, check_exact=True)
        assert fs.cat("/itw-test/run/summary.json") == (serial_ref / "summary.json").read_bytes()
        assert len(json.loads(fs.cat("/itw-test/run/manifest.json"))["done"]) == 4
        assert fs.exists("/itw-test/run/report.html") and fs.exists("/itw-test/run/visits.parquet")
    finally:
        if fs.exists("/itw-test"):
            fs.rm("/itw-test", recursive=True)


def test_scheduler_and_workers_together_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write_spec(tmp_path)
    out = tmp_path / "out"
    assert main(["trial", str(spec), "--out", str(out), "--scheduler", "tcp://127.0.0.1:8786", "--workers", "2",
                 "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "--scheduler and --workers: give one" in err
    assert not out.exists()


@pytest.mark.parametrize("n", [0, -3, 5000])
def test_workers_out_of_range_exit_2(n: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write_spec(tmp_path)
    out = tmp_path / "out"
    assert main(["trial", str(spec), "--out", str(out), "--workers", str(n), "--quiet"]) == 2
    assert f"--workers: must be between 1 and 1024, got {n}" in capsys.readouterr().err
    assert not out.exists()


def test_bad_scheduler_address_and_url_without_dask_exit_2(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    spec = write_spec(tmp_path)
    assert main(["trial", str(spec), "--out", str(tmp_path / "a"), "--scheduler", "localhost", "--quiet"]) == 2
    assert "--scheduler: expected a Dask scheduler address" in capsys.readouterr().err
    assert main(["trial", str(spec), "--out", "memory://x/run", "--quiet"]) == 2
    assert "--out: 'memory://x/run' is a URL" in capsys.readouterr().err
    assert not (tmp_path / "a").exists()


def test_unreachable_scheduler_writes_nothing(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path))
    out = tmp_path / "out"
    with pytest.raises(SchedulerUnreachable, match="cannot connect to the Dask scheduler at tcp://127.0.0.1:9"):
        run_trial_dask(spec, out, scheduler="tcp://127.0.0.1:9", connect_timeout=2.0)
    assert not out.exists()


def test_other_run_in_dir_refused_before_cluster_starts(serial_ref: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """The run directory is checked before any cluster starts (an unreachable scheduler would hang)."""
    other = write_spec(tmp_path, n=10)
    assert main(["trial", str(other), "--out", str(serial_ref), "--scheduler", "tcp://127.0.0.1:9", "--quiet"]) == 2
    assert "another spec" in capsys.readouterr().err


# --- slow: a shared LocalCluster of 2 worker processes --------------------------------------


@pytest.fixture(scope="module")
def cluster():  # type: ignore[no-untyped-def]
    from distributed import Client

    from immunotwin.distributed import local_cluster

    cl = local_cluster(2)
    client = Client(cl, set_as_default=False)
    client.wait_for_workers(2)
    yield cl, client
    client.close()
    cl.close()


def _kill_once(marker: str) -> None:
    """Installed in each worker: the first chunk simulated anywhere SIGKILLs its own worker process
    (mid-task, before writing anything), once; a restarted worker has no hook."""
    import immunotwin.distributed as d

    orig = d.simulate_chunk

    def hooked(*args, **kwargs):  # type: ignore[no-untyped-def]
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return orig(*args, **kwargs)
        os.write(fd, f"{os.getpid()} {args[1].name}".encode())
        os.close(fd)
        os.kill(os.getpid(), signal.SIGKILL)

    d.simulate_chunk = hooked


@pytest.mark.slow
def test_worker_killed_mid_task(cluster, serial_ref: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A worker process dies while simulating a chunk; Dask reschedules it and the run completes
    with identical results."""
    import cloudpickle

    cl, client = cluster
    marker = tmp_path / "killed"
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        client.run(_kill_once, str(marker))
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    out = tmp_path / "run"
    ticks: list[int] = []
    run_trial_dask(load_spec(serial_ref / "spec.toml"), out, scheduler=cl.scheduler_address, chunk_size=8,
                   progress=lambda done, total: ticks.append(done))
    pid, chunk = marker.read_text().split()
    client.wait_for_workers(2)
    assert int(pid) not in client.run(os.getpid).values(), "the killed worker is still there"
    assert json.loads((out / "manifest.json").read_text())["done"][chunk] == 8
    assert ticks == [0, 8, 16, 24, 32, 40, 48]
    _same_results(serial_ref, out)


@pytest.mark.slow
def test_resume_recomputes_stray_chunk(cluster, serial_ref: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Through the CLI's --scheduler: a run killed with arm 0 recorded and a stray chunk file of
    arm 1 without a manifest entry. The recorded chunk is reused untouched; the stray is
    recomputed and overwritten; workers use the persistent JAX compilation cache."""
    cl, client = cluster
    out = tmp_path / "run"
    (out / "chunks").mkdir(parents=True)
    shutil.copy(serial_ref / "spec.toml", out / "spec.toml")
    man = json.loads((serial_ref / "manifest.json").read_text())
    man["done"] = {"arm00_000000000_000000024": 24}
    (out / "manifest.json").write_text(json.dumps(man))
    for kind in ("patients", "visits"):
        shutil.copy(serial_ref / "chunks" / f"arm00_000000000_000000024.{kind}.parquet", out / "chunks")
        # a stray: valid Parquet, wrong patients (arm 0's), as if a task died before its entry
        shutil.copy(serial_ref / "chunks" / f"arm00_000000000_000000024.{kind}.parquet",
                    out / "chunks" / f"{ARM1_MID}.{kind}.parquet")
    kept = out / "chunks" / "arm00_000000000_000000024.patients.parquet"
    kept_stat = kept.stat().st_mtime_ns
    spec_file = out / "spec.toml"
    assert main(["trial", str(spec_file), "--out", str(out), "--scheduler", cl.scheduler_address,
                 "--chunk-size", "8", "--quiet"]) == 0
    assert kept.stat().st_mtime_ns == kept_stat
    done = json.loads((out / "manifest.json").read_text())["done"]
    assert sorted(done) == ["arm00_000000000_000000024", "arm01_000000000_000000008", ARM1_MID,
                            "arm01_000000016_000000024"]
    stray = pd.read_parquet(out / "chunks" / f"{ARM1_MID}.patients.parquet")
    assert stray["arm_index"].tolist() == [1] * 8 and stray["patient"].tolist() == list(range(8, 16))
    _same_results(serial_ref, out)
    expected = os.environ["IMMUNOTWIN_JAX_CACHE"]

    def cache_dir() -> tuple[bool, str]:
        import jax

        return "immunotwin.engine" in sys.modules, jax.config.jax_compilation_cache_dir

    assert set(client.run(cache_dir).values()) == {(True, expected)}


@pytest.mark.slow
def test_driver_killed_then_same_command_resumes(cluster, serial_ref: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """SIGKILL of the client half-way; the same command run again resumes from the manifest."""
    import subprocess
    import time

    cl, _ = cluster
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "immunotwin", "trial", str(serial_ref / "spec.toml"), "--out", str(out),
           "--scheduler", cl.scheduler_address, "--chunk-size", "4", "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline:
        man = out / "manifest.json"
        if man.exists() and len(json.loads(man.read_text())["done"]) >= 2:
            break
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = json.loads((out / "manifest.json").read_text())["done"]
    assert 2 <= len(done) < 12, "kill came after the run finished; the test needs a partial run"
    assert not (out / "patients.parquet").exists()
    assert subprocess.run(cmd, capture_output=True).returncode == 0
    assert len(json.loads((out / "manifest.json").read_text())["done"]) == 12
    _same_results(serial_ref, out)
