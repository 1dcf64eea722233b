"""Hyperparameter transfer across width and depth: μP on any network built of Linear,
Conv, Embedding and attention layers, and the coordinate check that tests it.

- `mup_model(model_fn, width, base_width=…, generator=…)` builds a network in μP against
  its base width; `mup_param_groups` gives the ``torch.optim`` groups (SGD or Adam(W)).
  Step by step: `classify` / `plan_from_factory` (each parameter's role, by comparing
  shapes at two widths), `scale_readouts` (the readout's 1/m_in), `mup_init_`.
- `ResidualBranch` / `residual_multiplier`: residual branches scaled by √(L₀/L) for
  depth transfer; `attention_scale`: μP's 1/d_head attention.
- `coord_check` → `CoordCheck`: each layer's output size and update across widths, the
  width exponents, a figure (`lmech coord-check`).

The table is in `lmech.measure.mu_parametrisation` and `docs/theory/hparams.md`.

Source: Yang, Hu et al., "Tensor Programs V" (arXiv:2203.03466); Yang et al., "Tensor
Programs VI" (arXiv:2310.02244); Bordelon et al. (arXiv:2309.16620).
"""

from lmech.tools.hparams.coord_check import CoordCheck, coord_check
from lmech.tools.hparams.parametrise import (
    attention_scale,
    mup_init_,
    mup_model,
    mup_param_groups,
    scale_readouts,
)
from lmech.tools.hparams.roles import MuPPlan, ParameterRole, classify, plan_from_factory
from lmech.tools.hparams.wrappers import Readout, ResidualBranch

__all__ = [
    "CoordCheck",
    "MuPPlan",
    "ParameterRole",
    "Readout",
    "ResidualBranch",
    "attention_scale",
    "classify",
    "coord_check",
    "mup_init_",
    "mup_model",
    "mup_param_groups",
    "plan_from_factory",
    "scale_readouts",
]
