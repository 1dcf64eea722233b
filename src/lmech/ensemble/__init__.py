"""Many networks at once: stacked parameters, vectorised evaluation, functional optimisers.

- `sample_preactivations`: Monte Carlo of every layer's preactivations at initialisation.
- `init_ensemble` / `Ensemble`: M networks with parameters stacked on a leading member
  axis, physics-knob initialisation per layer and per member, export to and from modules.
- `SGD`, `Adam`, `get_optimizer`: functional optimisers with per-member hyperparameters.
- `train` → `Trajectory`: full-batch or minibatch training, observables every k steps,
  divergent members frozen and flagged.
"""

from lmech.ensemble.optim import SGD, Adam, get_optimizer
from lmech.ensemble.preactivations import sample_preactivations
from lmech.ensemble.stacked import Ensemble, init_ensemble, member_seed
from lmech.ensemble.train import LOSSES, Trajectory, train

__all__ = [
    "LOSSES",
    "SGD",
    "Adam",
    "Ensemble",
    "Trajectory",
    "get_optimizer",
    "init_ensemble",
    "member_seed",
    "sample_preactivations",
    "train",
]
