"""Observables of networks and training: curvature (Hessian spectra, sharpness), loss
symmetries and their Noether charges (`lmech.tools.detect` finds the groups, `gradient_geometry` and
`hessian_identity` check the identities each implies, `NoetherTracker` records each charge
and its predicted trajectory in an ordinary PyTorch training loop), and trackers of ensemble
training (`lmech.ensemble.train` calls any `Tracker`: `CurveTracker`, `StepGeometry`,
`EnsembleSharpness`), …"""

from lmech.measure.coordinates import WidthExponent, module_outputs, width_exponent
from lmech.measure.ensemble_sharpness import (
    EnsembleSharpness,
    StackedHessian,
    ensemble_top_eigenvalues,
)
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
from lmech.measure.linear_modes import crossing_times, end_to_end_map, mode_strengths
from lmech.measure.modified_loss import landscape, modified_loss
from lmech.measure.noether import KINDS, Symmetry, noether_charge
from lmech.measure.noether_tracker import SUPPORTED_OPTIMIZERS, NoetherTracker
from lmech.measure.ntk import empirical_ntk
from lmech.measure.pruning import prune_masks
from lmech.measure.symmetry_geometry import GeometryCheck, gradient_geometry, hessian_identity
from lmech.measure.trackers import GEOMETRY, CurveTracker, StepGeometry
from lmech.measure.tracking import Tracker, TrainingStep

__all__ = [
    "GEOMETRY",
    "KINDS",
    "SUPPORTED_OPTIMIZERS",
    "CurveTracker",
    "EnsembleSharpness",
    "GeometryCheck",
    "HessianOperator",
    "NoetherTracker",
    "SharpnessTracker",
    "SpectralDensity",
    "StackedHessian",
    "StepGeometry",
    "Symmetry",
    "TraceEstimate",
    "Tracker",
    "TrainingStep",
    "WidthExponent",
    "adam_preconditioner",
    "crossing_times",
    "empirical_ntk",
    "end_to_end_map",
    "ensemble_top_eigenvalues",
    "gradient_geometry",
    "hessian_identity",
    "hessian_trace",
    "hessian_vector_product",
    "landscape",
    "mode_strengths",
    "modified_loss",
    "module_outputs",
    "noether_charge",
    "prune_masks",
    "preconditioned_sharpness",
    "spectral_density",
    "top_eigenvalues",
    "width_exponent",
]
