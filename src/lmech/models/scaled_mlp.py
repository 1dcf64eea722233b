"""Stacked MLPs with a multiplier on every weight: μP, the standard parametrisation, and
residual branches, for many widths, depths and learning rates in one ensemble.

Layer k computes z_k = f_k · (h W_kᵀ), without bias, with a per-member forward factor f_k
(an ``(M,)`` tensor): a plain MLP passes z through σ to the next layer (the readout's z is
the output); a residual MLP of `depth` blocks reads the input into a stream
h₀ = f₀ (x W₀ᵀ), adds each block's branch h ← h + β·f_k (σ(h) W_kᵀ) with a per-member
branch multiplier β (``(M,)``), and reads the stream out linearly.

Why a factor on every weight: under Adam a parameter stored as V = W/c and used as c·V
trains exactly like W with learning rate c·η (and ε/c): Adam's step on V is
η m_V/(√v_V + ε) with m_V = c m_W and v_V = c² v_W (Kingma & Ba 2015, Algorithm 1). So a
per-layer, per-member learning-rate multiplier c (μP's, Yang, Hu et al. 2022, Table 8) is
a forward factor c and an initial scale 1/c, and one Adam with one learning rate per
member trains every width, depth and parametrisation of a grid at once (TP5 §5.4, the
abc-parametrisation's symmetry a → a + θ, b → b − θ, c → c − θ for Adam).

Several networks live side by side in one member under distinct name prefixes; their
parameters never mix, and the gradient of a sum of their losses is each one's own.

Source: G. Yang, E. J. Hu et al., "Tensor Programs V" (arXiv:2203.03466), Table 8 and §5;
D. P. Kingma & J. Ba, ICLR 2015 (arXiv:1412.6980).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lmech.errors import LmechError
from lmech.theory import get_activation

__all__ = ["ScaledMLP", "ScaledMLPConfig"]


@dataclass(frozen=True)
class ScaledMLPConfig:
    """One network of the grid.

    Attributes:
        n_in, n_out: input and output dimensions.
        width: hidden width n.
        depth: hidden layers (plain) or residual blocks (residual), >= 1.
        residual: a residual stream with one-layer branches instead of a plain chain.
        activation: a name for `lmech.theory.get_activation`.
    """

    n_in: int
    width: int
    depth: int
    n_out: int = 1
    residual: bool = False
    activation: str = "relu"

    def check(self) -> ScaledMLPConfig:
        """Self, or an LmechError naming the bad field."""
        for name in ("n_in", "width", "depth", "n_out"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise LmechError(f"ScaledMLPConfig.{name} must be a positive integer, got {v!r}")
        get_activation(self.activation)
        return self

    @property
    def sizes(self) -> list[int]:
        """[n_in, n, …, n, n_out]: layer k maps sizes[k] → sizes[k + 1]."""
        return [self.n_in, *[self.width] * (self.depth + (1 if self.residual else 0)),
                self.n_out]


class ScaledMLP:
    """The network of a `ScaledMLPConfig` under the name prefix `prefix`.

    Parameters ``{prefix}.{k}.weight`` ``(M, sizes[k+1], sizes[k])``; multipliers
    ``{prefix}.{k}`` (forward factor f_k) and, residual, ``{prefix}.branch`` (β), each
    ``(M,)``.

    Example:
        >>> net = ScaledMLP(ScaledMLPConfig(3, 8, 2), "a")
        >>> p = {k: torch.zeros(4, *s) for k, s in net.shapes().items()}
        >>> f = {k: torch.ones(4) for k in net.multiplier_names()}
        >>> net(p, f, torch.zeros(5, 3)).shape
        torch.Size([4, 5, 1])
    """

    def __init__(self, config: ScaledMLPConfig, prefix: str) -> None:
        self.config = config.check()
        self.prefix = prefix
        self.sigma = get_activation(config.activation).torch

    @property
    def layers(self) -> int:
        return len(self.config.sizes) - 1

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Each parameter's shape (without the member axis), in layer order."""
        s, out = self.config.sizes, {}
        for k in range(self.layers):
            out[f"{self.prefix}.{k}.weight"] = (s[k + 1], s[k])
        return out

    def multiplier_names(self) -> list[str]:
        names = [f"{self.prefix}.{k}" for k in range(self.layers)]
        return names + ([f"{self.prefix}.branch"] if self.config.residual else [])

    def _layer(self, params, multipliers, k: int, h: torch.Tensor) -> torch.Tensor:
        w = params[f"{self.prefix}.{k}.weight"]  # (M, out, in)
        f = multipliers[f"{self.prefix}.{k}"].to(h).view(-1, 1, 1)
        return f * torch.matmul(h, w.transpose(-1, -2))

    def __call__(self, params: dict[str, torch.Tensor], multipliers: dict[str, torch.Tensor],
                 x: torch.Tensor, record: list | None = None) -> torch.Tensor:
        """Outputs ``(M, B, n_out)`` of inputs ``(B, n_in)`` or ``(M, B, n_in)``; with
        `record`, each layer's output z_k (a residual block's branch) is appended to it."""
        last = self.layers - 1
        h = self._layer(params, multipliers, 0, x)
        if record is not None:
            record.append(h)
        for k in range(1, self.layers):
            if self.config.residual and k < last:
                beta = multipliers[f"{self.prefix}.branch"].to(h).view(-1, 1, 1)
                z = self._layer(params, multipliers, k, self.sigma(h))
                h = h + beta * z
            else:
                z = self._layer(params, multipliers, k, h if self.config.residual
                                else self.sigma(h))
                h = z
            if record is not None:
                record.append(z)
        return h
