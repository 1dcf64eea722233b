"""Many networks at once: stacked parameters, vectorised evaluation, functional optimisers.

- `sample_preactivations`: Monte Carlo of every layer's preactivations at initialisation.
"""

from lmech.ensemble.preactivations import sample_preactivations

__all__ = ["sample_preactivations"]
