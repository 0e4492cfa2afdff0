"""Cancer catalogue: covariate distributions and cancer-specific model parameters.

Each entry gives the baseline covariates of a typical trial population of that cancer and
the parameters that differ between cancers (growth, immunogenicity, shared antigens with
healthy organs). Sources are given per entry; "assumed" values say why.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .model.organs import IRAES

#: Ever-smokers among treated patients of a cancer without its own figure: melanoma's (LUNG_RISK_SOURCE).
EVER_SMOKER_DEFAULT = 0.46


@dataclass(frozen=True)
class Cancer:
    key: str
    label: str
    age_mean: float
    age_sd: float
    female: float
    ecog0: float
    ldh_high: float
    pdl1_positive: float
    pdl1_cutoff: float
    tmb_median: float
    tmb_sigma: float
    sld_median_mm: float
    sld_sigma: float
    sites_mean: float
    brain: float
    liver: float
    prior_chemo: float
    preexisting_ai: float
    m_stage: tuple[float, float, float, float]  # M0, M1a, M1b, M1c
    growth_rate: float
    immunogenicity: float
    cross: dict[str, float] = field(default_factory=dict)
    source: str = ""
    # Histological subtypes (covariate ``subtype``): (name, frequency, scale of the shared-antigen
    # cross-reactivity). Empty: no subtype covariate.
    subtypes: tuple[tuple[str, float, float], ...] = ()
    subtype_source: str = ""
    # Organ susceptibility multipliers the cancer itself brings, whatever the tumour's current size: a thymoma
    # exports autoreactive T cells (organ -> factor for a subtype of shared-antigen scale 1; scaled like the
    # cross-reactivity by subtype, 1 + (factor - 1) x scale). Empty: none.
    susceptibility: dict[str, float] = field(default_factory=dict)
    # Fraction of all patients with a PD-L1 score under 1% (0: scores below the cut-off spread evenly).
    pdl1_lt1: float = 0.0
    # Fraction of tumour cells carrying the B-cell antigens targeted by CAR T cells and rituximab.
    cd19: float = 0.0
    cd20: float = 0.0
    # Target lesions are lymph nodes (lymphomas). On CT (RECIST 1.1, Eisenhauer et al., Eur J Cancer 2009;45:228,
    # sections 3.1 and 4.3.1) a node is a measurable target at >= 15 mm short axis and counts as gone (normal) under
    # 10 mm, so a complete response leaves the nodes' sum above zero. PET-based criteria (Lugano) read viable tumour.
    # Set for follicular lymphoma, read by CT. Not yet for Hodgkin and large B-cell lymphoma: every shipped spec reads
    # them by PET, and the measurable-node floor would move the baselines their fitted figures were set on.
    nodal: bool = False
    # Fraction of patients whose tumour carries a BRAF V600 mutation (read only by BRAF and MEK inhibitors).
    braf_v600: float = 0.0
    # Density of the tumour's Fc-gamma-receptor-bearing growth-promoting macrophages relative to NSCLC's, the scale
    # of the patients' susceptibility to hyperprogression under an Fc-engaging anti-PD-1 (model.macrophages). 0: the
    # mechanism is not applied (no cancer-specific evidence). See FC_MACROPHAGE_SOURCE.
    fc_macrophages: float = 0.0
    # Share of the tumour burden that lives in the marrow and displaces normal haematopoiesis and lymphopoiesis
    # (model.marrow): 0 for solid tumours and lymphomas. See MARROW_SOURCE.
    marrow_share: float = 0.0
    # Lung predisposition to checkpoint-inhibitor pneumonitis (covariates ``ever_smoker`` and ``thoracic_rt``, each
    # multiplying the lung's susceptibility by its covariates.EFFECTS factor): fractions of the cancer's treated
    # population with a smoking history and with prior thoracic radiotherapy. See LUNG_RISK_SOURCE.
    ever_smoker: float = EVER_SMOKER_DEFAULT
    thoracic_rt: float = 0.0

    def cross_vector(self) -> tuple[float, ...]:
        return tuple(self.cross.get(k, 0.0) for k in IRAES)


FC_MACROPHAGE_SOURCE = (
    "NSCLC 1: the cancer in which the mechanism was described (Lo Russo et al., Clin Cancer Res 2019;25:989: "
    "CD163+CD33+PD-L1+ clustered macrophages in every hyperprogressing NSCLC) and whose hyperprogression rate fits its "
    "median (Ferrara et al., JAMA Oncol 2018;4:1543). Every other cancer 0 (assumed: no cancer-specific evidence of the "
    "mechanism). In melanoma hyperprogression is rare (Schuiveling et al., Cancer Immunol Immunother 2021;70:1491, "
    "abstract: 1 of 75 evaluable patients, 1.3%, by the stricter AACR definition), and the model without the mechanism "
    "already calls 6.8% of 589 melanoma patients on pembrolizumab hyperprogressive by Ferrara's looser definition "
    "(measurement noise and untreated growth kinetics; stop 55), so it leaves no room for a drug-caused share there; "
    "with NSCLC's reach it called 9.8% and took 3-4 points of CheckMate 067's anti-PD-1 responses (stop 54). Checked "
    "by the hyperprogression scenario with Schuiveling's definition (hyperprogression-melanoma spec): 5.0% of 441 "
    "evaluable at 0, inside the exact CI of 1/75 (to 7.2%); 8.0% of 437 with NSCLC's reach (stop 55).")

MARROW_SOURCE = (
    "AML 1: an acute myeloid leukaemia grows in the marrow and fills it (assumed: its blood and extramedullary share "
    "left out). CLL 0.5 (assumed): CLL cells fill the blood, nodes and spleen as well as the marrow, and marrow "
    "failure comes late (Binet stage C by infiltration; Moreno et al., Blood 2010;116:4771, contrast it with "
    "autoimmune cytopenia). Every other cancer 0.")

LUNG_RISK_SOURCE = (
    "NSCLC: ever-smokers 0.86, 5,569 of 6,497 (85.7%) patients of 12 randomised trials of PD-(L)1 inhibitors (Chen, "
    "Li & Tan, J Thorac Dis, PMC7867843, abstract; 79% in CheckMate 057, 83.7% of 644 patients at DFCI/BWH, Wang et "
    "al., J Natl Cancer Inst 2021;113:1761). Prior thoracic radiotherapy 0.2, between 6.8% in KEYNOTE-189's "
    "pembrolizumab arm (its Table 1 as reproduced in JAMA Netw Open 2024;7:e2436535, PMC11443351), 25% in KEYNOTE-001 "
    "at UCLA (Shaverdian et al., Lancet Oncol 2017;18:895, conference abstract) and 28.6% in a US real-world cohort "
    "(the same JAMA Netw Open table). Melanoma: ever-smokers 0.46 (former 32.9%, current 13.3% of 143 patients on "
    "anti-PD-1, a J Immunother Cancer cohort's Table 1 read through a search excerpt; title not seen), thoracic "
    "radiotherapy 0 (assumed: chest radiotherapy is not a treatment of melanoma). Every other cancer: melanoma's "
    "smoking share and no thoracic radiotherapy (assumed: no figure read; a general adult population's ever-smoking "
    "share is of that order). Chronic lung disease (COPD, interstitial lung disease), a stronger risk factor, is left "
    "out: its prevalence among melanoma patients was not found and in lung cancer it overlaps with smoking.")

_AUTO = ("assumed: growth and immunogenicity hand-set so that untreated disease progresses and "
         "checkpoint blockade response is in the published range for this cancer, pending calibration")

CANCERS: dict[str, Cancer] = {
    "melanoma": Cancer(
        "melanoma", "advanced melanoma", age_mean=61.0, age_sd=13.0, female=0.38, ecog0=0.65,
        ldh_high=0.36, pdl1_positive=0.24, pdl1_cutoff=0.05, tmb_median=12.0, tmb_sigma=1.0,
        sld_median_mm=80.5, sld_sigma=0.7, sites_mean=2.5, brain=0.05, liver=0.19, prior_chemo=0.0,
        preexisting_ai=0.0, m_stage=(0.05, 0.10, 0.20, 0.65), growth_rate=0.006, immunogenicity=1.0,
        cross={"dermatitis": 0.6}, braf_v600=0.5, ever_smoker=0.46, thoracic_rt=0.0,
        source="pooled KEYNOTE-001/002/006 non-mucosal melanoma (Br J Cancer 2018, Table 1): median age 61, "
               "women 38%, ECOG 1 35%, LDH raised 36%, liver metastases 19%, M1c 74%, median baseline "
               "tumour size 80.5 mm; PD-L1 >=5% in about a quarter (CheckMate 067, Larkin 2015; recalled, "
               "verify); M stage mix between CheckMate 067 and Hodi 2010 (assumed); TMB median about 12 "
               "mut/Mb (assumed from exome studies); melanocyte antigens shared with skin (vitiligo: "
               "Freeman-Keller 2016); BRAF V600 mutations in about half (TCGA, Cell 2015;161:1681: the BRAF-hotspot "
               "subtype, about half of 333 cutaneous melanomas; recalled, verify; trials of first-line immunotherapy enrol "
               "fewer, e.g. CheckMate 067 about 32%: set in their specs). " + _AUTO),
    "nsclc": Cancer(
        "nsclc", "advanced non-small-cell lung cancer", age_mean=64.0, age_sd=9.0, female=0.33, ecog0=0.38,
        ldh_high=0.35, pdl1_positive=0.30, pdl1_cutoff=0.5, tmb_median=9.0, tmb_sigma=0.9,
        sld_median_mm=75.0, sld_sigma=0.6, sites_mean=2.5, brain=0.15, liver=0.18, prior_chemo=0.3,
        preexisting_ai=0.0, m_stage=(0.0, 0.3, 0.2, 0.5), growth_rate=0.008, immunogenicity=0.7,
        cross={"pneumonitis": 0.4}, pdl1_lt1=0.33, fc_macrophages=1.0, ever_smoker=0.86, thoracic_rt=0.2,
        source="pooled pembrolizumab NSCLC trials (Cancer 2020, PMC7692929, Table 1): median age 64, male "
               "66-71%, ECOG 1 62%, brain metastases 14-17%, liver metastases 15-23%; PD-L1 TPS >=50% in "
               "about 30% and < 1% in about a third (assumed, KEYNOTE-042 and KEYNOTE-001 screening); shared lung antigens (Berner 2019). " + _AUTO),
    "rcc": Cancer(
        "rcc", "advanced renal cell carcinoma", age_mean=62.0, age_sd=10.0, female=0.26, ecog0=0.6,
        ldh_high=0.1, pdl1_positive=0.25, pdl1_cutoff=0.01, tmb_median=1.5, tmb_sigma=0.6,
        sld_median_mm=80.0, sld_sigma=0.6, sites_mean=2.5, brain=0.03, liver=0.2, prior_chemo=0.0,
        preexisting_ai=0.0, m_stage=(0.0, 0.3, 0.3, 0.4), growth_rate=0.004, immunogenicity=2.2,
        cross={"nephritis": 0.2},
        source="CheckMate 214 (Motzer 2018; age recalled, verify); RCC is immunogenic despite low TMB "
               "(endogenous retroviral antigens), hence a high immunogenicity scale. " + _AUTO),
    "hodgkin": Cancer(
        "hodgkin", "relapsed classical Hodgkin lymphoma", age_mean=39.0, age_sd=13.0, female=0.42,
        ecog0=0.47, ldh_high=0.3, pdl1_positive=0.95, pdl1_cutoff=0.01, tmb_median=5.0, tmb_sigma=0.6,
        sld_median_mm=60.0, sld_sigma=0.6, sites_mean=2.0, brain=0.0, liver=0.05, prior_chemo=1.0,
        preexisting_ai=0.0, m_stage=(0.0, 0.3, 0.3, 0.4), growth_rate=0.006, immunogenicity=3.0,
        source="KEYNOTE-087 subset (median age 39, male 58%, ECOG 1 53%); 9p24.1 amplification makes PD-L1 "
               "near universal in Reed-Sternberg cells (Roemer et al., J Clin Oncol 2016). " + _AUTO),
    "crc_msih": Cancer(
        "crc_msih", "MSI-high/dMMR metastatic colorectal cancer", age_mean=62.0, age_sd=13.0, female=0.5,
        ecog0=0.5, ldh_high=0.3, pdl1_positive=0.3, pdl1_cutoff=0.01, tmb_median=45.0, tmb_sigma=0.5,
        sld_median_mm=70.0, sld_sigma=0.6, sites_mean=2.0, brain=0.01, liver=0.35, prior_chemo=0.5,
        preexisting_ai=0.0, m_stage=(0.0, 0.4, 0.3, 0.3), growth_rate=0.006, immunogenicity=0.6,
        cross={"colitis": 0.3},
        source="KEYNOTE-177 (Andre 2020; age recalled, verify); MSI-H tumours carry tens of mutations per Mb "
               "(Le et al., Science 2017;357:409). " + _AUTO),
    "thymoma": Cancer(
        "thymoma", "thymoma / thymic epithelial tumour", age_mean=55.0, age_sd=13.0, female=0.5, ecog0=0.7,
        ldh_high=0.1, pdl1_positive=0.5, pdl1_cutoff=0.5, tmb_median=0.5, tmb_sigma=0.5,
        sld_median_mm=60.0, sld_sigma=0.5, sites_mean=1.0, brain=0.0, liver=0.05, prior_chemo=0.3,
        preexisting_ai=0.0, m_stage=(0.5, 0.3, 0.1, 0.1), growth_rate=0.002, immunogenicity=0.5,
        cross={"neurologic": 1.2, "hematologic": 0.1}, susceptibility={"neurologic": 3.0},
        subtypes=(("A", 0.11, 0.2), ("AB", 0.27, 0.6), ("B1", 0.17, 1.0), ("B2", 0.26, 1.0), ("B3", 0.19, 0.6)),
        subtype_source="WHO thymoma subtypes; frequencies about those of the ITMIG database (Weis et al., J Thorac "
                       "Oncol 2015; recalled, verify). Assumed scale of the shared-antigen strength: relative "
                       "lymphocyte-richness / cortical thymopoiesis by WHO morphology (A spindle-cell, lymphocyte-"
                       "poor; AB mixed; B1/B2 lymphocyte-rich cortical; B3 epithelial-rich), since autoreactive "
                       "T cells are exported by thymomas with active thymopoiesis (Marx et al., Nat Rev Dis Primers "
                       "2021); not fitted to myasthenia rates.",
        source="ITMIG database (Weis et al., J Thorac Oncol 2015): median age about 55-64, no sex difference; "
               "thymomas export autoreactive T cells against the acetylcholine receptor (Marx et al., "
               "Nat Rev Dis Primers 2021): beyond the antigen the tumour shares (cross), the exported T cells raise "
               "the neuromuscular autoreactive precursor pool whatever the tumour's size, taken as a 3-fold "
               "neurologic susceptibility (assumed magnitude: with it a median patient's tolerance still holds "
               "without treatment, as most thymoma patients have no myasthenia, and is what PD-1 blockade acts on: "
               "myasthenia and myositis under anti-PD-1 in thymic epithelial tumours, Giaccone et al., Lancet Oncol "
               "2018;19:347; Cho et al., J Clin Oncol 2019;37:2162). " + _AUTO),
    "cll": Cancer(
        "cll", "chronic lymphocytic leukaemia", age_mean=70.0, age_sd=10.0, female=0.35, ecog0=0.6,
        ldh_high=0.2, pdl1_positive=0.2, pdl1_cutoff=0.01, tmb_median=0.6, tmb_sigma=0.5,
        sld_median_mm=60.0, sld_sigma=0.6, sites_mean=2.0, brain=0.0, liver=0.05, prior_chemo=0.3,
        preexisting_ai=0.0, m_stage=(0.0, 0.3, 0.3, 0.4), growth_rate=0.0015, immunogenicity=0.1,
        cross={"hematologic": 0.5}, marrow_share=0.5,
        source="CLL: median age about 70 (recalled, verify); autoimmune cytopenia in 5-10% (Hodgson et al., "
               "Br J Haematol 2011;154:14; 7% of 960 in Moreno et al., Blood 2010;116:4771); CLL cells "
               "present red-cell antigens to T cells (Hall et al., Blood 2005;105:2007). " + _AUTO),
    "aml": Cancer(
        "aml", "acute myeloid leukaemia", age_mean=66.0, age_sd=12.0, female=0.45, ecog0=0.4,
        ldh_high=0.6, pdl1_positive=0.2, pdl1_cutoff=0.01, tmb_median=0.4, tmb_sigma=0.5,
        sld_median_mm=60.0, sld_sigma=0.5, sites_mean=1.0, brain=0.0, liver=0.05, prior_chemo=0.2,
        preexisting_ai=0.0, m_stage=(0.0, 0.3, 0.3, 0.4), growth_rate=0.03, immunogenicity=0.05, marrow_share=1.0,
        source="AML: among the lowest mutational burdens of any cancer (Alexandrov et al., Nature 2013); "
               "fast kinetics. " + _AUTO),
    "lbcl": Cancer(
        "lbcl", "refractory large B-cell lymphoma", age_mean=56.0, age_sd=11.0, female=0.33, ecog0=0.42,
        ldh_high=0.6, pdl1_positive=0.2, pdl1_cutoff=0.01, tmb_median=3.0, tmb_sigma=0.6,
        sld_median_mm=110.0, sld_sigma=0.6, sites_mean=2.5, brain=0.0, liver=0.1, prior_chemo=1.0,
        preexisting_ai=0.0, m_stage=(0.0, 0.15, 0.25, 0.6), growth_rate=0.015, immunogenicity=0.3, cd19=1.0, cd20=1.0,
        source="ZUMA-1 (Neelapu et al., N Engl J Med 2017;377:2531, Table 1): median age 58 (23-76), men 67%, ECOG 1 "
               "58%, stage III-IV 85%, refractory to chemotherapy (so all pretreated); LDH raised in most (assumed "
               "60%); stage mix mapped onto the M-stage slots (assumed). Net growth 0.015/day (doubling about 6 "
               "weeks; assumed for chemorefractory aggressive lymphoma, whose median survival is about 6 months: "
               "SCHOLAR-1, Crump et al., Blood 2017;130:1800). B-cell lymphomas carry CD19 and CD20. " + _AUTO),
    "follicular": Cancer(
        "follicular", "relapsed follicular / indolent B-cell lymphoma", age_mean=58.0, age_sd=11.0, female=0.45,
        ecog0=0.6, ldh_high=0.2, pdl1_positive=0.2, pdl1_cutoff=0.01, tmb_median=3.0, tmb_sigma=0.6,
        sld_median_mm=80.0, sld_sigma=0.6, sites_mean=2.0, brain=0.0, liver=0.05, prior_chemo=1.0,
        preexisting_ai=0.0, m_stage=(0.0, 0.3, 0.3, 0.4), growth_rate=0.002, immunogenicity=0.1, cd19=1.0, cd20=1.0,
        nodal=True,
        source="McLaughlin et al., J Clin Oncol 1998;16:2825 (relapsed indolent lymphoma, n=166: median age 58; "
               "recalled, verify); indolent growth (doubling about a year, assumed); low immunogenicity as for CLL "
               "(assumed: PD-1 blockade does little in follicular lymphoma). " + _AUTO),
    "nmibc": Cancer(
        "nmibc", "non-muscle-invasive bladder cancer (carcinoma in situ)", age_mean=67.0, age_sd=10.0, female=0.2,
        ecog0=0.8, ldh_high=0.05, pdl1_positive=0.2, pdl1_cutoff=0.01, tmb_median=8.0, tmb_sigma=0.6,
        sld_median_mm=15.0, sld_sigma=0.5, sites_mean=1.0, brain=0.0, liver=0.0, prior_chemo=0.0,
        preexisting_ai=0.0, m_stage=(1.0, 0.0, 0.0, 0.0), growth_rate=0.003, immunogenicity=0.5,
        source="carcinoma in situ of the bladder treated with intravesical BCG (Lamm et al., N Engl J Med "
               "1991;325:1205: median age in the late 60s, mostly men; recalled, verify); localised (M0), small flat "
               "disease (a 15 mm 'sum of diameters' stands for its extent, assumed); urothelial cancers carry about "
               "8 mutations per Mb (assumed from exome studies). " + _AUTO),
}


def _apply_fit(cancers: dict[str, Cancer]) -> dict[str, Cancer]:
    """Immunogenicity scales and shared-antigen values fitted by ``python -m immunotwin.calibrate_cancers``
    (data/cancer_fit.json)."""
    import dataclasses
    import json
    from importlib import resources

    f = resources.files("immunotwin.data").joinpath("cancer_fit.json")
    if not f.is_file():
        return cancers
    fit = json.loads(f.read_text())
    out = dict(cancers)
    for key, v in fit.get("cancers", {}).items():
        if key in out:
            c = out[key]
            how = ("reproduces" if v.get("reached", True) else
                   f"is the smallest value reaching the model's plateau (ORR {v['orr']:.3f}) below")
            note = (f" Immunogenicity fitted ({v.get('date', fit['provenance']['date'])}): {v['immunogenicity']:.4g} "
                    f"{how} ORR {v['target_orr']:.3f} of {v['source']} in scenario spec {v['spec']} "
                    f"(data/cancer_fit.json; hand-set value before fitting {c.immunogenicity:g}).")
            out[key] = dataclasses.replace(c, immunogenicity=float(v["immunogenicity"]), source=c.source + note)
    for key, v in fit.get("cross", {}).items():  # antigen shared with an organ, fitted to that organ's disease
        if key in out:
            c = out[key]
            organ = v["organ"]
            note = (f" Antigen shared with {organ} fitted ({v.get('date', fit['provenance']['date'])}): {v['value']:.4g} "
                    f"gives {v['metric']} in {v['orr']:.3f} against {v['target_orr']:.3f} of {v['source']} in scenario "
                    f"spec {v['spec']} (data/cancer_fit.json; hand-set value before fitting {c.cross.get(organ, 0.0):g}).")
            out[key] = dataclasses.replace(c, cross={**c.cross, organ: float(v["value"])}, source=c.source + note)
    return out


CANCERS = _apply_fit(CANCERS)

