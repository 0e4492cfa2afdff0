"""Observation model: hidden states -> what a clinic measures, and CTCAE v5.0 grades.

Tumour: the sum of target-lesion diameters scales with the cube root of burden (lesions
shrink and grow as spheres), SLD = SLD_0 (T/T_0)^(1/3), split evenly over the patient's
target lesions; a lesion below the CT detection limit reads 0 mm (RECIST 1.1 records an
absent lesion as 0). Measurement error is multiplicative, log-normal.

Organ damage D (0-1) and remaining endocrine function F map to the laboratory values and
signs a clinician grades. The maps are monotone and their scales are assumptions
(``OBSERVATION_SCALES``); the grade thresholds are CTCAE v5.0 (NCI 2017) as quoted in
data/clinical_rules.md section 3.
"""

from __future__ import annotations

import numpy as np

from ..model.organs import INDEX

DETECTION_MM = 3.0  # assumed: lesions below ~3 mm are not seen on 5-mm CT slices
SLD_NOISE_SD = 0.06  # assumed: log-SD of repeat SLD measurement (within the ±10-15% repeat
# variability reported for CT lesion sums; Zhao et al., Radiology 2009;252:263)

OBSERVATION_SCALES = {
    "rash_bsa": "100 D (% body surface area)",
    "stool_over_baseline": "12 D (stools/day over baseline)",
    "alt_uln": "0.6 + 25 D (x ULN)",
    "bilirubin_uln": "0.5 + 6 D (x ULN)",
    "spo2": "97 - 15 D (%)",
    "ft4": "T4, serum thyroxine relative to normal (model.tolerance; the gland's own F at steady state)",
    "tsh": "2 / T4^2 (mIU/L; 2 if replaced)",
    "creatinine_uln": "0.8 + 5 D (x ULN)",
    "troponin_uln": "0.5 + 50 D (x ULN)",
    "weakness": "10 D (0-10 score)",
    "glucose_mmol": "5.5 / F_islet^0.7 (mmol/L; 7 if on insulin)",
    "platelets_lln": "2 (1 - D)^2 (x LLN, LLN = 150e9/L)",
}


def sld(tumour: np.ndarray, tumour0: np.ndarray, sld0: np.ndarray, n_lesions: np.ndarray,
        noise: np.ndarray) -> np.ndarray:
    """Observed sum of target diameters (mm) with noise (standard-normal ``noise``)."""
    per = sld0 / n_lesions * np.cbrt(np.maximum(tumour, 0.0) / tumour0)
    per = np.where(per < DETECTION_MM, 0.0, per * np.exp(SLD_NOISE_SD * noise))
    return per * n_lesions


def surface(surfaced: np.ndarray, crossed: np.ndarray, log_burden: np.ndarray) -> np.ndarray:
    """Record ln(viable burden) for each potential new lesion at the step it first surfaces (``crossed`` turns true;
    NaN until then). ``crossed`` (N, K): the visible-lesion hazard has passed the patient's k-th threshold."""
    return np.where(crossed & np.isnan(surfaced), np.asarray(log_burden)[:, None], surfaced)


def new_lesions_visible(surfaced: np.ndarray, crossed: np.ndarray, log_burden: np.ndarray, baseline: np.ndarray) -> np.ndarray:
    """Which new lesions a scan shows (N, K mask): lesions that surfaced after baseline (threshold index >=
    ``baseline``, the count surfaced by the first dose; thresholds are cumulative draws, so lesions surface in index
    order) and are still visible. A lesion surfaces at the detection limit and then shrinks and grows with the viable
    burden (it is seeded by the tumour's clones and meets the same killing), so it is visible while the burden is at
    least what it was when the lesion surfaced; one that treatment shrank below the detection limit is not seen (and
    a lesion that regrows past that size is seen again). The clinic counts the distinct lesions seen at any scan so
    far (``clinic.recist``'s cumulative count): the first scan that shows one is a RECIST progression."""
    later = np.arange(crossed.shape[1])[None, :] >= np.asarray(baseline)[:, None]
    return crossed & later & (np.asarray(log_burden)[:, None] >= surfaced)


#: Depigmented skin first noticed at a visit (% body surface): about a palm's area, the usual unit of bedside
#: surface estimates (assumed; dermatologists screening every infusion, as in Hua et al. 2016, see smaller patches).
VITILIGO_SEEN_BSA = 1.0


def vitiligo_grade(melanocyte_loss: np.ndarray) -> np.ndarray:
    """CTCAE v5.0 grade of skin hypopigmentation (vitiligo) from the destroyed share of skin melanocytes, read as the
    depigmented share of body surface: 0 below :data:`VITILIGO_SEEN_BSA`, 1 below 10%, 2 above (the highest grade
    CTCAE gives it)."""
    bsa = 100.0 * np.asarray(melanocyte_loss, dtype=float)
    return np.where(bsa < VITILIGO_SEEN_BSA, 0, np.where(bsa <= 10.0, 1, 2)).astype(np.int8)


def labs(damage: np.ndarray, function: np.ndarray, replaced: np.ndarray, thyroxine: np.ndarray) -> dict[str, np.ndarray]:
    """Laboratory values and signs from damage (N, 12), function (N, 12), hormone
    replacement flags (N, 3: thyroid, adrenal/pituitary, insulin) and serum thyroxine (N,; normal 1)."""
    d = lambda k: damage[:, INDEX[k]]  # noqa: E731
    f = lambda k: np.clip(function[:, INDEX[k]], 1e-3, 1.0)  # noqa: E731
    ft4 = np.clip(np.asarray(thyroxine, dtype=float), 1e-3, None)
    tsh = np.where(replaced[:, 0], 2.0, 2.0 / ft4 ** 2)
    glucose = np.where(replaced[:, 2], 7.0, 5.5 / f("diabetes") ** 0.7)
    return {
        "rash_bsa": 100.0 * d("dermatitis"),
        "stool_over_baseline": 12.0 * d("colitis"),
        "alt_uln": 0.6 + 25.0 * d("hepatitis"),
        "bilirubin_uln": 0.5 + 6.0 * d("hepatitis"),
        "spo2": 97.0 - 15.0 * d("pneumonitis"),
        "ft4": ft4,
        "tsh": tsh,
        "creatinine_uln": 0.8 + 5.0 * d("nephritis"),
        "troponin_uln": 0.5 + 50.0 * d("myocarditis"),
        "weakness": 10.0 * d("neurologic"),
        "glucose_mmol": glucose,
        "platelets_lln": 2.0 * (1.0 - d("hematologic")) ** 2,
    }


def _cut(x: np.ndarray, edges: tuple[float, ...], descending: bool = False) -> np.ndarray:
    """Grade 0..len(edges) by thresholds (grade g when x > edges[g-1])."""
    x = -x if descending else x
    e = tuple(-v for v in edges) if descending else edges
    g = np.zeros(x.shape, dtype=np.int8)
    for k, edge in enumerate(e, start=1):
        g = np.where(x > edge, k, g)
    return g


# Grade of active inflammation in an endocrine organ whose lost function is replaced. Painless
# thyroiditis is graded as its thyrotoxic phase (at most grade 2, as before replacement): severe
# (grade 3) thyroid events are rare under checkpoint blockade (all select immune-related events of
# grade >= 3 together: 4% under nivolumab, Weber et al., J Clin Oncol 2017;35:785, in
# reference/irae.json), whereas an inflamed pituitary or pancreas can stay severe (headache and
# mass effect; ketoacidosis). The earlier ladder (grade 3 above D = 0.5) put 14% of nivolumab
# patients at grade 3 for thyroiditis.
ACTIVE_LADDER = {"thyroiditis": (0.05, 0.3), "hypophysitis": (0.05, 0.2, 0.5), "diabetes": (0.05, 0.2, 0.5)}

# Serum thyroxine (relative to normal) of CTCAE v5.0 hyperthyroidism grades 1 (asymptomatic; above the reference
# range, whose upper limit is about 1.5 times its middle: free T4 about 0.8-1.8 ng/dL, assumed typical) and 2
# (symptomatic, thyroid suppression indicated; assumed 2.5, where a full gland losing follicles at D = 0.3 settles:
# the damage threshold used until stop 47).
THYROTOXIC_LADDER = (1.5, 2.5)


def hypothyroid_grade(thyroxine: np.ndarray, replaced: np.ndarray) -> np.ndarray:
    """CTCAE v5.0 grade of hypothyroidism alone (N,), from serum thyroxine T4 relative to normal (TSH 2/T4^2 mIU/L
    untreated; T4 is the remaining thyroid function F once no follicle is being destroyed): G1 TSH above 4.5
    (asymptomatic), G2 above 10 (replacement indicated), G3 severe (assumed TSH above 800, T4 < 0.05). A patient on
    thyroid hormone is grade 2 ("replacement indicated"). The thyrotoxic phase of painless thyroiditis is not
    hypothyroidism: it is graded from T4 above the reference range in :func:`grades` only, and it is not treated
    with thyroid hormone (ASCO 2021: beta-blockers; levothyroxine once TSH is above 10 or the patient is
    symptomatic)."""
    g = _cut(2.0 / np.clip(np.asarray(thyroxine, float), 1e-3, 1) ** 2, (4.5, 10.0, 800.0))
    return np.where(np.asarray(replaced, bool), np.int8(2), g).astype(np.int8)


def grades(lab: dict[str, np.ndarray], damage: np.ndarray, function: np.ndarray,
           replaced: np.ndarray | None = None) -> np.ndarray:
    """CTCAE v5.0 grade (0-4) of each irAE (N, 12), in IRAES order.

    ``replaced`` (N, 3: thyroid, pituitary/adrenal, insulin): a lost endocrine function on
    replacement is grade 2 at most (CTCAE: "replacement indicated"; the severe symptoms of
    grade 3 resolve with supplementation), unless active inflammation keeps it higher.
    """
    n = damage.shape[0]
    g = np.zeros((n, 12), dtype=np.int8)
    fx = lambda k: function[:, INDEX[k]]  # noqa: E731
    dx = lambda k: damage[:, INDEX[k]]  # noqa: E731
    # Rash maculo-papular: G1 <10% BSA, G2 10-30%, G3 >30%; G4 (bullous/SJS-like) assumed >=90%.
    g[:, INDEX["dermatitis"]] = _cut(lab["rash_bsa"], (1.0, 10.0, 30.0, 90.0))
    # Diarrhoea: G1 <4 stools/day over baseline, G2 4-6, G3 >=7, G4 life-threatening (assumed >=11).
    g[:, INDEX["colitis"]] = _cut(lab["stool_over_baseline"], (0.5, 3.5, 6.5, 10.5))
    # ALT: G1 >ULN-3, G2 >3-5, G3 >5-20, G4 >20 x ULN (baseline normal).
    g[:, INDEX["hepatitis"]] = _cut(lab["alt_uln"], (1.0, 3.0, 5.0, 20.0))
    # Pneumonitis: G1 radiographic only, G2 symptomatic, G3 O2 indicated (SpO2 <92%), G4 life-threatening.
    g[:, INDEX["pneumonitis"]] = _cut(lab["spo2"], (96.0, 94.5, 92.0, 86.0), descending=True)
    # Hypothyroidism: G1 TSH above 4.5 (asymptomatic), G2 replacement indicated (TSH >10),
    # G3 severe (assumed T4 < 0.05); the thyrotoxic phase (hyperthyroidism) from serum thyroxine: G1 above the
    # reference range (THYROTOXIC_LADDER), G2 symptomatic.
    hypo = hypothyroid_grade(lab["ft4"], np.zeros(n, dtype=bool))
    hyper = _cut(lab["ft4"], THYROTOXIC_LADDER)
    g[:, INDEX["thyroiditis"]] = np.maximum(hypo, hyper)
    # Hypophysitis: G1 mild (D > 0.05), G2 replacement indicated (function < 0.6),
    # G3 severe (function < 0.25 or D > 0.5), G4 adrenal crisis (function < 0.05, unreplaced).
    hypo_p = _cut(1.0 - fx("hypophysitis"), (0.2, 0.4, 0.75, 0.95))
    g[:, INDEX["hypophysitis"]] = np.maximum(hypo_p, _cut(dx("hypophysitis"), (0.05, 0.2, 0.5)))
    # Acute kidney injury by creatinine: G1 >ULN-1.5, G2 >1.5-3, G3 >3-6, G4 >6 x ULN.
    g[:, INDEX["nephritis"]] = _cut(lab["creatinine_uln"], (1.0, 1.5, 3.0, 6.0))
    # Myocarditis: G1 troponin rise, G2 symptoms with moderate activity, G3 severe, G4 life-threatening.
    g[:, INDEX["myocarditis"]] = _cut(lab["troponin_uln"], (1.5, 4.5, 10.5, 20.5))
    # Myasthenia gravis / neuropathy: mild, moderate (limits instrumental ADL), severe, respiratory.
    g[:, INDEX["neurologic"]] = _cut(lab["weakness"], (0.5, 1.5, 3.5, 6.0))
    # Diabetes (hyperglycaemia): G1 above baseline, G2 oral agent/management change, G3 insulin
    # initiated, G4 ketoacidosis (F < 0.05 assumed); scored on remaining islet function.
    g[:, INDEX["diabetes"]] = _cut(1.0 - fx("diabetes"), (0.2, 0.5, 0.7, 0.95))
    # Arthritis: G1 mild pain, G2 moderate, G3 severe (scored on joint damage).
    g[:, INDEX["arthritis"]] = _cut(dx("arthritis"), (0.05, 0.15, 0.35))
    # Platelet count: G1 <LLN, G2 <75e9/L, G3 <50e9/L, G4 <25e9/L.
    g[:, INDEX["hematologic"]] = _cut(lab["platelets_lln"], (1.0, 0.5, 1.0 / 3.0, 1.0 / 6.0), descending=True)
    if replaced is not None:
        for k, organ in enumerate(("thyroiditis", "hypophysitis", "diabetes")):
            j = INDEX[organ]
            active = _cut(dx(organ), ACTIVE_LADDER[organ])
            g[:, j] = np.where(replaced[:, k], np.maximum(np.minimum(g[:, j], 2), active), g[:, j])
    return g


ANC_LLN = 2.0  # 1e9/L, a typical laboratory lower limit of normal (assumed)


def neutropenia_grade(anc: np.ndarray) -> np.ndarray:
    """CTCAE v5.0 'neutrophil count decreased': G1 <LLN-1.5, G2 <1.5-1.0, G3 <1.0-0.5, G4 <0.5 (1e9/L)."""
    return _cut(np.asarray(anc, dtype=float), (ANC_LLN, 1.5, 1.0, 0.5), descending=True)


# Cytokine syndromes (immunotwin.model.celltherapy, .innate). The clinic grades them from the
# syndrome's signs; the model carries one severity index per syndrome, and grades are a ladder of
# thresholds on it: grade 1 at 1 (by the scale of the model's drive parameters) and each further
# grade at RATIO times the one before (assumed: ASTCT grades step from fever to fluid-responsive,
# single-vasopressor and multi-vasopressor hypotension, each needing markedly more inflammation).
SYNDROME_RATIO = 2.5
CRS_LADDER = tuple(SYNDROME_RATIO ** k for k in range(4))  # ASTCT CRS grades 1-4 (Lee et al. 2019)
ICANS_LADDER = tuple(SYNDROME_RATIO ** k for k in range(4))  # ASTCT ICANS grades 1-4
# CTCAE v5.0 capillary leak syndrome: G2 symptomatic, G3 severe (vasopressors), G4 life-threatening;
# the leak index is 1 at steady state under full IL-2 receptor occupancy in a median patient (assumed).
LEAK_LADDER = (0.1, 0.25, 0.5, 1.0)


def ladder_grade(index: np.ndarray, ladder: tuple[float, ...]) -> np.ndarray:
    """Grade 0-4: the number of ladder thresholds the severity index has reached."""
    x = np.asarray(index, dtype=float)
    return sum((x >= t).astype(np.int8) for t in ladder).astype(np.int8)


def crs_index(crs_cytokine: np.ndarray, toci_mg_l: np.ndarray, il6_share: np.ndarray, ec50: np.ndarray) -> np.ndarray:
    """CRS signs: the cytokine load less the IL-6 share blocked by tocilizumab (celltherapy.py)."""
    block = toci_mg_l / (toci_mg_l + ec50)
    return crs_cytokine * (1.0 - il6_share * block)


# CTCAE v5.0 cystitis noninfective: G1 microscopic haematuria or mild frequency, G2 moderate (medical
# intervention), G3 gross haematuria (hospitalisation), G4 life-threatening. Index: BCG occupancy of the
# bladder wall times the patient's susceptibility (model.innate); ladder assumed.
CYSTITIS_LADDER = (0.3, 0.8, 2.0, 5.0)


def occupancy(y: np.ndarray, params: dict, slot: int) -> np.ndarray:
    """C/(C + EC50) of one PK slot from the flat states (N, size)."""
    from ..model.core import LAYOUT

    c = LAYOUT.get(y, "pk_central")[:, slot] / params["pk_vc"][:, slot]
    return c / (c + params["pk_ec50"][:, slot])
