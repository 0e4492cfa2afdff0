"""The model as SBML Level 3 Version 2, for one patient and one regimen (python-libsbml).

``export_sbml(path, cancer=..., regimen=...)`` writes the vector field of the catalogue's
median patient of a cancer with the regimen's doses as SBML events. The file opens in
libRoadRunner, COPASI or Tellurium.

**One description of the equations.** The rules are not typed a second time: each
subsystem's ``signals`` and ``derivatives`` functions (:mod:`immunotwin.model`) are traced
with JAX (``jax.make_jaxpr``) and the traced operations are rewritten, element by element,
as SBML math. Every signal a subsystem publishes (concentration, occupancy, killing,
cytokines...) becomes an assignment rule of that name (vectors expanded per drug slot or
organ: ``conc_pd1``, ``damage_colitis``); every state gets a rate rule. The composition
(signals in subsystem order, then derivatives, tumour held when ``freeze_tumour`` = 1)
follows :func:`immunotwin.model.core.vector_field`; ``tests/test_sbml.py`` checks the
exported right-hand side against ``vector_field`` at random states and whole trajectories
against the engine.

**The median patient.** The population sampler (:func:`immunotwin.population.sample_cohort`)
is run with every random draw at its median (standard normals 0, uniforms 0.5,
exponentials ln 2): covariates at their medians (majority sex, modal categories), every
inter-individual random effect zero. PK slots are filled from the drug catalogue, then the
engine's burn-in (immune states relaxed with the tumour held) and enrolment (intrinsic
growth set from the observed net growth plus baseline killing) run as in the clinic. The
exported parameters are the enrolled ones and the initial state is the burned-in state,
at day 0 of treatment.

**Doses.** Each planned administration is given at the first weekly clinic visit on or
after its planned day (as the clinic gives it when nothing is held), as an IV bolus into
the slot's central amount: one SBML event per dosing day. Dosing follows the schedule
whatever happens: the clinic logic (visits, CTCAE grading, ASCO 2021 management with dose
holds, discontinuation and steroid courses, RECIST, death) is not part of the ODEs and is
not exported; the file's notes say so.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np

from . import __version__

# ---------------------------------------------------------------------------------------
# Symbolic expressions
# ---------------------------------------------------------------------------------------

_INFIX = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "^", "gt": ">", "ge": ">=",
          "lt": "<", "le": "<=", "eq": "==", "ne": "!=", "and": "&&", "or": "||"}
_FUNCS = {"exp": "exp", "log": "ln", "sqrt": "sqrt", "abs": "abs", "max": "max", "min": "min"}


class Expr:
    """An immutable node of a scalar expression: a number, a name, ``time`` or an operation."""

    __slots__ = ("op", "args", "value")

    def __init__(self, op: str, args: tuple[Expr, ...] = (), value: float | str | None = None) -> None:
        self.op = op
        self.args = args
        self.value = value

    def is_num(self, v: float | None = None) -> bool:
        return self.op == "num" and (v is None or self.value == v)

    def infix(self) -> str:
        """Fully parenthesised SBML Level 3 infix (libsbml.parseL3Formula)."""
        op = self.op
        if op == "num":
            v = float(self.value)  # type: ignore[arg-type]
            if math.isnan(v):
                raise ValueError("NaN in a traced expression")
            if math.isinf(v):
                return "INF" if v > 0 else "(-INF)"
            text = repr(v)
            return f"({text})" if v < 0 else text
        if op == "sym":
            return str(self.value)
        if op == "time":
            return "time"
        a = [x.infix() for x in self.args]
        if op in _INFIX:
            return f"({a[0]} {_INFIX[op]} {a[1]})"
        if op == "neg":
            return f"(-{a[0]})"
        if op == "not":
            return f"(!{a[0]})"
        if op == "select":  # (predicate, value if false, value if true)
            return f"piecewise({a[2]}, {a[0]}, {a[1]})"
        if op in _FUNCS:
            return f"{_FUNCS[op]}({', '.join(a)})"
        raise ValueError(f"no SBML form for {op}")

    def symbols(self) -> set[str]:
        if self.op == "sym":
            return {str(self.value)}
        out: set[str] = set()
        for x in self.args:
            out |= x.symbols()
        return out


def num(v: float) -> Expr:
    return Expr("num", value=float(v))


def sym(name: str) -> Expr:
    return Expr("sym", value=name)


TIME = Expr("time")

_FOLD: dict[str, Callable[..., Any]] = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide, "pow": np.power,
    "max": np.maximum, "min": np.minimum, "neg": np.negative, "exp": np.exp, "log": np.log,
    "sqrt": np.sqrt, "abs": np.abs,
}


def op(name: str, *args: Expr) -> Expr:
    """An operation, with constant folding and the identities x+0, x-0, x*1, x/1, x^1."""
    if name in _FOLD and all(a.is_num() for a in args):
        with np.errstate(all="ignore"):
            return num(float(_FOLD[name](*(np.float64(a.value) for a in args))))
    if len(args) == 2:
        a, b = args
        if name == "add" and a.is_num(0.0):
            return b
        if name in ("add", "sub") and b.is_num(0.0):
            return a
        if name == "mul" and a.is_num(1.0):
            return b
        if name in ("mul", "div", "pow") and b.is_num(1.0):
            return a
    if name == "select" and args[1] is args[2]:
        return args[1]
    return Expr(name, tuple(args))


# ---------------------------------------------------------------------------------------
# Tracing: jaxpr -> element-wise expressions
# ---------------------------------------------------------------------------------------

_BINARY = ("add", "sub", "mul", "div", "pow", "max", "min", "gt", "ge", "lt", "le", "eq", "ne", "and", "or")
_UNARY = ("neg", "exp", "log", "sqrt", "abs", "not")
_PASS = ("convert_element_type", "copy", "copy_p", "stop_gradient", "optimization_barrier")


def _objects(shape: tuple[int, ...], fill: Callable[[tuple[int, ...]], Expr]) -> np.ndarray:
    out = np.empty(shape, dtype=object)
    for idx in np.ndindex(*shape):
        out[idx] = fill(idx)
    return out


def _elementwise(fn: Callable[..., Expr], *arrays: np.ndarray) -> np.ndarray:
    bs = np.broadcast_arrays(*arrays)
    out = np.empty(bs[0].shape, dtype=object)
    for idx in np.ndindex(*out.shape):
        out[idx] = fn(*(b[idx] for b in bs))
    return out


def _const(value: Any) -> np.ndarray:
    arr = np.asarray(value)
    return _objects(arr.shape, lambda i: num(float(arr[i])))


def _inner(params: Mapping[str, Any]) -> tuple[Any, list[Any]]:
    for key in ("jaxpr", "call_jaxpr", "fun_jaxpr"):
        if key in params:
            closed = params[key]
            if hasattr(closed, "consts") and hasattr(closed, "jaxpr"):
                return closed.jaxpr, list(closed.consts)
            return closed, []
    raise ValueError("call primitive without a jaxpr")


def _interpret(jaxpr: Any, consts: Sequence[Any], args: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Evaluate a jaxpr on arrays of :class:`Expr` (one expression per element)."""
    env: dict[Any, np.ndarray] = {}

    def read(v: Any) -> np.ndarray:
        if type(v).__name__ == "Literal":
            return _const(v.val)
        return env[v]

    for v, c in zip(jaxpr.constvars, consts, strict=True):
        env[v] = _const(c)
    for v, a in zip(jaxpr.invars, args, strict=True):
        env[v] = a
    for eqn in jaxpr.eqns:
        name = eqn.primitive.name
        ins = [read(v) for v in eqn.invars]
        p = eqn.params
        if name in _BINARY:
            outs = [_elementwise(lambda a, b, n=name: op(n, a, b), *ins)]
        elif name in _UNARY:
            outs = [_elementwise(lambda a, n=name: op(n, a), ins[0])]
        elif name == "integer_pow":
            outs = [_elementwise(lambda a, y=p["y"]: op("pow", a, num(y)), ins[0])]
        elif name == "square":
            outs = [_elementwise(lambda a: op("pow", a, num(2.0)), ins[0])]
        elif name in _PASS:
            x = ins[0]
            src = eqn.invars[0].aval.dtype
            if name == "convert_element_type" and src == np.bool_ and p["new_dtype"] != np.bool_:
                x = _elementwise(lambda b: op("select", b, num(0.0), num(1.0)), x)
            outs = [x]
        elif name == "squeeze":
            outs = [np.squeeze(ins[0], axis=tuple(p["dimensions"]))]
        elif name == "reshape":
            outs = [np.reshape(ins[0], tuple(p["new_sizes"]))]
        elif name == "broadcast_in_dim":
            shape, dims = tuple(p["shape"]), tuple(p["broadcast_dimensions"])
            x = ins[0]
            expanded = [1] * len(shape)
            for k, d in enumerate(dims):
                expanded[d] = x.shape[k]
            outs = [np.broadcast_to(np.reshape(x, expanded), shape).copy()]
        elif name == "slice":
            strides = p["strides"] or (1,) * len(p["start_indices"])
            sl = tuple(slice(s, e, st) for s, e, st in zip(p["start_indices"], p["limit_indices"], strides, strict=True))
            outs = [ins[0][sl].copy()]
        elif name == "concatenate":
            outs = [np.concatenate(ins, axis=p["dimension"])]
        elif name in ("reduce_sum", "reduce_max", "reduce_min"):
            binop = {"reduce_sum": "add", "reduce_max": "max", "reduce_min": "min"}[name]
            x = np.moveaxis(ins[0], tuple(p["axes"]), tuple(range(-len(p["axes"]), 0)))
            keep = x.shape[: x.ndim - len(p["axes"])]
            flat = x.reshape((*keep, -1))
            out = np.empty(keep, dtype=object)
            for idx in np.ndindex(*keep):
                terms = list(flat[idx])
                acc = terms[0]
                for t in terms[1:]:
                    acc = op(binop, acc, t)
                out[idx] = acc
            outs = [out]
        elif name == "select_n":
            if len(ins) != 3:
                raise ValueError("select_n with more than two cases is not supported")
            outs = [_elementwise(lambda c, f, t: op("select", c, f, t), *ins)]
        elif name == "clamp":
            outs = [_elementwise(lambda lo, x, hi: op("min", op("max", x, lo), hi), *ins)]
        elif name in ("jit", "pjit", "closed_call", "core_call", "remat", "checkpoint", "custom_jvp_call",
                      "custom_vjp_call", "custom_vjp_call_jaxpr"):
            inner, inner_consts = _inner(p)
            outs = _interpret(inner, inner_consts, ins)
        else:
            raise NotImplementedError(f"SBML export: no rule for the JAX primitive {name!r}")
        for v, o in zip(eqn.outvars, outs, strict=True):
            env[v] = o
    return [read(v) for v in jaxpr.outvars]


def _element_names(n: int) -> tuple[str, ...]:
    from .model.organs import IRAES
    from .model.slots import SLOTS

    if n == len(SLOTS):
        return SLOTS
    if n == len(IRAES):
        return IRAES
    return tuple(str(i) for i in range(n))


def _ids(name: str, shape: tuple[int, ...]) -> np.ndarray:
    """SBML ids of a (scalar or vector) quantity: ``name`` or ``name_<slot|organ>``."""
    if shape == ():
        return np.array(name, dtype=object)
    if len(shape) != 1:
        raise ValueError(f"{name}: only scalars and vectors are exported")
    return np.array([f"{name}_{e}" for e in _element_names(shape[0])], dtype=object)


#: SBML ids of the clinic's inputs (constant parameters in the file).
INPUT_IDS: dict[str, str] = {"steroid": "steroid_dose_rate", "second_line": "second_line_on",
                             "tfd": "first_dose_day", "freeze": "freeze_tumour", "rate": "zero_order_input"}


@dataclass(frozen=True)
class Equations:
    """The model as named scalar expressions over SBML ids."""

    signals: tuple[tuple[str, Expr], ...]  # assignment rules, in evaluation order
    rates: tuple[tuple[str, Expr], ...]  # rate rules, in state-vector order
    state_ids: tuple[str, ...]  # one per element of the flat state vector
    param_ids: dict[str, np.ndarray]  # model parameter -> ids (object array)
    input_ids: dict[str, np.ndarray]  # clinic input -> ids


def _example_inputs() -> dict[str, np.ndarray]:
    from .model.core import INPUTS

    return {k: (np.zeros(m) if m > 1 else np.zeros(())) for k, m in INPUTS.items()}


def _named(ids: np.ndarray) -> np.ndarray:
    """An object array of symbols named by ``ids`` (same shape)."""
    out = np.empty(ids.shape, dtype=object)
    for i in np.ndindex(*ids.shape):
        out[i] = sym(str(ids[i]))
    return out


def _symbolic(tree: Any, ids: Mapping[str, np.ndarray]) -> Any:
    return {k: _named(ids[k]) for k in tree}


def derive_equations() -> Equations:
    """Trace every subsystem and return the model's assignment and rate rules."""
    import jax

    from . import engine  # noqa: F401  (float64, as the engine integrates)
    from .model.base import Ctx
    from .model.core import HELD_STATES, LAYOUT, PARAMS, STATE_NAMES, SUBSYSTEMS

    if not jax.config.read("jax_enable_x64"):
        raise RuntimeError("the model must be traced in float64")

    y_example = np.zeros(LAYOUT.size)
    s_ex = {k: np.asarray(v, dtype=np.float64) for k, v in LAYOUT.unpack(y_example).items()}
    p_ex = {prm.name: prm.value for prm in PARAMS}
    u_ex = _example_inputs()
    state_ids = {k: _ids(k, np.shape(v)) for k, v in s_ex.items()}
    param_ids = {k: _ids(k, np.shape(v)) for k, v in p_ex.items()}
    input_ids = {k: _ids(INPUT_IDS[k], np.shape(v)) for k, v in u_ex.items()}
    s_sym, p_sym, u_sym = _symbolic(s_ex, state_ids), _symbolic(p_ex, param_ids), _symbolic(u_ex, input_ids)
    t_sym = np.array(TIME, dtype=object)

    sig_ex: dict[str, np.ndarray] = {}
    sig_sym: dict[str, np.ndarray] = {}
    signals: list[tuple[str, Expr]] = []
    rates: dict[str, np.ndarray] = {}

    def run(fn: Callable[[Ctx], dict]) -> tuple[dict[str, np.ndarray], list[str]]:
        order: list[str] = []

        def wrapped(t, s, p, u, sig):  # type: ignore[no-untyped-def]
            out = fn(Ctx(t=t, s=s, p=p, u=u, sig=dict(sig)))
            order[:] = list(out)
            return out

        example = (np.float64(0.0), s_ex, p_ex, u_ex, dict(sig_ex))
        closed, out_shape = jax.make_jaxpr(wrapped, return_shape=True)(*example)
        leaves = jax.tree_util.tree_leaves((t_sym, s_sym, p_sym, u_sym, dict(sig_sym)))
        outs = _interpret(closed.jaxpr, closed.consts, leaves)
        keys = sorted(out_shape)  # a dict's leaves flatten in sorted key order
        if any(not hasattr(out_shape[k], "shape") for k in keys):
            raise ValueError("a subsystem returned a nested structure")
        return dict(zip(keys, outs, strict=True)), order

    for sub in SUBSYSTEMS:
        new, order = run(sub.signals)
        # A signal's value met again inside another signal of the subsystem (the same traced
        # value) is referred to by its name.
        named: dict[int, Expr] = {}
        published: list[tuple[str, Expr]] = []
        for key in order:
            if key in sig_sym:
                raise ValueError(f"signal {key} published twice")
            arr = new[key]
            ids = _ids(_signal_id(key), arr.shape)
            for i in np.ndindex(*arr.shape):
                expr = cast(Expr, arr[i])
                named.setdefault(id(expr), sym(str(ids[i])))
                published.append((str(ids[i]), expr))
            sig_sym[key] = _named(ids)
            sig_ex[key] = np.zeros(arr.shape)
        for sid, value in published:
            first = named[id(value)]
            signals.append((sid, first if first.value != sid else _substitute_args(value, named)))
    for sub in SUBSYSTEMS:
        rates.update(run(sub.derivatives)[0])
    hold = op("sub", num(1.0), sym(str(input_ids["freeze"][()])))
    rate_rules: list[tuple[str, Expr]] = []
    flat_ids: list[str] = []
    for name in STATE_NAMES:
        arr = rates[name]
        ids = state_ids[name]
        for i in np.ndindex(*np.shape(ids)):
            e = cast(Expr, arr[i] if arr.shape else arr[()])
            if name in HELD_STATES:
                e = op("mul", e, hold)
            rate_rules.append((str(ids[i]), e))
            flat_ids.append(str(ids[i]))
    return Equations(tuple(signals), tuple(rate_rules), tuple(flat_ids), param_ids, input_ids)


def _substitute(expr: Expr, named: Mapping[int, Expr]) -> Expr:
    """``expr`` with every sub-expression that is (by identity) a named signal replaced by its name."""
    if id(expr) in named:
        return named[id(expr)]
    return _substitute_args(expr, named)


def _substitute_args(expr: Expr, named: Mapping[int, Expr]) -> Expr:
    if not expr.args:
        return expr
    args = tuple(_substitute(a, named) for a in expr.args)
    if all(a is b for a, b in zip(args, expr.args, strict=True)):
        return expr
    return Expr(expr.op, args, expr.value)


_RESERVED = {"time", "pi", "exponentiale", "avogadro", "true", "false", "inf", "nan", "notanumber"}


def _signal_id(key: str) -> str:
    from .model.core import PARAM_INDEX, STATE_NAMES

    if key in PARAM_INDEX or key in STATE_NAMES or key in INPUT_IDS.values() or key.lower() in _RESERVED:
        return f"sig_{key}"
    return key


# ---------------------------------------------------------------------------------------
# The median patient and the dose plan
# ---------------------------------------------------------------------------------------


class _MedianDraws:
    """Stands in for a patient's random generator: every draw at its median."""

    def standard_normal(self, size: Any = None) -> np.ndarray:
        return np.zeros(size)

    def random(self, size: Any = None) -> np.ndarray:
        return np.full(size, 0.5)

    def exponential(self, scale: float = 1.0, size: Any = None) -> np.ndarray:
        return np.full(size, math.log(2.0) * scale)


@contextmanager
def _median_draws() -> Iterator[None]:
    from . import population

    original, late = population.patient_streams, population.late_streams
    population.patient_streams = lambda seed, arm_key, indices: [_MedianDraws() for _ in indices]  # type: ignore[assignment,misc]
    population.late_streams = lambda seed, arm_key, indices: [_MedianDraws() for _ in indices]  # type: ignore[assignment,misc]
    try:
        yield
    finally:
        population.patient_streams, population.late_streams = original, late  # type: ignore[assignment]


@dataclass(frozen=True)
class DosePlan:
    """Doses of a regimen on the weekly clinic grid, with nothing held or stopped."""

    entries: tuple[Any, ...]  # DrugSchedule, one per regimen entry
    slot: np.ndarray  # (E,) PK slot of each entry
    days: tuple[np.ndarray, ...]  # per entry: days given
    amount: np.ndarray  # (N, E) mg per administration

    @property
    def n_slots(self) -> int:
        from .model.slots import N_SLOTS

        return N_SLOTS

    @property
    def dose_days(self) -> np.ndarray:
        """Distinct dosing days, sorted."""
        return np.unique(np.concatenate([np.zeros(0), *self.days]))

    def first_dose(self, n: int) -> np.ndarray:
        """Day of each slot's first dose (N, slots); 1e9 where a slot gets none (as the clinic)."""
        from .model.slots import N_SLOTS

        out = np.full((n, N_SLOTS), 1e9)
        for j, days in enumerate(self.days):
            if len(days):
                out[:, self.slot[j]] = np.minimum(out[:, self.slot[j]], days.min())
        return out

    def doses_on(self, day: float) -> np.ndarray:
        """Amounts (N, slots) added to each slot's central compartment on ``day``."""
        from .model.slots import N_SLOTS

        out = np.zeros((self.amount.shape[0], N_SLOTS))
        for j, days in enumerate(self.days):
            if np.any(np.abs(days - day) < 1e-9):
                out[:, self.slot[j]] += self.amount[:, j]
        return out


def dose_plan(regimen: Sequence[Any], weight_kg: np.ndarray, height_cm: np.ndarray, horizon_days: float,
              step_days: float = 7.0) -> DosePlan:
    """Doses of ``regimen`` before ``horizon_days``: each at the first clinic visit (every
    ``step_days``) on or after its planned day, as the clinic gives it when nothing is held."""
    from .drugs.catalogue import CATALOGUE
    from .model.slots import SLOTS
    from .units import bsa_m2, dose_amount

    weight_kg = np.asarray(weight_kg, dtype=np.float64)
    bsa = bsa_m2(weight_kg, np.asarray(height_cm, dtype=np.float64))
    slots, days, amounts = [], [], []
    for d in regimen:
        if d.name not in CATALOGUE:
            raise ValueError(f"{d.name!r} is not modelled; modelled drugs: {', '.join(sorted(CATALOGUE))}")
        drug = CATALOGUE[d.name]
        if drug.kind == "cell" or drug.route != "iv" or 0 < d.every_days < 1.0 or drug.mg_per_iu:
            raise ValueError(f"{d.name}: only IV doses in mg given at most daily are exported (cell products, "
                             "subcutaneous or oral, IU-dosed and sub-daily schedules need the clinic's inputs)")
        slots.append(SLOTS.index(CATALOGUE[d.name].slot))
        planned = d.planned_days(horizon_days)
        given = step_days * np.ceil(planned / step_days - 1e-9) + 0.0  # + 0.0: no -0
        days.append(given[given < horizon_days])
        amounts.append(np.broadcast_to(dose_amount(d.dose, weight_kg, bsa), weight_kg.shape))
    amount = np.stack(amounts, axis=1) if amounts else np.zeros((weight_kg.shape[0], 0))
    return DosePlan(tuple(regimen), np.asarray(slots, dtype=np.int64), tuple(days), amount)


@dataclass(frozen=True)
class Patients:
    """Enrolled patients ready for day 0: parameters, burned-in states, covariates."""

    params: dict[str, np.ndarray]  # (N, ...) each
    y0: np.ndarray  # (N, size)
    covariates: Any  # pandas DataFrame

    @property
    def n(self) -> int:
        return int(self.y0.shape[0])


def enrol_cohort(cohort: Any, drugs: Sequence[str]) -> Patients:
    """PK slots, burn-in and enrolment for a sampled cohort, as :func:`immunotwin.clinic.run.run_clinic` does."""
    from . import engine
    from .drugs.catalogue import slot_params
    from .model.core import initial_state

    cov = cohort.covariates
    params = {k: np.array(v, dtype=np.float64) for k, v in cohort.params.items()}
    params.update(slot_params(list(drugs), cov["weight_kg"].to_numpy(float), cohort.pk_eta,
                              cov["ldh_uln"].to_numpy(float) * 250.0))
    y = engine.burn_in(initial_state(params, cohort.tumour0), params)
    engine.enrol(y, params)
    return Patients(params, np.array(y), cov)


def median_patient(cancer: str, regimen: Sequence[Any]) -> Patients:
    """The catalogue's median patient of ``cancer``, enrolled for ``regimen``'s drugs."""
    from .population import sample_cohort

    with _median_draws():
        cohort = sample_cohort(cancer, {}, 0, 0, [0], 1)
    return enrol_cohort(cohort, [d.name for d in regimen])


# ---------------------------------------------------------------------------------------
# SBML document
# ---------------------------------------------------------------------------------------


def _slug(text: str) -> str:
    out = "".join(c if c.isalnum() else "_" for c in text.lower())
    while "__" in out:
        out = out.replace("__", "_")
    return out.strip("_")


def _notes(cancer: str, regimen_text: str, patient: Patients, plan: DosePlan, horizon_days: float,
           patient_label: str | None) -> str:
    cov = patient.covariates.iloc[0]
    covs = ", ".join(f"{k} = {v:.4g}" if isinstance(v, float | np.floating) else f"{k} = {v}"
                     for k, v in cov.items() if not (isinstance(v, str) and v == ""))
    doses = "; ".join(f"{d.name} {d.dose.text}: {plan.amount[0, j]:.4g} mg on days "
                      f"{', '.join(f'{x:g}' for x in plan.days[j])}" for j, d in enumerate(plan.entries))
    paras = [
        f"immunotwin {__version__}: mechanistic model of cancer immunotherapy and autoimmunity "
        "(tumour, T cells, regulatory T cells, self-tolerance organ by organ, autoantibodies, cytokines). "
        "For research and education only; not for decisions about a real patient's care.",
        "Generated by immunotwin.sbml from the model's code: each subsystem's equations "
        "(immunotwin/model/*.py) were traced and written as SBML rules, so the equations are "
        "immunotwin's own. Signals (occupancy, killing, cytokines) are assignment rules; states are "
        "parameters with rate rules; vectors are expanded per drug slot (pd1, ctla4, pdl1) and per organ. "
        "Every equation and parameter, with units and sources: docs/model.md in immunotwin.",
        (f"Patient: {patient_label}: {covs}. " if patient_label else
         f"Patient: the catalogue's median patient of {cancer} (every random draw of the population sampler "
         f"at its median; inter-individual random effects zero): {covs}. ") + "Parameters are those after "
        "enrolment (intrinsic growth_rate set from net_growth_rate plus baseline immune killing); the "
        "initial state is the engine's burned-in state (immune states relaxed with the tumour held), at "
        "day 0 of treatment.",
        f"Regimen: {regimen_text or 'none'}. Doses are IV boluses into the slot's central amount (mg), one "
        "event per dosing day, at the first weekly visit on or after each planned day, up to day "
        f"{horizon_days:g}: {doses or 'none'}.",
        "NOT EXPORTED: the clinic logic outside the ODEs - visits, observation noise, CTCAE grading, "
        "management by the ASCO 2021 guideline (dose holds, permanent discontinuation, steroid courses, "
        "second-line immunosuppression), RECIST/iRECIST reads, new-lesion draws, progression and death. "
        "Doses follow the schedule regardless of toxicity or progression. The clinic's inputs are "
        "constant parameters here: steroid_dose_rate (prednisone-equivalent mg/day) = 0, "
        "second_line_on = 0, freeze_tumour = 0 (1 holds the tumour, as in burn-in), "
        "first_dose_day_* (clearance time since first dose; 1e9 for an unused slot), zero_order_input_* = 0 "
        "(the clinic's infusion of sub-daily and subcutaneous doses; such regimens are not exported).",
        "Units: time in days; tumour and T cells in 1e9 cells (log_sensitive, log_mapk_resistant, log_resistant are "
        "natural logs); drug amounts in mg, concentrations in mg/L; other quantities dimensionless. Each "
        "parameter's unit is given in its name.",
    ]
    body = "".join(f"<p>{html.escape(p)}</p>" for p in paras)
    return f'<notes><body xmlns="http://www.w3.org/1999/xhtml">{body}</body></notes>'


def build_document(cancer: str, regimen: Sequence[Any], regimen_text: str = "", horizon_days: float = 730.0,
                   patient: Patients | None = None, patient_label: str | None = None) -> Any:
    """The SBML document (``libsbml.SBMLDocument``) of ``cancer``'s median patient on ``regimen``
    (or of ``patient``'s first patient, described in the notes by ``patient_label``)."""
    import libsbml

    from .model.core import PARAM_INDEX

    patient = patient or median_patient(cancer, regimen)
    cov = patient.covariates
    plan = dose_plan(regimen, cov["weight_kg"].to_numpy(float), cov["height_cm"].to_numpy(float), horizon_days)
    eq = derive_equations()

    doc = libsbml.SBMLDocument(3, 2)
    model = doc.createModel()
    model.setId(_slug(f"immunotwin_{cancer}_{regimen_text or 'untreated'}")[:200])
    who = "one" if patient_label else "median"
    model.setName(f"immunotwin {__version__}: {who} {cancer} patient, {regimen_text or 'untreated'}")
    ud = model.createUnitDefinition()
    ud.setId("day")
    unit = ud.createUnit()
    unit.setKind(libsbml.UNIT_KIND_SECOND)
    unit.setExponent(1)
    unit.setScale(0)
    unit.setMultiplier(86400.0)
    model.setTimeUnits("day")
    _check(model.setNotes(_notes(cancer, regimen_text, patient, plan, horizon_days, patient_label)), "notes")

    def param(pid: str, value: float | None, constant: bool, name: str) -> None:
        prm = model.createParameter()
        _check(prm.setId(pid), pid)
        prm.setName(name)
        prm.setConstant(constant)
        if value is not None:
            prm.setValue(float(value))

    for key, ids in eq.param_ids.items():
        values = np.asarray(patient.params[key][0], dtype=np.float64)
        unit_text = PARAM_INDEX[key].unit
        for i in np.ndindex(*ids.shape):
            param(str(ids[i]), float(values[i]), True, f"{ids[i]} [{unit_text}]")
    inputs = {"steroid": np.zeros(()), "second_line": np.zeros(()), "tfd": plan.first_dose(1)[0],
              "freeze": np.zeros(()), "rate": np.zeros(len(plan.first_dose(1)[0]))}
    for key, ids in eq.input_ids.items():
        for i in np.ndindex(*ids.shape):
            param(str(ids[i]), float(inputs[key][i]), True, f"{ids[i]} [clinic input]")
    dose_ids = []
    for j, d in enumerate(plan.entries):
        pid = f"dose_{j + 1}_{_slug(d.name)}"
        dose_ids.append(pid)
        param(pid, float(plan.amount[0, j]), True, f"{d.name} {d.dose.text} per administration [mg]")
    for sid, value in zip(eq.state_ids, patient.y0[0], strict=True):
        param(sid, float(value), False, f"{sid} [state]")
    for sid, _ in eq.signals:
        param(sid, None, False, f"{sid} [signal]")

    for sid, expr in eq.signals:
        rule = model.createAssignmentRule()
        rule.setVariable(sid)
        _check(rule.setMath(_math(expr)), sid)
    for sid, expr in eq.rates:
        rule = model.createRateRule()
        rule.setVariable(sid)
        _check(rule.setMath(_math(expr)), sid)

    from .model.slots import SLOTS

    for day in plan.dose_days:
        ev = model.createEvent()
        ev.setId(f"dose_day_{int(day)}" if float(day).is_integer() else _slug(f"dose_day_{day}"))
        ev.setUseValuesFromTriggerTime(True)
        trig = ev.createTrigger()
        trig.setInitialValue(False)
        trig.setPersistent(True)
        _check(trig.setMath(_math(op("ge", TIME, num(float(day))))), "trigger")
        for s, slot in enumerate(SLOTS):
            given = [dose_ids[j] for j in range(len(plan.entries))
                     if plan.slot[j] == s and np.any(np.abs(plan.days[j] - day) < 1e-9)]
            if not given:
                continue
            target = f"pk_central_{slot}"
            expr = sym(target)
            for g in given:
                expr = op("add", expr, sym(g))
            ea = ev.createEventAssignment()
            ea.setVariable(target)
            _check(ea.setMath(_math(expr)), target)
    return doc


def _math(expr: Expr) -> Any:
    import libsbml

    ast = libsbml.parseL3Formula(expr.infix())
    if ast is None:
        raise ValueError(f"libsbml could not parse: {libsbml.getLastParseL3Error()}")
    return ast


def _check(code: int, what: str) -> None:
    import libsbml

    if code != libsbml.LIBSBML_OPERATION_SUCCESS:
        raise ValueError(f"libsbml refused {what}: {libsbml.OperationReturnValue_toString(code)}")


def consistency(doc: Any) -> tuple[list[str], list[str]]:
    """Run libsbml's consistency checks: (errors, warnings) as messages."""
    import libsbml

    doc.checkConsistency()
    errors: list[str] = []
    warnings: list[str] = []
    for i in range(doc.getNumErrors()):
        e = doc.getError(i)
        msg = f"{e.getCategoryAsString()} {e.getErrorId()}: {e.getShortMessage()}"
        (errors if e.getSeverity() >= libsbml.LIBSBML_SEV_ERROR else warnings).append(msg)
    return errors, warnings


def to_string(doc: Any) -> str:
    import libsbml

    return str(libsbml.writeSBMLToString(doc))


def export_sbml(path: str | Path, cancer: str = "melanoma", regimen: str = "nivolumab 3 mg/kg q2w",
                horizon_days: float = 730.0) -> tuple[Path, list[str]]:
    """Write the SBML file; returns the path and libsbml's warnings. Raises on any error."""
    from .spec import parse_regimen

    drugs = parse_regimen(regimen) if regimen and regimen.strip().lower() != "none" else ()
    doc = build_document(cancer, drugs, regimen if drugs else "", horizon_days)
    errors, warnings = consistency(doc)
    if errors:
        raise ValueError("SBML consistency errors:\n" + "\n".join(errors))
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(to_string(doc))
    return out, warnings


__all__ = ["export_sbml", "build_document", "derive_equations", "median_patient", "dose_plan", "DosePlan",
           "Patients", "enrol_cohort", "consistency", "INPUT_IDS"]


def engine_trajectory(patients: Patients, plan: DosePlan, weeks: int) -> np.ndarray:
    """The dosing-only model integrated by immunotwin's engine (weekly ``engine.step``, doses
    added on their days, no clinic): states (N, weeks + 1, size) at days 0, 7, ..., after
    that day's doses. Failed patients hold NaN from the failed step on."""
    from . import engine
    from .model.core import LAYOUT

    n = patients.n
    y = patients.y0.copy()
    inputs = engine.zero_inputs(n)
    inputs["tfd"] = plan.first_dose(n)
    pk0 = LAYOUT.slices["pk_central"].start
    out = np.empty((n, weeks + 1, y.shape[1]))
    alive = np.ones(n, dtype=bool)
    for k in range(weeks + 1):
        day = float(engine.STEP_DAYS * k)
        y[:, pk0:pk0 + plan.n_slots] += plan.doses_on(day)
        out[:, k] = np.where(alive[:, None], y, np.nan)
        if k == weeks:
            break
        ys, ok = engine.step(y, patients.params, inputs, day)
        alive &= ok
        y = ys[:, -1]
    return out
