"""Fused gradients of stacked MLPs: forward and backward by hand, MSE or cross-entropy.

The common case of `lmech.ensemble.train` (an `MLP` ensemble with tanh, relu or linear
activations, the default forward, the mean squared error or cross-entropy, on the whole
set or on minibatches, with any optimiser) gets its losses and gradients here instead of
from autograd. Same arithmetic, fewer passes over memory:

- forward: z^(l) = b^(l) + a^(l−1) W^(l)ᵀ by one `baddbmm` per layer into a preallocated
  buffer, a^(l) = σ(z^(l)) in place (only a^(l) is kept: tanh' = 1 − a², relu' = [a > 0]);
  tanh is evaluated as 2·sigmoid(2z) − 1, five times faster than `torch.tanh` on CPU and
  within 2⁻²² absolute of it in float32 (≈ 4e-16 in float64), i.e. at the rounding of
  activations of order one;
- output error: δ^(L) = 2 (f − y)/(B·n_out) for the MSE; δ^(L) = (softmax(f) − e_y)/B for
  the cross-entropy −(1/B) Σ_b log softmax(f_b)_{y_b};
- backward: ∂W^(l) = δ^(l)ᵀ a^(l−1), ∂b^(l) = Σ_B δ^(l);
  δ^(l−1) = (δ^(l) W^(l)) ⊙ σ'(a^(l−1)), the last factor applied in place by the same
  aten kernels autograd uses (`tanh_backward`, `threshold_backward`);
- members are processed in chunks so that a chunk's activations stay cache-sized; the
  activation, delta and gradient buffers are allocated once and reused every step.

The optimiser update, batching, divergence and trackers are the engine's, shared with the
autograd path. Members share nothing, so each member's trajectory equals the autograd
path's to float rounding (tests/ensemble/test_fused.py pits the two against each other).

Source: D. E. Rumelhart, G. E. Hinton, R. J. Williams, Nature 323 (1986) 533
(backpropagation); the softmax cross-entropy gradient: C. M. Bishop, *Pattern Recognition
and Machine Learning* (2006), eq. 4.109.
"""

from __future__ import annotations

from typing import Any

import torch

from lmech.ensemble.stacked import Ensemble
from lmech.models import MLP
from lmech.theory import Activation, get_activation

__all__ = ["LOSSES", "FusedGradient", "chunk_size", "fused_unsupported"]

Params = dict[str, torch.Tensor]
CHUNK_BYTES = 8 * 2**20
"""Target size of one chunk's activation and delta buffers (they stay in L3 cache)."""
MIN_CHUNK = 4
"""Fewest members per chunk: batched matmuls of a few members beat one at a time."""
LOSSES = ("mse", "cross_entropy")
"""The losses the fused kernels know, by the names `lmech.ensemble.train` uses."""


def _activation(net: MLP) -> Activation | None:
    """σ when the fused kernels can run it (it has an in-place fast form and a derivative
    from its output), else None."""
    if net.config.depth == 0:
        return get_activation("linear")  # a single layer: σ is never applied
    act = net.activation
    return act if act.fast_torch is not None and act.backward_from_output is not None else None


def fused_unsupported(ensemble: Ensemble, batch: Any, loss: str) -> str | None:
    """Why the fused kernels cannot give this ensemble's loss and gradients on batches like
    `batch` (``(inputs, targets, …)``) under `loss`, or None if they can."""
    if loss not in LOSSES:
        return f"the loss {loss!r} is not one of {LOSSES}"
    net = ensemble.template
    if type(net) is not MLP:
        return f"the model is a {type(net).__name__}, not an MLP"
    if _activation(net) is None:
        return (f"activation {net.activation.name!r} has no in-place fast form with a "
                "derivative from its output (tanh, relu and linear have)")
    n = len(net.layers)
    names = [f"layers.{k}.{kind}" for k in range(n)
             for kind in (("weight", "bias") if net.config.bias else ("weight",))]
    params = ensemble.params
    if sorted(params) != sorted(names):
        return "the parameters are not the MLP's layers.{k}.weight/bias"
    w = net.config.widths
    m = ensemble.members
    dtype, device = params["layers.0.weight"].dtype, params["layers.0.weight"].device
    for k in range(n):
        shapes = {f"layers.{k}.weight": (m, w[k + 1], w[k]), f"layers.{k}.bias": (m, w[k + 1])}
        for name, shape in shapes.items():
            p = params.get(name)
            if p is not None and (tuple(p.shape) != shape or p.dtype != dtype or
                                  p.device != device):
                return f"{name} is not a {shape} {dtype} tensor on {device}"
    if dtype not in (torch.float32, torch.float64):
        return f"the parameters are {dtype}, not float32 or float64"
    return _batch_unsupported(batch, loss, m, w, dtype, device)


def _batch_unsupported(batch, loss, m, w, dtype, device) -> str | None:
    if not isinstance(batch, (tuple, list)) or len(batch) < 2 or \
            not all(isinstance(t, torch.Tensor) for t in batch[:2]):
        return "the batch is not (inputs, targets, …) tensors"
    inputs, targets = batch[0], batch[1]
    if inputs.dim() not in (2, 3) or inputs.shape[-1] != w[0] or \
            (inputs.dim() == 3 and inputs.shape[0] != m):
        return f"inputs are not (B, {w[0]}) or ({m}, B, {w[0]})"
    if inputs.dtype != dtype:
        return f"inputs are not {dtype} like the parameters"
    rows = (m, inputs.shape[-2]) if inputs.dim() == 3 else (inputs.shape[0],)
    if loss == "mse":
        if tuple(targets.shape) not in ((*rows, w[-1]), (m, *rows[-1:], w[-1])):
            return f"targets are not {(*rows, w[-1])} (inputs' rows × n_out)"
        if targets.dtype != dtype:
            return f"targets are not {dtype} like the parameters"
    elif tuple(targets.shape) not in (rows, (m, rows[-1])) or targets.dtype != torch.int64:
        return f"targets are not int64 class ids of shape {rows}"
    for name, t in (("inputs", inputs), ("targets", targets)):
        if t.device != device:
            return f"{name} are not on {device} like the parameters"
    return None


class _Buffers:
    """Per-chunk activations ``acts[l] (c, B, n_{l+1})`` and two delta buffers."""

    def __init__(self, widths: list[int], chunk: int, b: int, dtype, device) -> None:
        kw = dict(dtype=dtype, device=device)
        self.acts = [torch.empty(chunk, b, n, **kw) for n in widths[1:]]
        big = chunk * b * max(widths[1:])
        self.deltas = [torch.empty(big, **kw), torch.empty(big, **kw)]

    def delta(self, i: int, c: int, b: int, n: int) -> torch.Tensor:
        return self.deltas[i % 2][:c * b * n].view(c, b, n)


def chunk_size(widths: list[int], batch: int, members: int, itemsize: int) -> int:
    """Members per chunk: a chunk's activations and deltas within `CHUNK_BYTES`, but at
    least `MIN_CHUNK` members (or all of them)."""
    per_member = batch * (sum(widths[1:]) + 2 * max(widths[1:])) * itemsize
    return min(members, max(MIN_CHUNK, CHUNK_BYTES // per_member))


def _forward(weights, biases, x, bufs, s, c, act) -> torch.Tensor:
    """Outputs ``(c, B, n_out)`` of members `s` into `bufs.acts`; hidden ones activated."""
    a = x[s] if x.dim() == 3 else x.expand(c, *x.shape)
    last = len(weights) - 1
    for k, (w, b) in enumerate(zip(weights, biases, strict=True)):
        z = bufs.acts[k][:c]
        wt = w[s].transpose(1, 2)  # (c, n_k, n_{k+1})
        # σ(z) = g(s·z) (tanh: 2·sigmoid(2z) − 1): the power-of-two scale s is exact, so
        # it is folded into the matmul, and g runs in place (see the module docstring).
        fast = act.fast_torch if k < last else None
        scale = fast.scale if fast is not None else 1.0
        if b is None:
            torch.baddbmm(z, a, wt, beta=0.0, alpha=scale, out=z)
        else:
            torch.baddbmm(b[s].unsqueeze(1), a, wt, beta=scale, alpha=scale, out=z)
        if fast is not None:
            fast.outer(z, z)
        a = z
    return a


def _backward(weights, biases, x, bufs, s, c, act, delta, grads_w, grads_b) -> None:
    """Gradients of members `s` into rows `s` of `grads_w`/`grads_b`; `delta` = ∂L/∂f."""
    n_layers = len(weights)
    b_rows = delta.shape[1]
    for k in range(n_layers - 1, -1, -1):
        if k == 0:
            a_prev = x[s] if x.dim() == 3 else x.expand(c, *x.shape)
        else:
            a_prev = bufs.acts[k - 1][:c]
        torch.bmm(delta.transpose(1, 2), a_prev, out=grads_w[k][s])
        if biases[k] is not None:
            torch.sum(delta, dim=1, out=grads_b[k][s])
        if k == 0:
            break
        d = bufs.delta(n_layers - k, c, b_rows, a_prev.shape[-1])
        torch.bmm(delta, weights[k][s], out=d)
        act.backward_from_output(d, a_prev)
        delta = d


class FusedGradient:
    """Every member's loss and gradient on a batch, by the hand-written kernels.

    Called as ``gradient(params, batch, backward=True) -> (loss (M,), grads)`` with
    ``batch = (inputs, targets, …)`` as `fused_unsupported` accepts (inputs ``(B, n_in)``
    shared or ``(M, B, n_in)`` per member; targets per member or shared). The gradients
    are buffers reused by the next call (read or copy them before it); with
    ``backward=False`` only the loss is computed and grads is None.

    Args:
        ensemble: the MLP ensemble (its template fixes the architecture).
        loss: "mse" or "cross_entropy".
        chunk: members per chunk (default `chunk_size`).
    """

    def __init__(self, ensemble: Ensemble, loss: str, chunk: int | None = None) -> None:
        self.net = ensemble.template
        self.loss = loss
        self.chunk = chunk
        self.act = _activation(self.net)
        n = len(self.net.layers)
        self.names_w = [f"layers.{k}.weight" for k in range(n)]
        self.names_b = [f"layers.{k}.bias" for k in range(n)]
        self._bufs: tuple[int, int, _Buffers] | None = None
        self._grads: Params | None = None

    def _buffers(self, rows: int, m: int, like: torch.Tensor) -> tuple[int, _Buffers]:
        if self._bufs is None or self._bufs[0] != rows:  # a new batch size: new buffers
            widths = self.net.config.widths
            c_max = self.chunk or chunk_size(widths, rows, m, like.element_size())
            self._bufs = (rows, c_max, _Buffers(widths, c_max, rows, like.dtype, like.device))
        return self._bufs[1], self._bufs[2]

    def __call__(self, params: Params, batch: Any, backward: bool = True
                 ) -> tuple[torch.Tensor, Params | None]:
        x, y = batch[0], batch[1]
        w0 = params[self.names_w[0]]
        m, rows = w0.shape[0], x.shape[-2]
        per_member_y = y.dim() == (3 if self.loss == "mse" else 2)
        with torch.no_grad():
            c_max, bufs = self._buffers(rows, m, x)
            if backward and self._grads is None:
                self._grads = {k: torch.empty(v.shape, dtype=v.dtype, device=v.device)
                               for k, v in params.items()}
            weights = [params[k] for k in self.names_w]
            biases = [params.get(k) for k in self.names_b]
            grads_w = [self._grads[k] for k in self.names_w] if backward else None
            grads_b = [self._grads.get(k) for k in self.names_b] if backward else None
            loss = torch.empty(m, dtype=w0.dtype, device=w0.device)
            for lo in range(0, m, c_max):
                c = min(c_max, m - lo)
                s = slice(lo, lo + c)
                f = _forward(weights, biases, x, bufs, s, c, self.act)  # (c, B, n_out)
                target = y[s] if per_member_y else y
                delta = self._output_error(f, target, loss, s, rows)
                if backward:
                    _backward(weights, biases, x, bufs, s, c, self.act, delta, grads_w,
                              grads_b)
        return loss, (self._grads if backward else None)

    def _output_error(self, f, target, loss, s, rows) -> torch.Tensor:
        """Writes the members' losses into ``loss[s]``; returns ∂L/∂f in place of `f`."""
        if self.loss == "mse":
            r = torch.sub(f, target, out=f)  # (c, B, n_out)
            loss[s] = r.square().flatten(1).mean(-1)
            return r.mul_(2.0 / (rows * f.shape[-1]))
        idx = target.expand(f.shape[0], rows).unsqueeze(-1)  # (c, B, 1)
        logp = torch.log_softmax(f, -1)
        loss[s] = -logp.gather(-1, idx).squeeze(-1).mean(-1)
        p = torch.exp(logp, out=f)
        p.scatter_add_(-1, idx, torch.full(idx.shape, -1.0, dtype=p.dtype, device=p.device))
        return p.mul_(1.0 / rows)
