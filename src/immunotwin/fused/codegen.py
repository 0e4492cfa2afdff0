"""C source of the model's right-hand side, written from the traced equations.

Why by hand: no library turns a JAX function into a scalar C/CUDA function that a per-patient
integrator can call (XLA compiles whole-array programs; its kernels cannot be called from a
thread's own loop). The equations are not typed again: :func:`immunotwin.sbml.derive_equations`
traces every subsystem into element-wise expression trees (the same trees the SBML export
writes), and this module prints them as C.

Parameters and inputs that are equal for every patient of a batch are folded into the source as
literals (and the arithmetic on them done here, in float64), the others are read per patient
from ``theta``. Shared sub-expressions are computed once (``const real tN``).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping, Sequence

from ..sbml import Equations, Expr, num, op

_CMP = {"gt": ">", "ge": ">=", "lt": "<", "le": "<=", "eq": "==", "ne": "!="}
_BOOL = {"and": "&&", "or": "||"}
_ARITH = {"add": "+", "sub": "-", "mul": "*", "div": "/"}
_FUNC = {"exp": "EXP", "log": "LOG", "sqrt": "SQRT", "abs": "FABS", "max": "FMAX", "min": "FMIN", "pow": "POW"}
_PYCMP = {"gt": float.__gt__, "ge": float.__ge__, "lt": float.__lt__, "le": float.__le__, "eq": float.__eq__,
          "ne": float.__ne__}


def literal(v: float) -> str:
    if math.isnan(v):
        raise ValueError("NaN in the model's equations")
    if math.isinf(v):
        return "INFINITY" if v > 0 else "(-INFINITY)"
    return f"R({v!r})" if v >= 0 else f"R(({v!r}))"


class _Folder:
    """Rebuilds expression trees with fixed symbols replaced by numbers, folding constants."""

    def __init__(self, fixed: Mapping[str, float]) -> None:
        self.fixed = dict(fixed)
        self.memo: dict[int, Expr] = {}

    def __call__(self, e: Expr) -> Expr:
        key = id(e)
        hit = self.memo.get(key)
        if hit is not None:
            return hit
        if e.op == "sym":
            name = str(e.value)
            out = num(self.fixed[name]) if name in self.fixed else e
        elif not e.args:
            out = e
        else:
            args = tuple(self(a) for a in e.args)
            if e.op in _PYCMP and all(a.is_num() for a in args):
                out = num(1.0 if _PYCMP[e.op](float(args[0].value), float(args[1].value)) else 0.0)
            elif e.op == "select" and args[0].is_num():
                out = args[2] if float(args[0].value) != 0.0 else args[1]
            elif e.op == "select" and args[1].is_num() and args[2].is_num() and args[1].value == args[2].value:
                out = args[1]
            elif (e.op == "mul" and (args[0].is_num(0.0) or args[1].is_num(0.0))) or (
                    e.op == "div" and args[0].is_num(0.0)):
                out = num(0.0)  # for finite operands (a non-finite state fails the patient anyway)
            else:
                out = op(e.op, *args)
        self.memo[key] = out
        return out


def _refcounts(roots: Sequence[Expr]) -> dict[int, int]:
    counts: dict[int, int] = {}
    stack = list(roots)
    while stack:
        e = stack.pop()
        k = id(e)
        counts[k] = counts.get(k, 0) + 1
        if counts[k] == 1:
            stack.extend(e.args)
    return counts


class _Printer:
    def __init__(self, names: Mapping[str, str], counts: Mapping[int, int]) -> None:
        self.names = names  # symbol -> C expression
        self.counts = counts
        self.temps: dict[int, str] = {}
        self.lines: list[str] = []

    def __call__(self, e: Expr) -> str:
        if e.op == "num":
            return literal(float(e.value))  # type: ignore[arg-type]
        if e.op == "sym":
            return self.names[str(e.value)]
        if e.op == "time":
            return "t"
        k = id(e)
        if k in self.temps:
            return self.temps[k]
        a = [self(x) for x in e.args]
        if e.op in _ARITH:
            text = f"({a[0]} {_ARITH[e.op]} {a[1]})"
        elif e.op in _CMP:
            text = f"({a[0]} {_CMP[e.op]} {a[1]})"
        elif e.op in _BOOL:
            text = f"({a[0]} {_BOOL[e.op]} {a[1]})"
        elif e.op == "neg":
            text = f"(-{a[0]})"
        elif e.op == "not":
            text = f"(!{a[0]})"
        elif e.op == "select":  # (predicate, value if false, value if true)
            text = f"({a[0]} ? {a[2]} : {a[1]})"
        elif e.op == "pow" and e.args[1].is_num(2.0):
            text = f"({a[0]} * {a[0]})"
        elif e.op in _FUNC:
            text = f"{_FUNC[e.op]}({', '.join(a)})"
        else:
            raise ValueError(f"no C form for the operation {e.op!r}")
        if self.counts.get(k, 0) > 1:
            name = f"t{len(self.temps)}"
            kind = "bool" if e.op in _CMP or e.op in _BOOL or e.op == "not" else "real"
            self.lines.append(f"  const {kind} {name} = {text};")
            self.temps[k] = name
            return name
        return text


def constant_states(eq: Equations, fixed: Mapping[str, float], candidates: Sequence[int]) -> list[int]:
    """The largest subset Z of ``candidates`` (state indices, each zero at the start for every patient
    and receiving no doses) whose rates all fold to exactly 0 when the states in Z are 0: then
    y_Z = 0 solves the model for all time (an invariant set), and those states need no integration."""
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 20000))
    zset = list(candidates)
    while True:
        fold = _fold_signals(eq, {**fixed, **{eq.state_ids[k]: 0.0 for k in zset}})[0]
        keep = [k for k in zset if fold(eq.rates[k][1]).is_num(0.0)]
        if keep == zset:
            return zset
        zset = keep


def _fold_signals(eq: Equations, fixed: Mapping[str, float]) -> tuple[_Folder, list[tuple[str, Expr]]]:
    """Signals folded in dependency order (so that a signal that folds to a number is substituted
    wherever it is named, later in the list or earlier), with those that became numbers left out."""
    fold = _Folder(fixed)
    signals: list[tuple[str, Expr]] = []
    for sid, e in _topological(list(eq.signals)):
        f = fold(e)
        if f.is_num():  # a signal that is the same number for every patient is folded into its uses
            fold.fixed[sid] = float(f.value)  # type: ignore[arg-type]
            fold.memo.clear()
        else:
            signals.append((sid, f))
    return fold, signals


def rhs_body(eq: Equations, theta_ids: Sequence[str], fixed: Mapping[str, float],
             states: Sequence[int] | None = None) -> tuple[str, int]:
    """The body of ``rhs(t, y, th, ts, dy)``: ``y`` the integrated states (``states``, indices into
    ``eq.state_ids``; default all), ``P(j)`` the j-th per-patient value named by ``theta_ids``; every
    other symbol (other states included) must be in ``fixed``. Returns the C text and the number of
    operations it evaluates (for the roofline)."""
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 20000))
    states = list(range(len(eq.state_ids))) if states is None else list(states)
    fold, signals = _fold_signals(eq, fixed)
    known = set(theta_ids) | set(fixed) | {eq.state_ids[k] for k in states} | {sid for sid, _ in signals}
    rates = [(eq.rates[k][0], fold(eq.rates[k][1])) for k in states]
    missing = {s for _, e in signals + rates for s in e.symbols()} - known
    if missing:
        raise ValueError(f"symbols with no value: {sorted(missing)[:5]}")
    names: dict[str, str] = {eq.state_ids[k]: f"y[{j}]" for j, k in enumerate(states)}
    names.update({pid: f"P({j})" for j, pid in enumerate(theta_ids)})
    names.update({sid: f"s_{sid}" for sid, _ in signals})
    roots = [e for _, e in signals] + [e for _, e in rates]
    counts = _refcounts(roots)
    printer = _Printer(names, counts)
    out: list[str] = []
    for sid, e in signals:
        text = printer(e)
        out.extend(printer.lines)
        printer.lines.clear()
        out.append(f"  const real s_{sid} = {text};")
    for k, (_, e) in enumerate(rates):
        text = printer(e)
        out.extend(printer.lines)
        printer.lines.clear()
        out.append(f"  dy[{k}] = {text};")
    return "\n".join(out) + "\n", _count_ops(roots)


def _topological(signals: list[tuple[str, Expr]]) -> list[tuple[str, Expr]]:
    """Signals ordered so that each comes after the signals it refers to (SBML's assignment rules
    have no order; a signal may name one published later in its subsystem)."""
    by_name = dict(signals)
    done: set[str] = set()
    out: list[tuple[str, Expr]] = []

    def visit(sid: str, path: tuple[str, ...]) -> None:
        if sid in done:
            return
        if sid in path:
            raise ValueError(f"signals refer to each other in a cycle: {' -> '.join(path + (sid,))}")
        for dep in sorted(by_name[sid].symbols() & by_name.keys()):
            visit(dep, path + (sid,))
        done.add(sid)
        out.append((sid, by_name[sid]))

    for sid, _ in signals:
        visit(sid, ())
    return out


def _count_ops(roots: Sequence[Expr]) -> int:
    seen: set[int] = set()
    n = 0
    stack = list(roots)
    while stack:
        e = stack.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        if e.args:
            n += 1
            stack.extend(e.args)
    return n
