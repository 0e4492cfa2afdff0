"""Covariate effects: how a patient's covariates set model parameters, each with a unit and a source.

The model's parameters (:mod:`immunotwin.model`) are population values with between-patient variability; these are the
fixed effects of the covariates on them and the geometry that turns a baseline diameter sum into a burden, applied by
:func:`immunotwin.population.sample_cohort`. They are declared here, not written inline, so that ``immunotwin params``
and ``docs/model.md`` list them beside the model's parameters. Most are hand-set: a value marked assumed takes its
direction from the cited observation. The lung's two risk factors are fitted, each to a published odds ratio, by
:mod:`immunotwin.calibrate_lung`, leaving the rates of pneumonitis by cancer to validation.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Effect:
    name: str
    unit: str
    value: float
    applies: str  # what it does, in one line
    source: str

    @property
    def assumed(self) -> bool:
        return self.source.startswith("assumed")


EFFECTS: tuple[Effect, ...] = (
    Effect("liver_mets_immunogenicity", "1", 0.7, "immunogenicity x this with liver metastases",
           "assumed magnitude; direction from Tumeh et al., Cancer Immunol Res 2017;5:417 (fewer CD8 cells and "
           "responses with liver metastases)"),
    Effect("age_onset_years", "year", 60.0, "age above which the two age effects below start",
           "assumed: immunosenescence taken to start in the seventh decade"),
    Effect("age_priming_loss", "1/year", 0.01, "priming x (1 - this x years above the onset age), floored below",
           "assumed: immunosenescence (thymic involution, fewer naive T cells)"),
    Effect("age_priming_floor", "1", 0.5, "lowest priming factor from age",
           "assumed: halving at most (reached at 110 years with the loss above)"),
    Effect("age_treg_pd1_gain", "1/year", 0.03,
           "gain of PD-1+ regulatory T cells under PD-1 blockade x exp(this x years above the onset age)",
           "assumed magnitude; direction from hyperprogression being more frequent at 65 or older (Champiat et al., "
           "Clin Cancer Res 2017;23:1920) and PD-1+ Treg expansion in hyperprogression (Kamada et al., PNAS "
           "2019;116:9999)"),
    Effect("prior_chemo_priming", "1", 0.8, "priming x this after prior chemotherapy",
           "assumed: lymphodepletion by cytotoxic chemotherapy"),
    Effect("prior_chemo_treg_pd1", "1", 2.0, "gain of PD-1+ regulatory T cells x this after prior chemotherapy",
           "assumed: Treg rebound after lymphodepletion"),
    Effect("ldh_growth_exponent", "1", 0.5, "net growth rate x LDH (x ULN) ^ this",
           "assumed magnitude: LDH tracks burden and glycolytic growth"),
    Effect("ecog_lethal_factor", "1", 0.7, "lethal burden x this per ECOG point",
           "assumed: a patient in poorer condition dies of a smaller burden"),
    Effect("lethal_floor", "1", 3.0, "lowest lethal burden, as a multiple of the baseline burden",
           "assumed: an enrolled patient, ECOG 0-1, carries at most a third of a lethal burden"),
    Effect("pdl1_constitutive_base", "1", 0.05, "constitutive tumour PD-L1 at a tumour proportion score of 0",
           "assumed: equal to the PD-L1 level of half-maximal PD-1 inhibition (k_pdl1)"),
    Effect("pdl1_constitutive_per_tps", "1", 0.6, "constitutive tumour PD-L1 added per unit of the proportion score",
           "assumed: a fully PD-L1-positive tumour near the maximal IFN-gamma-induced level (pdl1_ifn 0.7)"),
    Effect("pdl1_immune_correlation", "1", 0.6,
           "correlation (Gaussian copula) of the PD-L1 proportion score with the immunogenicity draw",
           "assumed: strong, as PD-L1 is mostly adaptive, IFN-gamma-induced expression in T-cell-inflamed tumours "
           "(Taube et al., Sci Transl Med 2012;4:127ra37: TILs in 98% of PD-L1+ and 28% of PD-L1- melanomas; "
           "Tumeh et al., Nature 2014;515:568)"),
    Effect("male_hypophysitis", "1", 1.6, "hypophysitis susceptibility x this in men",
           "Min et al., Clin Cancer Res 2015;21:749 (hypophysitis under ipilimumab 16.1% in men against 8.7% in women)"),
    Effect("female_other_organs", "1", 1.15, "susceptibility of every other organ x this in women",
           "assumed: autoimmune disease is more frequent in women"),
    Effect("preexisting_factor", "1", 1.8, "susceptibility of the organ of a pre-existing autoimmune disease x this",
           "assumed: set before the preexisting-autoimmunity scenario, which reads it against Menzies et al., Ann "
           "Oncol 2017;28:368"),
    Effect("smoker_lung", "1", 1.14, "pneumonitis susceptibility x this in ever-smokers",
           "fitted (python -m immunotwin.calibrate_lung): the factor at which the model's odds ratio of pneumonitis "
           "under PD-1 blockade, the same NSCLC patients with and without it, equals the published smoking odds ratio "
           "(calibrate_lung.ODDS_RATIOS); 2.38 at the lung margin 0.2373, 4,000 patients, seed 2024 "
           "(docs/experiments/stop69-lung-risk)"),
    Effect("thoracic_rt_lung", "1", 1.169, "pneumonitis susceptibility x this after prior thoracic radiotherapy",
           "fitted (python -m immunotwin.calibrate_lung): as smoker_lung, for the published odds ratio of prior "
           "thoracic radiotherapy (calibrate_lung.ODDS_RATIOS); 2.76 in the same run"),
    Effect("target_share", "1", 0.5, "share of the measurable burden held by the target lesions",
           "assumed: RECIST targets (at most 5, 2 per organ) hold about half of the disease"),
    Effect("ellipsoid", "1", 0.36, "lesion volume / volume of the sphere of its longest diameter",
           "assumed: ellipsoids whose short axes are 0.6 x the longest diameter (0.6 x 0.6)"),
)

E: dict[str, float] = {e.name: e.value for e in EFFECTS}
