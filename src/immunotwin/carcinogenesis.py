"""Long-horizon carcinogenesis: the two-stage clonal expansion (TSCE) model with chronic inflammation.

The two-stage model of Moolgavkar and Venzon (Math Biosci 1979;47:55) and Moolgavkar and
Knudson (J Natl Cancer Inst 1981;66:1037): ``X`` normal stem cells are initiated at rate
``nu`` per cell per year; an initiated (intermediate) cell divides at rate ``alpha``, dies
or differentiates at rate ``beta`` and divides into one initiated and one malignant cell
at rate ``mu``; the first malignant cell is taken as the cancer (lag ignored).

Hazard. For a clone started at time s the probability ``phi(s, t)`` of no malignant cell by
t solves the backward Kolmogorov (Riccati) equation
``-d phi/ds = alpha phi^2 - (alpha + beta + mu) phi + beta``, ``phi(t, t) = 1``, and
``S(t) = exp(-X int_0^t nu(s) (1 - phi(s, t)) ds)``. With constant parameters this is the
closed form (:func:`exact_survival`, :func:`exact_hazard`)::

    S(t) = [(q - p) / (q e^{-pt} - p e^{-qt})]^{nu X / alpha},
    h(t) = nu X mu (e^{-pt} - e^{-qt}) / (q e^{-pt} - p e^{-qt}),
    p, q = (-(alpha - beta - mu) -/+ sqrt((alpha - beta - mu)^2 + 4 alpha mu)) / 2.

With piecewise-constant parameters (inflammation from disease onset, treatment) the
Riccati equation is propagated exactly over each grid step (:func:`cumulative_hazard`),
and the initiation integral is taken by the trapezoid rule.

Inflammation (one assumption, stated): chronic inflammation of intensity ``I`` (0 none, 1
active disease) multiplies the mutation rates (``nu``, ``mu``) and the net clonal growth rate
of initiated cells (``alpha - beta``, by raising ``alpha``) by ``1 + s I``: oxidative DNA
damage raises mutation, and cytokine-driven proliferation (NF-kB, IL-6/STAT3) promotes
initiated clones (Coussens & Werb, Nature 2002;420:860; Grivennikov et al., Cell
2010;140:883). Only the inflamed fraction of the tissue's stem cells is exposed (colitis
extent). Anti-inflammatory treatment lowers ``I`` by a fraction. The strength ``s`` belongs to
the tissue: measured where the inflamed tissue's mutation rate has been measured (colonic
epithelium in inflammatory bowel disease), fitted otherwise (see
:mod:`immunotwin.scenarios.inflammation`).

Background rates: fitted to registry incidence by age band where the data ship
(:func:`fit_incidence`), else scaled to a lifetime risk (:func:`fit_background`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

DT_YEARS = 0.1


@dataclass(frozen=True)
class TSCE:
    """Two-stage clonal expansion parameters of one tissue (rates per year)."""

    X: float
    nu: float
    alpha: float
    beta: float
    mu: float

    @property
    def net_growth(self) -> float:
        return self.alpha - self.beta - self.mu

    def roots(self) -> tuple[float, float]:
        g = self.alpha - self.beta - self.mu
        disc = np.sqrt(g * g + 4.0 * self.alpha * self.mu)
        return (-g - disc) / 2.0, (-g + disc) / 2.0


def exact_survival(t: np.ndarray | float, m: TSCE) -> np.ndarray:
    """Closed-form probability of no cancer by age ``t`` (constant parameters)."""
    t = np.asarray(t, float)
    p, q = m.roots()
    return ((q - p) / (q * np.exp(-p * t) - p * np.exp(-q * t))) ** (m.nu * m.X / m.alpha)


def exact_hazard(t: np.ndarray | float, m: TSCE) -> np.ndarray:
    """Closed-form hazard (per year) at age ``t`` (constant parameters)."""
    t = np.asarray(t, float)
    p, q = m.roots()
    a, b = np.exp(-p * t), np.exp(-q * t)
    return m.nu * m.X * m.mu * (a - b) / (q * a - p * b)


def inflamed(m: TSCE, strength: float, intensity: float) -> TSCE:
    """Parameters under inflammation ``intensity`` with effect ``strength`` (see module doc)."""
    f = 1.0 + strength * intensity
    growth = (m.alpha - m.beta) * f
    return replace(m, nu=m.nu * f, mu=m.mu * f, alpha=m.beta + growth)


def _riccati_step(phi: np.ndarray, tau: float, alpha: float, beta: float, mu: float) -> np.ndarray:
    """Exact backward propagation of phi over ``tau`` years with constant rates."""
    b = alpha + beta + mu
    disc = np.sqrt(b * b - 4.0 * alpha * beta)
    r1, r2 = (b - disc) / (2.0 * alpha), (b + disc) / (2.0 * alpha)
    ratio = (phi - r1) / (phi - r2) * np.exp(alpha * (r1 - r2) * tau)
    return (r1 - r2 * ratio) / (1.0 - ratio)


def cumulative_hazard(ages: np.ndarray, params_at: Callable[[float], TSCE], dt: float = DT_YEARS) -> np.ndarray:
    """Cumulative hazard per stem cell (divide X out) at each age of the grid ``ages``.

    ``ages`` must be 0, dt, 2 dt, ...; ``params_at(a)`` gives the parameters on [a, a + dt).
    Returns ``H1`` with ``S(ages[k]) = exp(-X * H1[k])`` (X of the exposed cells)."""
    n = len(ages)
    pars = [params_at(float(a)) for a in ages[:-1]]
    nu = np.array([p.nu for p in pars] + [pars[-1].nu])
    H = np.zeros(n)
    phi = np.ones(n)  # phi[k] = phi(current s, ages[k]) for every end age k > current index
    integral = np.zeros(n)
    prev = 1.0 - phi  # integrand at s = ages[k] for end age k: 1 - phi(t, t) = 0
    for j in range(n - 2, -1, -1):  # step s from ages[j+1] back to ages[j]
        p = pars[j]
        live = slice(j + 1, n)
        phi[live] = _riccati_step(phi[live], dt, p.alpha, p.beta, p.mu)
        cur = 1.0 - phi[live]
        integral[live] += 0.5 * dt * (nu[j + 1] * prev[live] + nu[j] * cur)
        prev[live] = cur
    H[:] = integral
    return H


@dataclass(frozen=True)
class Exposure:
    """Chronic inflammation from ``onset`` (age, years) with ``intensity`` over a ``fraction`` of the
    tissue's stem cells; treatment from ``treated_from`` lowers the intensity by ``treatment_effect``."""

    onset: float
    intensity: float = 1.0
    fraction: float = 1.0
    treated_from: float | None = None
    treatment_effect: float = 0.0

    def intensity_at(self, age: float) -> float:
        if age < self.onset:
            return 0.0
        if self.treated_from is not None and age >= self.treated_from:
            return self.intensity * (1.0 - self.treatment_effect)
        return self.intensity


def age_grid(max_age: float, dt: float = DT_YEARS) -> np.ndarray:
    return np.arange(0.0, max_age + dt / 2, dt)


def survival(ages: np.ndarray, m: TSCE, exposure: Exposure | None = None, strength: float = 0.0) -> np.ndarray:
    """Probability of no cancer by each age (competing mortality ignored)."""
    h_bg = cumulative_hazard(ages, lambda a: m)
    if exposure is None or strength == 0.0 or exposure.fraction == 0.0:
        return np.exp(-m.X * h_bg)
    h_inf = cumulative_hazard(ages, lambda a: inflamed(m, strength, exposure.intensity_at(a)))
    return np.exp(-m.X * ((1.0 - exposure.fraction) * h_bg + exposure.fraction * h_inf))


def intensity_nodes(log_sd: float, nodes: int = 9) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Hermite nodes (numpy) of a lognormal factor of mean 1 and log-SD ``log_sd``: (factors, weights)."""
    x, w = np.polynomial.hermite_e.hermegauss(nodes)
    return np.exp(log_sd * x - 0.5 * log_sd**2), w / w.sum()


def survival_mixed(ages: np.ndarray, m: TSCE, exposure: Exposure, strength: float, log_sd: float,
                   nodes: int = 9) -> np.ndarray:
    """Cohort survival when the inflammation intensity varies between people: the exposure's intensity times a
    lognormal factor of mean 1 and log-SD ``log_sd``, averaged by Gauss-Hermite quadrature (numpy's nodes; exact
    for the factor's mean). Disease activity differs widely between patients and the cancer risk follows it
    (ulcerative colitis: Rutter et al., Gastroenterology 2004;126:451; rheumatoid arthritis: Baecklund et al.,
    Arthritis Rheum 2006;54:692). ``log_sd`` 0 gives :func:`survival`."""
    if log_sd == 0.0:
        return survival(ages, m, exposure, strength)
    factors, w = intensity_nodes(log_sd, nodes)
    return sum(wi * survival(ages, m, replace(exposure, intensity=exposure.intensity * float(f)), strength)
               for f, wi in zip(factors, w, strict=True))


def conditional_risk(ages: np.ndarray, surv: np.ndarray, start: float, years: float) -> float:
    """Probability of cancer within ``years`` after age ``start`` given none by ``start``."""
    i, k = int(round(start / (ages[1] - ages[0]))), int(round((start + years) / (ages[1] - ages[0])))
    return float(1.0 - surv[k] / surv[i])


def sir(ages: np.ndarray, surv_exposed: np.ndarray, surv_background: np.ndarray, start: float, stop: float) -> float:
    """Standardised incidence ratio over ages [start, stop): ratio of cumulative hazards."""
    dt = ages[1] - ages[0]
    i, k = int(round(start / dt)), int(round(stop / dt))
    return float(np.log(surv_exposed[i] / surv_exposed[k]) / np.log(surv_background[i] / surv_background[k]))


def band_rate(m: TSCE, lo: float, hi: float, dt: float = DT_YEARS) -> float:
    """Mean hazard (per year) over ages (lo, hi], equal weight per year of age (closed form on a ``dt`` grid)."""
    t = np.arange(lo + dt / 2, hi, dt)
    return float(np.mean(exact_hazard(t, m)))


def fit_incidence(m: TSCE, bands: list[tuple[float, float, float]]) -> TSCE:
    """Fit the background to registry incidence by age band: ``bands`` holds (from age, to age, rate per
    person-year). Two parameters, as Luebeck & Moolgavkar (PNAS 2002;99:15095) fit multistage models to
    SEER's age-specific incidence: ``nu`` and ``mu`` scaled together, and the net clonal growth
    ``alpha - beta`` (``alpha`` kept). Least squares on log rates (scipy), so each band counts alike."""
    from scipy.optimize import least_squares

    target = np.log([b[2] for b in bands])

    def model(p: np.ndarray) -> TSCE:
        k = np.exp(p[0])
        return replace(m, nu=m.nu * k, mu=m.mu * k, beta=m.alpha - p[1])

    def resid(p: np.ndarray) -> np.ndarray:
        mm = model(p)
        return np.log([band_rate(mm, lo, hi) for lo, hi, _ in bands]) - target

    g0 = m.alpha - m.beta
    fit = least_squares(resid, [0.0, g0], bounds=([-30.0, 1e-3], [30.0, 1.0]), x_scale=[1.0, 0.05], xtol=1e-12,
                        ftol=1e-12)
    if not fit.success:
        raise RuntimeError(f"background incidence fit did not converge: {fit.message}")
    return model(fit.x)


def fit_background(m: TSCE, lifetime_risk: float, to_age: float) -> TSCE:
    """Scale ``nu`` and ``mu`` together (equal factor) so that the risk by ``to_age`` matches."""
    from scipy.optimize import brentq

    def f(logk: float) -> float:
        k = np.exp(logk)
        mm = replace(m, nu=m.nu * k, mu=m.mu * k)
        with np.errstate(over="ignore"):
            return float(1.0 - exact_survival(to_age, mm)) - lifetime_risk

    k = np.exp(brentq(f, -20.0, 20.0))
    return replace(m, nu=m.nu * k, mu=m.mu * k)


__all__ = ["TSCE", "Exposure", "exact_hazard", "exact_survival", "cumulative_hazard", "survival", "survival_mixed",
           "intensity_nodes", "inflamed", "conditional_risk", "sir", "fit_background", "fit_incidence", "band_rate", "age_grid"]
