"""Many networks at once: stacked parameters, vectorised evaluation, functional optimisers.

- `sample_preactivations`: Monte Carlo of every layer's preactivations at initialisation.
- `init_ensemble` / `Ensemble`: M networks with parameters stacked on a leading member
  axis, physics-knob initialisation per layer and per member, export to and from modules.
- `derive`, `generator`, `PURPOSES`: one seed scheme, every stream from (seed, purpose,
  member); `MemberStreams`: per-member generators for what a training step draws.
- `Optimizer` (the protocol), `SGD`, `Adam`, `get_optimizer`, `linear_warmup`: functional
  optimisers with per-member hyperparameters and learning-rate schedules.
- `train` → `Trajectory`: one step loop over fixed tensors (full batch or minibatches) or
  fresh batches from a callable, any loss and forward, trackers on a cadence (see
  `lmech.measure.tracking`), divergent members frozen and flagged.
"""

from lmech.ensemble.optim import SGD, Adam, Optimizer, get_optimizer, linear_warmup
from lmech.ensemble.preactivations import sample_preactivations
from lmech.ensemble.seeds import PURPOSES, derive, generator
from lmech.ensemble.stacked import Ensemble, init_ensemble, member_seed
from lmech.ensemble.streams import MemberStreams
from lmech.ensemble.train import LOSSES, Trajectory, train

__all__ = [
    "LOSSES",
    "PURPOSES",
    "SGD",
    "Adam",
    "Ensemble",
    "MemberStreams",
    "Optimizer",
    "Trajectory",
    "derive",
    "generator",
    "get_optimizer",
    "init_ensemble",
    "linear_warmup",
    "member_seed",
    "sample_preactivations",
    "train",
]
