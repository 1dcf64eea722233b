"""The law book: the law contract and the registry that finds every law."""

from lmech.laws._base import BUDGETS, AbstractLaw, LawParams, Panel, Pillar, Progress
from lmech.laws._registry import all_laws, get_law, select_laws
from lmech.laws._series import Curve, Series

__all__ = [
    "BUDGETS",
    "AbstractLaw",
    "Curve",
    "LawParams",
    "Panel",
    "Pillar",
    "Progress",
    "Series",
    "all_laws",
    "get_law",
    "select_laws",
]
