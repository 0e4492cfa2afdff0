"""Render docs/model.md from the code: each subsystem's equations (its docstring) and parameters.

The document is generated, so it cannot drift from the model: ``python -m immunotwin.modeldoc``
rewrites it and a test checks it is current.
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

from . import covariates
from .cancers import CANCERS, FC_MACROPHAGE_SOURCE, LUNG_RISK_SOURCE, MARROW_SOURCE
from .clinic import observe, outcomes, policy, run
from .drugs import catalogue
from .model import core
from .model.core import SUBSYSTEMS
from .model.organs import IRAES


def _fmt(v: object) -> str:
    import numpy as np

    a = np.asarray(v)
    return f"{float(a):g}" if a.ndim == 0 else "(" + ", ".join(f"{x:g}" for x in a) + ")"


def render() -> str:
    out = ["# immunotwin: the model", "",
           "Generated from the code by `python -m immunotwin.modeldoc`; do not edit by hand.",
           "For research and education; not for decisions about a real patient's care.", "",
           f"State variables: {core.LAYOUT.size} per patient ({len(core.STATE_NAMES)} named states, "
           f"organ states are vectors over {len(IRAES)} organs). "
           f"Parameters: {len(core.PARAMS)} model parameters "
           f"({sum(int(p.value.size) for p in core.PARAMS)} values), "
           f"{sum(p.assumed for p in core.PARAMS)} of them assumed rather than sourced; "
           f"{len(catalogue.CATALOGUE)} drugs with population PK.", "",
           "Units: time in days, tumour and T cells in 1e9 cells, drug amounts in mg, concentrations in "
           "mg/L (= µg/mL), steroid dose rates in prednisone-equivalent mg/day.", ""]
    out += ["## Composition", "", inspect.getdoc(core) or "", ""]
    for sub in SUBSYSTEMS:
        out += [f"## Subsystem `{sub.name}`", "",
                "States: " + (", ".join(f"`{n}`" + (f" ({k})" if k > 1 else "") for n, k in sub.states) or "none "
                              "(algebraic signals only)"), "", sub.doc.strip(), "",
                "| parameter | unit | default | IIV (SD of log) | source |", "|---|---|---|---|---|"]
        for p in sub.params:
            src = ("**assumed**: " + p.source[len("assumed: "):]) if p.assumed else p.source
            out.append(f"| `{p.name}` | {p.unit} | {_fmt(p.default)} | {p.iiv:g} | {src} |")
        out.append("")
    out += ["## Drugs", "", inspect.getdoc(catalogue) or "", "",
            "| drug | target | CL (L/day) | Vc (L) | Q (L/day) | Vp (L) | EC50 (mg/L) | PK source | EC50 source |",
            "|---|---|---|---|---|---|---|---|---|"]
    for d in catalogue.CATALOGUE.values():
        out.append(f"| {d.name} | {d.target} | {d.cl_l_day:.4g} | {d.vc_l:g} | {d.q_l_day:.4g} | {d.vp_l:g} | "
                   f"{d.ec50_mg_l:g} | {d.source} | {d.ec50_source} |")
    out += ["", "## The clinic", "", inspect.getdoc(run) or "", "", "### Observation and grading", "",
            inspect.getdoc(observe) or "", "", "| observation | map (assumed scale) |", "|---|---|"]
    out += [f"| `{k}` | {v} |" for k, v in observe.OBSERVATION_SCALES.items()]
    out += ["", "### Management", "", inspect.getdoc(policy) or "", "",
            "### Fatal irAEs", "", "Weekly probability of death while an irAE is at grade 4 "
            "(**assumed**; ordered as the case fatality in Wang DY et al., JAMA Oncol 2018): " +
            ", ".join(f"{k} {v:g}" for k, v in run.FATAL_WEEKLY.items()) + ". Probability that an organ's first "
            "grade >= 3 event ends in death, drawn in the week it begins (Eggermont et al., N Engl J Med 2016;375:1845, "
            "Table 3: 3 colitis deaths among 79 grade >= 3 gastrointestinal irAEs under adjuvant ipilimumab): " +
            ", ".join(f"{k} {v:.3g}" for k, v in run.FATAL_SEVERE_ONSET.items() if v), "",
            "### Outcomes", "", inspect.getdoc(outcomes) or "", "",
            "## Populations", "", inspect.getdoc(sys.modules["immunotwin.population"]) or "", "",
            "### Covariate effects", "", inspect.getdoc(covariates) or "", "",
            "| effect | unit | value | what it does | source |", "|---|---|---|---|---|",
            *(f"| `{e.name}` | {e.unit} | {e.value:g} | {e.applies} | "
              f"{'**assumed**' + e.source[len('assumed'):] if e.assumed else e.source} |" for e in covariates.EFFECTS),
            "",
            "### Cancers", "",
            "| cancer | growth (1/day) | immunogenicity | shared antigens | organ susceptibility (x) | Fc macrophages "
            "(x NSCLC) | marrow share | ever-smokers | prior thoracic radiotherapy | source |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for c in CANCERS.values():
        out.append(f"| {c.key} | {c.growth_rate:g} | {c.immunogenicity:g} | "
                   f"{', '.join(f'{k} {v:g}' for k, v in c.cross.items()) or '-'} | "
                   f"{', '.join(f'{k} {v:g}' for k, v in c.susceptibility.items()) or '-'} | {c.fc_macrophages:g} | "
                   f"{c.marrow_share:g} | {c.ever_smoker:g} | {c.thoracic_rt:g} | {c.source} |")
    out += ["", "Fc macrophages: " + FC_MACROPHAGE_SOURCE, "", "Marrow share: " + MARROW_SOURCE, "",
            "Lung risk factors (ever-smokers, prior thoracic radiotherapy): " + LUNG_RISK_SOURCE]
    out += ["", "## Deliberately simple", "",
            "- Infusions are boluses; receptor occupancy is at quasi-steady state (serum, not tumour).",
            "- Cytokines are algebraic (quasi-steady state); there is no explicit lymph node or tumour spatial "
            "structure; T-cell pools are in units of 1e9 cells, not clonotypes.",
            "- Lesions shrink and grow together (one burden, split evenly over target lesions); new lesions "
            "surface from the Iwata colonisation integral and are not grown individually: a surfaced lesion "
            "shrinks and grows with the viable burden, and a scan shows it while the burden is at least what it "
            "was when the lesion surfaced.",
            "- The clinic runs on a weekly grid: doses, labs and decisions fall on whole weeks.",
            "- Organ observation scales (damage to laboratory values) are assumptions, monotone by construction.",
            "- irAE-associated death is a weekly hazard at grade 4, not a mechanistic organ failure.",
            "- Parameters marked assumed are hand-set for plausible behaviour; calibration to CheckMate 067 "
            "(issue 4) replaces them.", ""]
    return "\n".join(out)


def main() -> None:
    import immunotwin.population  # noqa: F401

    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/model.md")
    path.write_text(render())
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
