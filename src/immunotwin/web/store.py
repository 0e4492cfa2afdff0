"""The run catalogue: every run the server made, in a DuckDB file in the data directory.

One row a run (a single patient or a trial): a server-generated id, kind, label, status,
the request as sent (JSON) and the spec text it became, progress, error and a one-line
headline. A run's files live in ``<data_dir>/runs/<id>/``; the id is 16 hex digits made by
the server, so nothing a client sends ever becomes part of a file path.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["RUN_ID_PATTERN", "CatalogueError", "RunRecord", "RunStore", "new_run_id"]

RUN_ID_PATTERN = r"^[0-9a-f]{16}$"
_RUN_ID_RE = re.compile(RUN_ID_PATTERN)

KINDS = ("patient", "trial")
STATUSES = ("queued", "running", "done", "failed")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id VARCHAR PRIMARY KEY,
    kind VARCHAR NOT NULL,
    label VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    created TIMESTAMP NOT NULL,
    finished TIMESTAMP,
    request VARCHAR NOT NULL,
    spec_text VARCHAR NOT NULL,
    done BIGINT NOT NULL DEFAULT 0,
    total BIGINT NOT NULL DEFAULT 0,
    error VARCHAR NOT NULL DEFAULT '',
    headline VARCHAR NOT NULL DEFAULT ''
)
"""

_COLUMNS = ("id", "kind", "label", "status", "created", "finished", "request", "spec_text", "done", "total",
            "error", "headline")


class CatalogueError(RuntimeError):
    """The run catalogue cannot be opened (for example, another server holds it)."""


def new_run_id() -> str:
    """A fresh run id: 16 random hex digits."""
    return secrets.token_hex(8)


def valid_run_id(run_id: str) -> bool:
    return bool(_RUN_ID_RE.match(run_id))


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class RunRecord:
    """One catalogue row."""

    id: str
    kind: str
    label: str
    status: str
    created: datetime
    finished: datetime | None
    request: dict[str, Any]
    spec_text: str
    done: int
    total: int
    error: str
    headline: str


class RunStore:
    """The DuckDB catalogue of runs plus each run's folder under ``data_dir/runs``.

    One connection, used under a lock: the server's threads (requests, job monitors)
    share it. DuckDB locks the file, so one server owns a data directory at a time.
    """

    def __init__(self, data_dir: Path) -> None:
        import duckdb

        self.data_dir = data_dir
        self.runs_dir = data_dir / "runs"
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        path = data_dir / "catalogue.duckdb"
        try:
            self._con = duckdb.connect(str(path))
        except duckdb.Error as exc:
            raise CatalogueError(f"cannot open the run catalogue {path}: {exc} (is another server using this "
                                 "data directory?)") from None
        self._con.execute(_SCHEMA)
        # Jobs that were queued or running when the last server stopped will never finish.
        self._con.execute(
            "UPDATE runs SET status = 'failed', finished = ?, error = 'the server stopped before the job finished' "
            "WHERE status IN ('queued', 'running')", [_now()])

    def close(self) -> None:
        with self._lock:
            self._con.close()

    def run_dir(self, run_id: str) -> Path:
        """The folder of run ``run_id`` (which must be a server-generated id)."""
        if not valid_run_id(run_id):
            raise ValueError(f"not a run id: {run_id!r}")
        return self.runs_dir / run_id

    def create(self, *, kind: str, label: str, status: str, request: dict[str, Any], spec_text: str,
               total: int = 0, run_id: str | None = None) -> RunRecord:
        rid = run_id or new_run_id()
        self.run_dir(rid).mkdir(parents=True, exist_ok=False)
        with self._lock:
            self._con.execute(
                "INSERT INTO runs (id, kind, label, status, created, request, spec_text, total) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [rid, kind, label, status, _now(), json.dumps(request), spec_text, total])
        rec = self.get(rid)
        assert rec is not None
        return rec

    def update(self, run_id: str, **fields: Any) -> None:
        """Set ``fields`` (any of status, done, total, error, headline); a final status stamps ``finished``."""
        allowed = {"status", "done", "total", "error", "headline"}
        bad = set(fields) - allowed
        if bad:
            raise ValueError(f"cannot update {sorted(bad)}")
        if fields.get("status") in ("done", "failed"):
            fields["finished"] = _now()
        if not fields:
            return
        sets = ", ".join(f"{k} = ?" for k in fields)
        with self._lock:
            self._con.execute(f"UPDATE runs SET {sets} WHERE id = ?", [*fields.values(), run_id])

    def get(self, run_id: str) -> RunRecord | None:
        if not valid_run_id(run_id):
            return None
        with self._lock:
            row = self._con.execute(f"SELECT {', '.join(_COLUMNS)} FROM runs WHERE id = ?", [run_id]).fetchone()
        return _record(row) if row else None

    def list(self, kind: str | None = None, limit: int = 200) -> list[RunRecord]:
        sql = f"SELECT {', '.join(_COLUMNS)} FROM runs"
        args: list[Any] = []
        if kind is not None:
            sql += " WHERE kind = ?"
            args.append(kind)
        sql += " ORDER BY created DESC, id LIMIT ?"
        args.append(int(limit))
        with self._lock:
            rows = self._con.execute(sql, args).fetchall()
        return [_record(r) for r in rows]


def _record(row: tuple[Any, ...]) -> RunRecord:
    d = dict(zip(_COLUMNS, row, strict=True))
    d["request"] = json.loads(d["request"])
    return RunRecord(**d)
