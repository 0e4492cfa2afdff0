"""Trial jobs: each in its own worker process, watched by a thread of the server.

The watcher records progress in the run catalogue, stops the worker at the configured
time limit and records why a job failed (the worker's own error message, the time limit,
or its exit status), so a failing job never takes the server down with it. At most
``max_concurrent_jobs`` jobs are queued or running at once; another request is refused
(HTTP 429) until one finishes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

from .store import RunStore

__all__ = ["JobLimitError", "JobManager"]

#: Patients per chunk for jobs (results do not depend on it; smaller chunks report progress more often).
JOB_CHUNK_SIZE = 64


class JobLimitError(RuntimeError):
    """Too many jobs queued or running."""


class JobManager:
    def __init__(self, store: RunStore, *, max_jobs: int, time_limit_s: float) -> None:
        self.store = store
        self.max_jobs = max_jobs
        self.time_limit_s = time_limit_s
        self._lock = threading.Lock()
        self._procs: dict[str, subprocess.Popen[str] | None] = {}
        self._closed = False

    def active(self) -> int:
        with self._lock:
            return len(self._procs)

    def reserve(self) -> None:
        """Check there is room for one more job (raises :class:`JobLimitError`)."""
        with self._lock:
            if self._closed or len(self._procs) >= self.max_jobs:
                raise JobLimitError(f"{len(self._procs)} job(s) running; this server runs at most {self.max_jobs} "
                                    "at once: try again when one has finished")

    def start(self, run_id: str, job: dict[str, object]) -> None:
        """Start the worker for run ``run_id`` (its folder exists) with ``job`` (written to job.json)."""
        with self._lock:
            if self._closed or len(self._procs) >= self.max_jobs:
                raise JobLimitError(f"this server runs at most {self.max_jobs} job(s) at once")
            self._procs[run_id] = None
        run_dir = self.store.run_dir(run_id)
        (run_dir / "job.json").write_text(json.dumps({**job, "chunk_size": JOB_CHUNK_SIZE}))
        threading.Thread(target=self._watch, args=(run_id, run_dir), name=f"job-{run_id}", daemon=True).start()

    def _watch(self, run_id: str, run_dir: Path) -> None:
        error = ""
        timed_out = threading.Event()
        try:
            with open(run_dir / "worker.log", "w") as log:
                proc = subprocess.Popen([sys.executable, "-m", "immunotwin.web.worker", str(run_dir)],
                                        stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, text=True)
                with self._lock:
                    self._procs[run_id] = proc
                    closed = self._closed
                if closed:
                    proc.kill()
                self.store.update(run_id, status="running")

                def stop() -> None:
                    timed_out.set()
                    proc.kill()

                timer = threading.Timer(self.time_limit_s, stop)
                timer.daemon = True
                timer.start()
                last = 0.0
                assert proc.stdout is not None
                for line in proc.stdout:
                    try:
                        msg = json.loads(line)
                    except ValueError:
                        continue
                    if not isinstance(msg, dict):
                        continue
                    if "error" in msg:
                        error = str(msg["error"])
                    elif "done" in msg and (time.monotonic() - last > 0.2 or msg["done"] == msg.get("total")):
                        last = time.monotonic()
                        self.store.update(run_id, done=int(msg["done"]), total=int(msg.get("total", 0)))
                rc = proc.wait()
                timer.cancel()
            if self._closed and rc != 0:
                error = "the server stopped before the job finished"
            elif timed_out.is_set():
                error = f"stopped at this server's time limit of {self.time_limit_s:g} s per job"
            elif rc != 0 and not error:
                error = f"the job's process ended with exit status {rc}" + _log_tail(run_dir / "worker.log")
            elif rc == 0 and not (run_dir / "trial" / "summary.json").exists():
                error = "the job ended without writing its results"
        except Exception as exc:  # the watcher must always record an outcome
            error = f"could not run the job: {type(exc).__name__}: {exc}"
        finally:
            with self._lock:
                self._procs.pop(run_id, None)
        if error:
            self.store.update(run_id, status="failed", error=error)
        else:
            self.store.update(run_id, status="done", headline=_headline(run_dir / "trial" / "summary.json"))

    def shutdown(self) -> None:
        """Stop every running worker (the server is stopping)."""
        with self._lock:
            self._closed = True
            procs = [p for p in self._procs.values() if p is not None]
        for p in procs:
            p.kill()


def _log_tail(path: Path, n: int = 300) -> str:
    try:
        text = path.read_text(errors="replace").strip()
    except OSError:
        return ""
    return f": {text[-n:]}" if text else ""


def _headline(summary_path: Path) -> str:
    try:
        s = json.loads(summary_path.read_text())
    except (OSError, ValueError):
        return ""
    parts = []
    for arm, a in s.get("arms", {}).items():
        orr = a.get("orr")
        mp = a.get("median_pfs_months")
        parts.append(f"{arm}: n={a.get('n')}, ORR {'NA' if orr is None else f'{orr:.0%}'}, "
                     f"mPFS {'NR' if mp is None else f'{mp:.1f} mo'}")
    return "; ".join(parts)
