"""Closed-form predictions: numbers from formulas, no training, no sampling.

Imports nothing from the rest of lmech except its error type.
"""

from lmech.theory.activations import ACTIVATIONS, Activation, get_activation
from lmech.theory.criticality import (
    CriticalPoint,
    FixedPoint,
    chi_parallel,
    chi_perp,
    critical_point,
    depth_scales,
    fixed_point,
)
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
    kernel_eigensystem,
    learnabilities,
    overfitting_coefficient,
)
from lmech.theory.gaussian import (
    dsigma_dsigma_expectation,
    gaussian_expectation,
    gaussian_expectation_2d,
    sigma_derivative,
    sigma_sigma_expectation,
)
from lmech.theory.kernels import (
    kernel_recursion,
    kernel_recursion_gram,
    nngp_kernel,
    ntk_kernel,
    ntk_recursion,
)
from lmech.theory.vertex import (
    excess_kurtosis,
    four_point_vertex,
    four_point_vertex_pair,
    kernel_finite_width_shift,
    scale_invariant_excess_kurtosis,
)

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "CriticalPoint",
    "FixedPoint",
    "chi_parallel",
    "chi_perp",
    "critical_point",
    "depth_scales",
    "dsigma_dsigma_expectation",
    "eigenlearning_kappa",
    "eigenlearning_test_error",
    "excess_kurtosis",
    "fixed_point",
    "four_point_vertex",
    "four_point_vertex_pair",
    "gaussian_expectation",
    "gaussian_expectation_2d",
    "get_activation",
    "kernel_eigensystem",
    "kernel_finite_width_shift",
    "kernel_recursion",
    "kernel_recursion_gram",
    "learnabilities",
    "nngp_kernel",
    "ntk_kernel",
    "ntk_recursion",
    "overfitting_coefficient",
    "saxe_discrete_mode_strength",
    "saxe_finite_step_logodds_bound",
    "saxe_learning_time",
    "saxe_mode_strength",
    "scale_invariant_excess_kurtosis",
    "shallow_mode_strength",
    "sigma_derivative",
    "sigma_sigma_expectation",
]
