"""fit.html: simulated against published for every target, the loss over iterations, and the
fitted values with their bootstrap uncertainty."""

from __future__ import annotations

import html
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from .figures import to_png_base64


def _img(fig: Figure, alt: str) -> str:
    return f"<img alt='{html.escape(alt)}' src='data:image/png;base64,{to_png_base64(fig)}'/>"


def write_fit_report(path: Path, *, rows: list[tuple], history: list[float],
                     fitted: Mapping[str, Mapping[str, object]], provenance: Mapping[str, object], ess: float,
                     n: int, fresh: list[float] | None = None, direct: bool = False) -> None:
    """``direct``: a fit on fresh trials with common random numbers (:mod:`immunotwin.calibrate_direct`): no
    weights, so no effective sample size; the loss is drawn per trial evaluated. ``rows``: (endpoint, landmark, arm, published, simulated, band half-width[, rule]). A row with a rule
    (a published median beyond the simulated follow-up: "not reached by 60 months") is inside when the
    simulated median is not reached (NaN), whatever the band. ``fresh``: each row's value in a fresh trial at the
    fitted parameters (after a fresh-trial correction, :mod:`immunotwin.calibrate_fresh`), judged by the same rule."""
    fig = Figure(figsize=(9, max(3.0, 0.28 * len(rows) + 1)))
    ax = fig.add_subplot()
    ys = np.arange(len(rows))[::-1]
    pub = np.array([r[3] for r in rows])
    sim = np.array([r[4] for r in rows])
    band = np.array([r[5] for r in rows])
    ruled = np.array([len(r) > 6 for r in rows])
    ok = _inside(sim, pub, band, ruled)
    fresh_ok = _inside(np.asarray(fresh, float), pub, band, ruled) if fresh is not None else None
    rel = np.where(ruled, np.where(ok, 0.0, 2.0), (sim - pub) / band)
    ax.barh(ys, np.clip(rel, -4, 4), color=np.where(ok, "tab:green", "tab:red"), alpha=0.7)
    ax.axvline(-1, color="k", ls=":")
    ax.axvline(1, color="k", ls=":")
    ax.set_yticks(ys, [f"{r[0]}{' ' + r[1] if r[1] else ''} | {r[2]}" for r in rows], fontsize=7)
    ax.set_xlabel("(simulated − published) / acceptance band   (|x| ≤ 1: inside the band)")
    ax.set_title("Calibration targets after fitting (" + ("fresh trial at the fit" if direct
                 else "reweighted plausible population") + ")")
    fig.tight_layout()
    f2 = Figure(figsize=(7, 3.2))
    a2 = f2.add_subplot()
    a2.semilogy(np.arange(1, len(history) + 1), history)
    a2.set_xlabel("trial evaluated (Jacobian columns included)" if direct else "CMA-ES iteration")
    a2.set_ylabel("loss" if direct else "best loss in generation")
    a2.set_title("Loss over iterations")
    f2.tight_layout()
    names = list(fitted)
    f3 = Figure(figsize=(7, 0.4 * len(names) + 1.2))
    a3 = f3.add_subplot()
    mu = np.array([float(fitted[k]["log_shift"]) for k in names])  # type: ignore[arg-type]
    se = np.array([float(fitted[k].get("log_shift_se") or 0.0) for k in names])  # type: ignore[arg-type]
    a3.errorbar(mu, np.arange(len(names)), xerr=1.96 * se, fmt="o")
    a3.axvline(0, color="grey", ls=":")
    a3.set_yticks(np.arange(len(names)), names)
    a3.set_xlabel("fitted log-shift of the population mean (±1.96 SE)")
    f3.tight_layout()
    trs = "".join(
        f"<tr><td>{html.escape(r[0])}{' ' + r[1] + ' mo' if r[1] else ''}</td><td>{html.escape(r[2])}</td>"
        f"<td>{r[3]:.3g}</td><td>{_val(r[4])}</td>"
        f"<td>{html.escape(r[6]) if len(r) > 6 else '±' + format(r[5], '.3g')}</td>"
        f"<td>{'inside' if good else 'outside'}</td>"
        + (f"<td>{_val(fresh[i])}</td><td>{'inside' if fresh_ok[i] else 'outside'}</td>" if fresh is not None
           and fresh_ok is not None else "") + "</tr>"
        for i, (r, good) in enumerate(zip(rows, ok, strict=True)))
    prs = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{_fmt(v['default'])}</td><td>{float(v['iiv']):.3g}"  # type: ignore[arg-type]
        f"{' ± ' + format(float(v['iiv_se']), '.2g') if v.get('iiv_se') else ''}</td>"  # type: ignore[arg-type]
        f"<td>{float(v['log_shift']):+.3f}{' ± ' + format(float(v['log_shift_se']), '.2g') if v.get('log_shift_se') else ''}</td></tr>"  # type: ignore[arg-type]
        for k, v in fitted.items())
    fresh_head = "<th>fresh trial at the fit</th><th></th>" if fresh is not None else ""
    fresh_note = ("<p>Corrected by fresh trials: the fit matched the reweighted readings plus the offsets that fresh trials "
                  "at its earlier values showed (<code>fresh_correction.csv</code>); the last columns are one more fresh "
                  "trial at the result, with a seed of its own.</p>") if fresh is not None else ""
    ess_line = "" if direct else f"<li><b>effective sample size</b>: {ess:.0f} of {n} plausible patients</li>"
    se_note = ("Uncertainty: Gauss-Newton standard errors of the free coordinates (the others as installed; shift 0 "
               "where not fitted).") if direct else "Uncertainty: bootstrap over plausible patients (refits)."
    prov = "".join(f"<li><b>{html.escape(str(k))}</b>: {html.escape(str(v))}</li>" for k, v in provenance.items()
                   if k != "held_out")
    held = _held_out_html(provenance.get("held_out"), provenance.get("loss"))
    doc = f"""<!doctype html><html><head><meta charset='utf-8'><title>immunotwin calibration</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 8px;font-size:13px}}.note{{background:#fff7e0;padding:8px;border:1px solid #e0c060}}</style>
</head><body><h1>Calibration</h1>
<p class='note'>Research and education only. Fitted figures are not validation: see <code>immunotwin validate</code>
for the figures kept out of the fit. Published grade ≥3 and discontinuation figures are treatment-related adverse events,
which include events outside the modelled organs: the simulated grade ≥3 figure counts irAEs, neutropenia, non-immune events drawn at a constant hazard
per month of checkpoint exposure (<code>nonimmune_trae_rate</code>) and immune-related events drawn at a hazard proportional to the patient's
autoreactive activity (<code>systemic_irae_rate</code>); both rates are profiled out of the loss and listed below. Discontinuation is for irAEs only.</p>
<h2>Provenance</h2><ul>{prov}{ess_line}</ul>
<h2>Simulated against published</h2>{_img(fig, 'targets')}
{fresh_note}<table><tr><th>endpoint</th><th>arm</th><th>published</th><th>simulated ({'fresh trial' if direct else 'reweighted'})</th><th>band</th><th></th>{fresh_head}</tr>{trs}</table>
<h2>Loss</h2>{_img(f2, 'loss')}{held}
<h2>Fitted values</h2><p>Population mean = the default installed before this fit (its start) × exp(shift); IIV = SD of the log.
{se_note}</p>{_img(f3, 'fitted values')}
<table><tr><th>parameter</th><th>fitted default</th><th>fitted IIV</th><th>log shift</th></tr>{prs}</table>
</body></html>"""
    path.write_text(doc)


def _held_out_html(h: object, own: object = None) -> str:
    """The held-out check of a direct fit (calibrate_direct.held_out_check) as a table, or nothing; ``own``: the
    fit's loss on its own trials."""
    if not isinstance(h, Mapping):
        return ""
    own_txt = f" (on the fit's own trials: {float(own):.3g})" if isinstance(own, int | float) else ""  # type: ignore[arg-type]
    trs = "".join(f"<tr><td>{a['seed']}</td><td>{a['loss']:.3g} ({a['outside']})</td><td>{b['loss']:.3g} "
                  f"({b['outside']})</td></tr>" for a, b in zip(h["start"], h["fit"], strict=True))
    verdict = ("lower at the fit: the fit carries over to patients it did not see" if h["improved"] else
               "<b>not lower at the fit: its gain on its own trials does not carry over (it has fitted their "
               "sampling error)</b>")
    return (f"<h2>Held-out check</h2><p>Fresh trials of {h['patients_per_arm']} per arm at seeds the fit never saw, "
            f"read with the fit's loss (rows beyond one unit in brackets). Mean loss {h['mean_loss_start']:.3g} at the "
            f"start, {h['mean_loss_fit']:.3g} at the fit{own_txt}: {verdict}.{_paired_html(h)}</p>"
            f"<table><tr><th>seed</th><th>start</th>"
            f"<th>fit</th></tr>{trs}</table>")


def _paired_html(h: Mapping) -> str:
    """The paired reading of the held-out check (calibrate_direct.paired_difference), or nothing for a file that
    predates it."""
    if "verdict" not in h:
        return ""
    from ..calibrate_direct import se_text

    return (f" Seed by seed, the fit minus the start: {h['difference']:+.3g} on average (standard error "
            f"{se_text(h['difference_se'])}): <b>{h['verdict']}</b> (two standard errors decide).")


def _inside(sim: np.ndarray, pub: np.ndarray, band: np.ndarray, ruled: np.ndarray) -> np.ndarray:
    return np.where(ruled, np.isnan(sim), np.abs(sim - pub) <= band)


def _val(x: float) -> str:
    return "not reached" if np.isnan(x) else format(x, ".3g")


def _fmt(v: object) -> str:
    a = np.asarray(v, dtype=float)
    return f"{float(a):.4g}" if a.ndim == 0 else ", ".join(f"{x:.3g}" for x in a)
