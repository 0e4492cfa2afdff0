"""immunotwin: mechanistic virtual patients and virtual trials of cancer immunotherapy.

For research and education; not for decisions about a real patient's care.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "simulate_patient", "run_trial", "load_spec", "parse_regimen"]


def __getattr__(name: str):  # type: ignore[no-untyped-def]
    # Lazy imports keep `import immunotwin` cheap (JAX loads only when simulating).
    if name == "simulate_patient":
        from .simulate import simulate_patient

        return simulate_patient
    if name == "run_trial":
        from .trial import run_trial

        return run_trial
    if name in ("load_spec", "parse_regimen"):
        from . import spec

        return getattr(spec, name)
    raise AttributeError(name)
