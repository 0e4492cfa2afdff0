"""SBML export: a valid SBML Level 3 Version 2 file whose equations are immunotwin's.

Fast tests: libsbml's consistency check, the file's dose events, and the file's right-hand
side (its MathML evaluated here, independently of libRoadRunner and of the exporter's own
expression code) against ``model.core.vector_field`` at random states, inputs and times
(relative agreement 1e-9; only libm-level rounding differs).

Slow test (the correctness oracle of both the export and the engine): the median melanoma
patient under nivolumab 3 mg/kg q2w and under nivolumab + ipilimumab, dosing only, 26
weeks: libRoadRunner (CVODE, rtol 1e-10, atol 1e-12) on the exported file and immunotwin's
engine (weekly ``engine.step``, its own rtol 1e-6, atol 1e-9) agree within relative 1e-4
on tumour size, drug concentrations (floor 1e-3 mg/L) and organ damage (floor 1e-6).
"""

from __future__ import annotations

import math
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

libsbml = pytest.importorskip("libsbml")

from immunotwin import sbml  # noqa: E402
from immunotwin.model.core import INPUTS, LAYOUT, PARAMS, tumour_cells, vector_field  # noqa: E402
from immunotwin.spec import parse_regimen  # noqa: E402

NIVO = "nivolumab 3 mg/kg q2w"
COMBO = "nivolumab 1 mg/kg q3w x4 + ipilimumab 3 mg/kg q3w x4 + nivolumab 3 mg/kg q2w from 12w"


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    path = tmp_path_factory.mktemp("sbml") / "melanoma_combo.xml"
    return sbml.export_sbml(path, "melanoma", COMBO, horizon_days=182.0)


@pytest.fixture(scope="module")
def equations() -> sbml.Equations:
    return sbml.derive_equations()


def test_export_is_valid_sbml_l3v2(exported: tuple[Path, list[str]]) -> None:
    path, _ = exported
    doc = libsbml.readSBMLFromFile(str(path))
    assert doc.getNumErrors(libsbml.LIBSBML_SEV_ERROR) == 0
    assert (doc.getLevel(), doc.getVersion()) == (3, 2)
    errors, _ = sbml.consistency(doc)
    assert errors == []
    model = doc.getModel()
    notes = model.getNotesString()
    assert "NOT EXPORTED" in notes and "steroid" in notes and "not for decisions about a real patient" in notes
    rate_rules = [r for r in model.getListOfRules() if r.isRate()]
    assert len(rate_rules) == LAYOUT.size
    assert model.getTimeUnits() == "day"


def test_dose_events_follow_the_regimen(exported: tuple[Path, list[str]]) -> None:
    model = libsbml.readSBMLFromFile(str(exported[0])).getModel()
    events = {}
    for ev in model.getListOfEvents():
        day = float(libsbml.formulaToL3String(ev.getTrigger().getMath()).split(">=")[1])
        events[day] = {ea.getVariable(): libsbml.formulaToL3String(ea.getMath()) for ea in ev.getListOfEventAssignments()}
    # Larkin 2015 schedule: nivo 1 mg/kg + ipi 3 mg/kg on days 0, 21, 42, 63; nivo 3 mg/kg q2w from day 84.
    assert sorted(events) == [0.0, 21.0, 42.0, 63.0, *np.arange(84.0, 182.0, 14.0)]
    assert set(events[0.0]) == {"pk_central_pd1", "pk_central_ctla4"}
    assert events[84.0] == {"pk_central_pd1": "pk_central_pd1 + dose_3_nivolumab"}
    weight = model.getParameter("dose_1_nivolumab").getValue()
    assert model.getParameter("dose_2_ipilimumab").getValue() == pytest.approx(3 * weight)
    assert model.getParameter("first_dose_day_pd1").getValue() == 0.0
    assert model.getParameter("first_dose_day_pdl1").getValue() == 1e9


def test_median_patient_has_no_random_effects() -> None:
    from immunotwin.drugs.catalogue import CATALOGUE

    regimen = parse_regimen(NIVO)
    p = sbml.median_patient("melanoma", regimen)
    assert p.covariates["sex"].iloc[0] == "M"  # melanoma: 38% women
    weight = float(p.covariates["weight_kg"].iloc[0])
    assert weight == 88.0  # men's mean weight, z = 0
    d = CATALOGUE["nivolumab"]  # typical values scaled by weight: PK random effects zero
    assert p.params["pk_cl"][0, 0] == pytest.approx(d.cl_l_day * (weight / d.ref_weight_kg) ** d.cl_weight_exp, rel=1e-12)
    assert p.params["pk_vc"][0, 0] == pytest.approx(d.vc_l * (weight / d.ref_weight_kg) ** d.vc_weight_exp, rel=1e-12)
    for name in ("resistant_fraction", "metastasis_rate", "expansion_rate"):
        np.testing.assert_allclose(p.params[name][0], next(x for x in PARAMS if x.name == name).value, err_msg=name)
    again = sbml.median_patient("melanoma", regimen)
    np.testing.assert_array_equal(again.y0, p.y0)


# --- the file's right-hand side against vector_field ---------------------------------------


def _evaluate(node: Any, env: dict[str, float], rules: dict[str, Any], cache: dict[str, float]) -> float:
    t = node.getType()
    kids = [node.getChild(i) for i in range(node.getNumChildren())]

    def ev(k: Any) -> float:
        return _evaluate(k, env, rules, cache)

    if t == libsbml.AST_INTEGER:
        return float(node.getInteger())
    if t in (libsbml.AST_REAL, libsbml.AST_REAL_E, libsbml.AST_RATIONAL):
        return float(node.getReal())
    if t == libsbml.AST_NAME_TIME:
        return env["time"]
    if t == libsbml.AST_NAME:
        name = node.getName()
        if name in rules:
            if name not in cache:
                cache[name] = ev(rules[name])
            return cache[name]
        return env[name]
    if t == libsbml.AST_PLUS:
        out = ev(kids[0])
        for k in kids[1:]:
            out += ev(k)
        return out
    if t == libsbml.AST_MINUS:
        return -ev(kids[0]) if len(kids) == 1 else ev(kids[0]) - ev(kids[1])
    if t == libsbml.AST_TIMES:
        out = ev(kids[0])
        for k in kids[1:]:
            out *= ev(k)
        return out
    if t == libsbml.AST_DIVIDE:
        return ev(kids[0]) / ev(kids[1])
    if t in (libsbml.AST_POWER, libsbml.AST_FUNCTION_POWER):
        return float(np.power(ev(kids[0]), ev(kids[1])))
    if t == libsbml.AST_FUNCTION_EXP:
        return math.exp(ev(kids[0]))
    if t == libsbml.AST_FUNCTION_LN:
        return math.log(ev(kids[0]))
    if t == libsbml.AST_FUNCTION_MAX:
        return max(ev(k) for k in kids)
    if t == libsbml.AST_FUNCTION_MIN:
        return min(ev(k) for k in kids)
    if t == libsbml.AST_FUNCTION_PIECEWISE:
        for i in range(0, len(kids) - 1, 2):
            if ev(kids[i + 1]):
                return ev(kids[i])
        return ev(kids[-1]) if len(kids) % 2 else math.nan
    relational = {libsbml.AST_RELATIONAL_GT: float.__gt__, libsbml.AST_RELATIONAL_GEQ: float.__ge__,
                  libsbml.AST_RELATIONAL_LT: float.__lt__, libsbml.AST_RELATIONAL_LEQ: float.__le__,
                  libsbml.AST_RELATIONAL_EQ: float.__eq__, libsbml.AST_RELATIONAL_NEQ: float.__ne__}
    if t in relational:
        return float(relational[t](ev(kids[0]), ev(kids[1])))
    raise AssertionError(f"unexpected MathML node {node.getName() or t}")


def test_exported_rhs_equals_vector_field(exported: tuple[Path, list[str]], equations: sbml.Equations) -> None:
    import jax

    model = libsbml.readSBMLFromFile(str(exported[0])).getModel()
    assignment = {r.getVariable(): r.getMath() for r in model.getListOfRules() if r.isAssignment()}
    rate = {r.getVariable(): r.getMath() for r in model.getListOfRules() if r.isRate()}
    base = {p.getId(): p.getValue() for p in model.getListOfParameters() if p.isSetValue()}
    f = jax.jit(vector_field)
    rng = np.random.default_rng(6)
    y_names = list(equations.state_ids)
    for trial in range(6):
        env = dict(base)
        # Parameters perturbed around the median patient's; every organ and input exercised.
        for ids in equations.param_ids.values():
            for pid in np.ravel(ids):
                env[str(pid)] = base[str(pid)] * float(np.exp(0.2 * rng.standard_normal()))
        y0 = np.array([base[s] for s in y_names])
        y = y0.copy()
        for name in ("autoreactive", "damage", "function", "autoantibody"):
            sl = LAYOUT.slices[name]
            lo, hi = {"autoreactive": (0.5, 200.0), "damage": (0.0, 0.6), "function": (0.3, 1.0),
                      "autoantibody": (0.0, 3.0)}[name]
            y[sl] = rng.uniform(lo, hi, sl.stop - sl.start)
        n_slots = LAYOUT.slices["pk_central"].stop - LAYOUT.slices["pk_central"].start
        y[LAYOUT.slices["pk_central"]] = rng.uniform(0, 300, n_slots)
        y[LAYOUT.slices["pk_periph"]] = rng.uniform(0, 100, n_slots)
        for name, (lo, hi) in (("marrow_prol", (0.5, 8.0)), ("marrow_transit", (0.5, 8.0)), ("neutrophils", (0.2, 8.0)),
                               ("micrometastases", (0.0, 2.0)), ("car_support_lost", (0.0, 1.0))):
            sl = LAYOUT.slices[name]
            y[sl] = rng.uniform(lo, hi, sl.stop - sl.start)
        for name in ("effector", "exhausted", "memory", "treg_tumour", "treg_systemic", "steroid_effect",
                     "car_effector", "car_memory", "crs_cytokine", "icans_driver", "nk_active", "vascular_leak"):
            if y[LAYOUT.slices[name]].max() == 0.0:
                y[LAYOUT.slices[name]] = rng.uniform(0.1, 5.0)
            y[LAYOUT.slices[name]] *= float(np.exp(rng.standard_normal()))
        y[LAYOUT.slices["log_sensitive"]] = -21.0 if trial == 1 else y0[LAYOUT.slices["log_sensitive"]] + rng.normal()
        env.update(zip(y_names, y.tolist(), strict=True))
        env["time"] = float(rng.uniform(0, 700))
        inputs = {"steroid": rng.uniform(0, 80) * (trial % 2), "second_line": float(trial == 3),
                  "freeze": float(trial == 4), "tfd": rng.uniform(0, env["time"], n_slots),
                  "rate": rng.uniform(0, 5, n_slots) * (trial % 2)}
        for key, ids in equations.input_ids.items():
            for pid, v in zip(np.ravel(ids), np.ravel(inputs[key]), strict=True):
                env[str(pid)] = float(v)
        params = {k: np.array([env[str(x)] for x in np.ravel(ids)]).reshape(np.shape(ids))
                  for k, ids in equations.param_ids.items()}
        u = {k: (np.asarray(inputs[k], dtype=np.float64) if m > 1 else np.float64(inputs[k])) for k, m in INPUTS.items()}
        want = np.asarray(f(env["time"], y, (params, u)))
        cache: dict[str, float] = {}
        got = np.array([_evaluate(rate[s], env, assignment, cache) for s in y_names])
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12, err_msg=f"trial {trial}")


def test_every_traced_primitive_has_a_rule() -> None:
    with pytest.raises(NotImplementedError, match="cumsum"):
        import jax
        import jax.numpy as jnp

        jx = jax.make_jaxpr(jnp.cumsum)(np.zeros(3))
        sbml._interpret(jx.jaxpr, jx.consts, [sbml._objects((3,), lambda i: sbml.sym(f"x{i[0]}"))])


# --- libRoadRunner against the engine ------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("regimen", [NIVO, COMBO])
def test_roadrunner_on_exported_sbml_agrees_with_engine(regimen: str) -> None:
    pytest.importorskip("roadrunner")
    drugs = parse_regimen(regimen)
    patient = sbml.median_patient("melanoma", drugs)
    cov = patient.covariates
    weeks = 26
    plan = sbml.dose_plan(drugs, cov["weight_kg"].to_numpy(float), cov["height_cm"].to_numpy(float), 7.0 * weeks)
    doc = sbml.build_document("melanoma", drugs, regimen, 7.0 * weeks, patient=patient)
    # libRoadRunner runs in its own process: its LLVM and the one inside jaxlib must not share
    # a process (loading both in one interpreter can crash it).
    tmp = Path(tempfile.mkdtemp())
    (tmp / "model.xml").write_text(sbml.to_string(doc))
    damage = [f"damage_{o}" for o in sbml._element_names(12)]
    selections = ["time", "tumour", "conc_pd1", "conc_ctla4", *damage]
    script = textwrap.dedent(f"""
        import json, numpy as np, roadrunner
        cfg = roadrunner.Config
        cfg.setValue(cfg.LLVM_BACKEND, 1)  # LLJIT: seconds to compile, where MCJIT takes minutes
        rr = roadrunner.RoadRunner(open({str(tmp / "model.xml")!r}).read())
        rr.integrator.relative_tolerance = 1e-10
        rr.integrator.absolute_tolerance = 1e-12
        res = rr.simulate(0.0, {7.0 * weeks!r}, {weeks + 1}, selections={selections!r})
        np.save({str(tmp / "res.npy")!r}, np.asarray(res))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    res = np.load(tmp / "res.npy")
    states = sbml.engine_trajectory(patient, plan, weeks)[0]
    tumour = tumour_cells(states)
    conc = LAYOUT.get(states, "pk_central")[:, :2] / patient.params["pk_vc"][0, :2]
    np.testing.assert_allclose(res[:, 0], 7.0 * np.arange(weeks + 1))
    # Burden in 1e9 cells. The engine integrates the log of each clone, the SBML the cells; once the median patient
    # eliminates the tumour (calibration iteration 10: 2e-9, two cells, at week 17) the two solvers' tails part by
    # about 1% relative, 2e-11 absolute: atol 1e-6 (a thousand cells) keeps the check at 1e-4 relative wherever a
    # tumour is there to see.
    np.testing.assert_allclose(res[:, 1], tumour, rtol=1e-4, atol=1e-6)
    for j in range(2):
        np.testing.assert_allclose(res[:, 2 + j], conc[:, j], rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(res[:, 4:], LAYOUT.get(states, "damage"), rtol=1e-4, atol=1e-10)
    assert res[:, 2].max() > 10.0  # nivolumab was given
    assert (res[:, 3].max() > 10.0) == ("ipilimumab" in regimen)
