"""The organs whose self-tolerance the model tracks, and the irAE names used everywhere.

One list (:data:`IRAES`) names immune-related adverse events in outputs, reports and specs;
:data:`ORGAN_OF` maps each to the tissue whose tolerance breaks. Names follow the organ
classes of the ASCO 2021 guideline (Schneider et al., J Clin Oncol 2021;39:4073) and
CTCAE v5.0.
"""

from __future__ import annotations

IRAES: tuple[str, ...] = (
    "dermatitis", "colitis", "hepatitis", "pneumonitis", "thyroiditis", "hypophysitis",
    "nephritis", "myocarditis", "neurologic", "diabetes", "arthritis", "hematologic",
)

ORGAN_OF: dict[str, str] = {
    "dermatitis": "skin (rash, pruritus, vitiligo)",
    "colitis": "colon (diarrhoea, colitis)",
    "hepatitis": "liver",
    "pneumonitis": "lung",
    "thyroiditis": "thyroid (hypo- and hyperthyroidism)",
    "hypophysitis": "pituitary (with secondary adrenal insufficiency)",
    "nephritis": "kidney",
    "myocarditis": "heart",
    "neurologic": "neuromuscular junction and nerves (myasthenia gravis, Guillain-Barre)",
    "diabetes": "pancreatic islets",
    "arthritis": "joints",
    "hematologic": "blood cells (autoimmune cytopenias)",
}

N_ORGANS = len(IRAES)
INDEX = {name: i for i, name in enumerate(IRAES)}
ENDOCRINE = ("thyroiditis", "hypophysitis", "diabetes")
VITAL = ("colitis", "hepatitis", "pneumonitis", "myocarditis", "neurologic", "hematologic", "nephritis")


def organ_vector(**values: float) -> tuple[float, ...]:
    """A per-organ tuple from keyword values; every organ must be given."""
    missing = set(IRAES) - set(values)
    extra = set(values) - set(IRAES)
    if missing or extra:
        raise ValueError(f"organ vector: missing {sorted(missing)}, unknown {sorted(extra)}")
    return tuple(float(values[k]) for k in IRAES)
