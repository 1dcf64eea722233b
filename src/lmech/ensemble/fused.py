"""Fused training of stacked MLPs: full batch, MSE, SGD — forward and backward by hand.

The common case of `lmech.ensemble.train` (an `MLP` ensemble with tanh, relu or linear
activations, full-batch gradient descent on the mean squared error, plain, heavy-ball or
Nesterov SGD with per-member learning rate and weight decay) runs here instead of through
autograd. Same arithmetic, fewer passes over memory:

- forward: z^(l) = b^(l) + a^(l−1) W^(l)ᵀ by one `baddbmm` per layer into a preallocated
  buffer, a^(l) = σ(z^(l)) in place (only a^(l) is kept: tanh' = 1 − a², relu' = [a > 0]);
  tanh is evaluated as 2·sigmoid(2z) − 1, five times faster than `torch.tanh` on CPU and
  within 2⁻²² absolute of it in float32 (≈ 4e-16 in float64), i.e. at the rounding of
  activations of order one;
- backward: δ^(L) = 2 (f − y)/(B·n_out); ∂W^(l) = δ^(l)ᵀ a^(l−1), ∂b^(l) = Σ_B δ^(l);
  δ^(l−1) = (δ^(l) W^(l)) ⊙ σ'(a^(l−1)), the last factor applied in place by the same
  aten kernels autograd uses (`tanh_backward`, `threshold_backward`);
- members are processed in chunks so that a chunk's activations stay cache-sized; every
  buffer (activations, deltas, gradients, the next parameters) is allocated once;
- the update follows `SGD.update` operation for operation on the full stacked tensors, into
  a second parameter buffer, so a member that diverges is frozen at its old parameters.

Members share nothing, so each member's trajectory equals the autograd path's to float
rounding (tests/ensemble/test_fused.py pits the two against each other).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from lmech.ensemble.optim import SGD
from lmech.ensemble.stacked import Ensemble
from lmech.models import MLP

__all__ = ["fused_unsupported", "train_fused"]

Params = dict[str, torch.Tensor]
CHUNK_BYTES = 8 * 2**20
"""Target size of one chunk's activation and delta buffers (they stay in L3 cache)."""
MIN_CHUNK = 4
"""Fewest members per chunk: batched matmuls of a few members beat one at a time."""


def _activation(net: MLP) -> str | None:
    """"tanh", "relu" or "linear" when the fused kernels know σ, else None."""
    if net.config.depth == 0:
        return "linear"  # a single layer: σ is never applied
    if net.sigma is torch.tanh:
        return "tanh"
    if net.sigma is torch.relu:
        return "relu"
    act = net.config.activation
    if isinstance(act, str) and act.lower() == "linear":
        return "linear"
    return None


def fused_unsupported(ensemble: Ensemble, inputs: torch.Tensor, targets: torch.Tensor,
                      optimizer) -> str | None:
    """Why the fused path cannot run this (full-batch, MSE) training, or None if it can."""
    net = ensemble.template
    if type(net) is not MLP:
        return f"the model is a {type(net).__name__}, not an MLP"
    if _activation(net) is None:
        return f"activation {net.config.activation!r} is not tanh, relu or linear"
    if not isinstance(optimizer, SGD):
        return f"the optimizer is {type(optimizer).__name__}, not SGD"
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
    rows = (m, inputs.shape[-2]) if inputs.dim() == 3 else (inputs.shape[0],)
    if tuple(targets.shape) != (*rows, w[-1]):
        return f"targets are not {(*rows, w[-1])} (inputs' rows × n_out)"
    for name, t in (("inputs", inputs), ("targets", targets)):
        if t.dtype != dtype or t.device != device:
            return f"{name} are not {dtype} on {device} like the parameters"
    return None


class _Buffers:
    """Per-chunk activations ``acts[l] (c, B, n_{l+1})`` and two delta buffers."""

    def __init__(self, widths: list[int], chunk: int, b: int, dtype, device) -> None:
        kw = dict(dtype=dtype, device=device)
        self.acts = [torch.empty(chunk, b, n, **kw) for n in widths[1:]]
        big = chunk * b * max(widths[1:])
        self.deltas = [torch.empty(big, **kw), torch.empty(big, **kw)]
        self.minus_one = torch.tensor(-1.0, **kw)

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
        # tanh(z) = 2·sigmoid(2z) − 1: the doubling is exact (folded into the matmul),
        # and two fast passes cost a fifth of torch.tanh's (see the module docstring).
        two = 2.0 if k < last and act == "tanh" else 1.0
        if b is None:
            torch.baddbmm(z, a, wt, beta=0.0, alpha=two, out=z)
        else:
            torch.baddbmm(b[s].unsqueeze(1), a, wt, beta=two, alpha=two, out=z)
        if k < last and act == "tanh":
            torch.sigmoid(z, out=z)
            torch.add(bufs.minus_one, z, alpha=2.0, out=z)
        elif k < last and act == "relu":
            torch.relu_(z)
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
        if act == "tanh":
            torch.ops.aten.tanh_backward.grad_input(d, a_prev, grad_input=d)
        elif act == "relu":
            torch.ops.aten.threshold_backward.grad_input(d, a_prev, 0, grad_input=d)
        delta = d


def _update(opt: SGD, state: dict, params: Params, grads: Params, out: Params) -> None:
    """`SGD.update`'s arithmetic in place: new parameters into `out`, velocity kept."""
    lr, wd, first = state["lr"], state["weight_decay"], state["step"] == 0
    for k, p in params.items():
        view = (-1, *([1] * (p.dim() - 1)))
        g = grads[k]
        if wd is not None:
            g.addcmul_(wd.to(p).view(view), p)
        if opt.momentum:
            v = state["velocity"].setdefault(k, torch.empty_like(g))
            if first:
                v.copy_(g)
            else:
                v.mul_(opt.momentum).add_(g)
            if opt.nesterov:
                g.add_(v, alpha=opt.momentum)
            else:
                g = v
        torch.addcmul(p, lr.to(p).view(view), g, value=-1, out=out[k])
    state["step"] += 1


def _finite(params: Params) -> torch.Tensor:
    ok = None
    for p in params.values():
        f = torch.isfinite(p.flatten(1).sum(-1))
        ok = f if ok is None else ok & f
    return ok


def train_fused(
    ensemble: Ensemble,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    *,
    optimizer: SGD,
    steps: int,
    every: int,
    record: Callable[[int, torch.Tensor, Params], None],
    progress: Callable[[float], None] | None = None,
    chunk: int | None = None,
) -> tuple[Params, torch.Tensor]:
    """Full-batch MSE gradient descent of every member; returns (parameters, diverged_at).

    Args:
        inputs: ``(P, n_in)`` shared or ``(M, P, n_in)`` per member.
        targets: ``(P, n_out)`` or ``(M, P, n_out)``.
        record: called as ``record(step, loss (M,), params)`` at the recorded steps; the
            params are the live buffers (copy them to keep them).
        chunk: members per chunk (default `chunk_size`).

    The caller (`lmech.ensemble.train`) has checked the arguments and `fused_unsupported`.
    """
    net = ensemble.template
    act = _activation(net)
    widths = net.config.widths
    n = len(net.layers)
    m = ensemble.members
    x = inputs.contiguous()
    y = targets.contiguous()
    with torch.no_grad():
        cur = {k: v.detach().clone(memory_format=torch.contiguous_format)
               for k, v in ensemble.params.items()}
        nxt = {k: torch.empty_like(v) for k, v in cur.items()}
        grads = {k: torch.empty_like(v) for k, v in cur.items()}
        state = optimizer.init(cur)
        for knob in ("lr", "weight_decay"):
            if state[knob] is not None:
                state[knob] = state[knob].to(x.dtype).to(x.device)  # (M,)
        batch = x.shape[-2]
        c_max = chunk or chunk_size(widths, batch, m, x.element_size())
        bufs = _Buffers(widths, c_max, batch, x.dtype, x.device)
        scale = 2.0 / (batch * widths[-1])
        names_w = [f"layers.{k}.weight" for k in range(n)]
        names_b = [f"layers.{k}.bias" for k in range(n)]
        alive = torch.ones(m, dtype=torch.bool)
        diverged = torch.full((m,), -1, dtype=torch.long)
        report = max(1, steps // 100)
        loss = torch.empty(m, dtype=x.dtype, device=x.device)
        for step in range(steps + 1):
            if progress is not None and step % report == 0 and step:
                progress(step / steps)
            weights = [cur[k] for k in names_w]
            biases = [cur.get(k) for k in names_b]
            grads_w = [grads[k] for k in names_w]
            grads_b = [grads.get(k) for k in names_b]
            backward = step < steps
            for lo in range(0, m, c_max):
                c = min(c_max, m - lo)
                s = slice(lo, lo + c)
                f = _forward(weights, biases, x, bufs, s, c, act)
                r = torch.sub(f, y[s] if y.dim() == 3 else y, out=f)  # (c, B, n_out)
                loss[s] = r.square().flatten(1).mean(-1)
                if backward:
                    _backward(weights, biases, x, bufs, s, c, act, r.mul_(scale), grads_w,
                              grads_b)
            if step % every == 0 or step == steps:
                record(step, loss, cur)
            if not backward:
                break
            _update(optimizer, state, cur, grads, nxt)
            bad = alive & ~(torch.isfinite(loss).cpu() & _finite(nxt).cpu())
            if bad.any():
                diverged[bad] = step
                alive &= ~bad
            if not alive.all():
                dead = (~alive).nonzero().squeeze(1).to(x.device)
                for k, p in nxt.items():
                    p.index_copy_(0, dead, cur[k].index_select(0, dead))
            cur, nxt = nxt, cur
    return cur, diverged
