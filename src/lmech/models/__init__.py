"""Torch model families parametrised by physics knobs: MLP, deep linear network, small CNN,
BatchNorm networks, the toy model of superposition, a causal transformer and an LSTM."""

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
from lmech.models.superposition import ToyModel, ToyModelConfig, toy_model_forward
from lmech.models.transformer import CausalTransformer, TransformerConfig, transformer_forward

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
    "SmallCNN",
    "ToyModel",
    "ToyModelConfig",
    "TransformerConfig",
    "batchnorm_mlp_forward",
    "deep_linear",
    "lstm_forward",
    "matched_lstm",
    "toy_model_forward",
    "transformer_forward",
]
