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
from lmech.theory.eigenlearning import (
    eigenlearning_kappa,
    eigenlearning_test_error,
    learnabilities,
    overfitting_coefficient,
)

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "eigenlearning_kappa",
    "eigenlearning_test_error",
    "get_activation",
    "learnabilities",
    "overfitting_coefficient",
    "saxe_discrete_mode_strength",
    "saxe_finite_step_logodds_bound",
    "saxe_learning_time",
    "saxe_mode_strength",
    "shallow_mode_strength",
]
