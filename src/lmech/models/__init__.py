"""Torch model families parametrised by physics knobs: MLP, deep linear network, small CNN,
VGG-like and residual CNNs, a causal transformer and an LSTM."""

from lmech.models.batchnorm import (
    BatchNormCNN,
    BatchNormCNNConfig,
    BatchNormMLP,
    BatchNormMLPConfig,
    batchnorm_mlp_forward,
)
from lmech.models.cnn import CNNConfig, SmallCNN
from lmech.models.lstm import LSTMConfig, LSTMModel, lstm_forward, matched_lstm
from lmech.models.mlp import MLP, MLPConfig, deep_linear
from lmech.models.resnet import ResNetConfig, SmallResNet
from lmech.models.superposition import ToyModel, ToyModelConfig, toy_model_forward
from lmech.models.transformer import CausalTransformer, TransformerConfig, transformer_forward
from lmech.models.vgg import SmallVGG, VGGConfig

__all__ = [
    "BatchNormCNN",
    "BatchNormCNNConfig",
    "BatchNormMLP",
    "BatchNormMLPConfig",
    "CNNConfig",
    "CausalTransformer",
    "LSTMConfig",
    "LSTMModel",
    "MLP",
    "MLPConfig",
    "ResNetConfig",
    "SmallCNN",
    "SmallResNet",
    "SmallVGG",
    "ToyModel",
    "ToyModelConfig",
    "TransformerConfig",
    "VGGConfig",
    "batchnorm_mlp_forward",
    "deep_linear",
    "lstm_forward",
    "matched_lstm",
    "toy_model_forward",
    "transformer_forward",
]
