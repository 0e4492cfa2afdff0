"""Scenario machinery: run a shipped trial spec, compute figures with bootstrap intervals,
compare with published values in stated bands, and write ``summary.json`` and ``report.html``.

A figure's ``band`` is the stated tolerance band around the published value (justified in
``band_note``); ``inside`` says whether the simulated value lies in it. ``ci95`` is a
percentile bootstrap over virtual patients (sampling error of the simulation only).
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

N_BOOT = 200


@dataclass
class Figure:
    name: str
    simulated: float
    ci95: list[float]
    published: float | None
    band: list[float] | None
    inside: bool | None
    fitted: bool
    source: str
    band_note: str = ""

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["simulated"] = _num(self.simulated)
        d["ci95"] = [_num(x) for x in self.ci95]
        return d


def _num(x: float | None) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def make_figure(name: str, simulated: float, ci95: Sequence[float], published: float | None,
                band: Sequence[float] | None, source: str, *, fitted: bool = False, band_note: str = "") -> Figure:
    inside = None
    if band is not None:
        inside = bool(np.isfinite(simulated) and band[0] <= simulated <= band[1])
    return Figure(name, float(simulated), [float(ci95[0]), float(ci95[1])], published,
                  None if band is None else [float(band[0]), float(band[1])], inside, fitted, source, band_note)


def bootstrap(df: pd.DataFrame, stat: Callable[[pd.DataFrame], float], *, reps: int = N_BOOT,
              seed: int = 0, strata: str | None = "arm") -> tuple[float, list[float]]:
    """Point estimate and 95% percentile bootstrap interval, resampling patients within arms."""
    point = float(stat(df))
    rng = np.random.default_rng(seed)
    groups = [g for _, g in df.groupby(strata, sort=False)] if strata and strata in df else [df]
    vals = []
    for _ in range(reps):
        parts = [g.iloc[rng.integers(0, len(g), len(g))] for g in groups]
        v = stat(pd.concat(parts, ignore_index=True))
        if v is not None and np.isfinite(v):
            vals.append(v)
    if not vals:
        return point, [float("nan"), float("nan")]
    return point, [float(np.quantile(vals, 0.025)), float(np.quantile(vals, 0.975))]


def rate(mask: pd.Series) -> float:
    return float(mask.mean()) if len(mask) else float("nan")


def spec_text(name: str) -> str:
    return resources.files("immunotwin.scenarios").joinpath(f"{name}.toml").read_text()


def simulate_spec(name: str, patients: int | None, visits: bool, seed: int | None = None,
                  chunk: int = 256, iiv_scale: dict[str, float] | None = None, arms: Sequence[str] | None = None
                  ) -> tuple[Any, pd.DataFrame, pd.DataFrame | None]:
    """Run a shipped scenario spec in memory: (spec, patients, visits or None). ``iiv_scale`` scales named
    parameters' variability with the patients' random numbers unchanged (0: every patient at the median), and
    adds their random effects as ``re_<name>`` columns (:func:`immunotwin.trial.simulate_chunk`); ``arms``: only
    these arms (by name), each as in the whole run."""
    from ..spec import parse_spec, with_overrides

    spec = parse_spec(spec_text(name))
    if patients is not None or seed is not None:
        spec = with_overrides(spec, size_per_arm=patients, seed=seed)
    p, v = simulate_in_memory(spec, visits, chunk=chunk, iiv_scale=iiv_scale, arms=arms)
    return spec, p, v


def simulate_in_memory(spec: Any, visits: bool, *, chunk: int = 256, iiv_scale: dict[str, float] | None = None,
                       arms: Sequence[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """(patients, visits or None) of a parsed trial spec run in memory, chunk by chunk; ``arms``: only these arms
    (by name; every arm if None)."""
    from ..trial import check_modelled, chunks, simulate_chunk

    check_modelled(spec)
    rows, vis = [], []
    for c in chunks(spec, chunk):
        if arms is not None and spec.arms[c.arm].name not in arms:
            continue
        r, v = simulate_chunk(spec, c, visits, iiv_scale=iiv_scale)
        rows.append(r)
        if v is not None:
            vis.append(v)
    return pd.concat(rows, ignore_index=True), (pd.concat(vis, ignore_index=True) if vis else None)


def worst_from_visits(visits: pd.DataFrame, organ: str) -> pd.DataFrame:
    """Worst grade of ``organ`` per (arm, patient) over every visit, day 0 and before included."""
    return visits.groupby(["arm", "patient"], sort=False)[organ].max().rename(f"{organ}_worst_any").reset_index()


@dataclass
class Result:
    scenario: str
    title: str
    text: str
    figures: list[Figure]
    observations: list[dict[str, Any]] = field(default_factory=list)
    specs: list[str] = field(default_factory=list)
    n_patients: int = 0
    plots: list[tuple[str, str]] = field(default_factory=list)  # (caption, base64 PNG)

    def summary(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "title": self.title, "n_patients": self.n_patients,
                "figures": [f.as_dict() for f in self.figures],
                "observations": [{k: (_num(v) if isinstance(v, float) else v) for k, v in o.items()}
                                 for o in self.observations],
                "notes": self.text}


def comparison_plot(figures: list[Figure]) -> str | None:
    """Simulated (with 95% CI) against published value and band, one row a figure."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure as MplFigure

    from ..report.figures import to_png_base64

    figs = [f for f in figures if f.published and np.isfinite(f.simulated) and f.simulated > 0]
    if not figs:
        return None
    fig = MplFigure(figsize=(7.5, 0.45 * len(figs) + 1.2))
    ax = fig.add_subplot(111)
    floor = 1e-3
    for i, f in enumerate(figs):
        y = len(figs) - 1 - i
        pub = float(f.published)  # type: ignore[arg-type]
        if f.band:
            ax.plot([max(f.band[0] / pub, floor), f.band[1] / pub], [y, y], color="#9ecae1", lw=8,
                    solid_capstyle="butt", alpha=0.8)
        lo, hi = f.ci95
        if np.isfinite(lo) and np.isfinite(hi):
            ax.plot([max(lo / pub, floor), max(hi / pub, floor)], [y, y], color="#d1432f", lw=1.5)
        ax.plot([max(f.simulated / pub, floor)], [y], "o", color="#d1432f")
    ax.axvline(1.0, color="k", lw=1)
    ax.set_xscale("log")
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    lo_x, hi_x = ax.get_xlim()
    ticks = [t for t in (0.01, 0.03, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 10.0, 30.0, 100.0) if lo_x <= t <= hi_x]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    ax.set_yticks(range(len(figs)))
    ax.set_yticklabels([f.name[:60] for f in reversed(figs)], fontsize=7)
    ax.set_xlabel("simulated / published (log): red, simulated with 95% CI; blue, band", fontsize=8)
    fig.tight_layout()
    return to_png_base64(fig)


def write_outputs(res: Result, out: Path) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    summary = res.summary()
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    plots = list(res.plots)
    cmp = comparison_plot(res.figures)
    if cmp:
        plots.insert(0, ("Simulated against published", cmp))
    e = html.escape

    def fmt(x: Any) -> str:
        if x is None or (isinstance(x, float) and not np.isfinite(x)):
            return "—"
        return f"{x:.3g}" if isinstance(x, float | int) else e(str(x))

    rows = "".join(
        f"<tr><td>{e(f.name)}</td><td>{fmt(f.simulated)}</td><td>{fmt(f.ci95[0])}–{fmt(f.ci95[1])}</td>"
        f"<td>{fmt(f.published)}</td><td>{'—' if not f.band else fmt(f.band[0]) + '–' + fmt(f.band[1])}</td>"
        f"<td>{'—' if f.inside is None else ('yes' if f.inside else '<b>no</b>')}</td>"
        f"<td>{'fitted' if f.fitted else 'unfitted'}</td><td>{e(f.source)}<br><small>{e(f.band_note)}</small></td></tr>"
        for f in res.figures)
    obs = "".join(f"<tr><td>{e(str(o.get('name')))}</td><td>{fmt(o.get('value'))}</td><td>{e(str(o.get('note', '')))}</td></tr>"
                  for o in res.observations)
    imgs = "".join(f"<h3>{e(c)}</h3><img alt='{e(c)}' src='data:image/png;base64,{b}'>" for c, b in plots)
    specs = "".join(f"<pre>{e(s)}</pre>" for s in res.specs)
    doc = f"""<!doctype html><html><head><meta charset="utf-8"><title>{e(res.title)}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 6px;font-size:13px;vertical-align:top}}pre{{background:#f6f6f6;padding:8px;
font-size:11px;overflow-x:auto}}img{{max-width:100%}}</style></head><body>
<h1>{e(res.title)}</h1>
<p><b>Research and education only; not for patient care.</b> Parameters are the shared model's catalogue values;
figures marked "fitted" were used to set one of them (see the source column), the others were not.
{res.n_patients} virtual patients.</p>
<p>{e(res.text)}</p>
<h2>Figures against published values</h2>
<table><tr><th>figure</th><th>simulated</th><th>95% CI (bootstrap)</th><th>published</th><th>band</th><th>inside</th>
<th>fitted?</th><th>source / band</th></tr>{rows}</table>
<h2>Other model outputs (no published comparison)</h2>
<table><tr><th>output</th><th>value</th><th>note</th></tr>{obs}</table>
{imgs}
<h2>Specs</h2>{specs}
</body></html>"""
    (out / "report.html").write_text(doc)
    return summary
