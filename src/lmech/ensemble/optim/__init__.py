"""Functional optimisers on stacked parameters: a protocol, SGD and Adam families, a registry.

An optimiser is any object with ``init(params) -> state`` and
``update(grads, state, params) -> (params, state)`` on dicts of ``(M, …)`` tensors
(`Optimizer`); `lmech.ensemble.train` accepts any such object. Hyperparameters are
numbers or ``(M,)`` tensors (one value per member), and ``schedule(t)`` multiplies the
learning rate of update t (e.g. `linear_warmup`). Each optimiser here follows the
arithmetic of its `torch.optim` counterpart step for step (tests/ensemble/test_optim.py
checks them against torch.optim to 1e-12 in float64).

- `SGD` (plain, heavy-ball momentum, Nesterov; dampening; coupled weight decay);
- `Adam` (coupled weight decay) and AdamW (``decoupled=True``);
- `FeatureNormAdam`: Adam after the feature-norm decay of Liu, Liu & Gore (2025), whose
  negative strength pulls each feature's norm to 1 (strong superposition).

`get_optimizer(name, **kwargs)` builds one by name; every module of this package registers
its names when imported, so a new optimiser family is one new module here.
"""

import importlib
import pkgutil

from lmech.ensemble.optim._base import (
    Hyper,
    Optimizer,
    Params,
    Schedule,
    get_optimizer,
    known,
    linear_warmup,
    register,
)
from lmech.ensemble.optim.adam import Adam
from lmech.ensemble.optim.feature_norm import FeatureNormAdam, warmup_cosine
from lmech.ensemble.optim.sgd import SGD

for _info in pkgutil.iter_modules(__path__, prefix=f"{__name__}."):
    importlib.import_module(_info.name)  # each optimiser module registers its names
del _info

__all__ = [
    "SGD",
    "Adam",
    "FeatureNormAdam",
    "Hyper",
    "Optimizer",
    "Params",
    "Schedule",
    "get_optimizer",
    "known",
    "linear_warmup",
    "register",
    "warmup_cosine",
]
