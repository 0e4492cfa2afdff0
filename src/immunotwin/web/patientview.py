"""One simulated patient as plain JSON for the page: daily series, scans, visits, events and
a short plain-language account of what happened and why.

Everything here reads a :class:`~immunotwin.simulate.PatientRun`; nothing is simulated.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ..drugs.catalogue import CATALOGUE
from ..model.core import LAYOUT, tumour_cells
from ..model.organs import IRAES
from ..model.slots import SLOTS
from ..simulate import PatientRun
from ..units import DAYS_PER_MONTH

__all__ = ["account", "patient_view"]

_TARGETS = {"pd1": "PD-1", "ctla4": "CTLA-4", "pdl1": "PD-L1", "cyto": "cytotoxic (C/(C+EC50): share of maximal effect)"}
_BOR_WORDS = {"CR": "complete response", "PR": "partial response", "SD": "stable disease",
              "PD": "progressive disease", "NE": "not evaluable"}
_CRITERIA_WORDS = {"recist1.1": "RECIST 1.1", "irecist": "iRECIST"}
_DEATH_WORDS = {"tumour": "from tumour progression", "irae": "from a fatal immune-related adverse event",
                "treatment": "from a grade-4 cytokine syndrome (CRS, neurotoxicity or capillary leak)",
                "other": "from another cause"}
_ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth")


def _num(x: Any) -> float | None:
    v = float(x)
    return v if math.isfinite(v) else None


def _floats(a: Iterable[Any]) -> list[float | None]:
    return [_num(x) for x in a]


def _week(day: float) -> str:
    w = day / 7.0
    return f"{w:.0f}" if abs(w - round(w)) < 1e-9 else f"{w:.1f}"


def _ordinal(n: int) -> str:
    if 1 <= n <= len(_ORDINALS):
        return _ORDINALS[n - 1]
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _join_words(words: Sequence[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def _slot_drugs(run: PatientRun) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for d in run.regimen:
        if d.name in CATALOGUE:
            names = out.setdefault(CATALOGUE[d.name].slot, [])
            if d.name not in names:
                names.append(d.name)
    return out


def _scans(run: PatientRun) -> list[dict[str, Any]]:
    v = run.visits
    s = v[v["scan"].astype(bool)].sort_values("day")
    base = s.loc[s["day"] == 0, "sld_mm"]
    baseline = float(base.iloc[0]) if len(base) and np.isfinite(base.iloc[0]) else math.nan
    nadir = baseline
    out = []
    for _, r in s.iterrows():
        day, sld = float(r["day"]), float(r["sld_mm"])
        pct = (sld - baseline) / baseline * 100.0 if baseline > 0 and day > 0 else math.nan
        pr = 0.7 * baseline if day > 0 else math.nan
        pd_thr = max(1.2 * nadir, nadir + 5.0) if day > 0 else math.nan
        out.append({"day": day, "sld_mm": _num(sld), "response": str(r["response"]),
                    "new_lesions": int(r["new_lesions"]), "pct_change": _num(pct),
                    "pr_threshold_mm": _num(pr), "pd_threshold_mm": _num(pd_thr)})
        if day > 0 and math.isfinite(sld):
            nadir = min(nadir, sld) if math.isfinite(nadir) else sld
    return out


def patient_view(run: PatientRun) -> dict[str, Any]:
    """Series, scans, visits and events of ``run`` (JSON-ready; NaN becomes None)."""
    traj = run.clinic.trajectory
    if traj is None:
        raise ValueError("the run kept no trajectory (simulate_patient keeps one)")
    days = np.asarray(traj.day, dtype=float)
    ys = np.concatenate(traj.states, axis=1)[0] if traj.states else np.zeros((0, LAYOUT.size))
    tum, res = tumour_cells(ys), np.exp(LAYOUT.get(ys, "log_resistant"))
    conc = LAYOUT.get(ys, "pk_central") / run.clinic.vc[0]
    slots = []
    for slot, drugs in _slot_drugs(run).items():
        j = SLOTS.index(slot)
        ec50 = float(CATALOGUE[drugs[0]].ec50_mg_l)
        c = conc[:, j]
        slots.append({"slot": slot, "target": _TARGETS.get(slot, slot), "drugs": drugs, "ec50_mg_l": ec50,
                      "concentration": _floats(c), "occupancy": _floats(c / (c + ec50))})
    dmg = LAYOUT.get(ys, "damage")
    series = {
        "day": days.tolist(),
        "tumour_cells": _floats(tum),
        "resistant_cells": _floats(res),
        **{k: _floats(LAYOUT.get(ys, k)) for k in ("effector", "exhausted", "memory", "treg_tumour",
                                                    "treg_systemic")},
        "slots": slots,
        "damage": {name: _floats(dmg[:, j]) for j, name in enumerate(IRAES)},
        "vitiligo_pct_bsa": _floats(100.0 * LAYOUT.get(ys, "depigmentation")),
    }
    v = run.visits
    visits = {
        "day": v["day"].astype(float).tolist(),
        "steroid_mg": _floats(v["steroid_mg"]),
        "anc": _floats(v["anc"]),
        "dosed": v["dosed"].astype(str).tolist(),
        "held": v["held"].astype(bool).tolist(),
        "stopped": v["stopped"].astype(bool).tolist(),
        "alive": v["alive"].astype(bool).tolist(),
        "grades": {name: v[name].astype(int).tolist() for name in IRAES},
    }
    patient: dict[str, Any] = {}
    for key, value in run.patient.items():
        if isinstance(value, (bool, np.bool_)):
            patient[str(key)] = bool(value)
        elif isinstance(value, (int, np.integer)):
            patient[str(key)] = int(value)
        elif isinstance(value, (float, np.floating)):
            patient[str(key)] = _num(value)
        else:
            patient[str(key)] = str(value)
    sentences, headline = account(run)
    return {"series": series, "scans": _scans(run), "visits": visits, "events": run.events, "patient": patient,
            "account": sentences, "headline": headline}


# ---------------------------------------------------------------------------------------
# The plain-language account
# ---------------------------------------------------------------------------------------


def _dose_log(run: PatientRun) -> list[tuple[float, list[str]]]:
    v = run.visits
    rows = v[v["dosed"].astype(str) != ""]
    return [(float(d), str(s).split("+")) for d, s in zip(rows["day"], rows["dosed"], strict=True)]


def _after_doses(log: list[tuple[float, list[str]]], day: float) -> str:
    """'after the second ipilimumab dose (week 6)' for the last dosing day before ``day`` ('' if none)."""
    before = [(d, names) for d, names in log if d < day - 1e-9]
    if not before:
        return ""
    last_day, last_names = before[-1]
    counts: dict[str, int] = {}
    for _, names in before:
        for n in dict.fromkeys(names):
            counts[n] = counts.get(n, 0) + 1
    names = list(dict.fromkeys(last_names))
    if len(names) == 1:
        return f"after the {_ordinal(counts[names[0]])} {names[0]} dose (week {_week(last_day)})"
    ords = {counts[n] for n in names}
    if len(ords) == 1:
        return f"after the {_ordinal(counts[names[0]])} doses of {_join_words(names)} (week {_week(last_day)})"
    parts = [f"{_ordinal(counts[n])} {n}" for n in names]
    return f"after the {_join_words(parts)} doses (week {_week(last_day)})"


def _runs(days: np.ndarray, flag: np.ndarray) -> list[tuple[float, float | None]]:
    """(start, end) day of each run of ``flag``; end None when it lasts to the last visit."""
    out: list[tuple[float, float | None]] = []
    start: float | None = None
    for d, f in zip(days, flag, strict=True):
        if f and start is None:
            start = float(d)
        elif not f and start is not None:
            out.append((start, float(d)))
            start = None
    if start is not None:
        out.append((start, None))
    return out


def account(run: PatientRun) -> tuple[list[str], str]:
    """What happened to the patient, in order, in plain language; and a one-line headline.

    Example headline: ``grade 3 colitis at week 7 after the second ipilimumab dose;
    steroids from week 7; ipilimumab stopped``.
    """
    ev = run.events
    v = run.visits.sort_values("day")
    days = v["day"].to_numpy(float)
    log = _dose_log(run)
    timed: list[tuple[float, str]] = []
    head: list[str] = []
    if ev["status"] != "ok":
        msg = f"The simulation failed: {ev['status_reason']}."
        return [msg], msg

    regimen = sorted({d.name for d in run.regimen})
    if not run.regimen:
        timed.append((0.0, "No treatment was given."))
    elif log:
        first_names = _join_words(list(dict.fromkeys(log[0][1])))
        timed.append((log[0][0], f"Week {_week(log[0][0])}: first dose of {first_names}."))

    # Findings already present at the first dose are not irAEs, but management acts on them.
    at0 = v[v["day"] == 0]
    if len(at0):
        found = [f"grade {int(at0[o].iloc[0])} {o}" for o in IRAES if int(at0[o].iloc[0]) >= 1]
        if found:
            timed.append((-0.5, f"Before the first dose: {_join_words(found)} findings, present at baseline (not "
                                "counted as irAEs; the management guideline acts on them)."))

    # irAEs, each at its worst grade's first visit; the most severe (then earliest) heads the headline.
    worst_text: tuple[int, float, str] | None = None
    for e in ev["iraes"]:
        organ, worst = e["irae"], int(e["worst_grade"])
        col = v[organ].to_numpy(int)
        hit = np.flatnonzero((days >= 0) & (col >= min(worst, 4)))
        day = float(days[hit[0]]) if hit.size else 7.0 * float(e["grade3_onset_week"] or e["onset_week"] or 0.0)
        after = _after_doses(log, day)
        onset_day = 7.0 * float(e["onset_week"]) if e["onset_week"] is not None else day
        first = f"; first signs at week {_week(onset_day)}" if onset_day < day - 1e-9 else ""
        outcome = "fatal" if worst >= 5 else ("resolved to grade 1 or less" if e["resolved"] else
                                              "not resolved by the end of follow-up")
        timed.append((day, f"Week {_week(day)}: grade {worst} {organ}" + (f", {after}" if after else "") +
                      f"{first}; {outcome}."))
        if worst >= 2 and (worst_text is None or worst > worst_text[0] or
                           (worst == worst_text[0] and day < worst_text[1])):
            worst_text = (worst, day, f"grade {worst} {organ} at week {_week(day)}" + (f" {after}" if after else ""))
    if worst_text is not None:
        head.append(worst_text[2])
    vit = ev.get("vitiligo")
    if vit and vit.get("onset_week") is not None:
        extent = "over a tenth of the body surface" if int(vit["worst_grade"]) >= 2 else "under a tenth of the body surface"
        timed.append((7.0 * float(vit["onset_week"]),
                      f"Week {_week(7.0 * float(vit['onset_week']))}: vitiligo (skin losing its pigment, {extent} at "
                      "worst): the T cells attacking the melanoma also kill the melanocytes that share its antigens; "
                      "it needs no treatment."))

    # Steroids, second-line immunosuppression.
    steroid = v["steroid_mg"].to_numpy(float)
    for start, end in _runs(days, steroid > 0):
        seg = (days >= start) & ((days < end) if end is not None else True)
        peak = float(np.nanmax(steroid[seg])) if seg.any() else 0.0
        until = f"tapered off by week {_week(end)}" if end is not None else "still given at the end of follow-up"
        timed.append((start, f"Week {_week(start)}: corticosteroids started (prednisone-equivalent, peak "
                             f"{peak:.0f} mg/day); {until}."))
        if len([h for h in head if h.startswith("steroids")]) == 0:
            head.append(f"steroids from week {_week(start)}")
    if ev["steroids"]["second_line"]:
        timed.append((float(ev["steroids"]["start_week"] or 0.0) * 7.0 + 0.5,
                      "The irAE was steroid-refractory: a second-line immunosuppressant (such as infliximab or "
                      "mycophenolate) was added for 4 weeks."))

    # Held and stopped doses, while treatment was still planned (not after it ended by progression or
    # completion: the guideline's state goes on, but there is nothing left to hold or stop).
    disc = ev["discontinued"]
    ended = 7.0 * disc["week"] if disc["reason"] in ("completed", "progression") and disc["week"] is not None \
        else math.inf
    on = days <= ended + 1e-9
    stopped = v["stopped"].to_numpy(bool) & on
    held = v["held"].to_numpy(bool) & ~stopped & on
    for start, end in _runs(days, held):
        span = f"until week {_week(end)}" if end is not None else "until the end of follow-up"
        timed.append((start, f"Week {_week(start)}: doses held (irAE management), {span}."))
    m = run.clinic.management
    if stopped.any():
        day = float(days[np.flatnonzero(stopped)[0]])
        names = _join_words(regimen)
        timed.append((day, f"Week {_week(day)}: {names} stopped permanently for toxicity."))
        head.append(f"{names} stopped")
    elif bool(m.ctla4_stopped[0]):
        ctla4 = [n for n in regimen if CATALOGUE.get(n) is not None and CATALOGUE[n].slot == "ctla4"]
        others = [n for n in regimen if n not in ctla4]
        col = v["colitis"].to_numpy(int)
        hit = np.flatnonzero((days >= 0) & (col >= 3))
        day = float(days[hit[0]]) if hit.size else float(days[-1])
        if ctla4 and day <= ended + 1e-9:
            rest = f"; {_join_words(others)} not stopped for it" if others else ""
            timed.append((day, f"Week {_week(day)}: {_join_words(ctla4)} stopped for good (anti-CTLA-4 is not "
                               f"restarted after grade 3 colitis){rest}."))
            head.append(f"{_join_words(ctla4)} stopped")

    # Tumour response, progression, end of treatment, death.
    r = ev["response"]
    bor = r["best_overall_response"]
    best = r["best_pct_change"]
    crit = _CRITERIA_WORDS.get(r["criteria"], r["criteria"])
    change = f", best change {best:+.0f}% in the sum of target diameters" if best is not None else ""
    response = f"Best overall response: {_BOR_WORDS.get(bor, bor)} ({crit}){change}."
    if r["duration_months"] is not None and r["duration_months"] > 0.05 and bor in ("CR", "PR"):
        response += f" The response lasted {r['duration_months']:.1f} months."
    if ev["progression"]["month"] is not None:
        pday = ev["progression"]["month"] * DAYS_PER_MONTH
        timed.append((pday, f"Week {_week(round(pday))}: progression (month {ev['progression']['month']:.1f})."))
    hpd = ev["hyperprogression"]
    if hpd["call"] == "yes":
        timed.append((0.5, f"Hyperprogression at the first scan: the tumour growth rate rose from "
                           f"{hpd['tgr_ref']:.0f} to {hpd['tgr_exp']:.0f} %/month on treatment."))
    if disc["reason"] in ("completed", "progression") and disc["week"] is not None:
        why = "the planned course completed" if disc["reason"] == "completed" else "treatment ended at progression"
        timed.append((7.0 * disc["week"] + 0.1, f"Week {_week(7.0 * disc['week'])}: {why}."))
    closing = ""
    if ev["death"]["month"] is not None:
        dday = ev["death"]["month"] * DAYS_PER_MONTH
        timed.append((dday + 0.2, f"Died at month {ev['death']['month']:.1f} "
                                  f"{_DEATH_WORDS.get(ev['death']['cause'], '')}.".replace(" .", ".")))
        head.append(f"died at month {ev['death']['month']:.1f}")
    else:
        closing = f"Alive at the end of follow-up (week {_week(run.clinic.end_day)})."
    timed.sort(key=lambda t: t[0])
    sentences = [response] + [s for _, s in timed] + ([closing] if closing else [])
    head.insert(0, f"{bor} (best {best:+.0f}%)" if best is not None else bor)
    return sentences, "; ".join(head)
