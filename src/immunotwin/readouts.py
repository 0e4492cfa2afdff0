"""Trial readouts from the patients table: response, survival, safety and comparisons.

Pure functions of a ``patients`` DataFrame with the columns of ``docs/schema.md``. Conventions:

* Proportions are over **all patients randomised in the arm** (``n``, failed simulations
  included); numerators count only patients with ``status == "ok"`` (a failed simulation
  contributes no event and no response). 95% intervals for proportions are Wilson score
  intervals (Wilson, JASA 1927).
* Time-to-event readouts use :mod:`immunotwin.survival` (Kaplan-Meier medians with a
  Brookmeyer-Crowley CI, log-rank p-values, Cox hazard ratios of arm vs control); failed
  patients have no times and drop out. A median that is not reached is ``None``.
* A landmark rate past the last follow-up time of an arm (while the curve is still above 0)
  is not estimable and is ``None``.

Everything returned by :func:`summarize` and :func:`twin_summary` is plain JSON (floats,
ints, strings, lists, dicts, ``None`` for NaN).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from .model.organs import IRAES
from .survival import hazard_ratio, km_median, km_median_ci, km_rate, km_rate_ci, logrank

__all__ = ["RESPONDERS", "subgroups", "summarize", "twin_summary", "wilson"]

RESPONDERS = ("CR", "PR")
#: Larkin et al. (N Engl J Med 2015;373:23) read response at a database lock with a minimum
#: follow-up of 9 months and a median of about 12.5 (recalled, verify); response figures from that
#: paper are compared with simulated best response read at the same cut-off, because complete
#: responses keep accruing for years (22%/19%/6% at 5 years, Larkin et al. 2019).
CHECKMATE067_RESPONSE_CUTOFF_MONTHS = 12.5


def response_by(df: pd.DataFrame, months: float | None) -> tuple[np.ndarray, np.ndarray]:
    """(responder, complete responder) per patient with best response read at a data cut-off
    ``months`` after the start (None: over the whole follow-up)."""
    bor = df["bor"].astype(str).to_numpy()
    resp, cr = np.isin(bor, RESPONDERS), bor == "CR"
    if months is None:
        return resp, cr
    on = df["response_onset_months"].to_numpy(float)
    cr_on = df["cr_onset_months"].to_numpy(float)
    return resp & (on <= months), cr & (cr_on <= months)
"""Best overall responses counted as objective responses."""

_Z95 = float(norm.ppf(0.975))


def _num(x: Any) -> float | None:
    """A plain float, or None for None/NaN/inf."""
    if x is None:
        return None
    v = float(x)
    return v if math.isfinite(v) else None


def _pair(lo: Any, hi: Any) -> list[float | None]:
    return [_num(lo), _num(hi)]


def wilson(k: int, n: int, z: float = _Z95) -> tuple[float | None, float | None]:
    """Wilson score interval for ``k`` successes out of ``n`` (``(None, None)`` when n = 0)."""
    if n <= 0:
        return None, None
    p = k / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2.0 * n)) / denom
    half = z * math.sqrt(p * (1.0 - p) / n + z * z / (4.0 * n * n)) / denom
    lo = 0.0 if k <= 0 else max(0.0, centre - half)  # exact limits at k = 0 and k = n (rounding)
    hi = 1.0 if k >= n else min(1.0, centre + half)
    return lo, hi


def _ok(df: pd.DataFrame) -> pd.DataFrame:
    """Rows whose simulation finished (all rows if there is no ``status`` column)."""
    if "status" not in df.columns:
        return df
    return df[df["status"].astype(str) != "failed"]


def _bool(s: pd.Series) -> np.ndarray:
    return s.fillna(False).astype(bool).to_numpy()


def _frac(k: int, n: int) -> float | None:
    return k / n if n > 0 else None


def _hr(ta: np.ndarray, ea: np.ndarray, tc: np.ndarray, ec: np.ndarray) -> tuple[float, float, float]:
    """:func:`survival.hazard_ratio`, NaN where the fit diverges (exp of a huge CI limit overflows)."""
    try:
        return hazard_ratio(ta, ea, tc, ec)
    except OverflowError:
        return float("nan"), float("nan"), float("nan")


def _landmark_key(t: float) -> str:
    return f"{float(t):g}"


def _rate(time: pd.Series, event: pd.Series, at: float) -> tuple[float | None, list[float | None]]:
    """KM landmark rate and CI; None past the follow-up unless the curve already hit 0."""
    t = time.to_numpy(dtype=float)
    e = _bool(event)
    keep = np.isfinite(t)
    if not keep.any():
        return None, [None, None]
    r = km_rate(t[keep], e[keep], at)
    if at > float(t[keep].max()) and r > 0.0:
        return None, [None, None]
    lo, hi = km_rate_ci(t[keep], e[keep], at)
    return _num(r), _pair(lo, hi)


def _median(time: pd.Series, event: pd.Series) -> tuple[float | None, list[float | None]]:
    t = time.to_numpy(dtype=float)
    e = _bool(event)
    lo, hi = km_median_ci(t, e)
    return _num(km_median(t, e)), _pair(lo, hi)


def _irae(ok: pd.DataFrame, n: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``irae`` block of one arm and the CIs of its overall rates."""
    counts = {
        "any_grade": int((ok["any_irae_grade"] >= 1).sum()),
        "grade3plus": int((ok["any_irae_grade"] >= 3).sum()),
        "fatal": int((ok["death_cause"].astype(str) == "irae").sum()),
        "discontinued": int((ok["discontinued"].astype(str) == "toxicity").sum()),
        "steroids": int(_bool(ok["steroids"]).sum()),
    }
    block: dict[str, Any] = {k: _frac(v, n) for k, v in counts.items()}
    ci = {f"irae_{k}": _pair(*wilson(v, n)) for k, v in counts.items()}
    def shares(grade_col: str, onset_col: str, upper: int) -> tuple[float, float, float | None]:
        """Share at any grade, share at grade >= ``upper``, median onset (weeks) of those with one."""
        g = ok[grade_col].fillna(0)
        onset = ok.loc[g >= 1, onset_col].to_numpy(dtype=float)
        onset = onset[np.isfinite(onset)]
        return (_frac(int((g >= 1).sum()), n), _frac(int((g >= upper).sum()), n),
                float(np.median(onset)) if onset.size else None)

    by_organ: dict[str, Any] = {}
    for name in IRAES:
        anyg, g3, med = shares(f"irae_{name}_grade", f"irae_{name}_onset_weeks", 3)
        by_organ[name] = {"any_grade": anyg, "grade3plus": g3, "median_onset_weeks": med}
    block["by_organ"] = by_organ
    if "hypothyroidism_grade" in ok:
        # Hypothyroidism alone (TSH), as trial tables list it; the thyroid's row above also counts the thyrotoxic phase.
        anyg, g2, med = shares("hypothyroidism_grade", "hypothyroidism_onset_weeks", 2)
        block["hypothyroidism"] = {"any_grade": anyg, "thyroid_hormone": g2, "median_onset_weeks": med}
    if "vitiligo_grade" in ok:
        # Vitiligo (depigmentation by tumour-primed T cells, model.tolerance), apart from the organ irAEs; CTCAE grade 2
        # is over 10% of body surface, the highest it has.
        anyg, g2, med = shares("vitiligo_grade", "vitiligo_onset_weeks", 2)
        block["vitiligo"] = {"any_grade": anyg, "over_10pct_bsa": g2, "median_onset_weeks": med}
    return block, ci


def trae_column(df: pd.DataFrame) -> str:
    """The patient column of treatment-related adverse events as a trial's safety table counts them: within the
    reporting window (``any_trae_grade_reported``, clinic.run.ae_window_end) when the table has it, else the older
    columns over the whole follow-up."""
    for col in ("any_trae_grade_reported", "any_trae_grade"):
        if col in df:
            return col
    return "any_irae_grade"


def irae_column(df: pd.DataFrame) -> str:
    """The worst organ irAE grade within the reporting window when the table has it (see ``trae_column``)."""
    return "any_irae_grade_reported" if "any_irae_grade_reported" in df else "any_irae_grade"


def next_line_times(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Months from the first dose to the first next-line dose, censored at death or the end of follow-up
    (``os_months``), and whether it was given: CheckMate 067's "time to subsequent systemic therapy" as read here
    (the trial's handling of death is assumed)."""
    t = df["next_line_months"].to_numpy(dtype=float)
    given = ~np.isnan(t)
    return np.where(given, t, df["os_months"].to_numpy(dtype=float)), given


def _arm_summary(arm_df: pd.DataFrame, landmarks_pfs: Sequence[float],
                 landmarks_os: Sequence[float]) -> dict[str, Any]:
    n = len(arm_df)
    ok = _ok(arm_df)
    bor = ok["bor"].astype(str)
    k_resp = int(bor.isin(RESPONDERS).sum())
    k_cr = int((bor == "CR").sum())
    k_dc = int(bor.isin(("CR", "PR", "SD")).sum())
    mpfs, mpfs_ci = _median(ok["pfs_months"], ok["pfs_event"])
    mos, mos_ci = _median(ok["os_months"], ok["os_event"])
    resp = ok[bor.isin(RESPONDERS)]
    mdor, mdor_ci = _median(resp["dor_months"], resp["dor_event"])
    pfs_rate, pfs_ci, os_rate, os_ci = {}, {}, {}, {}
    for at in landmarks_pfs:
        pfs_rate[_landmark_key(at)], pfs_ci[_landmark_key(at)] = _rate(ok["pfs_months"], ok["pfs_event"], at)
    for at in landmarks_os:
        os_rate[_landmark_key(at)], os_ci[_landmark_key(at)] = _rate(ok["os_months"], ok["os_event"], at)
    hpd = ok["hpd"].astype(str)
    n_hpd = int(hpd.isin(("yes", "no")).sum())
    k_hpd = int((hpd == "yes").sum())
    irae, irae_ci = _irae(ok, n)
    cut: dict[str, Any] = {}
    if "response_onset_months" in arm_df and "cr_onset_months" in arm_df:
        resp_c, cr_c = response_by(arm_df, CHECKMATE067_RESPONSE_CUTOFF_MONTHS)
        cut = {"months": CHECKMATE067_RESPONSE_CUTOFF_MONTHS, "orr": _frac(int(resp_c.sum()), n),
               "cr_rate": _frac(int(cr_c.sum()), n),
               "ci95": {"orr": _pair(*wilson(int(resp_c.sum()), n)), "cr_rate": _pair(*wilson(int(cr_c.sum()), n))}}
    next_line: dict[str, Any] = {}
    if "next_line_months" in ok:
        # Next-line therapy ([post_progression]): the share given it and the Kaplan-Meier median months to it.
        t_next, given = next_line_times(ok)
        med, med_ci = _median(pd.Series(t_next), pd.Series(given))
        next_line = {"share": _frac(int(given.sum()), n), "median_months_to": med,
                     "ci95": {"share": _pair(*wilson(int(given.sum()), n)), "median_months_to": med_ci}}
        if "next_line_bor" in ok:  # RECIST 1.1 from the scan that found the progression (outcomes.next_line_bor)
            k = int(ok.loc[given, "next_line_bor"].astype(str).isin(RESPONDERS).sum())
            next_line["orr"] = _frac(k, int(given.sum()))
            next_line["ci95"]["orr"] = _pair(*wilson(k, int(given.sum())))
    k_neut = int((ok["neutropenia_grade"] >= 3).sum()) if "neutropenia_grade" in ok else 0
    k_trae = int((ok[trae_column(ok)] >= 3).sum())
    ci95: dict[str, Any] = {
        "orr": _pair(*wilson(k_resp, n)),
        "cr_rate": _pair(*wilson(k_cr, n)),
        "dcr": _pair(*wilson(k_dc, n)),
        "median_pfs_months": mpfs_ci,
        "median_os_months": mos_ci,
        "median_dor_months": mdor_ci,
        "pfs_rate": pfs_ci,
        "os_rate": os_ci,
        "hpd_rate": _pair(*wilson(k_hpd, n_hpd)),
        "neutropenia_grade3plus": _pair(*wilson(k_neut, n)),
        "trae_grade3plus": _pair(*wilson(k_trae, n)),
        **irae_ci,
    }
    return {
        "n": n,
        "failed": n - len(ok),
        "orr": _frac(k_resp, n),
        "cr_rate": _frac(k_cr, n),
        "dcr": _frac(k_dc, n),
        "median_pfs_months": mpfs,
        "median_os_months": mos,
        "median_dor_months": mdor,
        "pfs_rate": pfs_rate,
        "os_rate": os_rate,
        "hpd_rate": _frac(k_hpd, n_hpd),
        "irae": irae,
        "neutropenia_grade3plus": _frac(k_neut, n),
        "trae_grade3plus": _frac(k_trae, n),
        "response_at_data_cutoff": cut,
        "next_line": next_line,
        "ci95": ci95,
    }


def _compare(a: pd.DataFrame, c: pd.DataFrame) -> dict[str, Any]:
    """HR (Cox) and log-rank p of arm ``a`` vs control ``c`` for OS and PFS."""
    out: dict[str, Any] = {}
    for ep in ("os", "pfs"):
        ta, ea = a[f"{ep}_months"].to_numpy(dtype=float), _bool(a[f"{ep}_event"])
        tc, ec = c[f"{ep}_months"].to_numpy(dtype=float), _bool(c[f"{ep}_event"])
        hr, lo, hi = _hr(ta, ea, tc, ec)
        out[f"hr_{ep}"] = _num(hr)
        out[f"hr_{ep}_ci"] = _pair(lo, hi)
        out[f"p_logrank_{ep}"] = _num(logrank(ta, ea, tc, ec))
    return {k: out[k] for k in ("hr_os", "hr_pfs", "p_logrank_os", "p_logrank_pfs", "hr_os_ci", "hr_pfs_ci")}


def summarize(patients: pd.DataFrame, *, name: str, seed: int, version: str, spec_sha256: str,
              arm_order: list[str], control: str, landmarks_pfs: Sequence[float] = (6, 12, 24),
              landmarks_os: Sequence[float] = (12, 24, 36, 60)) -> dict[str, Any]:
    """The trial summary (``summary.json``): per-arm readouts with 95% CIs and arm-vs-control tests.

    ``arms`` follows ``arm_order`` (an arm without rows gets n = 0 and None readouts);
    ``comparisons`` has one entry ``"<arm> vs <control>"`` per other arm.
    """
    arm_col = patients["arm"].astype(str)
    arms = {arm: _arm_summary(patients[arm_col == arm], landmarks_pfs, landmarks_os) for arm in arm_order}
    comparisons: dict[str, Any] = {}
    ctrl = _ok(patients[arm_col == control])
    for arm in arm_order:
        if arm != control:
            comparisons[f"{arm} vs {control}"] = _compare(_ok(patients[arm_col == arm]), ctrl)
    return {"name": str(name), "seed": int(seed), "version": str(version), "spec_sha256": str(spec_sha256),
            "arms": arms, "comparisons": comparisons}


def twin_summary(patients: pd.DataFrame, arm_order: list[str]) -> dict[str, Any]:
    """Counterfactual readouts of a "twin" design (patient ``i`` is the same person in every arm).

    For each pair of arms ``"A vs B"`` (in ``arm_order``), over the patients simulated without
    failure in both: counts and fractions of responders (CR/PR) to both, only A, only B, neither;
    the median and mean of the per-patient OS difference A - B in months (observed times, which
    share one follow-up in a twin design so censoring is at the same time in both arms), and the
    fraction who live longer on A / on B.
    """
    ok = _ok(patients)
    by_arm = {arm: ok[ok["arm"].astype(str) == arm].set_index("patient") for arm in arm_order}
    pairs: dict[str, Any] = {}
    for i, a in enumerate(arm_order):
        for b in arm_order[i + 1:]:
            common = by_arm[a].index.intersection(by_arm[b].index)
            pa, pb = by_arm[a].loc[common], by_arm[b].loc[common]
            ra = pa["bor"].astype(str).isin(RESPONDERS).to_numpy()
            rb = pb["bor"].astype(str).isin(RESPONDERS).to_numpy()
            n = len(common)
            counts = {"both": int((ra & rb).sum()), "only_a": int((ra & ~rb).sum()),
                      "only_b": int((~ra & rb).sum()), "neither": int((~ra & ~rb).sum())}
            diff = pa["os_months"].to_numpy(dtype=float) - pb["os_months"].to_numpy(dtype=float)
            diff = diff[np.isfinite(diff)]
            pairs[f"{a} vs {b}"] = {
                "arm_a": a, "arm_b": b, "n_paired": n,
                "counts": counts,
                "fractions": {k: _frac(v, n) for k, v in counts.items()},
                "median_os_diff_months": float(np.median(diff)) if diff.size else None,
                "mean_os_diff_months": float(np.mean(diff)) if diff.size else None,
                "frac_os_longer_a": _frac(int((diff > 1e-9).sum()), int(diff.size)),
                "frac_os_longer_b": _frac(int((diff < -1e-9).sum()), int(diff.size)),
            }
    return {"pairs": pairs}


def _subgroup_masks(df: pd.DataFrame) -> list[tuple[str, str, pd.Series]]:
    """(subgroup, level, mask) for the prespecified subgroups; NaN covariates fall in neither level."""
    pdl1 = df["pdl1_tps"].astype(float)
    ldh = df["ldh_uln"].astype(float)
    age = df["age"].astype(float)
    m = df["m_stage"].astype(str)
    return [
        ("All patients", "all", pd.Series(True, index=df.index)),
        ("PD-L1", "PD-L1 >= 5%", pdl1 >= 0.05),
        ("PD-L1", "PD-L1 < 5%", pdl1 < 0.05),
        ("LDH", "LDH > ULN", ldh > 1.0),
        ("LDH", "LDH <= ULN", ldh <= 1.0),
        ("Age", "age >= 65", age >= 65.0),
        ("Age", "age < 65", age < 65.0),
        ("Metastasis stage", "M1c", m == "M1c"),
        ("Metastasis stage", "M0-M1b", (m != "M1c") & (m != "") & (m != "nan")),
    ]


SUBGROUP_COLUMNS = ["subgroup", "level", "arm", "n", "hr_os", "lo", "hi"]


def subgroups(patients: pd.DataFrame, control: str, arm_order: list[str]) -> pd.DataFrame:
    """Hazard ratio of OS (Cox, with 95% CI) of each arm vs ``control`` within subgroups.

    Rows: ``subgroup, level, arm, n, hr_os, lo, hi`` where ``n`` counts the patients of the arm
    and the control in that level (failed simulations excluded) and the HR is NaN where not
    estimable. The first rows ("All patients") are the unstratified HRs.
    """
    ok = _ok(patients)
    masks = _subgroup_masks(ok)
    arm_col = ok["arm"].astype(str)
    rows: list[dict[str, Any]] = []
    for arm in arm_order:
        if arm == control:
            continue
        for sub, level, mask in masks:
            a = ok[(arm_col == arm) & mask]
            c = ok[(arm_col == control) & mask]
            hr, lo, hi = _hr(a["os_months"].to_numpy(dtype=float), _bool(a["os_event"]),
                                      c["os_months"].to_numpy(dtype=float), _bool(c["os_event"]))
            rows.append({"subgroup": sub, "level": level, "arm": arm, "n": len(a) + len(c),
                         "hr_os": hr, "lo": lo, "hi": hi})
    return pd.DataFrame(rows, columns=SUBGROUP_COLUMNS)
