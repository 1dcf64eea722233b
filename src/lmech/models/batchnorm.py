"""Networks whose weights feed batch normalisation, so that whole groups are scale-invariant.

Batch normalisation in training mode standardises each unit i over the batch,

    BN(h)_bi = γ_i (h_bi − μ_i)/√(σ_i² + ε) + β_i,     μ_i, σ_i² the batch mean and variance,

so with ε = 0 the loss is unchanged by h → αh (α > 0): the weights and bias that feed a
normalised unit form a scale group, L(αθ_A) = L, hence ⟨g_A, θ_A⟩ = 0 exactly (Kunin et
al., "Neural Mechanics", ICLR 2021, arXiv:2012.04728, §3). PyTorch refuses ε = 0 in
training, so the MLP here normalises by hand (ε = 0 allowed), and the CNN takes ε = 1e-30,
below float64 resolution of any batch variance of order one.

- `BatchNormMLP`: x → BN(W₁x) → ReLU → BN(W₂h) → … logits, no biases, no affine
  parameters: every weight matrix is scale-invariant (each row, and the whole matrix).
- `BatchNormCNN`: conv → BN → ReLU → 2×2 max-pool → conv → BN → ReLU → spatial mean →
  linear readout; each convolution's weight and bias form a scale group.

Both keep no running statistics, so they always normalise with the batch's own statistics
and vectorise over stacked members (`torch.vmap`, `lmech.ensemble.Ensemble`): member m's
statistics come from member m's batch alone. `batchnorm_mlp_forward` is the MLP's forward
on stacked parameters ``(M, …)`` for `lmech.ensemble.train`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from lmech.errors import LmechError

__all__ = [
    "BatchNormCNN",
    "BatchNormCNNConfig",
    "BatchNormMLP",
    "BatchNormMLPConfig",
    "batch_standardise",
    "batchnorm_mlp_forward",
]

EXACT_EPS = 1e-30
"""The CNN's default BatchNorm ε: below float64 resolution of a unit-order variance."""


def batch_standardise(h: torch.Tensor, eps: float = 0.0) -> torch.Tensor:
    """(h − μ)/√(σ² + ε) over the batch axis (−2) of ``(…, B, n)``, biased variance.

    Example:
        >>> z = batch_standardise(torch.tensor([[1.0], [3.0]]))
        >>> z.squeeze(-1).tolist()
        [-1.0, 1.0]
    """
    centred = h - h.mean(-2, keepdim=True)
    return centred / (centred.square().mean(-2, keepdim=True) + eps).sqrt()


@dataclass(frozen=True)
class BatchNormMLPConfig:
    """x → BN(W₁x) → ReLU → … → BN(W_L h): `widths` hidden layers, then `n_out` logits.

    Attributes:
        n_in: input dimension.
        widths: hidden widths, one per hidden layer (at least one).
        n_out: number of outputs (each normalised over the batch).
        eps: BatchNorm ε >= 0; 0 makes every weight matrix exactly scale-invariant.
    """

    n_in: int = 64
    widths: tuple[int, ...] = (32,)
    n_out: int = 10
    eps: float = 0.0

    def check(self) -> BatchNormMLPConfig:
        """Self, or an LmechError naming the bad field."""
        for name in ("n_in", "n_out"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise LmechError(f"BatchNormMLPConfig.{name} must be an integer >= 1, got {v!r}")
        if not self.widths or any(isinstance(w, bool) or not isinstance(w, int) or w < 1
                                  for w in self.widths):
            raise LmechError(f"BatchNormMLPConfig.widths must be a non-empty tuple of integers "
                             f">= 1, got {self.widths!r}")
        if not self.eps >= 0:
            raise LmechError(f"BatchNormMLPConfig.eps must be >= 0, got {self.eps!r}")
        return self


def batchnorm_mlp_forward(params: dict[str, torch.Tensor], x: torch.Tensor,
                          eps: float = 0.0) -> torch.Tensor:
    """Logits of the `BatchNormMLP` with weights ``layers.{k}.weight``.

    Args:
        params: ``layers.{k}.weight`` of shape ``(n_{k+1}, n_k)``, or stacked ``(M, n_{k+1},
            n_k)`` for M members.
        x: ``(B, n_in)``, or ``(M, B, n_in)`` with stacked weights (each member its batch).
        eps: BatchNorm ε.
    Returns:
        ``(B, n_out)`` or ``(M, B, n_out)``.
    """
    n = len(params)
    h = x
    for k in range(n):
        w = params[f"layers.{k}.weight"]
        h = batch_standardise(h @ w.transpose(-1, -2), eps)  # (…, B, n_{k+1})
        if k < n - 1:
            h = F.relu(h)
    return h


class BatchNormMLP(nn.Module):
    """The network of a `BatchNormMLPConfig`: ``(B, n_in)`` → ``(B, n_out)``.

    Example:
        >>> net = BatchNormMLP(BatchNormMLPConfig(n_in=4, widths=(8,), n_out=3))
        >>> net(torch.randn(5, 4)).shape
        torch.Size([5, 3])
    """

    def __init__(self, config: BatchNormMLPConfig) -> None:
        super().__init__()
        self.config = config.check()
        sizes = [config.n_in, *config.widths, config.n_out]
        self.layers = nn.ModuleList(nn.Linear(a, b, bias=False)
                                    for a, b in zip(sizes[:-1], sizes[1:], strict=True))

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.config.n_in,)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        params = {f"layers.{k}.weight": layer.weight for k, layer in enumerate(self.layers)}
        return batchnorm_mlp_forward(params, x, self.config.eps)


@dataclass(frozen=True)
class BatchNormCNNConfig:
    """conv(c₁) → BN → ReLU → max-pool → conv(c₂) → BN → ReLU → mean → linear(n_out).

    Attributes:
        in_channels, size: input image shape ``(in_channels, size, size)``; size even.
        channels: (c₁, c₂), the two convolutions' output channels (3×3, padding 1).
        n_out: outputs of the readout.
        eps: BatchNorm ε > 0 (PyTorch's batch norm refuses 0 in training).
    """

    in_channels: int = 1
    size: int = 8
    channels: tuple[int, int] = (4, 8)
    n_out: int = 10
    eps: float = EXACT_EPS

    def check(self) -> BatchNormCNNConfig:
        """Self, or an LmechError naming the bad field."""
        if len(self.channels) != 2 or min(self.channels) < 1:
            raise LmechError(f"BatchNormCNNConfig.channels must be two positive counts, got "
                             f"{self.channels!r}")
        if self.size < 2 or self.size % 2:
            raise LmechError(f"BatchNormCNNConfig.size must be even and >= 2, got {self.size}")
        if not self.eps > 0:
            raise LmechError(f"BatchNormCNNConfig.eps must be > 0, got {self.eps!r}")
        return self


class BatchNormCNN(nn.Module):
    """The network of a `BatchNormCNNConfig`: ``(B, C, H, W)`` → ``(B, n_out)``; parameters
    ``conv1.*``, ``bn1.*`` (γ, β), ``conv2.*``, ``bn2.*``, ``fc.*``.

    Example:
        >>> BatchNormCNN(BatchNormCNNConfig())(torch.randn(4, 1, 8, 8)).shape
        torch.Size([4, 10])
    """

    def __init__(self, config: BatchNormCNNConfig) -> None:
        super().__init__()
        self.config = config.check()
        c1, c2 = config.channels
        self.conv1 = nn.Conv2d(config.in_channels, c1, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(c1, eps=config.eps, track_running_stats=False)
        self.conv2 = nn.Conv2d(c1, c2, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(c2, eps=config.eps, track_running_stats=False)
        self.fc = nn.Linear(c2, config.n_out)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.config.in_channels, self.config.size, self.config.size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.relu(self.bn2(self.conv2(x)))
        return self.fc(x.mean((-2, -1)))
