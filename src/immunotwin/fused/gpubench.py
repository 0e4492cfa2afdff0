"""The fused engine measured on a GPU next to a plain ``jax.vmap`` of diffrax, on the same model.

Two steps, so that the GPU machine needs only NumPy, CuPy, JAX and diffrax:

``python -m immunotwin.fused.gpubench prepare --out DIR``
    (any machine) samples, burns in and enrols the CheckMate 067 arms as ``immunotwin bench``
    does, writes each arm's patients, dose plan, generated kernel source and per-patient values,
    and the tight-tolerance reference (diffrax Dopri8, rtol 1e-12) for the accuracy subset.
``python -m immunotwin.fused.gpubench measure --data DIR --json FILE``
    (the GPU machine) compiles the kernels with NVRTC, measures the fused engine in float64 and
    float32 (work-precision and scaling to 10^7 patients, arm tiled), the plain diffrax vmap on
    the same patients, the GPU's own ceilings (FMA rate, copy bandwidth) and the roofline terms,
    and writes everything to ``FILE`` after each stage (a cut-off run keeps what it measured).

Timings: kernel time from CUDA events; end to end adds the host-device copies. Nothing asserts
a speed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

WEEKS = 104
F64_TOLERANCES = ((1e-4, 1e-7), (1e-6, 1e-9), (1e-8, 1e-11))
F32_TOLERANCES = ((1e-3, 1e-6), (1e-4, 1e-7), (1e-5, 1e-8))


# ---------------------------------------------------------------------------------------
# prepare (CPU)
# ---------------------------------------------------------------------------------------


def _n_clones() -> int:
    """How many tumour clones lead the default saved states (fused.engine.save_indices); imported late, as the
    rest of this module imports the model."""
    from ..model.core import CLONE_STATES

    return len(CLONE_STATES)


def prepare(out: Path, per_arm: int, k_acc: int, seed: int) -> dict:
    from .. import bench
    from .engine import dose_states, given_matrix, model_for, plan_inputs, save_indices

    spec = bench._spec(bench.DEFAULT_SPEC)
    out.mkdir(parents=True, exist_ok=True)
    meta: dict[str, Any] = {"spec": bench.DEFAULT_SPEC, "seed": seed, "per_arm": per_arm, "accuracy_patients": k_acc,
                            "weeks": WEEKS, "arms": []}
    for a, arm in enumerate(spec.arms):
        patients, plan = bench.prepare_arm(spec, a, per_arm, seed)
        model = model_for(patients, plan)
        theta = model.theta(patients.params, plan_inputs(plan, patients.n))
        (out / f"kernel{a}.cu").write_text(model.text)
        np.savez_compressed(out / f"arm{a}.npz", y0=patients.y0, y0_fused=patients.y0[:, list(model.states)],
                            theta=theta, amount=plan.amount, given=given_matrix(plan, WEEKS), slot=plan.slot,
                            dose_pos=model.positions(dose_states(plan)), save_pos=model.positions(save_indices()),
                            first_dose=plan.first_dose(patients.n),
                            **{f"d__{j}": d for j, d in enumerate(plan.days)},
                            **{f"p__{k}": v for k, v in patients.params.items()})
        ref = bench.reference(*bench.subset(patients, plan, k_acc))
        np.save(out / f"ref{a}.npy", ref)
        meta["arms"].append({"name": arm.name, "n_theta": len(model.theta_ids), "ops_per_rhs": model.ops_per_rhs,
                             "used_slots": bench.used_slots(plan), "n_states": int(patients.y0.shape[1]),
                             "n_integrated": len(model.states), "plan_from": "plan_inputs"})
    (out / "meta.json").write_text(json.dumps(meta, indent=1))
    return meta


# ---------------------------------------------------------------------------------------
# measure (GPU, or CPU for a smoke test)
# ---------------------------------------------------------------------------------------


class Arm:
    def __init__(self, data: Path, a: int, meta: dict) -> None:
        with np.load(data / f"arm{a}.npz") as z:
            self.z = {k: np.array(z[k]) for k in z.files}
        self.text = (data / f"kernel{a}.cu").read_text()
        self.ref = np.load(data / f"ref{a}.npy")
        self.meta = meta["arms"][a]
        self.n = self.z["y0"].shape[0]
        self.params = {k[3:]: v for k, v in self.z.items() if k.startswith("p__")}
        self.save = [int(x) for x in self.z["save_pos"]]  # integrated positions of the observed states

    def observations(self, saved: np.ndarray, idx: np.ndarray) -> np.ndarray:
        from .engine import observations

        return observations(saved, {"pk_vc": self.params["pk_vc"][idx]})

    def errors(self, obs: np.ndarray) -> dict:
        from ..bench import rel_errors

        return rel_errors(obs[: self.ref.shape[0]], self.ref, self.meta["used_slots"])


class GpuKernel:
    """One arm's kernel compiled with NVRTC (CuPy) for one precision."""

    def __init__(self, text: str, precision: str, maxrregcount: int = 0) -> None:
        from .gpu import compile_module

        self.mod = compile_module(text, precision, maxrregcount)  # 0: no register cap
        self.dtype = self.mod.dtype
        self.compile_s = self.mod.compile_s
        self.registers = self.mod.registers
        self.local_bytes = self.mod.local_bytes

    def run(self, arm: Arm, n: int, rtol: float, atol: float, save: list[int], block: int = 128,
            lanes: int = 0) -> dict:
        """Patients 0..n-1 of the arm tiled to n; ``save``: integrated positions (-1: held at zero).
        Returns timings, saved states (host) and steps."""
        import cupy as cp

        from .gpu import launch

        dt = self.dtype
        reps = -(-n // arm.n)
        t0 = time.perf_counter()
        y0 = cp.tile(cp.asarray(arm.z["y0_fused"].T.astype(dt)), (1, reps))[:, :n].copy()
        th = cp.tile(cp.asarray(arm.z["theta"].astype(dt)), (1, reps))[:, :n].copy()
        am = cp.tile(cp.asarray(arm.z["amount"].T.astype(dt)), (1, reps))[:, :n].copy()
        gv = cp.asarray(arm.z["given"].astype(np.uint8))
        sl = cp.asarray(arm.z["dose_pos"].astype(np.int32))
        si = cp.asarray(np.asarray(save, dtype=np.int32))
        cp.cuda.Device().synchronize()
        t_up = time.perf_counter() - t0
        out, steps, kernel_s = launch(self.mod, n, y0, th, am, gv, sl, si, WEEKS, rtol, atol, 100_000, block, lanes)
        t1 = time.perf_counter()
        host = cp.asnumpy(out)
        st = cp.asnumpy(steps)
        down_s = time.perf_counter() - t1
        del y0, th, am, out, steps
        cp.get_default_memory_pool().free_all_blocks()
        return {"kernel_s": kernel_s, "upload_s": t_up, "download_s": down_s, "saved": host, "steps": st}


def _saved_obs(arm: Arm, res: dict, n: int, save_len: int) -> np.ndarray:
    saved = res["saved"].reshape(WEEKS + 1, save_len, n).transpose(2, 0, 1)
    idx = np.arange(n) % arm.n
    return arm.observations(saved, idx)


def _steps_summary(steps: np.ndarray) -> dict:
    s = np.abs(steps.astype(np.float64))
    return {"mean_steps": float(s.mean()), "median_steps": float(np.median(s)), "max_steps": float(s.max()),
            "failed": int((steps < 0).sum())}


def _ceilings() -> dict:
    """The GPU's own FMA rates (float64, float32) and device-to-device copy bandwidth."""
    import cupy as cp

    src = r"""
    template<typename T> __device__ void body(T* out, long n, int iters) {
      long i = (long)blockIdx.x * blockDim.x + threadIdx.x; if (i >= n) return;
      T a = (T)(i % 7) * (T)1e-3, b = (T)0.999, c = (T)1e-4, x0 = a, x1 = a + c, x2 = a + 2 * c, x3 = a + 3 * c;
      for (int k = 0; k < iters; ++k) { x0 = x0 * b + c; x1 = x1 * b + c; x2 = x2 * b + c; x3 = x3 * b + c; }
      out[i] = x0 + x1 + x2 + x3; }
    extern "C" __global__ void fma64(double* o, long n, int it) { body<double>(o, n, it); }
    extern "C" __global__ void fma32(float* o, long n, int it) { body<float>(o, n, it); }
    """
    mod = cp.RawModule(code=src, options=("--std=c++14",))
    out: dict[str, float] = {}
    n, iters = 1 << 22, 4096
    for name, dt in (("fma64", cp.float64), ("fma32", cp.float32)):
        fn = mod.get_function(name)
        buf = cp.empty(n, dtype=dt)
        fn((n // 256,), (256,), (buf, np.int64(n), np.int32(16)))
        times = []
        for _ in range(3):
            s, e = cp.cuda.Event(), cp.cuda.Event()
            s.record()
            fn((n // 256,), (256,), (buf, np.int64(n), np.int32(iters)))
            e.record()
            e.synchronize()
            times.append(cp.cuda.get_elapsed_time(s, e) / 1e3)
        out[f"{name}_tflops"] = 2.0 * 4 * iters * n / min(times) / 1e12
        if not bool(cp.isfinite(buf).all()):
            out[f"{name}_tflops"] = float("nan")
    a = cp.random.random(1 << 28)  # 2 GiB
    b = cp.empty_like(a)
    b[...] = a
    times = []
    for _ in range(5):
        s, e = cp.cuda.Event(), cp.cuda.Event()
        s.record()
        b[...] = a
        e.record()
        e.synchronize()
        times.append(cp.cuda.get_elapsed_time(s, e) / 1e3)
    out["copy_tb_s"] = 2 * a.nbytes / float(np.median(times)) / 1e12
    del a, b
    cp.get_default_memory_pool().free_all_blocks()
    return out


def _device_name() -> str:
    try:
        import cupy as cp

        return str(cp.cuda.runtime.getDeviceProperties(0)["name"].decode())
    except Exception:  # pragma: no cover
        return "unknown"


def measure(data: Path, json_path: Path, scaling: list[int], vmap_n: list[int], budget_s: float) -> dict:
    import cupy as cp

    started = time.perf_counter()
    meta = json.loads((data / "meta.json").read_text())
    arms = [Arm(data, a, meta) for a in range(len(meta["arms"]))]
    res: dict[str, Any] = {"device": _device_name(), "meta": meta, "started": time.strftime("%Y-%m-%d %H:%M:%S UTC",
                                                                                            time.gmtime()),
                           "versions": _versions(), "host": platform.node(), "fused": {}, "scaling": [], "vmap": {}}

    def dump() -> None:
        res["elapsed_s"] = time.perf_counter() - started
        json_path.write_text(json.dumps(res, indent=1, default=float))

    def stage(name: str, fn) -> None:  # type: ignore[no-untyped-def]
        try:
            fn()
        except Exception as exc:  # record and go on: a cut-off stage must not lose the others
            import traceback

            res.setdefault("errors", {})[name] = traceback.format_exc()[-2000:]
            print(f"stage {name} failed: {exc!r}", flush=True)
        dump()

    stage("ceilings", lambda: res.__setitem__("ceilings", _ceilings()))
    kernels: dict[tuple[int, str], GpuKernel] = {}

    def work_precision(prec: str) -> None:
        for a, arm in enumerate(arms):
            kernels[(a, prec)] = GpuKernel(arm.text, prec)
        res["fused"][prec] = {"compile_s": sum(kernels[(a, prec)].compile_s for a in range(len(arms))),
                              "registers": kernels[(0, prec)].registers,
                              "local_bytes": kernels[(0, prec)].local_bytes, "points": []}
        tols = F64_TOLERANCES if prec == "float64" else F32_TOLERANCES
        for rtol, atol in tols:
            kern_s = wall_s = 0.0
            n_tot = 0
            errs, steps_all = [], []
            for a, arm in enumerate(arms):
                kernels[(a, prec)].run(arm, min(arm.n, 256), rtol, atol, arm.save)  # warm
                r = kernels[(a, prec)].run(arm, arm.n, rtol, atol, arm.save)
                kern_s += r["kernel_s"]
                wall_s += r["kernel_s"] + r["upload_s"] + r["download_s"]
                n_tot += arm.n
                errs.append(arm.errors(_saved_obs(arm, r, arm.n, len(arm.save))))
                steps_all.append(r["steps"])
            worst = {k: max(e[k] for e in errs) for k in errs[0]}
            res["fused"][prec]["points"].append({"rtol": rtol, "atol": atol, "n": n_tot, "kernel_s": kern_s,
                                                 "wall_s": wall_s, "patients_per_s": n_tot / kern_s,
                                                 "patients_per_s_end_to_end": n_tot / wall_s, **worst,
                                                 **_steps_summary(np.concatenate(steps_all))})
            dump()

    for prec in ("float64", "float32"):
        stage(f"work_precision_{prec}", lambda prec=prec: work_precision(prec))

    # Launch shape and register cap, then scaling: arm 0 (the combination) tiled to N, default
    # tolerances; saving the tumour states only.
    save_tum = arms[0].save[:_n_clones()]
    tol = {"float64": (1e-6, 1e-9), "float32": (1e-4, 1e-7)}

    def variants(prec: str) -> None:
        rtol, atol = tol[prec]
        for regs in (0, 128):
            kern = kernels[(0, prec)] if regs == 0 else GpuKernel(arms[0].text, prec, regs)
            for block in (64, 128, 256):
                r = kern.run(arms[0], 1 << 18, rtol, atol, save_tum, block=block)
                res["scaling"].append({"precision": prec, "n": 1 << 18, "block": block, "maxrregcount": regs,
                                       "registers": kern.registers, "local_bytes": kern.local_bytes,
                                       "kernel_s": r["kernel_s"], "patients_per_s": (1 << 18) / r["kernel_s"],
                                       **_steps_summary(r["steps"])})
                dump()
                if time.perf_counter() - started > budget_s * 0.4:
                    return

    def scale(prec: str) -> None:
        rtol, atol = tol[prec]
        pts = [p for p in res["scaling"] if p["precision"] == prec and "patients_per_s" in p]
        best = max(pts, key=lambda p: p["patients_per_s"]) if pts else {"block": 128, "maxrregcount": 0}
        regs = best["maxrregcount"]
        kern = kernels[(0, prec)] if regs == 0 else GpuKernel(arms[0].text, prec, regs)
        for n in scaling:
            rate = best.get("patients_per_s", 1e5)
            if n / rate > budget_s / 8 or time.perf_counter() - started > budget_s * 0.55:
                res["scaling"].append({"precision": prec, "n": n, "skipped": "time budget"})
                continue
            r = kern.run(arms[0], n, rtol, atol, save_tum, block=best["block"])
            res["scaling"].append({"precision": prec, "n": n, "block": best["block"], "maxrregcount": regs,
                                   "kernel_s": r["kernel_s"], "upload_s": r["upload_s"],
                                   "download_s": r["download_s"], "patients_per_s": n / r["kernel_s"],
                                   "patients_per_s_end_to_end": n / (r["kernel_s"] + r["upload_s"] + r["download_s"]),
                                   **_steps_summary(r["steps"])})
            dump()

    for prec in ("float64", "float32"):
        stage(f"variants_{prec}", lambda prec=prec: variants(prec))
    for prec in ("float64", "float32"):
        stage(f"scaling_{prec}", lambda prec=prec: scale(prec))
    kernels.clear()

    cp.get_default_memory_pool().free_all_blocks()
    stage("vmap", lambda: _vmap(arms, data, vmap_n, res, dump, started, budget_s))
    return res


def measure_lanes(data: Path, json_path: Path, scaling: list[int], budget_s: float) -> dict:
    """Persistent lanes against one thread per patient, side by side, then scaling with lanes."""
    started = time.perf_counter()
    meta = json.loads((data / "meta.json").read_text())
    arm = Arm(data, 0, meta)
    res: dict[str, Any] = {"device": _device_name(), "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                           "versions": _versions(), "arm": arm.meta["name"], "check": [], "side_by_side": [],
                           "scaling": []}
    tol = {"float64": (1e-6, 1e-9), "float32": (1e-4, 1e-7)}
    best = {"float64": (128, 64), "float32": (0, 128)}  # (register cap, block) from the first run's sweep

    def dump() -> None:
        res["elapsed_s"] = time.perf_counter() - started
        json_path.write_text(json.dumps(res, indent=1, default=float))

    kernels = {}
    for prec in ("float64", "float32"):
        kernels[prec] = GpuKernel(arm.text, prec, best[prec][0])
        res[f"compile_s_{prec}"] = kernels[prec].compile_s
        res[f"registers_{prec}"] = kernels[prec].registers
    dump()
    for prec in ("float64", "float32"):  # the same numbers either way, and as accurate
        rtol, atol = tol[prec]
        a = kernels[prec].run(arm, arm.n, rtol, atol, arm.save, block=best[prec][1])
        b = kernels[prec].run(arm, arm.n, rtol, atol, arm.save, block=best[prec][1], lanes=256)  # lanes << n
        res["check"].append({"precision": prec, "identical": bool(np.array_equal(a["saved"], b["saved"], equal_nan=True)
                                                                 and np.array_equal(a["steps"], b["steps"])),
                             **arm.errors(_saved_obs(arm, b, arm.n, len(arm.save)))})
        dump()
    save_tum = arm.save[:_n_clones()]
    n_side = 1 << 18
    for prec in ("float64", "float32"):
        rtol, atol = tol[prec]
        block = best[prec][1]
        r = kernels[prec].run(arm, n_side, rtol, atol, save_tum, block=block)
        res["side_by_side"].append({"precision": prec, "n": n_side, "lanes": 0, "block": block,
                                    "kernel_s": r["kernel_s"], "patients_per_s": n_side / r["kernel_s"]})
        dump()
        for lanes in (132 * 256, 132 * 512, 132 * 1024):
            r = kernels[prec].run(arm, n_side, rtol, atol, save_tum, block=block, lanes=lanes)
            res["side_by_side"].append({"precision": prec, "n": n_side, "lanes": lanes, "block": block,
                                        "kernel_s": r["kernel_s"], "patients_per_s": n_side / r["kernel_s"],
                                        **_steps_summary(r["steps"])})
            dump()
    for prec in ("float32", "float64"):
        rtol, atol = tol[prec]
        pts = [p for p in res["side_by_side"] if p["precision"] == prec and p["lanes"]]
        top = max(pts, key=lambda p: p["patients_per_s"])
        for n in scaling:
            if n / top["patients_per_s"] > budget_s / 5 or time.perf_counter() - started > budget_s * 0.7:
                res["scaling"].append({"precision": prec, "n": n, "skipped": "time budget"})
                continue
            r = kernels[prec].run(arm, n, rtol, atol, save_tum, block=top["block"], lanes=top["lanes"])
            res["scaling"].append({"precision": prec, "n": n, "lanes": top["lanes"], "block": top["block"],
                                   "kernel_s": r["kernel_s"], "upload_s": r["upload_s"], "download_s": r["download_s"],
                                   "patients_per_s": n / r["kernel_s"],
                                   "patients_per_s_end_to_end": n / (r["kernel_s"] + r["upload_s"] + r["download_s"]),
                                   **_steps_summary(r["steps"])})
            dump()
    return res


def _vmap(arms: list[Arm], data: Path, vmap_n: list[int], res: dict, dump, started: float, budget_s: float) -> dict:  # type: ignore[no-untyped-def]
    """A plain jax.vmap of diffrax.diffeqsolve (immunotwin.bench.DiffraxVmap) on the same patients."""
    import jax

    from ..bench import DiffraxVmap
    from ..sbml import DosePlan, Patients

    out: dict[str, Any] = {"jax_device": str(jax.devices()[0]), "points": [], "scaling": []}
    res["vmap"] = out

    def patients(arm: Arm, n: int) -> tuple[Any, Any]:
        idx = np.arange(n) % arm.n
        days = tuple(arm.z[f"d__{j}"] for j in range(len(arm.z["slot"])))
        plan = DosePlan(tuple(None for _ in days), arm.z["slot"], days, arm.z["amount"][idx])
        return Patients({k: v[idx] for k, v in arm.params.items()}, arm.z["y0"][idx], None), plan

    eng = DiffraxVmap("tsit5")
    t = time.perf_counter()
    for arm in arms:
        eng.run(*patients(arm, arm.n), 1e-6, 1e-9, compile_only=True)
    out["compile_s"] = time.perf_counter() - t
    for rtol, atol in F64_TOLERANCES:
        wall, n_tot, errs = 0.0, 0, []
        for arm in arms:
            p, pl = patients(arm, arm.n)
            t = time.perf_counter()
            obs = eng.run(p, pl, rtol, atol)
            wall += time.perf_counter() - t
            n_tot += arm.n
            errs.append(arm.errors(obs))
        worst = {k: max(e[k] for e in errs) for k in errs[0]}
        out["points"].append({"rtol": rtol, "atol": atol, "n": n_tot, "wall_s": wall, "patients_per_s": n_tot / wall,
                              **worst})
        dump()
    for n in vmap_n:
        if time.perf_counter() - started > budget_s * 0.85:
            out["scaling"].append({"n": n, "skipped": "time budget"})
            continue
        p, pl = patients(arms[0], n)
        t = time.perf_counter()
        eng.run(p, pl, 1e-6, 1e-9, compile_only=True)
        comp = time.perf_counter() - t
        t = time.perf_counter()
        eng.run(p, pl, 1e-6, 1e-9)
        wall = time.perf_counter() - t
        out["scaling"].append({"n": n, "wall_s": wall, "compile_s": comp, "patients_per_s": n / wall})
        dump()
    return out


def _versions() -> dict:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for dist in ("numpy", "cupy-cuda13x", "cupy-cuda12x", "jax", "jaxlib", "diffrax"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


# ---------------------------------------------------------------------------------------
# RESULTS.md section from the stored measurements (benchmarks/gpu/*.json)
# ---------------------------------------------------------------------------------------

#: Floating-point operations per state and attempted step in the Tsit5 loop around the right-hand
#: side (stage inputs 2 x 21 + 14, error estimate 14 + 8): counted from source.py's loops.
LOOP_FLOPS_PER_STATE = 78
#: Reads and writes of the per-thread stage arrays per state and attempted step (stage inputs 21,
#: stage input writes 7, right-hand side reads and writes 7 + 7, error estimate 7 + 2, accept 2).
LOOP_WORDS_PER_STATE = 53


def roofline(meta_arm: dict, mean_steps: float, precision: str, patients_per_s: float, ceilings: dict,
             weeks: int = WEEKS) -> dict:
    """Work per patient and the fraction of the GPU's measured ceilings it reaches."""
    ns = int(meta_arm["n_integrated"])
    evals = 6.0 * mean_steps + weeks  # 6 new stages per attempt, plus stage 1 after each week's doses
    flops = meta_arm["ops_per_rhs"] * evals + LOOP_FLOPS_PER_STATE * ns * mean_steps
    word = 8 if precision == "float64" else 4
    local = LOOP_WORDS_PER_STATE * ns * mean_steps * word
    glob = word * (ns + meta_arm["n_theta"] + 2 + (weeks + 1) * 2) + 4
    peak = ceilings["fma64_tflops" if precision == "float64" else "fma32_tflops"] * 1e12
    bw = ceilings["copy_tb_s"] * 1e12
    return {"rhs_evals": evals, "flops": flops, "local_bytes": local, "global_bytes": glob,
            "tflops": flops * patients_per_s / 1e12, "flop_fraction": flops * patients_per_s / peak,
            "local_tb_s": local * patients_per_s / 1e12, "local_fraction": local * patients_per_s / bw,
            "compute_bound_patients_per_s": peak / flops, "local_bound_patients_per_s": bw / local}


def render_stored(folder: Path) -> str:
    """Markdown for the stored GPU measurements in ``folder`` (empty if there are none)."""
    from ..bench import _f

    files = sorted(folder.glob("*.json")) if folder.is_dir() else []
    runs = [json.loads(f.read_text()) | {"file": f.name} for f in files]
    full = [r for r in runs if "fused" in r]
    lanes = [r for r in runs if "side_by_side" in r]
    if not full:
        return ""
    r1 = full[0]
    meta, ceil = r1["meta"], r1.get("ceilings", {})
    a0 = meta["arms"][0]
    out = ["", f"## GPU: {r1['device']} (stored measurements, `benchmarks/gpu/`)", "",
           "Measured on the device machine with `python -m immunotwin.fused.gpubench` on patients prepared on the CPU "
           f"machine ({r1.get('prepared_by', 'prepare')}); kernel time from CUDA events, the dosing-only model over "
           f"{WEEKS} weeks. Arm tiled to N where N exceeds the {meta['per_arm']} prepared patients.", ""]
    for r in full + lanes:
        out.append(f"- `{r['file']}`: {r['started']}, {r.get('code', '')}; `{r.get('command', '')}`; versions "
                   + ", ".join(f"{k} {v}" for k, v in r.get("versions", {}).items()))
    if ceil:
        out += ["", f"Ceilings measured in the same run: FMA {ceil['fma64_tflops']:.1f} TFLOP/s (float64), "
                    f"{ceil['fma32_tflops']:.1f} TFLOP/s (float32); device-to-device copy {ceil['copy_tb_s']:.2f} TB/s."]
    out += ["", f"Model as compiled for arm {a0['name']!r}: {a0['n_integrated']} of {a0['n_states']} states integrated "
                f"(the rest held at zero: compartments of drugs not given), {a0['ops_per_rhs']} operations per "
                f"right-hand side, {a0['n_theta']} per-patient values.", "",
            "### Work-precision on the GPU (all three arms, 2,048 patients each: too few threads to fill the GPU)", "",
            "| engine | precision | rtol | atol | patients/s | tumour rel. error | conc. rel. error | mean steps |",
            "|---|---|---:|---:|---:|---:|---:|---:|"]
    for prec, v in r1["fused"].items():
        for p in v["points"]:
            out.append(f"| fused | {prec} | {p['rtol']:g} | {p['atol']:g} | {_f(p['patients_per_s'])} | "
                       f"{_f(p['tumour_rel_error'], 2)} | {_f(p['conc_rel_error'], 2)} | {p['mean_steps']:.0f} |")
    for p in r1.get("vmap", {}).get("points", []):
        out.append(f"| diffrax_vmap | float64 | {p['rtol']:g} | {p['atol']:g} | {_f(p['patients_per_s'])} | "
                   f"{_f(p['tumour_rel_error'], 2)} | {_f(p['conc_rel_error'], 2)} | - |")
    groups: dict[tuple, list] = {}
    for r in [r1] + lanes:
        for p in r["scaling"] + r.get("side_by_side", []):
            if "skipped" in p:
                continue
            regs = p.get("maxrregcount") or (128 if p["precision"] == "float64" and "lanes" in p else 0)
            how = (f"lanes {p['lanes']}" if p.get("lanes") else "thread per patient") + f", block {p['block']}" + (
                f", {regs} registers" if regs else "")
            groups.setdefault((p["precision"], p["n"], how), []).append(p)

    def row(key: tuple, pts: list) -> str:
        pps = float(np.median([p["patients_per_s"] for p in pts]))
        e2e = [p["patients_per_s_end_to_end"] for p in pts if "patients_per_s_end_to_end" in p]
        st = next((f"{p['mean_steps']:.0f} / {p['max_steps']:.0f}" for p in pts if "mean_steps" in p), "-")
        return (f"| fused | {key[0]} | {key[1]} | {key[2]} | {_f(pps)} | {len(pts)} | "
                f"{_f(float(np.median(e2e))) if e2e else '-'} | {st} |")

    head = ["| engine | precision | N | launch | patients/s (kernel, median) | runs | patients/s (with copies) | "
            "mean / max steps |", "|---|---|---:|---|---:|---:|---:|---|"]
    out += ["", f"### Launch shape (arm {a0['name']!r}, N = 262,144; float64 at rtol 1e-6, float32 at rtol 1e-4)",
            "", *head]
    out += [row(k, v) for k, v in sorted(groups.items(), key=lambda kv: (kv[0][0], -np.median(
        [p["patients_per_s"] for p in kv[1]]))) if k[1] == 1 << 18]
    out += ["", "### Scaling with N (same arm and tolerances)", "", *head]
    out += [row(k, v) for k, v in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2]))
            if k[1] != 1 << 18]
    for p in r1.get("vmap", {}).get("scaling", []):
        if "skipped" not in p:
            out.append(f"| diffrax_vmap | float64 | {p['n']} | one vmap (compile {p['compile_s']:.0f} s apart) | "
                       f"{_f(p['patients_per_s'])} | 1 | - | - |")
    # the comparison and the roofline at the largest N measured with lanes
    best = {}
    for prec in ("float64", "float32"):
        pts = [p for r in lanes for p in r["scaling"] if p["precision"] == prec and "skipped" not in p]
        if pts:
            best[prec] = max(pts, key=lambda p: (p["n"], p["patients_per_s"]))
    vm = [p for p in r1.get("vmap", {}).get("scaling", []) if "skipped" not in p]
    if vm and "float64" in best:
        v = max(vm, key=lambda p: p["n"])
        near = [p for r in lanes for p in r["scaling"] if p["precision"] == "float64" and "skipped" not in p
                and p["n"] <= v["n"]]
        f = max(near, key=lambda p: p["n"]) if near else best["float64"]
        out += ["", f"Fused (float64, N = {f['n']}) against the plain diffrax vmap (float64, N = {v['n']}), same "
                    f"tolerance: {_f(f['patients_per_s'] / v['patients_per_s'])}x."]
    if ceil and best:
        out += ["", "### Roofline (per patient, two years; right-hand-side operations counted one each, exp and pow "
                    "included; local = the per-thread stage arrays, spilled past the registers)", "",
                "| precision | N | patients/s | RHS evaluations | FLOP | achieved TFLOP/s | of FMA peak | local bytes | "
                "local traffic TB/s | of copy bandwidth | compute-bound limit (patients/s) | local-bound limit |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for prec, p in best.items():
            rf = roofline(a0, p["mean_steps"], prec, p["patients_per_s"], ceil)
            out.append(f"| {prec} | {p['n']} | {_f(p['patients_per_s'])} | {rf['rhs_evals']:.0f} | {rf['flops']:.3g} | "
                       f"{rf['tflops']:.2f} | {100 * rf['flop_fraction']:.1f}% | {rf['local_bytes']:.3g} | "
                       f"{rf['local_tb_s']:.2f} | {100 * rf['local_fraction']:.0f}% | "
                       f"{_f(rf['compute_bound_patients_per_s'])} | {_f(rf['local_bound_patients_per_s'])} |")
    out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m immunotwin.fused.gpubench")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p1 = sub.add_parser("prepare")
    p1.add_argument("--out", type=Path, required=True)
    p1.add_argument("--patients-per-arm", type=int, default=2048)
    p1.add_argument("--accuracy-patients", type=int, default=4)
    p1.add_argument("--seed", type=int, default=2026)
    p2 = sub.add_parser("measure")
    p2.add_argument("--data", type=Path, required=True)
    p2.add_argument("--json", type=Path, required=True)
    p2.add_argument("--scaling", default="10000,100000,1000000,10000000")
    p2.add_argument("--vmap", default="16384,131072")
    p2.add_argument("--budget-s", type=float, default=420.0)
    p3 = sub.add_parser("lanes")
    p3.add_argument("--data", type=Path, required=True)
    p3.add_argument("--json", type=Path, required=True)
    p3.add_argument("--scaling", default="1000000,10000000")
    p3.add_argument("--budget-s", type=float, default=300.0)
    args = ap.parse_args(argv)
    if args.cmd == "prepare":
        prepare(args.out, args.patients_per_arm, args.accuracy_patients, args.seed)
    elif args.cmd == "lanes":
        res = measure_lanes(args.data, args.json, [int(x) for x in args.scaling.split(",") if x], args.budget_s)
        print(json.dumps({k: res[k] for k in ("device", "check", "side_by_side", "scaling", "elapsed_s")}, default=float))
    else:
        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
        res = measure(args.data, args.json, [int(x) for x in args.scaling.split(",") if x],
                      [int(x) for x in args.vmap.split(",") if x], args.budget_s)
        print(json.dumps({k: res[k] for k in ("device", "ceilings", "elapsed_s")}, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
