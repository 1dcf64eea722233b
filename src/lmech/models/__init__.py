"""Torch model families parametrised by physics knobs: MLP, deep linear network, small CNN,
BatchNorm networks, the toy model of superposition."""

from lmech.models.batchnorm import (
    BatchNormCNN,
    BatchNormCNNConfig,
    BatchNormMLP,
    BatchNormMLPConfig,
    batchnorm_mlp_forward,
)
from lmech.models.cnn import CNNConfig, SmallCNN
from lmech.models.mlp import MLP, MLPConfig, deep_linear
from lmech.models.superposition import ToyModel, ToyModelConfig, toy_model_forward

__all__ = [
    "BatchNormCNN",
    "BatchNormCNNConfig",
    "BatchNormMLP",
    "BatchNormMLPConfig",
    "CNNConfig",
    "MLP",
    "MLPConfig",
    "SmallCNN",
    "ToyModel",
    "ToyModelConfig",
    "batchnorm_mlp_forward",
    "deep_linear",
    "toy_model_forward",
]
