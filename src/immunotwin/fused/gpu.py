"""The fused integrator on an NVIDIA GPU (CuPy and NVRTC; optional: CuPy is not a dependency).

One module per generated source and precision holds two kernels: ``run`` (one thread per
patient) and ``run_lanes`` (persistent lanes that take the next patient from a shared counter,
so that a warp's lanes do not idle while its slowest patient finishes). Both give the same numbers
for every patient. On an H200 (``benchmarks/gpu/``), side by side in one run at N = 262,144, lanes
were 1.25x faster in float64 and 1.10x in float32; with fewer patients than lanes they are
slightly slower (no lane takes a second patient).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

#: Launch shapes measured best on an H200 (benchmarks/gpu/run1_h200.json, run2_lanes_h200.json):
#: float64 capped at 128 registers in blocks of 64 with 512 lanes per multiprocessor; float32
#: uncapped in blocks of 128 with 256 lanes per multiprocessor.
SHAPES = {"float64": {"maxrregcount": 128, "block": 64, "lanes_per_sm": 512},
          "float32": {"maxrregcount": 0, "block": 128, "lanes_per_sm": 256}}


@dataclass
class Module:
    run: Any
    run_lanes: Any
    dtype: type
    registers: int  # of run (thread per patient)
    local_bytes: int
    compile_s: float
    lane_registers: int  # of run_lanes
    lane_local_bytes: int


def compile_module(text: str, precision: str, maxrregcount: int | None = None) -> Module:
    import time

    import cupy as cp

    regs = SHAPES[precision]["maxrregcount"] if maxrregcount is None else maxrregcount
    opts = ["--std=c++14"] + (["-DIT_FLOAT"] if precision == "float32" else []) + (
        [f"--maxrregcount={regs}"] if regs else [])
    t = time.perf_counter()
    mod = cp.RawModule(code=text, options=tuple(opts))
    run, lanes = mod.get_function("run"), mod.get_function("run_lanes")
    regs_used = int(run.num_regs)  # loads the module (compiles)
    return Module(run, lanes, np.float64 if precision == "float64" else np.float32, regs_used,
                  int(run.local_size_bytes), time.perf_counter() - t, int(lanes.num_regs),
                  int(lanes.local_size_bytes))


def default_lanes(precision: str) -> int:
    import cupy as cp

    sms = int(cp.cuda.Device().attributes["MultiProcessorCount"])
    return sms * int(SHAPES[precision]["lanes_per_sm"])


def launch(mod: Module, n: int, y0_t: Any, th: Any, am: Any, gv: Any, sl: Any, si: Any, weeks: int, rtol: float,
           atol: float, max_steps: int, block: int, lanes: int = 0) -> tuple[Any, Any, float]:
    """Run the kernel on device arrays (SoA: element-major, patient-minor). Returns the saved
    states ((weeks + 1) * len(si), n) and steps (n) on the device, and the kernel time (CUDA events)."""
    import cupy as cp

    if weeks < 1:
        raise ValueError("weeks must be at least 1")
    if lanes < 0:
        raise ValueError("lanes must be 0 (a thread per patient) or positive")
    dt = mod.dtype
    threads = (lanes + block - 1) // block * block
    out = cp.empty(((weeks + 1) * int(si.shape[0]), n), dtype=dt)
    steps = cp.empty(n, dtype=cp.int32)
    nxt = cp.asarray(np.array([threads], dtype=np.uint64))  # every launched thread starts one patient
    tail = (y0_t, th, am, gv, sl, np.int32(am.shape[0]), np.int32(weeks), dt(rtol), dt(atol), np.int32(max_steps), si,
            np.int32(si.shape[0]), out, steps)
    start, stop = cp.cuda.Event(), cp.cuda.Event()
    start.record()
    if lanes:
        mod.run_lanes((threads // block,), (block,), (np.int64(n), nxt, *tail))
    else:
        mod.run(((n + block - 1) // block,), (block,), (np.int64(n), *tail))
    stop.record()
    stop.synchronize()
    return out, steps, cp.cuda.get_elapsed_time(start, stop) / 1e3
