"""Natural history: the model's untreated disease against published survival without effective treatment.

Every treated arm's survival rests on how fast untreated disease kills, and no calibration target pins it down:
CheckMate 067's survival can be met by effective drugs on a fast disease or by a slow disease with weaker drugs.
This check reads a no-drug arm of each cancer's catalogue population (a spec written here, so nothing else in the
tool changes) against a published figure for that cancer without effective treatment (``scenario_refs.json``,
``natural_history``). Unfitted, except the entry the installed calibration fitted (``calibrate --direct
--natural-history``: its rows are then fitted figures). Each row is judged like CheckMate 067's survival rows: the
median within 25%, the 1-year OS within 6 points. A reference marked ``"bound": "upper"`` is a ceiling: a treated
arm of a population that matches the catalogue's (first-line dacarbazine in CheckMate 066's melanoma, like
CheckMate 067's; second-line docetaxel in CheckMate 057's NSCLC), which untreated disease should not outlive by more
than those tolerances.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .reference import load
from .survival import km_median, km_rate

FOLLOW_UP_MONTHS = 24
MEDIAN_TOL = 0.25
RATE_TOL = 0.06


def untreated_spec_text(cancer: str, patients: int, seed: int, overrides: dict[str, float]) -> str:
    """A no-drug trial of ``patients`` from the cancer's catalogue population, followed 24 months, scanned every 8
    weeks (the scans set progression, not survival, which is what is read)."""
    extra = "".join(f"{k} = {float(v)!r}\n" for k, v in sorted(overrides.items()))
    return f"""name = "{cancer}, untreated (natural history check)"
seed = {seed}
follow_up = "{FOLLOW_UP_MONTHS} months"
[population]
cancer = "{cancer}"
size_per_arm = {patients}
{extra}[assessment]
imaging = [{{every = "8 weeks"}}]
[[arm]]
name = "no drug"
"""


def untreated_spec(key: str, patients: int, seed: int):  # type: ignore[no-untyped-def]
    """The parsed no-drug trial of the reference entry ``key`` at ``seed``: its catalogue population (``cancer``, or
    the key itself) with its population overrides."""
    from .spec import parse_spec

    r = load("scenario_refs")["natural_history"][key]
    return parse_spec(untreated_spec_text(r.get("cancer", key), patients, seed, r["overrides"]))


def judge(simulated: float, published: float, tolerance: float, upper: bool) -> bool:
    """Inside when ``simulated`` is within ``tolerance`` of ``published`` (a target), or at most ``tolerance`` above
    it (``upper``: the published figure is a ceiling, a treated arm the untreated disease should not outlive). NaN
    (a median not reached) is outside."""
    if not np.isfinite(simulated):
        return False
    return bool(simulated - published <= tolerance) if upper else bool(abs(simulated - published) <= tolerance)


def readout(p: pd.DataFrame) -> tuple[float, float]:
    """(median OS in months, OS at 12 months) of the patients simulated without error; the median is NaN when not
    reached."""
    ok = p[p["status"] == "ok"]
    med = km_median(ok["os_months"], ok["os_event"])
    return (np.nan if med is None else med), km_rate(ok["os_months"], ok["os_event"], 12.0)


def rows(seed: int, patients: int) -> list:
    """One pair of rows per entry in the reference: median OS and 1-year OS of untreated disease; unfitted unless the
    installed calibration fitted that entry (:func:`installed_fitted_keys`)."""
    from .trial import ChunkId, simulate_chunk
    from .validate import Row

    ref = load("scenario_refs")["natural_history"]
    fitted_keys = installed_fitted_keys()
    out = []
    for key, r in ref.items():
        if not isinstance(r, dict):
            continue
        p, _ = simulate_chunk(untreated_spec(key, patients, seed), ChunkId(0, 0, patients), visits=False)
        med, one_year = readout(p)
        pub_med, pub_1y = float(r["median_os_months"]), float(r["os_12_months"])
        group = r.get("label", f"{key}, no drug")
        upper = r.get("bound") == "upper"
        out.append(Row("untreated disease: median OS (months)", group, pub_med, med, np.nan, np.nan,
                       f"±{MEDIAN_TOL:.0%}" if not upper else f"at most +{MEDIAN_TOL:.0%}",
                       judge(med, pub_med, MEDIAN_TOL * pub_med, upper), key in fitted_keys, r["source"]))
        out.append(Row("untreated disease: OS at 12 months", group, pub_1y, one_year, np.nan, np.nan,
                       f"±{RATE_TOL * 100:.0f} points" if not upper else f"at most +{RATE_TOL * 100:.0f} points",
                       judge(one_year, pub_1y, RATE_TOL, upper), key in fitted_keys, r["source"]))
    return out


#: What ``calibrate --direct --natural-history KIND`` fits, by kind: "target", untreated melanoma's median and 1-year
#: OS against the historical figures (Korn 2008, two-sided); "ceiling", the same no longer than CheckMate 066's
#: first-line dacarbazine arm, a population like CheckMate 067's (one-sided). Both read the catalogue population that
#: CheckMate 067's example spec draws from.
FIT_KEYS = {"target": "melanoma", "ceiling": "melanoma_first_line_dacarbazine"}
FIT_CANCER = "melanoma"


def fit_rows(kind: str = "target") -> tuple[str, str]:
    """The names of the two rows a calibration fits for ``kind`` (:data:`FIT_KEYS`)."""
    if kind == "target":
        return (f"untreated {FIT_CANCER}: median OS", f"untreated {FIT_CANCER}: OS at 12 months")
    if kind == "ceiling":
        return (f"untreated {FIT_CANCER}: median OS no longer than first-line dacarbazine's",
                f"untreated {FIT_CANCER}: OS at 12 months no higher than first-line dacarbazine's")
    raise ValueError(f"natural-history fit: 'target' or 'ceiling', got {kind!r}")


FIT_ROWS = fit_rows("target")


def installed_fitted_keys(fitted_endpoints: tuple[str, ...] | None = None) -> set[str]:
    """The reference entries whose rows the installed calibration (or ``fitted_endpoints``, a calibration's
    provenance list) was fitted to: their rows in ``validate`` are fitted figures, not validation."""
    if fitted_endpoints is None:
        from .validate import installed_fitted_endpoints

        fitted_endpoints = installed_fitted_endpoints()
    return {FIT_KEYS[k] for k in FIT_KEYS if set(fit_rows(k)) <= set(fitted_endpoints)}


def fit_key(kind: str) -> str:
    """The reference entry a calibration of ``kind`` fits (:data:`FIT_KEYS`); a clear error for any other kind."""
    fit_rows(kind)  # names the accepted kinds in its error
    return FIT_KEYS[kind]


def fit_spec(patients: int, seed: int, kind: str = "target"):  # type: ignore[no-untyped-def]
    """The no-drug trial a calibration reads at ``seed``."""
    return untreated_spec(fit_key(kind), patients, seed)


def fit_residuals(p: pd.DataFrame, kind: str = "target") -> np.ndarray:
    """The two rows' residuals in the units of CheckMate 067's survival targets (``calibrate.residuals``), both over
    the OS-rate unit (0.06). "target": the median on the survival scale, max(S(m) - 0.5, 0) + min(S(0.9 m-) - 0.5, 0),
    and the 1-year OS minus the published. "ceiling": only the excess, max(S(m) - 0.5, 0) and max(1-year OS minus the
    published, 0): zero at or below the treated arm."""
    from .calibrate import SCALE, median_readings, median_residual
    from .survival import km_curve

    r = load("scenario_refs")["natural_history"][fit_key(kind)]
    ok = p[p["status"] == "ok"]
    curve = km_curve(ok["os_months"], ok["os_event"])
    unit = SCALE["os_rate"]
    _, one_year = readout(p)
    excess_1y = (one_year - float(r["os_12_months"])) / unit
    if kind == "ceiling":
        s_m, _ = median_readings(curve, float(r["median_os_months"]), FOLLOW_UP_MONTHS)
        return np.array([max(s_m - 0.5, 0.0) / unit, max(excess_1y, 0.0)])
    return np.array([median_residual(curve, float(r["median_os_months"]), unit, horizon=FOLLOW_UP_MONTHS),
                     excess_1y])
