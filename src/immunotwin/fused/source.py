"""The integrator around the generated right-hand side: one C/CUDA source for both targets.

Each patient runs its own adaptive Tsitouras 5(4) loop (the tableau is read from diffrax, the
same method as the JAX engine) from week to week over the horizon: at the start of each week
the doses due that day are added to their slots' central amounts, the chosen states are saved,
and the week is integrated with a step-size controller of the usual form (RMS error norm over
``atol + rtol * max(|y0|, |y1|)``, factor ``0.9 err^(-1/5)`` clipped to [0.2, 10], no growth
after a rejection). No patient waits for another: on a GPU each thread is one patient.
"""

from __future__ import annotations

import numpy as np

from .codegen import literal

HEADER = r"""
#ifdef IT_FLOAT
typedef float real;
#define EXP expf
#define LOG logf
#define SQRT sqrtf
#define FABS fabsf
#define FMAX fmaxf
#define FMIN fminf
#define POW powf
#else
typedef double real;
#define EXP exp
#define LOG log
#define SQRT sqrt
#define FABS fabs
#define FMAX fmax
#define FMIN fmin
#define POW pow
#endif
#define R(x) ((real)(x))
#ifdef __CUDACC__
#define DEV __device__
#define INLINE __device__ __forceinline__
#define NEXT(c) atomicAdd((c), 1ULL)
#ifndef INFINITY
#define INFINITY __int_as_float(0x7f800000)
#endif
#ifndef NAN
#define NAN __int_as_float(0x7fffffff)
#endif
#else
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#define DEV static
#define INLINE static inline
static unsigned long long next_patient(unsigned long long* c) {
  unsigned long long v;
  #pragma omp atomic capture
  v = (*c)++;
  return v;
}
#define NEXT(c) next_patient(c)
#endif
"""

LOOP = r"""
#define NS {n_states}
#define NORM_N {norm_n}
#define P(j) th[(long)(j) * ts]

INLINE void rhs(const real t, const real* __restrict__ y, const real* __restrict__ th, const long ts,
                real* __restrict__ dy) {{
{body}}}

DEV const real TA[7][6] = {{{a}}};
DEV const real TC[7] = {{{c}}};
DEV const real TE[7] = {{{e}}};

/* One attempted step of the week [t, t1]: the state is y, with k[0] = f(t, y) when *have_k0. */
INLINE void attempt(real* __restrict__ y, real* __restrict__ yt, real (*__restrict__ k)[NS], real* t, const real t1,
                    real* h, int* have_k0, const real* __restrict__ th, const long ts, const real rtol,
                    const real atol) {{
  const int clipped = *h >= t1 - *t;
  const real hh = clipped ? t1 - *t : *h;
  for (int st = *have_k0 ? 1 : 0; st < 7; ++st) {{
    for (int s = 0; s < NS; ++s) {{
      real acc = R(0.0);
      for (int j = 0; j < st; ++j) acc += TA[st][j] * k[j][s];
      yt[s] = y[s] + hh * acc;
    }}
    rhs(*t + TC[st] * hh, yt, th, ts, k[st]);
  }}
  /* stage 7 was evaluated at y1 = y + hh * sum(b k), which Tsit5's last row of A equals */
  real err = R(0.0);
  for (int s = 0; s < NS; ++s) {{
    real d = R(0.0);
    for (int j = 0; j < 7; ++j) d += TE[j] * k[j][s];
    const real sc = atol + rtol * FMAX(FABS(y[s]), FABS(yt[s]));
    const real q = hh * d / sc;
    err += q * q;
  }}
  err = SQRT(err / R(NORM_N));  /* the RMS over every state of the model, as diffrax */
  if (!(err <= R(1.0))) {{
    int finite = 1;
    for (int s = 0; s < NS; ++s) finite &= isfinite(yt[s]) ? 1 : 0;
    const real f = (finite && isfinite(err)) ? FMAX(R(0.2), R(0.9) * POW(err, R(-0.2))) : R(0.2);
    *h = hh * FMIN(f, R(0.9));
  }} else {{
    const real f = err > R(0.0) ? FMIN(R(10.0), FMAX(R(0.2), R(0.9) * POW(err, R(-0.2)))) : R(10.0);
    for (int s = 0; s < NS; ++s) {{ y[s] = yt[s]; k[0][s] = k[6][s]; }}
    *t = clipped ? t1 : *t + hh;
    *h = clipped ? FMAX(*h, hh * f) : hh * f;
  }}
  *have_k0 = 1;  /* after a rejection k[0] = f(t, y) still holds; after an acceptance it is stage 7 */
}}

/* Arrays hold element e of patient i at [i * sp + e * se]; slot[e] is the index of the state that
   entry e doses, save_idx[j] that of the j-th saved state (-1: a state held at zero). */
#define ARGS const long sp, const long se, const real* __restrict__ y0, const real* __restrict__ theta, \
  const real* __restrict__ amount, const unsigned char* __restrict__ given, const int* __restrict__ slot, \
  const int n_entries, const int weeks, const real rtol, const real atol, const int max_steps, \
  const int* __restrict__ save_idx, const int n_save, real* __restrict__ out, int* __restrict__ steps

INLINE void week_start(const long i, const int w, real* y, const int failed, ARGS) {{
  for (int e = 0; e < n_entries; ++e)
    if (given[w * n_entries + e]) y[slot[e]] += amount[i * sp + (long)e * se];
  for (int j = 0; j < n_save; ++j)
    out[i * sp + ((long)w * n_save + j) * se] = failed ? (real)NAN : (save_idx[j] < 0 ? R(0.0) : y[save_idx[j]]);
}}

/* Patient i from start to end. */
INLINE void patient(const long i, ARGS) {{
  real y[NS], yt[NS], k[7][NS];
  const real* th = theta + i * sp;
  for (int s = 0; s < NS; ++s) y[s] = y0[i * sp + (long)s * se];
  real h = R(0.25);
  int n_steps = 0, failed = 0;
  for (int w = 0; w <= weeks; ++w) {{
    week_start(i, w, y, failed, sp, se, y0, theta, amount, given, slot, n_entries, weeks, rtol, atol, max_steps,
               save_idx, n_save, out, steps);
    if (w == weeks || failed) continue;
    real t = R(7.0) * (real)w;
    const real t1 = R(7.0) * (real)(w + 1);
    int have_k0 = 0;
    while (t < t1) {{
      attempt(y, yt, k, &t, t1, &h, &have_k0, th, se, rtol, atol);
      if (++n_steps > max_steps || !(h > R(0.0))) {{ failed = 1; break; }}
    }}
    for (int s = 0; s < NS; ++s) if (!isfinite(y[s])) failed = 1;
  }}
  steps[i] = failed ? -n_steps : n_steps;
}}

/* Load patient i and start its first week: returns its per-patient values. */
INLINE const real* begin(const long i, real* y, real* h, int* n_steps, int* failed, int* w, real* t, real* t1,
                         int* have_k0, ARGS) {{
  for (int s = 0; s < NS; ++s) y[s] = y0[i * sp + (long)s * se];
  *h = R(0.25); *n_steps = 0; *failed = 0; *w = 0;
  week_start(i, 0, y, 0, sp, se, y0, theta, amount, given, slot, n_entries, weeks, rtol, atol, max_steps,
             save_idx, n_save, out, steps);
  *t = R(0.0); *t1 = R(7.0); *have_k0 = 0;
  return theta + i * sp;
}}

/* A lane that takes patients from a shared counter until none is left, one attempted step per
   turn of its loop: the same arithmetic as patient(), so the same numbers, but a GPU warp's lanes
   no longer idle while the slowest patient of the warp finishes (each takes the next patient).
   Needs weeks >= 1 (the callers check). */
INLINE void lane(long i, const long n, unsigned long long* next, ARGS) {{
  real y[NS], yt[NS], k[7][NS];
  real h = R(0.0), t = R(0.0), t1 = R(0.0);
  int n_steps = 0, failed = 0, w = 0, have_k0 = 0;
  const real* th = theta;
#define BEGIN() begin(i, y, &h, &n_steps, &failed, &w, &t, &t1, &have_k0, sp, se, y0, theta, amount, given, slot, \
                      n_entries, weeks, rtol, atol, max_steps, save_idx, n_save, out, steps)
  if (i < n) th = BEGIN();
  while (i < n) {{
    if (t < t1) {{
      attempt(y, yt, k, &t, t1, &h, &have_k0, th, se, rtol, atol);
      if (++n_steps > max_steps || !(h > R(0.0))) {{ failed = 1; t = t1; }}
      continue;
    }}
    for (int s = 0; s < NS; ++s) if (!isfinite(y[s])) failed = 1;
    ++w;
    int done = w >= weeks;
    if (failed) {{
      for (; w <= weeks; ++w)
        week_start(i, w, y, 1, sp, se, y0, theta, amount, given, slot, n_entries, weeks, rtol, atol, max_steps,
                   save_idx, n_save, out, steps);
      done = 1;
    }} else {{
      week_start(i, w, y, 0, sp, se, y0, theta, amount, given, slot, n_entries, weeks, rtol, atol, max_steps,
                 save_idx, n_save, out, steps);
      t = R(7.0) * (real)w; t1 = R(7.0) * (real)(w + 1); have_k0 = 0;
    }}
    if (done) {{
      steps[i] = failed ? -n_steps : n_steps;
      i = (long)NEXT(next);
      if (i < n) th = BEGIN();
    }}
  }}
#undef BEGIN
}}

#ifdef __CUDACC__
extern "C" __global__ void run(const long n, const real* y0, const real* theta, const real* amount,
                               const unsigned char* given, const int* slot, const int n_entries, const int weeks,
                               const real rtol, const real atol, const int max_steps, const int* save_idx,
                               const int n_save, real* out, int* steps) {{
  const long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) patient(i, 1, n, y0, theta, amount, given, slot, n_entries, weeks, rtol, atol, max_steps,
                     save_idx, n_save, out, steps);
}}
/* Persistent lanes: *next must hold the number of threads launched (grid x block) on entry. */
extern "C" __global__ void run_lanes(const long n, unsigned long long* next, const real* y0, const real* theta,
                                     const real* amount, const unsigned char* given, const int* slot,
                                     const int n_entries, const int weeks, const real rtol, const real atol,
                                     const int max_steps, const int* save_idx, const int n_save, real* out,
                                     int* steps) {{
  const long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
  lane(i, n, next, 1, n, y0, theta, amount, given, slot, n_entries, weeks, rtol, atol, max_steps, save_idx, n_save,
       out, steps);
}}
#else
void run(const long n, const long sp, const long se, const real* y0, const real* theta, const real* amount,
         const unsigned char* given, const int* slot, const int n_entries, const int weeks, const real rtol,
         const real atol, const int max_steps, const int* save_idx, const int n_save, real* out, int* steps) {{
  #pragma omp parallel for schedule(dynamic, 8)
  for (long i = 0; i < n; ++i)
    patient(i, sp, se, y0, theta, amount, given, slot, n_entries, weeks, rtol, atol, max_steps, save_idx, n_save,
            out, steps);
}}
/* The lane driver on the CPU: n_lanes lanes share the counter (each an OpenMP iteration). */
void run_lanes(const long n, const long n_lanes, const long sp, const long se, const real* y0, const real* theta,
               const real* amount, const unsigned char* given, const int* slot, const int n_entries, const int weeks,
               const real rtol, const real atol, const int max_steps, const int* save_idx, const int n_save,
               real* out, int* steps) {{
  unsigned long long next = (unsigned long long)n_lanes;
  #pragma omp parallel for schedule(static, 1)
  for (long l = 0; l < n_lanes; ++l)
    lane(l, n, &next, sp, se, y0, theta, amount, given, slot, n_entries, weeks, rtol, atol, max_steps, save_idx,
         n_save, out, steps);
}}
/* The clinic's step: every patient from t0 over `days` days, the state saved at the end of each day
   (out: day-major, then state, then patient); patients not active are held still; a patient whose
   integration fails (non-finite state, more than max_steps attempts) keeps its initial state in
   every day and gets ok = 0 (as immunotwin.engine.step). */
void step_batch(const long n, const real t0, const int days, const real* y_in, const real* theta,
                const unsigned char* active, const real rtol, const real atol, const int max_steps, real* out,
                int* ok) {{
  #pragma omp parallel for schedule(dynamic, 8)
  for (long i = 0; i < n; ++i) {{
    real y[NS], yt[NS], k[7][NS];
    for (int s = 0; s < NS; ++s) y[s] = y_in[i + (long)s * n];
    int good = 1;
    if (active[i]) {{
      real h = R(0.25), t = t0;
      int n_steps = 0, have_k0 = 0;
      for (int d = 0; d < days && good; ++d) {{
        const real t1 = t0 + (real)(d + 1);
        while (t < t1) {{
          attempt(y, yt, k, &t, t1, &h, &have_k0, theta + i, n, rtol, atol);
          if (++n_steps > max_steps || !(h > R(0.0))) {{ good = 0; break; }}
        }}
        for (int s = 0; s < NS; ++s) {{
          if (!isfinite(y[s])) good = 0;
          out[((long)d * NS + s) * n + i] = y[s];
        }}
      }}
    }}
    for (int d = 0; d < days; ++d)
      for (int s = 0; s < NS; ++s)
        if (!good || !active[i]) out[((long)d * NS + s) * n + i] = y_in[i + (long)s * n];
    ok[i] = good;
  }}
}}
void rhs_batch(const long n, const real t, const real* y, const real* theta, const long n_theta, real* dy) {{
  for (long i = 0; i < n; ++i) rhs(t, y + i * NS, theta + i * n_theta, 1, dy + i * NS);
}}
#endif
"""


def tableau() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tsit5's A (7x6, lower), c (7) and error weights (7), from diffrax."""
    from diffrax._solver.tsit5 import _tsit5_tableau as tab

    a = np.zeros((7, 6))
    for r, row in enumerate(tab.a_lower):
        a[r + 1, : len(row)] = row
    c = np.concatenate([[0.0], np.asarray(tab.c)])
    e = np.asarray(tab.b_error, dtype=np.float64)
    if not np.allclose(a[6], np.asarray(tab.b_sol)[:6]) or tab.b_sol[6] != 0.0:
        raise RuntimeError("the integrator relies on Tsit5's first-same-as-last property")
    return a, c, e


def source(body: str, n_states: int, norm_n: int) -> str:
    """The whole source: ``n_states`` integrated states, the error norm taken over ``norm_n``
    (the model's full state, states held at zero contributing zero)."""
    a, c, e = tableau()
    rows = ", ".join("{" + ", ".join(literal(float(x)) for x in row) + "}" for row in a)
    return HEADER + LOOP.format(n_states=n_states, norm_n=norm_n, body=body, a=rows,
                                c=", ".join(literal(float(x)) for x in c),
                                e=", ".join(literal(float(x)) for x in e))
