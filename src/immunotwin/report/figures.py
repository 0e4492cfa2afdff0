"""Figures of the trial report, drawn with matplotlib's object API on the Agg canvas.

Every function takes result tables (and the summary where it already has the numbers) and
returns either a :class:`~matplotlib.figure.Figure` or a short note (``str``) saying why
there is nothing to draw; none raises on small or degenerate data (no events, no
responders, one arm, empty tables). :func:`to_png_base64` turns a figure into an inline PNG.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ..model.organs import IRAES
from ..survival import km_curve, km_median, numbers_at_risk
from ..units import DAYS_PER_MONTH

__all__ = [
    "BOR_COLOURS", "arm_colours", "exposure_response_figure", "forest_figure", "irae_cumulative_figure",
    "irae_onset_figure", "irae_organ_figure", "km_figure", "spider_figure", "swimmer_figure", "to_png_base64", "waterfall_figure",
]

FigOrNote = Figure | str
BOR_COLOURS = {"CR": "#1a7f37", "PR": "#56b870", "SD": "#e0b000", "PD": "#d1432f", "NE": "#9a9a9a"}
_WEEKS_TO_MONTHS = 7.0 / DAYS_PER_MONTH
_MAX_BARS = 2000


def arm_colours(arms: list[str]) -> dict[str, str]:
    """One tab10 colour per arm, in arm order."""
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
               "#17becf", "#d62728"]
    return {arm: palette[i % len(palette)] for i, arm in enumerate(arms)}


def to_png_base64(fig: Figure, dpi: int = 100) -> str:
    """The figure as a base64-encoded PNG."""
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _arm(df: pd.DataFrame, arm: str) -> pd.DataFrame:
    return df[df["arm"].astype(str) == arm]


def _floats(s: pd.Series) -> np.ndarray:
    return pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)


def _tick_step(tmax: float) -> float:
    return 3.0 if tmax <= 24 else 6.0 if tmax <= 72 else 12.0


def km_figure(patients: pd.DataFrame, arms: list[str], endpoint: str) -> FigOrNote:
    """Kaplan-Meier curves of ``endpoint`` ("pfs" or "os") per arm, numbers at risk below."""
    label = {"pfs": "Progression-free survival", "os": "Overall survival"}[endpoint]
    tcol, ecol = f"{endpoint}_months", f"{endpoint}_event"
    data = {}
    for arm in arms:
        d = _arm(patients, arm)
        t = _floats(d[tcol])
        e = d[ecol].fillna(False).astype(bool).to_numpy()
        keep = np.isfinite(t)
        if keep.any():
            data[arm] = (t[keep], e[keep])
    if not data:
        return f"No {label.lower()} times to plot."
    tmax = max(float(t.max()) for t, _ in data.values())
    tmax = tmax if tmax > 0 else 1.0
    step = _tick_step(tmax)
    ticks = np.arange(0.0, tmax + 1e-9, step)
    colours = arm_colours(arms)
    fig = Figure(figsize=(9, 5.2 + 0.3 * len(data)), layout="constrained")
    ax, risk = fig.subplots(2, 1, gridspec_kw={"height_ratios": [5, 0.45 + 0.32 * len(data)]})
    for arm, (t, e) in data.items():
        ut, s = km_curve(t, e)
        xs = np.concatenate([[0.0], ut, [t.max()]])
        ys = np.concatenate([[1.0], s, [s[-1] if s.size else 1.0]])
        med = km_median(t, e)
        lab = f"{arm} (median {'not reached' if med is None else f'{med:.1f} mo'})"
        ax.step(xs, ys, where="post", color=colours[arm], lw=1.8, label=lab)
        cens = np.unique(t[~e])
        if cens.size > 300:
            cens = cens[np.linspace(0, cens.size - 1, 300).astype(int)]
        idx = np.searchsorted(ut, cens, side="right") - 1
        cy = np.where(idx < 0, 1.0, s[np.clip(idx, 0, None)] if s.size else 1.0)
        ax.plot(cens, cy, "|", color=colours[arm], ms=6, mew=1)
    ax.set_xlim(0, tmax * 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xticks(ticks)
    ax.set_xlabel("months since randomisation (first dose)")
    ax.set_ylabel(f"{label} (probability)")
    ax.set_title(f"Kaplan–Meier estimate of {label.lower()} (| = censored)")
    ax.axhline(0.5, color="grey", lw=0.6, ls=":")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize=9)
    risk.set_xlim(ax.get_xlim())
    risk.set_ylim(-0.5, len(data) - 0.5)
    for i, (arm, (t, _)) in enumerate(data.items()):
        y = len(data) - 1 - i
        for x, n in zip(ticks, numbers_at_risk(t, ticks), strict=True):
            risk.text(x, y, str(n), ha="center", va="center", fontsize=8, color=colours[arm])
    risk.set_yticks(range(len(data)), list(data)[::-1], fontsize=8)
    risk.set_xticks([])
    risk.set_title("numbers at risk", fontsize=9, loc="left")
    for side in ("top", "right", "bottom", "left"):
        risk.spines[side].set_visible(False)
    risk.tick_params(left=False, pad=16)
    return fig


def waterfall_figure(patients: pd.DataFrame, arms: list[str]) -> FigOrNote:
    """Best % change in target-lesion SLD per patient, sorted, coloured by best overall response."""
    panels = []
    for arm in arms:
        d = _arm(patients, arm)
        v = _floats(d["best_pct_change"])
        keep = np.isfinite(v)
        if keep.any():
            panels.append((arm, v[keep], d["bor"].astype(str).to_numpy()[keep]))
    if not panels:
        return "No patient has a post-baseline scan: no waterfall plot."
    fig = Figure(figsize=(10, 2.6 * len(panels) + 0.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(len(panels), 1, squeeze=False)[:, 0])
    for ax, (arm, v, bor) in zip(axes, panels, strict=True):
        order = np.argsort(-v, kind="stable")
        v, bor = v[order], bor[order]
        note, n_scan = "", v.size
        if v.size > _MAX_BARS:
            pick = np.linspace(0, v.size - 1, _MAX_BARS).astype(int)
            note = f"; {_MAX_BARS} evenly spaced in rank shown"
            v, bor = v[pick], bor[pick]
        shown = np.clip(v, -100.0, 100.0)
        ax.bar(np.arange(v.size), shown, width=1.0, color=[BOR_COLOURS.get(b, "#9a9a9a") for b in bor])
        ax.axhline(20, color="#d1432f", ls="--", lw=0.9)
        ax.axhline(-30, color="#1a7f37", ls="--", lw=0.9)
        ax.axhline(0, color="black", lw=0.6)
        ax.set_xlim(-0.5, max(v.size, 1) - 0.5)
        ax.set_ylim(-105, 105)
        ax.set_xticks([])
        ax.set_ylabel("best change in SLD (%)")
        ax.set_title(f"{arm} (n = {n_scan} with a scan{note})", fontsize=10)
    axes[-1].set_xlabel("patients, sorted by best change (bars capped at ±100%)")
    handles: list[Artist] = [Patch(color=c, label=b) for b, c in BOR_COLOURS.items()]
    handles += [Line2D([], [], color="#d1432f", ls="--", label="+20% (PD threshold)"),
                Line2D([], [], color="#1a7f37", ls="--", label="−30% (PR threshold)")]
    fig.legend(handles=handles, fontsize=8, ncol=7, loc="outside lower center")
    fig.suptitle("Waterfall plot: best percentage change in sum of target-lesion diameters, by BOR")
    return fig


def spider_figure(visits: pd.DataFrame | None, patients: pd.DataFrame, arms: list[str],
                  max_per_arm: int = 50) -> FigOrNote:
    """SLD % change from baseline over time (scans), up to ``max_per_arm`` patients per arm.

    The patients shown are the lowest patient indices with scans (a deterministic choice);
    baseline is the last scan on or before day 0.
    """
    if visits is None or len(visits) == 0 or not {"scan", "sld_mm", "day", "arm", "patient"} <= set(visits.columns):
        return "No visit table was kept for this run: spider plot skipped."
    scans = visits[visits["scan"].fillna(False).astype(bool) & np.isfinite(_floats(visits["sld_mm"]))]
    bor = patients.set_index(["arm", "patient"])["bor"].astype(str)
    bor = bor[~bor.index.duplicated()]
    panels = []
    for arm in arms:
        s = _arm(scans, arm)
        lines = []
        for pid in sorted(s["patient"].unique())[:max_per_arm]:
            p = s[s["patient"] == pid].sort_values("day")
            pre = p[p["day"] <= 0]
            base = float(pre["sld_mm"].iloc[-1]) if len(pre) else np.nan
            post = p[p["day"] >= 0]
            if not np.isfinite(base) or base <= 0 or len(post) < 1:
                continue
            lines.append((_floats(post["day"]) / DAYS_PER_MONTH,
                          (_floats(post["sld_mm"]) - base) / base * 100.0, bor.get((arm, pid), "NE")))
        if lines:
            panels.append((arm, lines))
    if not panels:
        return "No patient has baseline and follow-up scans in the visit table: spider plot skipped."
    fig = Figure(figsize=(5.2 * len(panels), 4.6), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False, sharey=True)[0]
    for ax, (arm, lines) in zip(axes, panels, strict=True):
        for x, y, b in lines:
            ax.plot(x, np.clip(y, -100, 200), "-", marker=".", ms=3, lw=0.9, alpha=0.8,
                    color=BOR_COLOURS.get(b, "#9a9a9a"))
        ax.axhline(20, color="#d1432f", ls="--", lw=0.8)
        ax.axhline(-30, color="#1a7f37", ls="--", lw=0.8)
        ax.axhline(0, color="black", lw=0.5)
        ax.set_title(f"{arm} ({len(lines)} patients)", fontsize=10)
        ax.set_xlabel("months since first dose")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("change in SLD from baseline (%, capped at +200)")
    fig.legend(handles=[Patch(color=c, label=f"BOR {b}") for b, c in BOR_COLOURS.items()], fontsize=8, ncol=5,
               loc="outside lower center")
    fig.suptitle("Spider plot: tumour burden over time (colour = best overall response)")
    return fig


def swimmer_figure(patients: pd.DataFrame, arms: list[str], max_per_arm: int = 30) -> FigOrNote:
    """Time on study per patient (bar coloured by BOR) with progression, death, grade>=3 irAE
    onsets and steroid start; the ``max_per_arm`` lowest patient indices of each arm."""
    panels = []
    for arm in arms:
        d = _arm(patients, arm)
        d = d[np.isfinite(_floats(d["os_months"]))].sort_values("patient").head(max_per_arm)
        if len(d):
            panels.append((arm, d.sort_values("os_months", kind="stable")))
    if not panels:
        return "No patient has a time on study: swimmer plot skipped."
    heights = [0.22 * len(d) + 0.9 for _, d in panels]
    fig = Figure(figsize=(10, sum(heights) + 0.8), layout="constrained")
    axes = fig.subplots(len(panels), 1, squeeze=False, gridspec_kw={"height_ratios": heights})[:, 0]
    onset3 = [f"irae_{n}_onset3_weeks" for n in IRAES if f"irae_{n}_onset3_weeks" in patients.columns]
    for ax, (arm, d) in zip(axes, panels, strict=True):
        y = np.arange(len(d))
        os_t = _floats(d["os_months"])
        ax.barh(y, os_t, height=0.7, color=[BOR_COLOURS.get(str(b), "#9a9a9a") for b in d["bor"]], alpha=0.85)
        pfs_t = _floats(d["pfs_months"])
        dead = d["os_event"].fillna(False).astype(bool).to_numpy()
        prog = d["pfs_event"].fillna(False).astype(bool).to_numpy() & ~(dead & np.isclose(pfs_t, os_t))
        ax.plot(pfs_t[prog], y[prog], "D", color="white", mec="black", ms=5, ls="none")
        ax.plot(os_t[dead], y[dead], "X", color="black", ms=7, ls="none")
        ax.plot(os_t[~dead], y[~dead], ">", color="black", ms=5, ls="none")
        for col in onset3:
            w = _floats(d[col]) * _WEEKS_TO_MONTHS
            ax.plot(w, y, "*", color="#c2185b", ms=9, ls="none")
        if "steroid_start_weeks" in d.columns:
            ax.plot(_floats(d["steroid_start_weeks"]) * _WEEKS_TO_MONTHS, y, "^", color="#6a1b9a", ms=6, ls="none")
        ax.set_yticks(y, [str(p) for p in d["patient"]], fontsize=7)
        ax.set_ylim(-0.7, len(d) - 0.3)
        ax.set_ylabel("patient")
        ax.set_title(arm, fontsize=10, loc="left")
        ax.grid(axis="x", alpha=0.3)
    axes[-1].set_xlabel("months since first dose")
    handles = [Patch(color=c, label=f"BOR {b}") for b, c in BOR_COLOURS.items()] + [
        Line2D([], [], marker="D", color="white", mec="black", ls="none", label="progression"),
        Line2D([], [], marker="X", color="black", ls="none", label="death"),
        Line2D([], [], marker=">", color="black", ls="none", label="alive at data cut-off"),
        Line2D([], [], marker="*", color="#c2185b", ms=9, ls="none", label="grade ≥3 irAE onset"),
        Line2D([], [], marker="^", color="#6a1b9a", ls="none", label="steroids started")]
    fig.legend(handles=handles, loc="outside lower center", ncol=6, fontsize=8)
    fig.suptitle("Swimmer plot: time on study of individual patients")
    return fig


def irae_organ_figure(summary: dict[str, Any], arms: list[str]) -> FigOrNote:
    """Incidence of each irAE by arm: grade >= 3 (solid) stacked under grade 1-2 (light)."""
    arms = [a for a in arms if summary["arms"].get(a, {}).get("n", 0) > 0]
    if not arms:
        return "No patients: no irAE incidence plot."
    colours = arm_colours(list(summary["arms"]))
    fig = Figure(figsize=(11, 4.8), layout="constrained")
    ax = fig.subplots()
    x = np.arange(len(IRAES))
    width = 0.8 / len(arms)
    for i, arm in enumerate(arms):
        org = summary["arms"][arm]["irae"]["by_organ"]
        anyg = np.array([org[n]["any_grade"] or 0.0 for n in IRAES]) * 100
        g3 = np.array([org[n]["grade3plus"] or 0.0 for n in IRAES]) * 100
        pos = x - 0.4 + width * (i + 0.5)
        ax.bar(pos, g3, width=width, color=colours[arm], label=f"{arm}: grade ≥3")
        ax.bar(pos, anyg - g3, bottom=g3, width=width, color=colours[arm], alpha=0.35,
               label=f"{arm}: grade 1–2")
    ax.set_xticks(x, list(IRAES), rotation=30, ha="right")
    ax.set_ylabel("patients with the irAE (% of arm)")
    ax.set_title("Immune-related adverse events by organ and worst grade (bar height = any grade)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, ncol=min(3, len(arms)))
    return fig


def irae_cumulative_figure(patients: pd.DataFrame, arms: list[str]) -> FigOrNote:
    """Empirical cumulative fraction of each arm with a first irAE (any grade, and grade >= 3)."""
    cols1 = [f"irae_{n}_onset_weeks" for n in IRAES if f"irae_{n}_onset_weeks" in patients.columns]
    cols3 = [f"irae_{n}_onset3_weeks" for n in IRAES if f"irae_{n}_onset3_weeks" in patients.columns]
    if not cols1 or len(patients) == 0:
        return "No irAE onset columns: cumulative incidence skipped."
    colours = arm_colours(arms)
    fig = Figure(figsize=(9, 4.8), layout="constrained")
    ax = fig.subplots()
    wmax = 1.0
    curves = []
    for arm in arms:
        d = _arm(patients, arm)
        n = len(d)
        if n == 0:
            continue
        ok = d[d["status"].astype(str) != "failed"] if "status" in d.columns else d
        for cols, ls, lab in ((cols1, "-", "any grade"), (cols3, "--", "grade ≥3")):
            if not cols:
                continue
            first = np.fmin.reduce(ok[cols].to_numpy(dtype=float), axis=1) if len(ok) else np.empty(0)
            first = np.sort(first[np.isfinite(first)])
            if first.size:
                wmax = max(wmax, float(first[-1]))
            curves.append((arm, first, n, ls, lab))
    if not curves:
        return "No patients: cumulative incidence skipped."
    for arm, first, n, ls, lab in curves:
        xs = np.concatenate([[0.0], first, [wmax * 1.02]])
        ys = np.concatenate([[0.0], np.arange(1, first.size + 1) / n, [first.size / n]]) * 100
        ax.step(xs, ys, where="post", ls=ls, color=colours[arm], label=f"{arm}, {lab}")
    ax.set_xlim(0, wmax * 1.02)
    ax.set_xlabel("weeks since first dose")
    ax.set_ylabel("patients with a first irAE (% of arm)")
    ax.set_title("Cumulative incidence of a first irAE (empirical, death not treated as competing)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def irae_onset_figure(patients: pd.DataFrame, arms: list[str]) -> FigOrNote:
    """When each organ's irAE starts, by arm: the median week of first onset at any grade (dot) with its
    interquartile range (line), and the median week a grade >= 2 is first reached (open triangle), among the
    arm's patients with that irAE; the number of them is written beside. Organs without an irAE in any arm are left
    out. Each median marker carries ``gid`` "arm|organ|any" or "arm|organ|grade2" (tests read them)."""
    organs = [k for k in IRAES if f"irae_{k}_onset_weeks" in patients.columns
              and np.isfinite(_floats(patients[f"irae_{k}_onset_weeks"])).any()]
    arms = [a for a in arms if len(_arm(patients, a))]
    if not organs or not arms:
        return "No irAE onsets: onset-by-organ plot skipped."
    colours = arm_colours(arms)
    fig = Figure(figsize=(9, 1.5 + len(organs) * (0.2 + 0.17 * len(arms))), layout="constrained")
    ax = fig.subplots()
    step = 0.7 / len(arms)
    for j, organ in enumerate(organs):
        for i, arm in enumerate(arms):
            d = _arm(patients, arm)
            on = _floats(d[f"irae_{organ}_onset_weeks"])
            on = on[np.isfinite(on)]
            if not on.size:
                continue
            y = j - 0.35 + step * (i + 0.5)
            q1, med, q3 = np.percentile(on, [25, 50, 75])
            ax.plot([q1, q3], [y, y], color=colours[arm], lw=2, alpha=0.6)
            ax.plot([med], [y], "o", color=colours[arm], ms=6, gid=f"{arm}|{organ}|any")
            col2 = f"irae_{organ}_onset2_weeks"
            on2 = _floats(d[col2]) if col2 in d.columns else np.empty(0)
            on2 = on2[np.isfinite(on2)]
            if on2.size:
                ax.plot([float(np.median(on2))], [y], "^", mfc="none", color=colours[arm], ms=7,
                        gid=f"{arm}|{organ}|grade2")
            ax.annotate(f"n={on.size}", (q3, y), xytext=(4, 0), textcoords="offset points", va="center", fontsize=7,
                        color=colours[arm])
    ax.set_yticks(range(len(organs)), organs)
    ax.invert_yaxis()
    # Log weeks: the first weeks, where most irAEs start, stay readable beside endocrine onsets years out.
    ax.set_xscale("log")
    ticks = [t for t in (0.5, 1, 2, 4, 8, 16, 32, 64, 128, 256) if t <= max(ax.get_xlim()[1], 1.0)]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.set_xlabel("weeks since first dose (log scale)")
    ax.set_title("Onset of each irAE among the patients who have it\n"
                 "dot: median first onset at any grade, line: its interquartile range; "
                 "triangle: median week grade ≥2 is reached, among those who reach it", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    handles = [Line2D([], [], color=colours[a], marker="o", lw=2, label=a) for a in arms]
    handles.append(Line2D([], [], color="0.3", marker="^", mfc="none", lw=0, label="grade ≥2 reached (median)"))
    ax.legend(handles=handles, fontsize=8, loc="lower right")
    return fig


def forest_figure(sub: pd.DataFrame, arms: list[str], control: str) -> FigOrNote:
    """Forest plot of the OS hazard ratio per subgroup level (log scale), one colour per arm."""
    if sub is None or len(sub) == 0:
        return "No comparison arm: no subgroup forest plot."
    finite = np.isfinite(sub[["hr_os", "lo", "hi"]].to_numpy(dtype=float)).all(axis=1)
    if not finite.any():
        return "No subgroup hazard ratio is estimable (too few deaths): forest plot skipped."
    colours = arm_colours(arms)
    k = len(sub)
    fig = Figure(figsize=(10, 0.32 * k + 1.6), layout="constrained")
    ax = fig.subplots()
    y = np.arange(k)[::-1]
    lows = sub["lo"].to_numpy(dtype=float)[finite]
    highs = sub["hi"].to_numpy(dtype=float)[finite]
    xmin, xmax = max(float(lows.min()) / 1.3, 1e-3), min(float(highs.max()) * 1.3, 1e3)
    xmin, xmax = min(xmin, 0.5), max(xmax, 2.0)
    labels = []
    for yi, (_, r) in zip(y, sub.iterrows(), strict=True):
        multi = len(set(sub["arm"])) > 1
        labels.append(f"{r['level']}" + (f" — {r['arm']}" if multi else "") + f" (n={int(r['n'])})")
        hr, lo, hi = float(r["hr_os"]), float(r["lo"]), float(r["hi"])
        if np.isfinite([hr, lo, hi]).all():
            c = colours.get(str(r["arm"]), "black")
            ax.plot([max(lo, xmin), min(hi, xmax)], [yi, yi], color=c, lw=1.5)
            ax.plot([hr], [yi], "s", color=c, ms=6)
            ax.text(xmax, yi, f" {hr:.2f} ({lo:.2f}–{hi:.2f})", va="center", fontsize=8)
        else:
            ax.text(1.0, yi, "not estimable", va="center", ha="center", fontsize=8, color="grey")
    ax.set_xscale("log")
    ax.set_xlim(xmin, xmax)
    ax.axvline(1.0, color="black", lw=0.8)
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xlabel(f"hazard ratio for death (OS) vs {control}, 95% CI (log scale; < 1 favours the arm)")
    ax.set_title("Subgroup analysis of overall survival")
    ax.grid(axis="x", alpha=0.3, which="both")
    return fig


def exposure_response_figure(patients: pd.DataFrame, arms: list[str]) -> FigOrNote:
    """ORR and grade >= 3 irAE rate by within-arm quartile of average drug exposure (Cavg)."""
    drugs = [c for c in ("cavg_pd1", "cavg_ctla4") if c in patients.columns
             and np.isfinite(_floats(patients[c])).any()]
    if not drugs:
        return "No exposure columns with values: exposure–response skipped."
    colours = arm_colours(arms)
    fig = Figure(figsize=(10, 3.8 * len(drugs)), layout="constrained")
    axes = fig.subplots(len(drugs), 2, squeeze=False)
    for row, col in zip(axes, drugs, strict=True):
        drug = col.removeprefix("cavg_").upper().replace("PD1", "PD-1").replace("CTLA4", "CTLA-4")
        for arm in arms:
            d = _arm(patients, arm)
            x = _floats(d[col])
            keep = np.isfinite(x)
            if keep.sum() < 4:
                continue
            d, x = d[keep], x[keep]
            q = pd.qcut(pd.Series(x), 4, labels=False, duplicates="drop").to_numpy()
            resp = d["bor"].astype(str).isin(("CR", "PR")).to_numpy()
            g3 = (pd.to_numeric(d["any_irae_grade"], errors="coerce").fillna(0) >= 3).to_numpy()
            levels = np.unique(q[np.isfinite(q)])
            xm = [float(np.median(x[q == lv])) for lv in levels]
            for ax, yv in zip(row, (resp, g3), strict=True):
                ax.plot(xm, [100 * float(yv[q == lv].mean()) for lv in levels], "o-", color=colours[arm],
                        label=arm)
        for ax, what in zip(row, ("objective response rate (%)", "grade ≥3 irAE rate (%)"), strict=True):
            ax.set_xlabel(f"Cavg anti-{drug} over weeks 0–12 (µg/mL), median of quartile")
            ax.set_ylabel(what)
            ax.set_title(f"{what.split(' (')[0]} by anti-{drug} exposure quartile", fontsize=10)
            ax.set_ylim(-3, 103)
            ax.grid(alpha=0.3)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=8)
    fig.suptitle("Exposure–response (within-arm quartiles; confounded by patient factors, not causal)")
    return fig
