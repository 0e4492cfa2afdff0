"""The trial report: one self-contained HTML file (inline CSS, figures as inline base64 PNG).

No scripts, no external links or resources: the file opens offline and can be archived or
mailed as is. Tables give every readout with its 95% interval; when a published reference
is given, a "simulated vs published" table shows each difference as a number, without
pass/fail colouring.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from ..model.organs import IRAES
from ..readouts import subgroups, twin_summary
from . import figures as F

__all__ = ["write_trial_report"]

DISCLAIMER = ("For research and education only — not for patient care. These are simulated virtual "
              "patients; nothing here is a prediction for, or advice about, a real person.")

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0 auto;max-width:1180px;
padding:0 1.2em 3em;color:#1d2430;line-height:1.45}
h1{margin-bottom:.2em}h2{border-bottom:2px solid #d8dee8;padding-bottom:.2em;margin-top:2em}
.warn{background:#fff4d6;border:1px solid #e3b341;padding:.6em .9em;border-radius:4px;font-weight:600}
.meta{color:#5a6472;font-size:.9em}
table{border-collapse:collapse;margin:.6em 0 1em;font-size:.88em}
th,td{border:1px solid #d0d6df;padding:.28em .55em;text-align:right;vertical-align:top}
th{background:#eef2f7}td.l,th.l{text-align:left}
pre{background:#f6f8fa;border:1px solid #d0d6df;padding:.8em;overflow-x:auto;font-size:.85em}
figure{margin:1em 0}figure img{max-width:100%;height:auto;border:1px solid #e3e7ee}
figcaption,.note{color:#5a6472;font-size:.88em}nav a{margin-right:.9em}
"""


def _esc(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _ok(v: Any) -> bool:
    return v is not None and not (isinstance(v, float) and not math.isfinite(v))


def _pct(v: Any, digits: int = 1) -> str:
    return f"{100 * float(v):.{digits}f}%" if _ok(v) else "—"


def _mo(v: Any) -> str:
    return f"{float(v):.1f}" if _ok(v) else "NR"


def _num(v: Any, digits: int = 2) -> str:
    return f"{float(v):.{digits}f}" if _ok(v) else "—"


def _p(v: Any) -> str:
    if not _ok(v):
        return "—"
    return "< 0.0001" if float(v) < 1e-4 else f"{float(v):.4f}"


def _ci(ci: Any, fmt: Callable[[Any], str]) -> str:
    if not isinstance(ci, list | tuple) or len(ci) != 2 or not (_ok(ci[0]) or _ok(ci[1])):
        return ""
    return f" ({fmt(ci[0])}–{fmt(ci[1])})"


def _table(header: list[str], rows: list[list[str]], left: int = 1) -> str:
    """An HTML table; cells are already escaped; the first ``left`` columns are left-aligned."""
    th = "".join(f"<th class='l'>{h}</th>" if i < left else f"<th>{h}</th>" for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(f"<td class='l'>{c}</td>" if i < left else f"<td>{c}</td>"
                                    for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _control(summary: dict[str, Any], arms: list[str]) -> str | None:
    """The control arm: the one every comparison "<arm> vs <control>" is made against."""
    comps = summary.get("comparisons", {})
    for c in arms:
        others = [a for a in arms if a != c]
        if others and all(f"{a} vs {c}" in comps for a in others):
            return c
    return None


def _rate_cell(s: dict[str, Any], *, which: str, key: str) -> str:
    return _pct(s[which].get(key)) + _ci(s["ci95"][which].get(key), _pct)


def _irae_cell(s: dict[str, Any], *, key: str) -> str:
    return _pct(s["irae"][key]) + _ci(s["ci95"].get(f"irae_{key}"), _pct)


def _arm_table(summary: dict[str, Any], arms: list[str], control: str | None) -> str:
    A = summary["arms"]
    get: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
        ("patients randomised (n)", lambda s: str(s["n"])),
        ("failed simulations", lambda s: str(s["failed"])),
        ("objective response rate (CR+PR)", lambda s: _pct(s["orr"]) + _ci(s["ci95"]["orr"], _pct)),
        ("complete response rate", lambda s: _pct(s["cr_rate"]) + _ci(s["ci95"]["cr_rate"], _pct)),
        ("disease control rate (CR+PR+SD)", lambda s: _pct(s["dcr"]) + _ci(s["ci95"]["dcr"], _pct)),
        ("median PFS (months)", lambda s: _mo(s["median_pfs_months"]) + _ci(s["ci95"]["median_pfs_months"], _mo)),
        ("median OS (months)", lambda s: _mo(s["median_os_months"]) + _ci(s["ci95"]["median_os_months"], _mo)),
        ("median duration of response (months)",
         lambda s: _mo(s["median_dor_months"]) + _ci(s["ci95"]["median_dor_months"], _mo)),
    ]
    first = A[arms[0]] if arms else {}
    for which, lab in (("pfs_rate", "PFS"), ("os_rate", "OS")):
        for k in first.get(which, {}):
            get.append((f"{lab} rate at {k} months", partial(_rate_cell, which=which, key=k)))
    get.append(("hyperprogression (of evaluable)", lambda s: _pct(s["hpd_rate"]) + _ci(s["ci95"]["hpd_rate"], _pct)))
    for key, lab in (("any_grade", "irAE, any grade (whole follow-up)"), ("grade3plus", "irAE, grade ≥3 (whole follow-up)"),
                     ("fatal", "fatal irAE"),
                     ("discontinued", "discontinued for toxicity"), ("steroids", "systemic corticosteroids")):
        get.append((lab, partial(_irae_cell, key=key)))
    get.append(("treatment-related AE, grade ≥3 (irAE, neutropenia, events outside the organs; first dose to 30 days "
                "after the last first-line dose)",
                lambda s: _pct(s["trae_grade3plus"]) + _ci(s["ci95"]["trae_grade3plus"], _pct)))
    if any((A[a].get("next_line") or {}).get("share") for a in arms):  # a trial with next-line therapy given
        get.append(("given next-line therapy", lambda s: _pct(s["next_line"]["share"])
                    + _ci(s["next_line"]["ci95"]["share"], _pct)))
        get.append(("months to next-line therapy, median (death censors)",
                    lambda s: _mo(s["next_line"]["median_months_to"])
                    + _ci(s["next_line"]["ci95"]["median_months_to"], _mo)))
        if any("orr" in (A[a].get("next_line") or {}) for a in arms):
            get.append(("response to next-line therapy, CR+PR (of those given it; RECIST 1.1 from the progression scan)",
                        lambda s: _pct(s["next_line"].get("orr")) + _ci(s["next_line"]["ci95"].get("orr"), _pct)))
    rows = [[_esc(lab)] + [_esc(f(A[a])) for a in arms] for lab, f in get]
    if control is not None:
        comps = summary["comparisons"]
        for ep in ("os", "pfs"):
            row = [f"HR {ep.upper()} vs {_esc(control)} (Cox)"]
            prow = [f"log-rank p, {ep.upper()} vs {_esc(control)}"]
            for a in arms:
                c = comps.get(f"{a} vs {control}")
                row.append(_esc(_num(c[f"hr_{ep}"]) + _ci(c[f"hr_{ep}_ci"], _num)) if c else "reference")
                prow.append(_esc(_p(c[f"p_logrank_{ep}"])) if c else "reference")
            rows += [row, prow]
    return _table(["readout (95% CI)"] + [_esc(a) for a in arms], rows)


def _organ_table(summary: dict[str, Any], arms: list[str]) -> str:
    head = ["irAE"] + [f"{_esc(a)}: any / grade ≥3 / median onset (weeks)" for a in arms]

    def cell(block: dict[str, Any], upper: str) -> str:
        return _esc(f"{_pct(block['any_grade'])} / {_pct(block[upper])} / {_mo(block['median_onset_weeks'])}"
                    .replace("NR", "—"))

    irae = [summary["arms"][a]["irae"] for a in arms]
    rows = [[_esc(name)] + [cell(i["by_organ"][name], "grade3plus") for i in irae] for name in IRAES]
    # Read apart from the organ rows: hypothyroidism alone (TSH) and vitiligo (melanocytes killed by tumour-primed T cells).
    for key, upper, label in (
            ("hypothyroidism", "thyroid_hormone", "hypothyroidism alone (TSH): any / thyroid hormone started / median onset"),
            ("vitiligo", "over_10pct_bsa", "vitiligo (not an organ irAE): any / over 10% of body surface / median onset")):
        if all(key in i for i in irae):
            rows.append([label] + [cell(i[key], upper) for i in irae])
    return _table(head, rows)


_REF_ENDPOINTS: list[tuple[str, str, str, str, str]] = [
    # (reference endpoint, label, path in the arm summary, ci key, kind)
    ("orr", "objective response rate, read at the paper's data cut-off (12.5 months)", "response_at_data_cutoff.orr",
     "response_at_data_cutoff.ci95.orr", "frac"),
    ("cr_rate", "complete response rate, read at the paper's data cut-off (12.5 months)",
     "response_at_data_cutoff.cr_rate", "response_at_data_cutoff.ci95.cr_rate", "frac"),
    ("median_pfs_months", "median PFS (months)", "median_pfs_months", "median_pfs_months", "months"),
    ("median_os_months", "median OS (months)", "median_os_months", "median_os_months", "months"),
    ("grade3plus_trae", "grade ≥3 TRAE (simulated: irAEs, neutropenia and events outside the modelled organs)", "trae_grade3plus",
     "trae_grade3plus", "frac"),
    ("discontinued_for_trae", "discontinued for TRAE (published) vs for irAE (simulated)", "irae.discontinued",
     "irae_discontinued", "frac"),
]


def _dig(d: dict[str, Any], path: str) -> Any:
    for k in path.split("."):
        d = d.get(k) if isinstance(d, dict) else None  # type: ignore[assignment]
    return d


def _ref_row(label: str, arm: str, sim: Any, ci: Any, pub: Any, kind: str, source: str) -> list[str]:
    fmt = {"frac": _pct, "months": _mo, "ratio": _num}[kind]
    if _ok(sim) and _ok(pub):
        d = float(sim) - float(pub)
        diff = {"frac": f"{100 * d:+.1f} pp", "months": f"{d:+.1f} mo", "ratio": f"{d:+.2f}"}[kind]
        rel = f"{100 * d / float(pub):+.0f}%" if float(pub) != 0 else "—"
    else:
        diff, rel = "not computable (" + ("not reached" if kind == "months" else "missing") + ")", "—"
    inside = "—"
    if isinstance(ci, list) and len(ci) == 2 and _ok(pub) and (_ok(ci[0]) or _ok(ci[1])):
        lo = float(ci[0]) if _ok(ci[0]) else -math.inf
        hi = float(ci[1]) if _ok(ci[1]) else math.inf
        inside = "yes" if lo <= float(pub) <= hi else "no"
    return [_esc(label), _esc(arm), _esc(fmt(sim) + _ci(ci, fmt)), _esc(fmt(pub)), _esc(diff), _esc(rel),
            inside, _esc(source)]


def _reference_table(summary: dict[str, Any], reference: dict[str, Any]) -> str:
    eps = reference.get("endpoints", {})
    A, comps = summary["arms"], summary.get("comparisons", {})
    rows: list[list[str]] = []

    def source(block: dict[str, Any]) -> str:
        return str(block.get("source", "")) + (" (value to be verified)" if block.get("verify") else "")

    for ep, label, path, cikey, kind in _REF_ENDPOINTS:
        block = eps.get(ep)
        if not isinstance(block, dict):
            continue
        for arm, pub in block.items():
            if arm in A and isinstance(pub, int | float):
                ci = _dig(A[arm], cikey) if "." in cikey else A[arm]["ci95"].get(cikey)
                rows.append(_ref_row(label, arm, _dig(A[arm], path), ci, pub, kind, source(block)))
    for lm, block in (eps.get("os_rate") or {}).items():
        for arm, pub in block.items():
            if arm in A and isinstance(pub, int | float) and lm in A[arm]["os_rate"]:
                rows.append(_ref_row(f"OS rate at {lm} months", arm, A[arm]["os_rate"][lm],
                                     A[arm]["ci95"]["os_rate"].get(lm), pub, "frac", source(block)))
    for ep in ("hr_pfs", "hr_os"):
        block = eps.get(ep)
        for key, pub in (block or {}).items():
            if key in comps and isinstance(pub, int | float):
                rows.append(_ref_row(f"hazard ratio, {ep[3:].upper()}", key, comps[key][ep],
                                     comps[key].get(f"{ep}_ci"), pub, "ratio", source(block)))  # type: ignore[union-attr]
    if not rows:
        return "<p class='note'>The reference shares no endpoint and arm with this run.</p>"
    cal = summary.get("calibrated")
    cal_line = (f"Calibration status: {_esc(cal)}." if cal else
                "<b>Not calibrated yet</b>: the model parameters have not been fitted to these published values.")
    head = ["endpoint", "arm", "simulated (95% CI)", "published", "difference (sim − pub)", "relative",
            "published inside simulated 95% CI", "source"]
    return (f"<p>{_esc(reference.get('trial', 'published trial'))}: {_esc(reference.get('population', ''))}</p>"
            f"<p>{cal_line} Differences are shown as they are; none is hidden or coloured as a pass.</p>"
            + _table(head, rows, left=2)
            + (f"<p class='note'>{_esc(reference['note'])}</p>" if reference.get("note") else ""))


def _twin_table(patients: pd.DataFrame, arms: list[str]) -> str:
    pairs = twin_summary(patients, arms)["pairs"]
    if not pairs:
        return "<p class='note'>Only one arm: no counterfactual comparison.</p>"
    rows = []
    for key, p in pairs.items():
        fr, ct = p["fractions"], p["counts"]
        rows.append([_esc(key), str(p["n_paired"])]
                    + [_esc(f"{ct[k]} ({_pct(fr[k])})") for k in ("both", "only_a", "only_b", "neither")]
                    + [_esc(_num(p["median_os_diff_months"], 1)), _esc(_num(p["mean_os_diff_months"], 1)),
                       _esc(_pct(p["frac_os_longer_a"])), _esc(_pct(p["frac_os_longer_b"]))])
    head = ["A vs B", "paired patients", "respond to both", "only to A", "only to B", "to neither",
            "median OS difference A − B (months)", "mean OS difference (months)", "live longer on A",
            "live longer on B"]
    return ("<p>In a twin design every arm treats the same virtual patients, so who responds to which "
            "arm is observed directly (impossible in a real trial). OS differences use observed times; "
            "patients alive at the cut-off in both arms contribute 0.</p>" + _table(head, rows))


def _figure(make: Callable[[], F.FigOrNote], alt: str, caption: str) -> str:
    try:
        fig = make()
    except Exception as e:  # a figure must never sink the whole report
        return f"<p class='note'>This figure could not be drawn ({_esc(type(e).__name__)}: {_esc(e)}).</p>"
    if isinstance(fig, str):
        return f"<p class='note'>{_esc(fig)}</p>"
    png = F.to_png_base64(fig)
    return (f"<figure><img alt='{_esc(alt)}' src='data:image/png;base64,{png}'>"
            f"<figcaption>{_esc(caption)}</figcaption></figure>")


def write_trial_report(path: Path, *, spec_text: str, summary: dict[str, Any], patients: pd.DataFrame,
                       visits: pd.DataFrame | None, reference: dict[str, Any] | None, design: str) -> None:
    """Write the HTML report of a finished virtual trial to ``path``.

    ``summary`` is :func:`immunotwin.readouts.summarize`'s output (arm order and control are
    taken from it), ``patients``/``visits`` the result tables (``visits`` may be None or a
    sample of scan rows), ``reference`` a published-trial file such as
    ``data/checkmate067.json`` (or None), ``design`` "parallel" or "twin".
    """
    arms = list(summary["arms"])
    control = _control(summary, arms)
    ok = patients[patients["status"].astype(str) != "failed"] if "status" in patients.columns else patients
    sec: list[tuple[str, str, str]] = []  # (anchor, title, body)
    sec.append(("spec", "Trial specification", f"<pre>{_esc(spec_text)}</pre>"))
    sec.append(("arms", "Readouts per arm",
                "<p>Proportions are over all patients randomised in the arm (failed simulations count in the "
                "denominator); 95% Wilson intervals; medians from Kaplan–Meier with Brookmeyer–Crowley 95% "
                "intervals (NR = not reached); hazard ratios from a Cox model.</p>"
                + _arm_table(summary, arms, control) + "<h3>irAE by organ</h3>" + _organ_table(summary, arms)))
    if reference is not None:
        sec.append(("reference", "Simulated vs published", _reference_table(summary, reference)))
    km = "".join(_figure(partial(F.km_figure, ok, arms, ep), f"Kaplan-Meier {ep.upper()}",
                         f"Kaplan–Meier curves of {ep.upper()} per arm; numbers at risk below the time axis.")
                 for ep in ("pfs", "os"))
    sec.append(("survival", "Survival", km))
    sec.append(("response", "Tumour response", "".join([
        _figure(lambda: F.waterfall_figure(ok, arms), "waterfall plot",
                "Best % change of the sum of target-lesion diameters; dashed lines at +20% and −30%."),
        _figure(lambda: F.spider_figure(visits, ok, arms), "spider plot",
                "SLD change from baseline at each scan (at most 50 patients per arm, lowest patient indices)."),
        _figure(lambda: F.swimmer_figure(ok, arms), "swimmer plot",
                "Time on study of up to 30 patients per arm (lowest patient indices) with key events.")])))
    sec.append(("safety", "Immune-related adverse events", "".join([
        _figure(lambda: F.irae_organ_figure(summary, arms), "irAE incidence by organ",
                "Share of each arm with the irAE at its worst grade; solid part = grade ≥3."),
        _figure(lambda: F.irae_cumulative_figure(patients, arms), "cumulative incidence of irAEs",
                "Empirical cumulative fraction of all patients of the arm with a first irAE (solid: any grade, "
                "dashed: grade ≥3)."),
        _figure(lambda: F.irae_onset_figure(patients, arms), "irAE onset by organ",
                "Week of first onset of each irAE among the patients who have it: median and interquartile range "
                "at any grade, and the median week grade ≥2 is reached among those who reach it (a different "
                "set of patients, so it can come before the any-grade median). Published order: skin first, then gut and "
                "liver, endocrine organs later (Weber et al., J Clin Oncol 2012;30:2691 and 2017;35:785).")])))
    if control is not None:
        sec.append(("subgroups", "Subgroups", _figure(
            lambda: F.forest_figure(subgroups(patients, control, arms), arms, control), "forest plot",
            "Cox hazard ratios of OS with 95% CI within subgroups (PD-L1 cut-off 5%, LDH at the ULN, "
            "age 65, M1c vs other).")))
    sec.append(("exposure", "Exposure–response", _figure(
        lambda: F.exposure_response_figure(ok, arms), "exposure-response",
        "ORR and grade ≥3 irAE rate by quartile of average concentration over the first 12 weeks.")))
    if design == "twin":
        sec.append(("twin", "Counterfactuals (twin design)", _twin_table(patients, arms)))
    nav = "".join(f"<a href='#{a}'>{_esc(t)}</a>" for a, t, _ in sec)
    body = "".join(f"<section id='{a}'><h2>{_esc(t)}</h2>{b}</section>" for a, t, b in sec)
    meta = (f"seed {_esc(summary.get('seed', ''))} · immunotwin {_esc(summary.get('version', ''))} · "
            f"design {_esc(design)} · control {_esc(control or '—')} · spec sha256 {_esc(summary.get('spec_sha256', ''))}")
    doc = (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
           f"<title>{_esc(summary.get('name', 'virtual trial'))} — immunotwin report</title>"
           f"<style>{_CSS}</style></head><body>"
           f"<h1>{_esc(summary.get('name', 'virtual trial'))}</h1>"
           f"<p class='warn'>{_esc(DISCLAIMER)}</p><p class='meta'>{meta}</p><nav>{nav}</nav>{body}"
           f"<p class='meta'>Generated by immunotwin. {_esc(DISCLAIMER)}</p></body></html>")
    Path(path).write_text(doc, encoding="utf-8")
