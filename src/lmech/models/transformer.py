"""A minimal causal transformer over token sequences (GPT's pre-LayerNorm block, toy size).

tokens → embedding + learned position embedding → `layers` × [x + attn(LN(x)); x + MLP(LN(x))]
→ LN → linear readout to logits. Attention is written out (q, k, v projections, a causal
mask, softmax(q kᵀ/√d_head) v) so that ``torch.func.functional_call`` under ``torch.vmap``
runs many members at once; no dropout.

Source: A. Vaswani et al., NeurIPS 2017 (arXiv:1706.03762), §3.2; A. Radford et al., GPT-2
(2019), the pre-LayerNorm arrangement.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from lmech.errors import LmechError

__all__ = ["CausalTransformer", "TransformerConfig", "transformer_forward"]


@dataclass(frozen=True)
class TransformerConfig:
    """A causal transformer.

    Attributes:
        vocab: number of token ids (inputs and outputs).
        max_len: the longest sequence.
        d_model: residual-stream width.
        heads: attention heads (must divide d_model).
        layers: transformer blocks.
        mlp_ratio: the MLP's hidden width over d_model.
    """

    vocab: int
    max_len: int
    d_model: int = 32
    heads: int = 4
    layers: int = 2
    mlp_ratio: int = 4

    def check(self) -> TransformerConfig:
        """Self, or an LmechError naming the bad field."""
        for name in ("vocab", "max_len", "d_model", "heads", "layers", "mlp_ratio"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise LmechError(f"TransformerConfig.{name} must be a positive integer, got "
                                 f"{v!r}")
        if self.d_model % self.heads:
            raise LmechError(f"TransformerConfig.heads = {self.heads} must divide d_model = "
                             f"{self.d_model}")
        return self

    @property
    def parameter_count(self) -> int:
        """Trainable parameters: embeddings (vocab + max_len)·d; per block two LayerNorms
        4d, q k v 3d² + 3d, output d² + d and MLP 2r·d² + r·d + d (r = mlp_ratio); the final
        LayerNorm 2d and the readout d·vocab + vocab."""
        d, r = self.d_model, self.mlp_ratio
        block = 4 * d + (3 * d * d + 3 * d) + (d * d + d) + (2 * r * d * d + r * d + d)
        return ((self.vocab + self.max_len) * d + self.layers * block + 2 * d
                + d * self.vocab + self.vocab)


class Block(nn.Module):
    """x + attn(LN(x)), then x + MLP(LN(x)), causal."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        d = config.d_model
        self.heads = config.heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.up = nn.Linear(d, config.mlp_ratio * d)
        self.down = nn.Linear(config.mlp_ratio * d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=-1)
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2)
                   for z in (q, k, v))  # (B, H, T, d_head)
        scores = q @ k.transpose(-1, -2) / math.sqrt(d // self.heads)  # (B, H, T, T)
        future = torch.ones(t, t, dtype=torch.bool, device=x.device).triu(1)
        attn = scores.masked_fill(future, float("-inf")).softmax(-1) @ v
        x = x + self.proj(attn.transpose(1, 2).reshape(b, t, d))
        return x + self.down(F.gelu(self.up(self.ln2(x))))


class CausalTransformer(nn.Module):
    """The network of a `TransformerConfig`: tokens ``(B, T)`` → logits ``(B, T, vocab)``.

    Example:
        >>> net = CausalTransformer(TransformerConfig(vocab=10, max_len=8))
        >>> net(torch.zeros(2, 5, dtype=torch.long)).shape
        torch.Size([2, 5, 10])
    """

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.config = config.check()
        self.embed = nn.Embedding(config.vocab, config.d_model)
        self.position = nn.Embedding(config.max_len, config.d_model)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.layers))
        self.ln = nn.LayerNorm(config.d_model)
        self.readout = nn.Linear(config.d_model, config.vocab)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.config.max_len,)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        t = tokens.shape[-1]
        x = self.embed(tokens) + self.position.weight[:t]
        for block in self.blocks:
            x = block(x)
        return self.readout(self.ln(x))


def _linear(params: dict[str, torch.Tensor], name: str, x: torch.Tensor) -> torch.Tensor:
    """Member m's ``x[m] W[m]ᵀ + b[m]``: x ``(M, B, T, in)`` → ``(M, B, T, out)``."""
    w, b = params[f"{name}.weight"], params[f"{name}.bias"]  # (M, out, in), (M, out)
    m, *rows, n = x.shape
    out = torch.baddbmm(b.unsqueeze(1), x.reshape(m, -1, n), w.transpose(-1, -2))
    return out.view(m, *rows, -1)


def _layer_norm(params: dict[str, torch.Tensor], name: str, x: torch.Tensor) -> torch.Tensor:
    w, b = params[f"{name}.weight"], params[f"{name}.bias"]  # (M, d) each
    return F.layer_norm(x, x.shape[-1:]) * w[:, None, None] + b[:, None, None]


def transformer_forward(params: dict[str, torch.Tensor], tokens: torch.Tensor,
                        config: TransformerConfig) -> torch.Tensor:
    """Every member's logits with stacked parameters: the `CausalTransformer` of `config`
    written with batched matmuls (no vmap), for ensembles of small networks.

    Args:
        params: the module's parameter names → ``(M, *shape)``.
        tokens: ``(M, B, T)`` token ids, T <= max_len.

    Returns:
        ``(M, B, T, vocab)``.
    """
    m, b, t = tokens.shape
    d, h = config.d_model, config.heads
    rows = torch.arange(m, device=tokens.device)[:, None, None]
    x = params["embed.weight"][rows, tokens] + params["position.weight"][:, None, :t]
    future = torch.ones(t, t, dtype=torch.bool, device=tokens.device).triu(1)
    for k in range(config.layers):
        q, key, v = _linear(params, f"blocks.{k}.qkv",
                            _layer_norm(params, f"blocks.{k}.ln1", x)).split(d, dim=-1)
        q, key, v = (z.view(m, b, t, h, d // h).transpose(2, 3)
                     for z in (q, key, v))  # (M, B, H, T, d_head)
        scores = q @ key.transpose(-1, -2) / math.sqrt(d // h)  # (M, B, H, T, T)
        attn = scores.masked_fill(future, float("-inf")).softmax(-1) @ v
        x = x + _linear(params, f"blocks.{k}.proj", attn.transpose(2, 3).reshape(m, b, t, d))
        normed = _layer_norm(params, f"blocks.{k}.ln2", x)
        hidden = F.gelu(_linear(params, f"blocks.{k}.up", normed))  # (M, B, T, r·d)
        x = x + _linear(params, f"blocks.{k}.down", hidden)
    return _linear(params, "readout", _layer_norm(params, "ln", x))
