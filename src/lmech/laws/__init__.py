"""The law book: the law contract and the registry that finds every law."""

from lmech.laws._base import (
    BUDGETS,
    AbstractLaw,
    Kind,
    LawParams,
    Panel,
    Pillar,
    Progress,
    ToleranceBasis,
)
from lmech.laws._registry import all_laws, find_law, get_law, law_source, select_laws
from lmech.laws._series import Curve, Series
from lmech.laws._user_laws import load_laws

__all__ = [
    "BUDGETS",
    "AbstractLaw",
    "Curve",
    "Kind",
    "LawParams",
    "Panel",
    "Pillar",
    "Progress",
    "Series",
    "ToleranceBasis",
    "all_laws",
    "find_law",
    "get_law",
    "law_source",
    "load_laws",
    "select_laws",
]
