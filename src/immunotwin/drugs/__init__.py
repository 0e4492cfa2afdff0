"""Drug catalogue: pharmacokinetics and mechanism of each agent, with sources."""

from .catalogue import CATALOGUE, Drug, get_drug, slot_params

__all__ = ["CATALOGUE", "Drug", "get_drug", "slot_params"]
