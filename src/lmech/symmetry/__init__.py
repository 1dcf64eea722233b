"""Loss symmetries of a model, their Noether charges, and how training breaks them.

``detect`` finds the parameter groups carrying a scale, translation or rescale symmetry;
``gradient_geometry`` and ``hessian_identity`` check the identities each symmetry implies;
``NoetherTracker`` records each charge and its predicted trajectory in an ordinary
PyTorch training loop.
"""

from lmech.symmetry.detect import Detection, detect
from lmech.symmetry.geometry import GeometryCheck, gradient_geometry, hessian_identity
from lmech.symmetry.groups import KINDS, Skipped, Symmetry, noether_charge
from lmech.symmetry.tracker import SUPPORTED_OPTIMIZERS, NoetherTracker

__all__ = [
    "KINDS",
    "SUPPORTED_OPTIMIZERS",
    "Detection",
    "GeometryCheck",
    "NoetherTracker",
    "Skipped",
    "Symmetry",
    "detect",
    "gradient_geometry",
    "hessian_identity",
    "noether_charge",
]
