"""The model: the composition of its subsystems into one vector field.

``vector_field(t, y, args)`` is one pure function of time (days), the flat state vector of
one patient, and ``args = (params, inputs)``; the engine vectorises it over patients. The
same function serves every drug and regimen: drugs differ by parameters (:mod:`.pk` slots),
not by code paths.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np

from . import celltherapy, cytokines, innate, macrophages, marrow, pk, tcells, tolerance, tregs, tumour
from .base import Ctx, Subsystem
from .organs import INDEX as ORGAN_INDEX
from .params import Param

#: In the order their signals are computed (each reads the signals of those before it).
SUBSYSTEMS: tuple[Subsystem, ...] = (
    pk.SUBSYSTEM, cytokines.SUBSYSTEM, innate.SUBSYSTEM, celltherapy.SUBSYSTEM, macrophages.SUBSYSTEM,
    tumour.SUBSYSTEM, tregs.SUBSYSTEM, tcells.SUBSYSTEM, tolerance.SUBSYSTEM, marrow.SUBSYSTEM,
)
#: The order parameters are declared in. Patients' random effects are read from columns in this
#: order (immunotwin.population), so subsystems added later go last: earlier draws stay the same.
PARAM_ORDER: tuple[Subsystem, ...] = (
    pk.SUBSYSTEM, cytokines.SUBSYSTEM, tumour.SUBSYSTEM, tregs.SUBSYSTEM, tcells.SUBSYSTEM,
    tolerance.SUBSYSTEM, marrow.SUBSYSTEM, innate.SUBSYSTEM, celltherapy.SUBSYSTEM, macrophages.SUBSYSTEM,
)

#: Inputs held constant over an integration step: steroid dose rate (prednisone-equivalent
#: mg/day), second-line immunosuppressant on (1) or off (0), the day of each PK slot's first
#: dose (for time-varying clearance), ``freeze`` (1 holds the tumour fixed: burn-in) and
#: ``rate``, a zero-order input into each slot's central compartment (mg/day; sub-daily schedules).
INPUTS: dict[str, int] = {"steroid": 1, "second_line": 1, "tfd": pk.N_SLOTS, "freeze": 1, "rate": pk.N_SLOTS}


@dataclass(frozen=True)
class Layout:
    """Where each state lives in the flat state vector."""

    slices: Mapping[str, slice]
    size: int

    def unpack(self, y):  # type: ignore[no-untyped-def]
        return {name: (y[sl] if sl.stop - sl.start > 1 or name in _VECTOR_STATES else y[sl.start])
                for name, sl in self.slices.items()}

    def get(self, y: np.ndarray, name: str) -> np.ndarray:
        """A state from a (..., size) array: shape (...,) for scalars, (..., n) for vectors."""
        sl = self.slices[name]
        out = y[..., sl]
        return out if (sl.stop - sl.start > 1 or name in _VECTOR_STATES) else out[..., 0]


_VECTOR_STATES = {name for sub in SUBSYSTEMS for name, n in sub.states if n > 1}


def _layout() -> Layout:
    slices: dict[str, slice] = {}
    i = 0
    for sub in SUBSYSTEMS:
        for name, n in sub.states:
            slices[name] = slice(i, i + n)
            i += n
    return Layout(slices, i)


LAYOUT = _layout()
STATE_NAMES: tuple[str, ...] = tuple(LAYOUT.slices)
#: What killed tumour cells leave that CT still measures besides the viable tumour (model.tumour): debris, the slowly
#: resorbing residue and the scar, in 1e9 cell-equivalents.
CT_RESIDUE_STATES: tuple[str, ...] = ("debris_mass", "residual_mass", "scar_mass")
#: States held fixed while the ``freeze`` input is 1 (the engine's burn-in): the tumour and what it seeds and leaves.
HELD_STATES: tuple[str, ...] = ("log_sensitive", "log_mapk_resistant", "log_resistant", "micrometastases",
                                "new_lesion_hazard",
                                *CT_RESIDUE_STATES, "melanocyte_loss", "depigmentation")


#: The tumour's clones (model.tumour), each a natural log of 1e9 cells.
CLONE_STATES: tuple[str, ...] = ("log_sensitive", "log_mapk_resistant", "log_resistant")


def tumour_cells(y: np.ndarray) -> np.ndarray:
    """Viable tumour cells (1e9) summed over the clones (:data:`CLONE_STATES`), per row of the states ``y``."""
    return sum(np.exp(LAYOUT.get(y, k)) for k in CLONE_STATES)


def ct_residue(y: np.ndarray) -> np.ndarray:
    """The mass CT reads besides the viable tumour (:data:`CT_RESIDUE_STATES`), per row of the states ``y``."""
    return sum(LAYOUT.get(y, k) for k in CT_RESIDUE_STATES)


def all_params() -> tuple[Param, ...]:
    out: list[Param] = []
    seen: set[str] = set()
    for sub in PARAM_ORDER:
        for prm in sub.params:
            if prm.name in seen:
                raise ValueError(f"parameter {prm.name} declared twice")
            seen.add(prm.name)
            out.append(prm)
    return tuple(out)


def _apply_calibration(params: tuple[Param, ...], cal: dict | None = None) -> tuple[Param, ...]:
    """Replace defaults and variabilities fitted by ``immunotwin calibrate`` (``cal``; default data/calibration.json)."""
    import dataclasses
    import json
    from importlib import resources

    if cal is None:
        f = resources.files("immunotwin.data").joinpath("calibration.json")
        if not f.is_file():
            return params
        cal = json.loads(f.read_text())
    fitted = cal.get("params", {})
    tag = cal.get("provenance", {}).get("label", "calibrated")
    out = []
    for prm in params:
        if prm.name in fitted:
            v = fitted[prm.name]
            default = tuple(v["default"]) if isinstance(v["default"], list) else float(v["default"])
            note = f"; {v['iiv_note']}" if v.get("iiv_note") else ""  # a spread set by hand after the fit
            out.append(dataclasses.replace(prm, default=default, iiv=float(v.get("iiv", prm.iiv)), assumed=False,
                                           source=f"fitted: {tag} (data/calibration.json){note}; before fitting: "
                                                  f"{prm.source}"))
        else:
            out.append(prm)
    return tuple(out)


def _apply_drug_fit(params: tuple[Param, ...]) -> tuple[Param, ...]:
    """Replace defaults fitted by ``python -m immunotwin.calibrate_cancers`` (data/cancer_fit.json, ``params``)."""
    import dataclasses
    import json
    from importlib import resources

    f = resources.files("immunotwin.data").joinpath("cancer_fit.json")
    fitted = json.loads(f.read_text()).get("params", {}) if f.is_file() else {}
    def note(v: dict) -> str:
        if isinstance(v.get("targets"), dict):  # an organ's fit to a three-arm safety table (calibrate_organs)
            rates = ", ".join(f"{arm} {x:g}" for arm, x in v["targets"].items())
            return (f"fitted: {v['metric']} ({rates}) of {v['source']}, jointly with {', '.join(v['joint'])} "
                    f"(spec {v['spec']}; python -m immunotwin.calibrate_organs; data/cancer_fit.json)")
        metric = v.get("metric", "orr")
        what = {"orr": "ORR", "cr": "complete response", "crs_any": "any-grade CRS",
                "icans_any": "any-grade neurotoxicity",
                "myasthenia": "share with myasthenia (neurologic grade >= 2), no drug,",
                "b_cells_6m": "median B cells (fraction of normal) 6 months after rituximab,",
                "b_cells_1y_remission": "share of patients in remission at 1 year with B cells >= 10% of normal,",
                "hypothyroid_replacement": "share started on thyroid hormone (hypothyroidism grade >= 2)",
                "median_pfs": "median PFS (months)",
                "progressed_36m": "share progressed or dead by 36 months (1 - 3-year PFS)",
                }.get(metric) or (f"share of {metric.partition('.')[2]} irAEs reaching grade >= 3"
                                  if metric.startswith("severity.") else
                                  f"share with a {metric.partition('.')[2]} irAE of any grade"
                                  if metric.startswith("incidence.") else
                                  f"share whose {metric.partition('.')[2]} irAE reached grade >= 2"
                                  if metric.startswith("grade2.") else metric)
        joint = f", jointly with {', '.join(v['joint'])}" if v.get("joint") else ""
        return (f"fitted: {what} {v['target_orr']:g} of {v['source']} (scenario {v['spec']}{joint}; "
                f"data/cancer_fit.json)")

    out = []
    for prm in params:
        whole = fitted.get(prm.name)
        parts = {k.partition(".")[2]: v for k, v in fitted.items() if k.partition(".")[0] == prm.name and "." in k}
        if whole is not None:
            prm = dataclasses.replace(prm, default=float(whole["value"]), assumed=False,
                                      source=f"{note(whole)}; before fitting: {prm.source}")
        elif parts and prm.is_vector:  # one organ's element at a time ("damage_rate.colitis")
            vec = list(prm.default)  # type: ignore[arg-type]
            for organ, v in parts.items():
                vec[ORGAN_INDEX[organ]] = float(v["value"])
            fits = "; ".join(f"{organ}: {note(v)}" for organ, v in sorted(parts.items()))
            prm = dataclasses.replace(prm, default=tuple(vec), assumed=False,
                                      source=f"{fits}; other organs and before fitting: {prm.source}")
        out.append(prm)
    return tuple(out)


PARAMS: tuple[Param, ...] = _apply_drug_fit(_apply_calibration(all_params()))
PARAM_INDEX: dict[str, Param] = {prm.name: prm for prm in PARAMS}


def default_params() -> dict[str, np.ndarray]:
    return {prm.name: prm.value.copy() for prm in PARAMS}


def signals(t, y, params, inputs) -> dict:  # type: ignore[no-untyped-def]
    ctx = Ctx(t=t, s=LAYOUT.unpack(y), p=params, u=inputs)
    for sub in SUBSYSTEMS:
        ctx.sig.update(sub.signals(ctx))
    return ctx.sig


def vector_field(t, y, args):  # type: ignore[no-untyped-def]
    """dy/dt for one patient. ``args = (params, inputs)``, both dicts of arrays."""
    params, inputs = args
    ctx = Ctx(t=t, s=LAYOUT.unpack(y), p=params, u=inputs)
    for sub in SUBSYSTEMS:
        ctx.sig.update(sub.signals(ctx))
    d: dict = {}
    for sub in SUBSYSTEMS:
        d.update(sub.derivatives(ctx))
    hold = 1.0 - inputs["freeze"]
    for name in HELD_STATES:
        d[name] = d[name] * hold
    return jnp.concatenate([jnp.atleast_1d(d[name]) for name in STATE_NAMES])


def initial_state(params: Mapping[str, np.ndarray], tumour_cells: np.ndarray) -> np.ndarray:
    """Initial states (N, size) before burn-in: tumour of ``tumour_cells`` (1e9 cells) split
    into sensitive and resistant clones by ``resistant_fraction``, immune
    pools at rough untreated levels; the engine's burn-in relaxes them to quasi-equilibrium."""
    tumour_cells = np.asarray(tumour_cells, dtype=np.float64)
    n = tumour_cells.shape[0]
    y = np.zeros((n, LAYOUT.size))

    def put(name: str, value: np.ndarray | float) -> None:
        y[:, LAYOUT.slices[name]] = np.reshape(value, (n, -1)) if np.ndim(value) else value

    fr = np.clip(np.asarray(params["resistant_fraction"], dtype=np.float64), 1e-12, 0.95)
    # a MAPK-resistant subclone of the immune-visible cells in BRAF V600-mutant tumours only; elsewhere none
    # (ln 1e-300 is far below the one-cell floor, so the state never moves and adds nothing to the burden)
    fm = np.clip(np.asarray(params["mapk_resistant_fraction"], dtype=np.float64), 1e-12, 0.5) \
        * np.asarray(params["braf_v600"], dtype=np.float64)
    put("log_sensitive", np.log(tumour_cells * (1.0 - fr) * (1.0 - fm)))
    put("log_mapk_resistant", np.where(fm > 0.0, np.log(np.maximum(tumour_cells * (1.0 - fr) * fm, 1e-300)),
                                       np.log(1e-300)))
    put("log_resistant", np.log(tumour_cells * fr))
    seeding = np.asarray(params["metastasis_rate"]) * tumour_cells ** np.asarray(params["metastasis_alpha"])
    put("micrometastases", seeding * np.asarray(params["micrometastasis_delay"]))  # steady state before treatment
    put("effector", 0.02 * tumour_cells)
    put("exhausted", 0.02 * tumour_cells)
    put("memory", 0.0)
    put("treg_tumour", 0.5)
    put("treg_systemic", 1.0)
    put("autoreactive", np.ones((n, 12)))
    put("function", np.ones((n, 12)))
    put("thyroxine", 1.0)
    anc0 = np.asarray(params["anc_baseline"], dtype=np.float64)
    put("marrow_prol", anc0)
    put("marrow_transit", np.broadcast_to(np.reshape(anc0, (-1, 1)), (n, 3)))
    put("neutrophils", anc0)
    put("b_cells", np.asarray(params["b_cell_normal"], dtype=np.float64))
    return y
