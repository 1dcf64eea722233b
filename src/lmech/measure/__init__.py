"""Observables of networks and training: curvature (Hessian spectra, sharpness), …"""

from lmech.measure.hessian import (
    HessianOperator,
    SharpnessTracker,
    SpectralDensity,
    TraceEstimate,
    adam_preconditioner,
    hessian_trace,
    hessian_vector_product,
    preconditioned_sharpness,
    spectral_density,
    top_eigenvalues,
)

__all__ = [
    "HessianOperator",
    "SharpnessTracker",
    "SpectralDensity",
    "TraceEstimate",
    "adam_preconditioner",
    "hessian_trace",
    "hessian_vector_product",
    "preconditioned_sharpness",
    "spectral_density",
    "top_eigenvalues",
]
