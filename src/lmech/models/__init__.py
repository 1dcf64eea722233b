"""Torch model families parametrised by physics knobs: MLP, deep linear network, small CNN,
VGG-like and residual CNNs, a causal transformer and an LSTM, the toy model of
superposition, μP-scaled MLPs and a DDPM denoiser (its noising and sampling in
`lmech.models.ddpm`)."""

from lmech.models.batchnorm import (
    BatchNormCNN,
    BatchNormCNNConfig,
    BatchNormMLP,
    BatchNormMLPConfig,
    batchnorm_mlp_forward,
)
from lmech.models.cnn import CNNConfig, SmallCNN
from lmech.models.ddpm import DenoiserConfig, ancestral_sample, linear_betas
from lmech.models.lstm import LSTMConfig, LSTMModel, lstm_forward, matched_lstm
from lmech.models.mlp import MLP, MLPConfig, deep_linear
from lmech.models.resnet import ResNetConfig, SmallResNet
from lmech.models.scaled_mlp import ScaledMLP, ScaledMLPConfig
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
    "DenoiserConfig",
    "LSTMConfig",
    "LSTMModel",
    "MLP",
    "MLPConfig",
    "ResNetConfig",
    "ScaledMLP",
    "ScaledMLPConfig",
    "SmallCNN",
    "SmallResNet",
    "SmallVGG",
    "ToyModel",
    "ToyModelConfig",
    "TransformerConfig",
    "VGGConfig",
    "ancestral_sample",
    "batchnorm_mlp_forward",
    "deep_linear",
    "linear_betas",
    "lstm_forward",
    "matched_lstm",
    "toy_model_forward",
    "transformer_forward",
]
