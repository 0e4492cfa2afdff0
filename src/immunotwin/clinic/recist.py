"""RECIST 1.1 and iRECIST response assessment for simulated target-lesion series.

The simulator only produces target-lesion sums (no non-target disease) and a
cumulative count of new lesions, so the rules below are the target-lesion and new-lesion
parts of the guidelines. Rules and sources (see ``immunotwin/data/clinical_rules.md`` §1):

* RECIST 1.1 — Eisenhauer et al., Eur J Cancer 2009;45:228-247. With SLD the current sum,
  B the baseline sum and N the nadir (smallest sum so far, baseline included):
  PR if SLD <= 0.70*B; PD if SLD >= 1.20*N and SLD - N >= 5 mm, or any new lesion;
  CR if all target lesions have disappeared: SLD == 0 up to a tolerance, or, where the targets
  are lymph nodes (lymphomas), every node under 10 mm short axis (``cr_threshold_mm``);
  otherwise SD (definition of SD as clarified by the EORTC RECIST FAQ
  "the definition of SD: a clarification"). Worked FAQ example: 165 -> 63 -> 65 mm stays PR.
* Best overall response (BOR): best response from treatment start up to the first PD,
  "taking into account any requirement for confirmation"; confirmation of CR/PR by a
  repeat assessment no less than 4 weeks (28 days) later (PMC3460554 Table 1,
  PMC4671850 Table 1); SD must be met at least once no less than 6-8 weeks after
  baseline, otherwise BOR is NE (PhUSE BOR wiki), unless PD follows, in which case BOR is
  PD (Eisenhauer 2009, section 4.4 and Table 3).
* iRECIST — Seymour et al., Lancet Oncol 2017;18:e143-e152 (PMC5648544, Tables 2-3) and
  the EORTC iRECIST FAQ pages (recist.eortc.org): first progression is iUPD (RECIST 1.1
  PD rules); it is confirmed as iCPD at the next assessment >= 4 weeks after the iUPD by a
  further increase of the target sum >= 5 mm (sequential increases are additive) or by an
  additional new lesion; scans < 4 weeks after the iUPD are disregarded; if nothing has
  changed the assessment "remains iUPD"; an iUPD followed by iSD/iPR/iCR resets the bar so
  the next iUPD must again meet RECIST 1.1 PD criteria. iBOR examples (Seymour Table 3):
  iUPD then only NE gives iUPD.

All functions are pure and operate on numpy arrays; scans are given in chronological
order.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "best_overall_response",
    "irecist_best_response",
    "irecist_timepoints",
    "progression_day",
    "response_onset_and_duration",
    "timepoint_response",
]

#: PR threshold: at least a 30% decrease from the baseline sum (Eisenhauer 2009).
PR_FRACTION = 0.70
#: PD relative threshold: at least a 20% increase over the nadir (Eisenhauer 2009).
PD_FRACTION = 1.20
#: PD absolute threshold in mm over the nadir (Eisenhauer 2009).
PD_ABS_MM = 5.0
#: Further increase of the target sum that confirms iCPD (Seymour 2017, Table 2).
ICPD_ABS_MM = 5.0

# Numerical slack so that boundary cases such as "exactly -30%" or "exactly 5 mm" are not
# lost to floating-point rounding (0.7 * 50 != 35 exactly in binary floating point).
_TOL = 1e-9

_RECIST = {"CR": "CR", "PR": "PR", "SD": "SD", "PD": "PD", "NE": "NE"}
_IRECIST = {"CR": "iCR", "PR": "iPR", "SD": "iSD", "PD": "iCPD", "UPD": "iUPD", "NE": "NE"}


def _le(a: float, b: float) -> bool:
    """``a <= b`` with a small relative/absolute tolerance."""
    return a <= b + _TOL * max(1.0, abs(b))


def _ge(a, b):  # type: ignore[no-untyped-def]
    """``a >= b`` with a small relative/absolute tolerance (numbers or arrays)."""
    return a >= b - _TOL * np.maximum(1.0, np.abs(b))


def _target_pd(sld, nadir):  # type: ignore[no-untyped-def]
    """RECIST 1.1 target PD: >= 20% and >= 5 mm over the nadir (Eisenhauer 2009); numbers or arrays."""
    return _ge(sld, PD_FRACTION * nadir) & _ge(sld - nadir, PD_ABS_MM)


def _target_category(sld: float, baseline: float, cr_threshold_mm: float) -> str:
    """Non-PD target category ("CR", "PR" or "SD") for a finite SLD (Eisenhauer 2009)."""
    if _le(sld, cr_threshold_mm):
        return "CR"
    if _le(sld, PR_FRACTION * baseline):
        return "PR"
    return "SD"


def _valid_baseline(baseline: float) -> bool:
    return bool(np.isfinite(baseline)) and baseline > 0.0


def _as_float_array(x: np.ndarray | Sequence[float], name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    return arr


def _check_days(days: np.ndarray, n: int) -> None:
    if days.size != n:
        raise ValueError(f"days has {days.size} entries but there are {n} categories/scans")
    if days.size > 1 and np.any(np.diff(days) < 0):
        raise ValueError("scans must be in chronological order (days non-decreasing)")


def timepoint_response(
    sld: np.ndarray,
    new_lesions: np.ndarray,
    baseline: float,
    *,
    cr_threshold_mm: float = 0.0,
) -> list[str]:
    """RECIST 1.1 timepoint response of each on-treatment scan of one patient.

    Args:
        sld: sum of target-lesion diameters (mm) at each scan; NaN = not measured.
        new_lesions: cumulative number of new lesions seen up to each scan.
        baseline: baseline sum of diameters (mm).
        cr_threshold_mm: an SLD at or below this counts as disappearance of all target
            lesions (CR): 0 mm, or for lymph-node targets 10 mm per node (the clinic passes it).

    Returns:
        One of "CR", "PR", "SD", "PD", "NE" per scan.

    Rules (Eisenhauer et al. 2009, RECIST 1.1; clinical_rules.md §1.1): the nadir includes
    the baseline and is updated with every measured scan; PD if SLD >= 1.2 x nadir and
    SLD - nadir >= 5 mm, or if any new lesion has appeared (new_lesions > 0; a new lesion is
    PD whatever the target assessment, RECIST 1.1 Table 1, so this holds even when the SLD
    is missing); CR if SLD <= ``cr_threshold_mm``; PR if SLD <= 0.7 x baseline; else SD.
    A missing SLD without new lesions is "NE". Scans after a PD are still categorised (the
    BOR functions stop at the first PD). If the baseline is missing or not positive there
    is no measurable disease and every scan is "NE" unless new lesions make it "PD".
    """
    s = _as_float_array(sld, "sld")
    nl = _as_float_array(new_lesions, "new_lesions")
    if s.size != nl.size:
        raise ValueError(f"sld ({s.size}) and new_lesions ({nl.size}) differ in length")
    ok_base = _valid_baseline(baseline)
    nadir = float(baseline) if ok_base else float("nan")
    out: list[str] = []
    for value, count in zip(s, nl, strict=True):
        has_new = bool(np.isfinite(count)) and count > 0
        measured = ok_base and bool(np.isfinite(value))
        if has_new:
            out.append("PD")
        elif not measured:
            out.append("NE")
        elif _target_pd(float(value), nadir):
            out.append("PD")
        else:
            out.append(_target_category(float(value), float(baseline), cr_threshold_mm))
        if measured:
            nadir = min(nadir, float(value))
    return out


def irecist_timepoints(
    sld: np.ndarray,
    new_lesions: np.ndarray,
    baseline: float,
    days: np.ndarray,
    *,
    cr_threshold_mm: float = 0.0,
    confirm_min_days: float = 28.0,
) -> list[str]:
    """iRECIST timepoint responses ("iCR", "iPR", "iSD", "iUPD", "iCPD", "NE").

    Args:
        sld: target sum of diameters (mm) per scan; NaN = not measured.
        new_lesions: cumulative count of new lesions seen up to each scan.
        baseline: baseline target sum (mm).
        days: scan days from day 0 (chronological).
        cr_threshold_mm: SLD at or below this counts as disappearance of target lesions.
        confirm_min_days: minimum interval after the iUPD for a confirming scan (4 weeks).

    Rules (Seymour et al. 2017, Tables 2-3; EORTC iRECIST FAQ; clinical_rules.md §1.2):

    * Without a pending iUPD, the scan is judged with RECIST 1.1 rules; target PD
      (>= 20% and >= 5 mm over the nadir) or a new lesion not yet accounted for gives iUPD.
    * Scans < ``confirm_min_days`` after the iUPD are disregarded (EORTC FAQ "Can imaging be
      used to confirm progression ... less than four weeks ..."): they keep the label
      "iUPD" ("NE" if unmeasured) and change nothing.
    * The next assessment >= ``confirm_min_days`` after the iUPD gives iCPD if the target
      sum increased by >= 5 mm over its value at the iUPD (so sequential 4 + 2 mm increases
      add up, EORTC FAQ "How do new lesions define progression?"), or if the target sum
      newly meets RECIST PD when the iUPD was driven by new lesions only, or if further new
      lesions appeared after the iUPD.
    * Otherwise the iUPD is reset to iSD/iPR/iCR when the target sum no longer meets PD and,
      for an iUPD driven by new lesions, the target sum shrank since the iUPD (EORTC FAQ
      "Assigning response after the appearance of new lesions", scenario B); if not, it
      "remains iUPD" (scenario F) and later assessments may still confirm it.
    * After a reset the new lesions seen so far are accounted for: only further new
      lesions (or target PD) start a new iUPD (EORTC FAQ). Because the count is cumulative
      and resolution of new lesions is not tracked, a target CR while new lesions have been
      recorded is reported as iPR (target CR + persisting disease, Seymour Table 2).
    * After iCPD every measured scan is "iCPD".
    """
    s = _as_float_array(sld, "sld")
    nl = _as_float_array(new_lesions, "new_lesions")
    d = _as_float_array(days, "days")
    if s.size != nl.size:
        raise ValueError(f"sld ({s.size}) and new_lesions ({nl.size}) differ in length")
    _check_days(d, s.size)
    ok_base = _valid_baseline(baseline)
    base = float(baseline)
    nadir = base if ok_base else float("nan")
    nl_known = 0.0  # new lesions already accounted for
    pending = False
    confirmed = False
    upd_day = upd_sld = upd_nl = float("nan")
    upd_target = upd_new = False
    out: list[str] = []

    def category(value: float) -> str:
        cat = _target_category(value, base, cr_threshold_mm)
        if cat == "CR" and nl_known > 0:
            cat = "PR"
        return _IRECIST[cat]

    for value, count, day in zip(s, nl, d, strict=True):
        measured = ok_base and bool(np.isfinite(value))
        cnt = float(count) if np.isfinite(count) else nl_known
        if confirmed:
            out.append("iCPD" if measured or cnt > 0 else "NE")
            continue
        t_pd = measured and _target_pd(float(value), nadir)
        if not pending:
            new_nl = cnt > nl_known
            if t_pd or new_nl:
                out.append("iUPD")
                pending = True
                upd_day, upd_nl = float(day), max(cnt, nl_known)
                upd_sld = float(value) if measured else float("nan")
                upd_target, upd_new = t_pd, new_nl
            elif measured:
                out.append(category(float(value)))
            else:
                out.append("NE")
            nl_known = max(nl_known, cnt)
            if measured:
                nadir = min(nadir, float(value))
            continue
        # Pending iUPD.
        if day - upd_day < confirm_min_days - _TOL:
            out.append("iUPD" if measured else "NE")
            continue
        further_new = cnt > upd_nl
        if measured and upd_target:
            target_conf = _ge(float(value) - upd_sld, ICPD_ABS_MM)
        else:
            target_conf = t_pd
        if further_new or target_conf:
            out.append("iCPD")
            confirmed = True
            continue
        if not measured:
            out.append("NE")
            continue
        shrank = bool(np.isfinite(upd_sld)) and float(value) < upd_sld
        if not t_pd and (not upd_new or shrank):
            pending = False
            nl_known = max(nl_known, cnt)
            out.append(category(float(value)))
        else:
            out.append("iUPD")
        nadir = min(nadir, float(value))
    return out


class IrecistState:
    """The clinic's iRECIST reading, one scan at a time for many patients: :func:`irecist_timepoints` vectorised, rule
    for rule, so the clinic stops treatment and starts the next line at the progression the scans are read with.

    ``scan`` takes this step's scanned patients not yet progressed, their target sums (NaN unmeasured) and cumulative
    new-lesion counts, and returns the masks of a new iUPD and of a confirmed iCPD (its progression day is
    ``upd_day``)."""

    def __init__(self, baseline: np.ndarray) -> None:
        n = len(baseline)
        self.nadir = np.asarray(baseline, dtype=float).copy()
        self.valid = np.isfinite(self.nadir) & (self.nadir > 0.0)
        self.nl_known = np.zeros(n)
        self.pending = np.zeros(n, dtype=bool)
        self.upd_day = np.full(n, np.nan)
        self.upd_sld = np.full(n, np.nan)
        self.upd_nl = np.zeros(n)
        self.upd_target = np.zeros(n, dtype=bool)
        self.upd_new = np.zeros(n, dtype=bool)

    def scan(self, scanned: np.ndarray, sld: np.ndarray, count: np.ndarray, day: float,
             confirm_min_days: float = 28.0) -> tuple[np.ndarray, np.ndarray]:
        with np.errstate(invalid="ignore"):
            measured = scanned & self.valid & np.isfinite(sld)
            t_pd = measured & _target_pd(sld, self.nadir)
            cnt = np.where(np.isfinite(count), count, self.nl_known)
            # no iUPD pending: RECIST 1.1 rules, a new lesion not yet accounted for gives iUPD
            free = scanned & ~self.pending
            new_nl = cnt > self.nl_known
            newly = free & (t_pd | new_nl)
            self.upd_day = np.where(newly, day, self.upd_day)
            self.upd_nl = np.where(newly, np.maximum(cnt, self.nl_known), self.upd_nl)
            self.upd_sld = np.where(newly, np.where(measured, sld, np.nan), self.upd_sld)
            self.upd_target = np.where(newly, t_pd, self.upd_target)
            self.upd_new = np.where(newly, new_nl, self.upd_new)
            self.nl_known = np.where(free, np.maximum(self.nl_known, cnt), self.nl_known)
            to_nadir = free & measured
            # an iUPD pending: scans under confirm_min_days after it are disregarded
            ready = scanned & self.pending & (day - self.upd_day >= confirm_min_days - _TOL)
            target_conf = np.where(self.upd_target & measured, _ge(sld - self.upd_sld, ICPD_ABS_MM), t_pd)
            confirm = ready & ((cnt > self.upd_nl) | target_conf)
            rest = ready & ~confirm & measured
            shrank = np.isfinite(self.upd_sld) & (sld < self.upd_sld)
            reset = rest & ~t_pd & (~self.upd_new | shrank)
            self.nl_known = np.where(reset, np.maximum(self.nl_known, cnt), self.nl_known)
            self.pending = (self.pending | newly) & ~reset & ~confirm
            self.nadir = np.where(to_nadir | rest, np.fmin(self.nadir, sld), self.nadir)
        return newly, confirm


def _confirmed(
    days: np.ndarray, cats: Sequence[str], i: int, stop: int, accept: set[str], ne: str, confirm_days: float
) -> bool:
    """Whether the response at scan ``i`` is confirmed before index ``stop``.

    Confirmation needs a later scan >= ``confirm_days`` after scan ``i`` in ``accept``; every
    evaluable scan in between must also be in ``accept`` (the response must persist), NE
    scans in between are skipped (RECIST 1.1 confirmation, PMC3460554 / PMC4671850).
    """
    for j in range(i + 1, stop):
        c = cats[j]
        if c == ne:
            continue
        if c not in accept:
            return False
        if days[j] - days[i] >= confirm_days - _TOL:
            return True
    return False


def _best_response(
    days: np.ndarray,
    categories: Sequence[str],
    labels: dict[str, str],
    *,
    confirm: bool,
    confirm_days: float,
    sd_min_days: float,
) -> str:
    d = _as_float_array(days, "days")
    cats = list(categories)
    _check_days(d, len(cats))
    if not cats:
        return labels["NE"]
    stop = cats.index(labels["PD"]) + 1 if labels["PD"] in cats else len(cats)
    cr, pr, sd, ne = labels["CR"], labels["PR"], labels["SD"], labels["NE"]
    has_cr = has_pr = sd_ok = False
    for i in range(stop):
        c = cats[i]
        # CR is confirmed only by CR; PR by PR or CR (an unconfirmed CR is not turned into PR).
        if c == cr:
            has_cr = has_cr or not confirm or _confirmed(d, cats, i, stop, {cr}, ne, confirm_days)
        elif c == pr:
            has_pr = has_pr or not confirm or _confirmed(d, cats, i, stop, {cr, pr}, ne, confirm_days)
        if c in (cr, pr, sd) and _ge(float(d[i]), sd_min_days):
            sd_ok = True
    if has_cr:
        return cr
    if has_pr:
        return pr
    if sd_ok:
        return sd
    window = cats[:stop]
    if labels["PD"] in window:
        return labels["PD"]
    if "UPD" in labels and labels["UPD"] in window:
        return labels["UPD"]
    return ne


def best_overall_response(
    days: np.ndarray,
    categories: list[str],
    *,
    confirm: bool = False,
    confirm_days: float = 28.0,
    sd_min_days: float = 42.0,
) -> str:
    """RECIST 1.1 best overall response ("CR", "PR", "SD", "PD" or "NE").

    Args:
        days: scan days from day 0 (first dose / baseline), chronological.
        categories: timepoint responses from :func:`timepoint_response`.
        confirm: require confirmation of CR/PR (needed only in non-randomised trials with
            response as primary endpoint; PMC3460554 Table 1).
        confirm_days: minimum interval of the confirming scan (>= 4 weeks, PMC4671850).
        sd_min_days: SD (or an unconfirmed CR/PR) counts only at a scan on or after this
            day (6-8 weeks, PhUSE BOR wiki); otherwise the BOR is PD if PD follows, else NE.

    Only scans up to and including the first PD are considered (Eisenhauer 2009: BOR is
    the best response recorded until disease progression). With ``confirm``, a CR needs a
    later CR and a PR a later PR or CR at least ``confirm_days`` later, with no non-NE scan
    of a worse category in between; unconfirmed responses fall back to SD when the SD
    duration is met (Eisenhauer 2009, Table 3).
    """
    return _best_response(
        days, categories, _RECIST, confirm=confirm, confirm_days=confirm_days, sd_min_days=sd_min_days
    )


def irecist_best_response(
    days: np.ndarray,
    categories: list[str],
    *,
    confirm: bool = False,
    confirm_days: float = 28.0,
    sd_min_days: float = 42.0,
) -> str:
    """iRECIST best overall response ("iCR", "iPR", "iSD", "iUPD", "iCPD" or "NE").

    Same rules as :func:`best_overall_response` applied to iRECIST categories up to and
    including the first iCPD. If no iCR/iPR/iSD qualifies, the iBOR is iCPD when
    progression was confirmed, else iUPD when an unconfirmed progression was recorded
    (Seymour 2017, Table 3: "iUPD followed only by NE" gives iUPD), else NE.
    """
    return _best_response(
        days, categories, _IRECIST, confirm=confirm, confirm_days=confirm_days, sd_min_days=sd_min_days
    )


def progression_day(days: np.ndarray, categories: list[str]) -> float | None:
    """Day of progression, or None if the patient never progressed.

    RECIST 1.1 categories: the day of the first "PD" (FDA 2007 guidance, Appendix 2: the
    progression date is the first time progression can be declared). iRECIST categories
    (any category starting with "i"): the day of the iUPD that was later confirmed as iCPD
    (EORTC iRECIST iDOR definition; clinical_rules.md §1.2 and §6), i.e. the first iUPD of
    the unbroken iUPD/NE run that precedes the first iCPD.
    """
    d = _as_float_array(days, "days")
    cats = list(categories)
    _check_days(d, len(cats))
    if "iCPD" in cats:
        j = cats.index("iCPD")
        k = j
        i = j - 1
        while i >= 0 and cats[i] in ("iUPD", "NE"):
            if cats[i] == "iUPD":
                k = i
            i -= 1
        return float(d[k])
    if "PD" in cats:
        return float(d[cats.index("PD")])
    return None


def response_onset_and_duration(
    days: np.ndarray, categories: list[str], progression_day: float | None
) -> tuple[float | None, float | None]:
    """First CR/PR day and duration of response (days).

    DoR runs from the first time the CR/PR criteria are met to documented progression
    (RECIST 1.1 wording [UNVERIFIED], mirrored by the EORTC iRECIST iDOR definition;
    clinical_rules.md §1.3). Responses recorded on or after ``progression_day`` are
    ignored. Returns ``(None, None)`` if there was no response before progression and
    ``(onset, None)`` if the patient has not progressed (the caller censors the DoR).
    """
    d = _as_float_array(days, "days")
    cats = list(categories)
    _check_days(d, len(cats))
    prog = None if progression_day is None or not np.isfinite(progression_day) else float(progression_day)
    for day, c in zip(d, cats, strict=True):
        if prog is not None and day >= prog:
            break
        if c in ("CR", "PR", "iCR", "iPR"):
            onset = float(day)
            return onset, (None if prog is None else prog - onset)
    return None, None
