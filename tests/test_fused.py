"""The fused per-patient integrator (immunotwin.fused): its generated right-hand side against the
model's own vector field, its trajectories against a tight-tolerance reference, and the
invariances it promises (held states, persistent lanes, chunking, failures reported).

Needs a C compiler (the CPU build); CuPy and a GPU are not needed (the GPU figures are measured
by ``python -m immunotwin.fused.gpubench`` and stored in benchmarks/gpu/).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from immunotwin import bench
from immunotwin.fused.engine import (
    FusedModel,
    compiler,
    dose_states,
    dosing_only,
    given_matrix,
    model_for,
    observations,
    plan_inputs,
    rhs_cpu,
    save_indices,
)

pytestmark = pytest.mark.skipif(compiler() is None, reason="the fused CPU engine needs a C compiler")
WEEKS = 104


@pytest.fixture(scope="module")
def combo():  # type: ignore[no-untyped-def]
    """Ten enrolled patients of the CheckMate 067 combination arm and their dose plan."""
    spec = bench._spec(bench.DEFAULT_SPEC)
    return bench.prepare_arm(spec, 0, 10, 2026)


def _args(model: FusedModel, p, plan):  # type: ignore[no-untyped-def]
    theta = model.theta(p.params, plan_inputs(plan, p.n))
    return (p.y0, theta, plan.amount, given_matrix(plan, WEEKS), dose_states(plan), WEEKS, save_indices())


@pytest.mark.parametrize("fold", [True, False])
def test_generated_rhs_equals_the_vector_field(combo, fold: bool) -> None:  # type: ignore[no-untyped-def]
    from immunotwin.model.core import LAYOUT, vector_field

    p, plan = combo
    inputs = plan_inputs(plan, p.n)
    rng = np.random.default_rng(7)
    params = p.params
    if not fold:
        # melanoma's patients carry no susceptibility to Fc-reprogrammed macrophages (cancers.fc_macrophages) and
        # start with none reprogrammed: give them both, so the growth term h M and its state's rate are compared too
        params = dict(p.params, hpd_susceptibility=rng.uniform(0.1, 2.0, p.n))
    model = FusedModel(params, inputs, y0=p.y0 if fold else None, dosed=dose_states(plan), fold=fold)
    y = p.y0 * np.exp(rng.normal(0.0, 0.3, p.y0.shape))  # away from the burned-in state
    if not fold:
        y[:, LAYOUT.slices["fc_reprogrammed"]] = rng.uniform(0.05, 0.95, (p.n, 1))
    y[:, list(model.held)] = 0.0
    f = jax.jit(jax.vmap(lambda yy, pp, uu, t: vector_field(t, yy, (pp, uu)), in_axes=(0, 0, 0, None)))
    for t in (0.5, 30.0, 400.0):  # either side of the first doses' time-varying clearance
        ref = np.asarray(f(y, {k: jnp.asarray(v) for k, v in params.items()},
                           {k: jnp.asarray(v) for k, v in inputs.items()}, t))
        dy = rhs_cpu(model, t, y[:, list(model.states)], model.theta(params, inputs).T)
        kept = ref[:, list(model.states)]
        assert np.max(np.abs(dy - kept) / np.maximum(np.abs(kept), 1e-12)) < 1e-10, t
        # the held states are an invariant set: their rates are exactly zero where they are zero
        assert np.all(ref[:, list(model.held)] == 0.0)
    if fold:
        assert 0 < len(model.held) < len(model.states) and len(model.theta_ids) < len(model.fixed)
    else:
        assert model.held == () and model.fixed == {}


def test_trajectories_converge_to_the_reference(combo) -> None:  # type: ignore[no-untyped-def]
    p, plan = combo
    model = model_for(p, plan)
    ps, pls = bench.subset(p, plan, 2)
    ref = bench.reference(ps, pls)
    used = bench.used_slots(plan)
    errs = {}
    for rtol, atol in ((1e-4, 1e-7), (1e-6, 1e-9), (1e-8, 1e-11)):
        saved, steps = dosing_only(model, ps, pls, WEEKS, rtol, atol)
        assert np.all(steps > 0)
        errs[rtol] = bench.rel_errors(observations(saved, ps.params), ref, used)["max_rel_error"]
    # the engine's own tolerance reaches the JAX engine's accuracy (bench: about 5e-5), and the
    # error falls as the tolerance tightens
    assert errs[1e-6] < 5e-4
    assert errs[1e-8] < errs[1e-6] / 5 < errs[1e-4] / 25


def test_float32_is_as_accurate_as_its_tolerance(combo) -> None:  # type: ignore[no-untyped-def]
    p, plan = combo
    ps, pls = bench.subset(p, plan, 2)
    ref = bench.reference(ps, pls)
    m64, m32 = model_for(ps, pls), model_for(ps, pls, precision="float32")
    e = {}
    for name, m in (("64", m64), ("32", m32)):
        saved, _ = dosing_only(m, ps, pls, WEEKS, 1e-4, 1e-7)
        assert saved.dtype == (np.float64 if name == "64" else np.float32)
        e[name] = bench.rel_errors(observations(saved, ps.params), ref, bench.used_slots(pls))["max_rel_error"]
    assert e["32"] < 2e-2 and e["32"] < 5 * e["64"]  # rounding adds little at rtol 1e-4 (GPU run: 3.6e-3 both)


def test_held_states_lanes_and_chunks_give_identical_numbers(combo) -> None:  # type: ignore[no-untyped-def]
    p, plan = combo
    reduced = model_for(p, plan)
    full = FusedModel(p.params, plan_inputs(plan, p.n), fold=False)
    a, sa = reduced.run(*_args(reduced, p, plan))
    b, sb = full.run(*_args(full, p, plan))
    # folded constants are computed by NumPy at build time, by libm at run time in the full model:
    # equal to rounding (bit-identical here), not necessarily on every platform
    assert np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)) < 1e-12
    assert np.max(np.abs(sa - sb)) <= 1
    for lanes in (1, 3, 16):
        c, sc = reduced.run(*_args(reduced, p, plan), lanes=lanes)
        assert np.array_equal(a, c) and np.array_equal(sa, sc)
    for cut in (1, 4):  # patients split into two batches through the same compiled model
        parts = [reduced.run(*_args(reduced, *bench._slice(p, plan, lo, hi))) for lo, hi in ((0, cut), (cut, p.n))]
        assert np.array_equal(np.concatenate([x[0] for x in parts]), a)


def test_a_failing_patient_is_reported_not_raised(combo) -> None:  # type: ignore[no-untyped-def]
    p, plan = combo
    model = model_for(p, plan)
    args = _args(model, p, plan)
    _, steps = model.run(*args)
    cap = int(np.sort(steps)[p.n // 2])  # half the patients need more attempts than this
    saved, st = model.run(*args, max_steps=cap)
    failed = st < 0
    assert 0 < failed.sum() < p.n
    assert np.all(np.isnan(saved[failed, -1])) and np.all(np.isfinite(saved[~failed]))
    lanes_saved, lanes_st = model.run(*args, max_steps=cap, lanes=4)
    assert np.array_equal(lanes_st, st) and np.array_equal(lanes_saved, saved, equal_nan=True)


def test_guards_name_what_is_wrong(combo) -> None:  # type: ignore[no-untyped-def]
    from immunotwin.fused.codegen import rhs_body
    from immunotwin.fused.engine import equations
    from immunotwin.sbml import Equations, Expr

    p, plan = combo
    model = model_for(p, plan)
    other = {k: v.copy() for k, v in p.params.items()}
    name = next(k for k in model.fixed if k in other)
    other[name] = other[name] * 1.5 + 1.0
    with pytest.raises(ValueError, match=name):
        model.theta(other, plan_inputs(plan, p.n))
    y0 = p.y0.copy()
    y0[:, model.held[0]] = 1.0
    with pytest.raises(ValueError, match="held at zero"):
        model.run(y0, *_args(model, p, plan)[1:])
    with pytest.raises(ValueError, match="weeks"):
        model.run(*_args(model, p, plan)[:5], 0, save_indices())
    eq = equations()
    bad = Equations(eq.signals, ((eq.rates[0][0], Expr("erf", (eq.rates[0][1],))),) + eq.rates[1:], eq.state_ids,
                    eq.param_ids, eq.input_ids)
    with pytest.raises(ValueError, match="erf"):
        rhs_body(bad, list(model.theta_ids), model.fixed)


def test_bad_shapes_are_refused_before_the_c_code_runs(combo) -> None:  # type: ignore[no-untyped-def]
    p, plan = combo
    model = model_for(p, plan)
    y0, theta, amount, given, dose, weeks, save = _args(model, p, plan)
    with pytest.raises(ValueError, match="theta"):
        model.run(y0, theta[:, :5], amount, given, dose, weeks, save)
    with pytest.raises(ValueError, match="amount"):
        model.run(y0, theta, amount[:3], given, dose, weeks, save)
    with pytest.raises(ValueError, match="amount"):
        model.run(y0, theta, amount, given, dose[:-1], weeks, save)
    with pytest.raises(ValueError, match="y0"):
        model.run(y0[:, :10], theta, amount, given, dose, weeks, save)
    with pytest.raises(ValueError, match="lanes"):
        model.run(y0, theta, amount, given, dose, weeks, save, lanes=0)


def test_codegen_folds_forward_references_and_compiles_shared_comparisons() -> None:
    from immunotwin.fused.codegen import rhs_body
    from immunotwin.fused.engine import _compile_cpu
    from immunotwin.fused.source import source
    from immunotwin.sbml import Equations, num, op, sym

    # signal a names signal b, published after it; b folds to a number once p is fixed
    x, p = sym("x"), sym("p")
    cmp = op("gt", x, num(1.0))  # one comparison used twice: printed once, as a bool
    rate = op("add", op("mul", sym("a"), x), op("add", op("select", cmp, x, p), op("select", cmp, p, x)))
    eq = Equations(signals=(("a", op("mul", sym("b"), num(2.0))), ("b", op("add", p, num(1.0)))),
                   rates=(("x", rate),), state_ids=("x",), param_ids={"p": np.array("p", dtype=object)},
                   input_ids={})
    body, _ = rhs_body(eq, [], {"p": 3.0})
    assert "R(8.0)" in body and "const bool" in body  # a = 2 * (3 + 1), folded through b
    model = FusedModel.__new__(FusedModel)  # only what rhs_cpu reads
    model.target, model.dtype = "cpu", np.float64
    model._fn = _compile_cpu(source(body, 1, 1), "float64")
    y = np.array([[0.5], [2.0]])
    dy = rhs_cpu(model, 0.0, y, np.zeros((2, 1)))
    # x <= 1: 8x + p + x; x > 1: 8x + x + p
    assert np.allclose(dy[:, 0], 8 * y[:, 0] + 3.0 + y[:, 0])
