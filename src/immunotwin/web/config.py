"""Server configuration: where runs are kept and the limits a server enforces.

A configuration file is TOML (every key optional)::

    data_dir = "immunotwin-runs"      # relative to the file's folder
    host = "127.0.0.1"
    port = 8000
    [limits]
    max_patients_per_trial = 2000     # arms x patients per arm, per trial request
    max_concurrent_jobs = 1           # trials running or queued at once
    job_time_limit_s = 1800           # a trial running longer is stopped and marked failed
    max_patient_days = 3652           # longest single-patient simulation
    warm_up = true                    # compile the model at start-up (first run is then fast)

Command-line options override the file; the file overrides the defaults.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["ConfigError", "ServerConfig", "load_config"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


class ConfigError(ValueError):
    """An invalid server configuration (file or option)."""


@dataclass(frozen=True)
class ServerConfig:
    """Everything a server needs: data directory, bind address and limits."""

    data_dir: Path = Path("immunotwin-runs")
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    max_patients_per_trial: int = 2000
    max_concurrent_jobs: int = 1
    job_time_limit_s: float = 1800.0
    max_patient_days: float = 3652.0
    warm_up: bool = True

    def __post_init__(self) -> None:
        errors = []
        if not 1 <= self.port <= 65535:
            errors.append(f"port: {self.port} is not in 1 .. 65535")
        if not 1 <= self.max_patients_per_trial <= 10_000_000:
            errors.append(f"limits.max_patients_per_trial: {self.max_patients_per_trial} is not in 1 .. 10000000")
        if not 0 <= self.max_concurrent_jobs <= 64:
            errors.append(f"limits.max_concurrent_jobs: {self.max_concurrent_jobs} is not in 0 .. 64")
        if not self.job_time_limit_s > 0:
            errors.append(f"limits.job_time_limit_s: {self.job_time_limit_s} must be positive")
        if not 1 <= self.max_patient_days <= 50 * 365.25:
            errors.append(f"limits.max_patient_days: {self.max_patient_days} is not in 1 .. 18262")
        if errors:
            raise ConfigError("\n".join(errors))

    def replace(self, **changes: Any) -> ServerConfig:
        """A copy with ``changes`` applied (``None`` values ignored)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


_LIMIT_KEYS = {
    "max_patients_per_trial": int,
    "max_concurrent_jobs": int,
    "job_time_limit_s": float,
    "max_patient_days": float,
    "warm_up": bool,
}


def load_config(path: Path | None) -> ServerConfig:
    """Read a configuration file (see the module docstring); the defaults when ``path`` is None."""
    if path is None:
        return ServerConfig()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    errors: list[str] = []
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key == "data_dir" and isinstance(value, str) and value:
            values["data_dir"] = (path.parent / value).resolve()
        elif key == "host" and isinstance(value, str) and value:
            values["host"] = value
        elif key == "port" and isinstance(value, int) and not isinstance(value, bool):
            values["port"] = value
        elif key == "limits" and isinstance(value, dict):
            for lk, lv in value.items():
                kind = _LIMIT_KEYS.get(lk)
                if kind is None:
                    errors.append(f"limits.{lk}: unknown key (known: {', '.join(_LIMIT_KEYS)})")
                elif kind is bool and isinstance(lv, bool):
                    values[lk] = lv
                elif kind is not bool and isinstance(lv, (int, float)) and not isinstance(lv, bool):
                    values[lk] = kind(lv)
                else:
                    errors.append(f"limits.{lk}: expected {kind.__name__}, got {lv!r}")
        elif key in ("data_dir", "host", "port", "limits"):
            errors.append(f"{key}: invalid value {value!r}")
        else:
            errors.append(f"{key}: unknown key (known: data_dir, host, port, limits)")
    if errors:
        raise ConfigError(f"{path}: " + f"\n{path}: ".join(errors))
    return ServerConfig(**values)
