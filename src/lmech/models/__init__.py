"""Torch model families parametrised by physics knobs: MLP, deep linear network, small CNN."""

from lmech.models.cnn import CNNConfig, SmallCNN
from lmech.models.mlp import MLP, MLPConfig, deep_linear

__all__ = ["CNNConfig", "MLP", "MLPConfig", "SmallCNN", "deep_linear"]
