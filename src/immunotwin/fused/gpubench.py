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

    def __init__(self, text: str, precision: str, extra: tuple[str, ...] = ()) -> None:
        import cupy as cp

        t = time.perf_counter()
        opts = ("--std=c++14", *extra) + (("-DIT_FLOAT",) if precision == "float32" else ())
        mod = cp.RawModule(code=text, options=opts)
        self.fn = mod.get_function("run")
        self.fn_lanes = mod.get_function("run_lanes")
        self.fn_lanes.max_threads_per_block  # noqa: B018
        self.dtype = np.float32 if precision == "float32" else np.float64
        self.fn.max_threads_per_block  # noqa: B018  (forces the module to load)
        self.compile_s = time.perf_counter() - t
        self.registers = int(self.fn.num_regs)
        self.local_bytes = int(self.fn.local_size_bytes)

    def run(self, arm: Arm, n: int, rtol: float, atol: float, save: list[int], block: int = 128,
            lanes: int = 0) -> dict:
        """Patients 0..n-1 of the arm tiled to n; ``save``: integrated positions (-1: held at zero).
        Returns timings, saved states (host) and steps."""
        import cupy as cp

        dt = self.dtype
        reps = -(-n // arm.n)
        t0 = time.perf_counter()
        y0 = cp.tile(cp.asarray(arm.z["y0_fused"].T.astype(dt)), (1, reps))[:, :n].copy()
        th = cp.tile(cp.asarray(arm.z["theta"].astype(dt)), (1, reps))[:, :n].copy()
        am = cp.tile(cp.asarray(arm.z["amount"].T.astype(dt)), (1, reps))[:, :n].copy()
        gv = cp.asarray(arm.z["given"].astype(np.uint8))
        sl = cp.asarray(arm.z["dose_pos"].astype(np.int32))
        si = cp.asarray(np.asarray(save, dtype=np.int32))
        out = cp.empty(((WEEKS + 1) * len(save), n), dtype=dt)
        steps = cp.empty(n, dtype=cp.int32)
        nxt = cp.asarray(np.array([lanes], dtype=np.uint64))
        cp.cuda.Device().synchronize()
        t_up = time.perf_counter() - t0
        start, stop = cp.cuda.Event(), cp.cuda.Event()
        start.record()
        tail = (y0, th, am, gv, sl, np.int32(am.shape[0]), np.int32(WEEKS), dt(rtol), dt(atol),
                np.int32(100_000), si, np.int32(len(save)), out, steps)
        if lanes:
            self.fn_lanes(((lanes + block - 1) // block,), (block,), (np.int64(n), nxt, *tail))
        else:
            self.fn(((n + block - 1) // block,), (block,), (np.int64(n), *tail))
        stop.record()
        stop.synchronize()
        kernel_s = cp.cuda.get_elapsed_time(start, stop) / 1e3
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
    save_tum = arms[0].save[:2]
    tol = {"float64": (1e-6, 1e-9), "float32": (1e-4, 1e-7)}

    def variants(prec: str) -> None:
        rtol, atol = tol[prec]
        for regs in (0, 128):
            kern = kernels[(0, prec)] if regs == 0 else GpuKernel(arms[0].text, prec, (f"--maxrregcount={regs}",))
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
        kern = kernels[(0, prec)] if regs == 0 else GpuKernel(arms[0].text, prec, (f"--maxrregcount={regs}",))
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
    best = {"float64": ((f"--maxrregcount={128}",), 64), "float32": ((), 128)}  # from the first run's sweep

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
        b = kernels[prec].run(arm, arm.n, rtol, atol, arm.save, block=best[prec][1], lanes=4096)
        res["check"].append({"precision": prec, "identical": bool(np.array_equal(a["saved"], b["saved"], equal_nan=True)
                                                                 and np.array_equal(a["steps"], b["steps"])),
                             **arm.errors(_saved_obs(arm, b, arm.n, len(arm.save)))})
        dump()
    save_tum = arm.save[:2]
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
