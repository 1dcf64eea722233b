"""An LSTM language model over token sequences, written out gate by gate.

tokens → embedding → `layers` LSTM layers → linear readout to logits. Each layer updates
(h, c) per position with gates i, f, g, o = σ, σ, tanh, σ of W x_t + U h_{t−1} + b:
c_t = f ⊙ c_{t−1} + i ⊙ g, h_t = o ⊙ tanh(c_t). Written with ``nn.Linear`` layers (not
``nn.LSTM``'s fused kernel) so that ``torch.func.functional_call`` under ``torch.vmap``
runs many members at once.

Source: S. Hochreiter & J. Schmidhuber, Neural Computation 9 (1997); the gate equations
of ``torch.nn.LSTM``'s documentation.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from lmech.errors import LmechError

__all__ = ["LSTMConfig", "LSTMModel", "lstm_forward", "matched_lstm"]


@dataclass(frozen=True)
class LSTMConfig:
    """An LSTM language model.

    Attributes:
        vocab: number of token ids (inputs and outputs).
        max_len: the longest sequence.
        hidden: state size of every layer (also the embedding size).
        layers: stacked LSTM layers.
    """

    vocab: int
    max_len: int
    hidden: int = 64
    layers: int = 1

    def check(self) -> LSTMConfig:
        """Self, or an LmechError naming the bad field."""
        for name in ("vocab", "max_len", "hidden", "layers"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise LmechError(f"LSTMConfig.{name} must be a positive integer, got {v!r}")
        return self

    @property
    def parameter_count(self) -> int:
        """Trainable parameters: embedding vocab·n, per layer 8n² + 4n (W and U of the four
        gates, one bias), readout n·vocab + vocab."""
        n = self.hidden
        return self.vocab * n + self.layers * (8 * n * n + 4 * n) + n * self.vocab + self.vocab


def matched_lstm(parameters: int, vocab: int, max_len: int, layers: int = 1) -> LSTMConfig:
    """The `LSTMConfig` whose parameter count is nearest `parameters` (e.g. a transformer's).

    Example:
        >>> matched_lstm(10_000, vocab=16, max_len=11).hidden
        33
    """
    if isinstance(parameters, bool) or not isinstance(parameters, int) or parameters < 1:
        raise LmechError(f"parameters must be a positive integer, got {parameters!r}")
    best, hidden = None, 1
    while True:
        config = LSTMConfig(vocab, max_len, hidden, layers).check()
        gap = abs(config.parameter_count - parameters)
        if best is not None and gap > abs(best.parameter_count - parameters):
            return best
        best, hidden = config, hidden + 1


class LSTMModel(nn.Module):
    """The network of an `LSTMConfig`: tokens ``(B, T)`` → logits ``(B, T, vocab)``.

    Example:
        >>> net = LSTMModel(LSTMConfig(vocab=10, max_len=8, hidden=16))
        >>> net(torch.zeros(2, 5, dtype=torch.long)).shape
        torch.Size([2, 5, 10])
    """

    def __init__(self, config: LSTMConfig) -> None:
        super().__init__()
        self.config = config.check()
        n = config.hidden
        self.embed = nn.Embedding(config.vocab, n)
        self.inputs = nn.ModuleList(nn.Linear(n, 4 * n) for _ in range(config.layers))
        self.recurrent = nn.ModuleList(nn.Linear(n, 4 * n, bias=False)
                                       for _ in range(config.layers))
        self.readout = nn.Linear(n, config.vocab)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.config.max_len,)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens)  # (B, T, n)
        for w, u in zip(self.inputs, self.recurrent, strict=True):
            drive = w(x)  # (B, T, 4n): the input part of every gate, all positions at once
            h = c = x.new_zeros(x.shape[0], x.shape[-1])
            states = []
            for t in range(x.shape[1]):
                i, f, g, o = (drive[:, t] + u(h)).chunk(4, dim=-1)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(c)
                states.append(h)
            x = torch.stack(states, dim=1)
        return self.readout(x)


def lstm_forward(params: dict[str, torch.Tensor], tokens: torch.Tensor, config: LSTMConfig
                 ) -> torch.Tensor:
    """Every member's logits with stacked parameters: the `LSTMModel` of `config` written
    with batched matmuls (no vmap), for ensembles of small networks.

    Args:
        params: the module's parameter names → ``(M, *shape)``.
        tokens: ``(M, B, T)`` token ids.

    Returns:
        ``(M, B, T, vocab)``.
    """
    m, b, t = tokens.shape
    rows = torch.arange(m, device=tokens.device)[:, None, None]
    x = params["embed.weight"][rows, tokens]  # (M, B, T, n)
    for k in range(config.layers):
        w, bias = params[f"inputs.{k}.weight"], params[f"inputs.{k}.bias"]  # (M, 4n, n), (M, 4n)
        u = params[f"recurrent.{k}.weight"].transpose(-1, -2)  # (M, n, 4n)
        drive = torch.baddbmm(bias.unsqueeze(1), x.reshape(m, b * t, -1),
                              w.transpose(-1, -2)).view(m, b, t, -1)  # (M, B, T, 4n)
        h = c = x.new_zeros(m, b, config.hidden)
        states = []
        for step in range(t):
            i, f, g, o = (drive[:, :, step] + h @ u).chunk(4, dim=-1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            states.append(h)
        x = torch.stack(states, dim=2)
    w, bias = params["readout.weight"], params["readout.bias"]
    logits = torch.baddbmm(bias.unsqueeze(1), x.reshape(m, b * t, -1), w.transpose(-1, -2))
    return logits.view(m, b, t, -1)
