"""Closed-form predictions: numbers from formulas, no training, no sampling.

Imports nothing from the rest of lmech except its error type.
"""

from lmech.theory.activations import (
    ACTIVATIONS,
    Activation,
    FastForm,
    GaussianForms,
    get_activation,
    scale_invariant_forms,
)
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
from lmech.theory.emergence import (
    MultiplicativeFit,
    critical_time,
    emergence_window,
    fit_multiplicative,
    multiplicative_success,
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
from lmech.theory.noether import (
    equilibrium_angular_update,
    equilibrium_norm_sq,
    gradient_flow_charge,
    modified_flow_charge,
    oscillator_charge,
    oscillator_coefficients,
    quadratic_charge_momentum,
    quadratic_charge_sgd,
    sgd_time,
    translation_charge_sgd,
)
from lmech.theory.quanta import (
    quanta_data_exponent,
    quanta_frequencies,
    quanta_loss,
    quanta_parameter_exponent,
)
from lmech.theory.universality import (
    k_star_zero_universal_vertex,
    scale_invariant_universal_vertex,
)
from lmech.theory.vertex import (
    excess_kurtosis,
    four_point_vertex,
    four_point_vertex_pair,
    kernel_finite_width_shift,
    kernel_finite_width_shift_pair,
    scale_invariant_excess_kurtosis,
)

__all__ = [
    "MultiplicativeFit",
    "critical_time",
    "emergence_window",
    "fit_multiplicative",
    "multiplicative_success",
    "quanta_data_exponent",
    "quanta_frequencies",
    "quanta_loss",
    "quanta_parameter_exponent",
    "ACTIVATIONS",
    "Activation",
    "FastForm",
    "GaussianForms",
    "scale_invariant_forms",
    "CriticalPoint",
    "FixedPoint",
    "chi_parallel",
    "chi_perp",
    "critical_point",
    "depth_scales",
    "dsigma_dsigma_expectation",
    "eigenlearning_kappa",
    "eigenlearning_test_error",
    "equilibrium_angular_update",
    "equilibrium_norm_sq",
    "excess_kurtosis",
    "fixed_point",
    "four_point_vertex",
    "four_point_vertex_pair",
    "gaussian_expectation",
    "gaussian_expectation_2d",
    "get_activation",
    "gradient_flow_charge",
    "kernel_eigensystem",
    "k_star_zero_universal_vertex",
    "kernel_finite_width_shift",
    "kernel_finite_width_shift_pair",
    "kernel_recursion",
    "kernel_recursion_gram",
    "learnabilities",
    "modified_flow_charge",
    "nngp_kernel",
    "ntk_kernel",
    "ntk_recursion",
    "oscillator_charge",
    "oscillator_coefficients",
    "overfitting_coefficient",
    "quadratic_charge_momentum",
    "quadratic_charge_sgd",
    "saxe_discrete_mode_strength",
    "saxe_finite_step_logodds_bound",
    "saxe_learning_time",
    "saxe_mode_strength",
    "scale_invariant_excess_kurtosis",
    "sgd_time",
    "scale_invariant_universal_vertex",
    "shallow_mode_strength",
    "sigma_derivative",
    "sigma_sigma_expectation",
    "translation_charge_sgd",
]
