"""Named scenarios: each phenomenon immunotwin reproduces, run by name and checked against
published figures (``immunotwin scenarios``, ``immunotwin scenario NAME --out DIR``).

Trial scenarios are plain trial specs shipped next to this module (and in
``examples/scenarios/``) run on the shared model with catalogue parameters; the
inflammation-to-cancer scenario runs the separate carcinogenesis model
(:mod:`immunotwin.carcinogenesis`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .core import Result, write_outputs


@dataclass(frozen=True)
class Scenario:
    name: str
    line: str
    run: Callable[..., Result]
    default_patients: int | None


def _trials(fn: str, module: str = "trials") -> Callable[..., Result]:
    def go(patients: int | None = None, seed: int | None = None) -> Result:
        from importlib import import_module

        return getattr(import_module(f".{module}", __name__), fn)(patients, seed)

    return go


def _carcino(patients: int | None = None, seed: int | None = None) -> Result:
    from .inflammation import inflammation_to_cancer

    return inflammation_to_cancer()


SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    Scenario("paraneoplastic-thymoma", "thymoma, no drug vs anti-PD-1: myasthenia through shared antigen and "
             "autoantibodies (30-50%)", _trials("paraneoplastic_thymoma"), 300),
    Scenario("melanoma-vitiligo", "anti-PD-1 in melanoma: skin irAE and survival, 12-week landmark "
             "(Freeman-Keller 2016)", _trials("melanoma_vitiligo"), 600),
    Scenario("preexisting-autoimmunity", "anti-PD-1 with pre-existing autoimmune disease: flares by disease, other "
             "irAEs, response (Menzies 2017)", _trials("preexisting_autoimmunity"), 400),
    Scenario("hyperprogression", "anti-PD-1 in NSCLC: hyperprogression overall, by age, burden and sites, against "
             "docetaxel and the same patients untreated (Ferrara 2018, Champiat 2017); in melanoma (Schuiveling 2021)",
             _trials("hyperprogression"), 600),
    Scenario("leukemia-evasion", "untreated CLL and AML: immune escape and autoimmune cytopenia (Moreno 2010)",
             _trials("leukemia_evasion"), 300),
    Scenario("cancers-compared", "one anti-PD-1 across melanoma, NSCLC by PD-L1, RCC, Hodgkin, MSI-high CRC: "
             "response rates against each trial (KEYNOTE-024/001/087/177, CheckMate 067/025)",
             _trials("cancers_compared", "compare"), 300),
    Scenario("prior-chemotherapy", "the same NSCLC patients on pembrolizumab with and without prior chemotherapy: "
             "response and irAEs (Garon 2015)", _trials("prior_chemotherapy", "compare"), 500),
    Scenario("steroids-and-efficacy", "early high-dose steroids for irAEs vs the rest (Bai 2021), and the same "
             "patients with half the guideline's steroid doses", _trials("steroids_and_efficacy", "compare"), 1000),
    Scenario("car-t-crs", "axicabtagene ciloleucel in large B-cell lymphoma: CAR T kinetics, response, CRS and "
             "neurotoxicity by ASTCT grade with tocilizumab and steroids (ZUMA-1)", _trials("car_t_crs", "biologics"), 300),
    Scenario("high-dose-il2", "aldesleukin in melanoma and renal cell carcinoma: response, durable complete "
             "responses, capillary leak (Atkins 1999, Fyfe 1995)", _trials("high_dose_il2", "biologics"), 300),
    Scenario("monoclonal-antibodies", "rituximab (ADCC, FCGR3A genotype, B-cell depletion) next to nivolumab in "
             "follicular lymphoma: different mechanism, different toxicities", _trials("monoclonal_antibodies",
                                                                                      "biologics"), 300),
    Scenario("cancer-vaccine", "gp100 peptide vaccine alone, with ipilimumab and with nivolumab in melanoma: "
             "antigen-specific priming (Hodi 2010)", _trials("cancer_vaccine", "biologics"), 300),
    Scenario("ipilimumab-dose", "ipilimumab 10 mg/kg against 3 mg/kg in melanoma: survival and severe toxicity "
             "from PK and CTLA-4 occupancy alone (Ascierto 2017, CA184-169)", _trials("ipilimumab_dose", "dose"), 300),
    Scenario("interferon-melanoma", "interferon alfa-2b in metastatic melanoma: response, autoimmunity and survival "
             "(Gogas 2006)", _trials("interferon_melanoma", "biologics"), 300),
    Scenario("bcg-bladder", "intravesical BCG for bladder carcinoma in situ: complete response and cystitis "
             "(Lamm 1991)", _trials("bcg_bladder", "biologics"), 300),
    Scenario("targeted-therapy", "dabrafenib + trametinib against dabrafenib in BRAF V600 melanoma: response, PFS "
             "and survival (COMBI-d)", _trials("targeted_therapy", "targeted"), 300),
    Scenario("inflammation-to-cancer", "two-stage clonal expansion with chronic inflammation: lymphoma in RA, "
             "colorectal cancer in ulcerative colitis (Smitten 2008, Eaden 2001)", _carcino, None),
)}


def run_scenario(name: str, out: Path, patients: int | None = None, seed: int | None = None) -> dict[str, Any]:
    """Run scenario ``name`` and write ``out/summary.json`` and ``out/report.html``; return the summary."""
    if name not in SCENARIOS:
        raise KeyError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")
    res = SCENARIOS[name].run(patients, seed)
    return write_outputs(res, Path(out))


__all__ = ["SCENARIOS", "Scenario", "run_scenario"]
