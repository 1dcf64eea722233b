"""Closed-form predictions: numbers from formulas, no training, no sampling.

Imports nothing from the rest of lmech except its error type.
"""

from lmech.theory.activations import ACTIVATIONS, Activation, get_activation
from lmech.theory.deep_linear import (
    saxe_discrete_mode_strength,
    saxe_finite_step_logodds_bound,
    saxe_learning_time,
    saxe_mode_strength,
    shallow_mode_strength,
)

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "get_activation",
    "saxe_discrete_mode_strength",
    "saxe_finite_step_logodds_bound",
    "saxe_learning_time",
    "saxe_mode_strength",
    "shallow_mode_strength",
]
