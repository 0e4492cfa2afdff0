"""Reports: the trial report (one self-contained HTML file) and its figures.

Imports are lazy so that ``import immunotwin.report`` stays cheap (matplotlib loads on use).
"""

from __future__ import annotations

from typing import Any

__all__ = ["write_trial_report"]


def __getattr__(name: str) -> Any:
    if name == "write_trial_report":
        from .trial_report import write_trial_report

        return write_trial_report
    raise AttributeError(name)
