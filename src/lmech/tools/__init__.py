"""What the theory buys a practitioner, on their own networks and runs.

- `critical_` initialises a user's MLP at the critical point of its activation;
  `critical_summary` and `plot_flows` are what `lmech critical` prints and draws
  (`lmech.tools.critical_init`).
- `lmech.tools.scaling_fit`: Chinchilla-style scaling-law fits with bootstrap intervals,
  an extrapolation check and compute-optimal allocation (`lmech scaling fit`).
- `detect` finds the parameter groups of any ``nn.Module`` that carry a scale,
  translation or rescale symmetry, ready for `lmech.measure.NoetherTracker`
  (`lmech.tools.symmetry_detect`).
- `prune`: SynFlow's data-free pruning (and magnitude, random, SNIP, GraSP) on any
  ``nn.Module``, with per-layer tables and the collapse scan (`lmech.tools.pruning`).
- `mup_model`, `mup_param_groups`, `coord_check`: μP hyperparameter transfer across width
  and depth on any network of Linear, Conv, Embedding and attention layers, and the
  coordinate check behind `lmech coord-check` (`lmech.tools.hparams`).
- `writable_png` checks an output path before the work that draws to it.

The tools build on `lmech.theory`, `lmech.models`, `lmech.ensemble`, `lmech.measure` and
the store of `lmech.run`; nothing else in lmech but the CLI imports them.
"""

from lmech.tools.critical_init import critical_, critical_summary, plot_flows, theory_activation
from lmech.tools.hparams import coord_check, mup_model, mup_param_groups
from lmech.tools.png_path import writable_png
from lmech.tools.pruning import prune
from lmech.tools.symmetry_detect import Detection, Skipped, detect

__all__ = [
    "Detection",
    "Skipped",
    "coord_check",
    "critical_",
    "critical_summary",
    "detect",
    "mup_model",
    "mup_param_groups",
    "plot_flows",
    "prune",
    "theory_activation",
    "writable_png",
]
