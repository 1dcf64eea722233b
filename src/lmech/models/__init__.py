"""Torch model families parametrised by physics knobs: MLP, deep linear network, small CNN,
BatchNorm networks."""

from lmech.models.batchnorm import (
    BatchNormCNN,
    BatchNormCNNConfig,
    BatchNormMLP,
    BatchNormMLPConfig,
    batchnorm_mlp_forward,
)
from lmech.models.cnn import CNNConfig, SmallCNN
from lmech.models.mlp import MLP, MLPConfig, deep_linear

__all__ = [
    "BatchNormCNN",
    "BatchNormCNNConfig",
    "BatchNormMLP",
    "BatchNormMLPConfig",
    "CNNConfig",
    "MLP",
    "MLPConfig",
    "SmallCNN",
    "batchnorm_mlp_forward",
    "deep_linear",
]
