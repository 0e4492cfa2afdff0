"""Background mortality from a national life table shipped with the package.

``data/lifetable.csv``: annual probability of death q(x) by single year of age and sex,
United States life tables 2023 (Arias, Xu & Kochanek, National Vital Statistics Reports
74(6), NCHS 2025, Tables 2-3). Weekly probability = 1 - (1 - q)^(7/365.25).
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd


@lru_cache(maxsize=1)
def _table() -> tuple[np.ndarray, np.ndarray]:
    with resources.files("immunotwin.data").joinpath("lifetable.csv").open() as fh:
        df = pd.read_csv(fh, comment="#")
    ages = np.arange(0, 121)
    out = np.ones((2, ages.size))
    for s, sex in enumerate(("F", "M")):
        sub = df[df["sex"] == sex].sort_values("age_from")
        q = np.interp(ages, sub["age_from"].to_numpy(float), sub["qx"].to_numpy(float))
        out[s] = q
    return ages, out


def annual_q(age: np.ndarray, male: np.ndarray) -> np.ndarray:
    ages, q = _table()
    a = np.clip(np.floor(np.asarray(age, dtype=float)), 0, ages[-1]).astype(int)
    return q[np.asarray(male, dtype=int), a]


def weekly_death_probability(age: np.ndarray, male: np.ndarray) -> np.ndarray:
    return 1.0 - (1.0 - annual_q(age, male)) ** (7.0 / 365.25)
