"""Many scale-invariant networks trained at once by PyTorch-convention SGD (private).

Member m is 64 → BN(W1 x) → ReLU → BN(W2 h) → 10 logits, with its own minibatches,
learning rate η_m, weight decay λ_m and momentum β_m; the update is PyTorch's SGD
(dampening 0): v ← β v + (g + λ θ) (v starts at 0, so v_1 = g + λθ as PyTorch's fresh
buffer), θ ← θ − η v. The BatchNorms have ε = 0 and no affine parameters, so both weight
matrices are exactly scale-invariant. A test checks one member against ``torch.optim.SGD``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from lmech.laws import Progress
from lmech.tasks import digits


def _standardise(h: torch.Tensor) -> torch.Tensor:
    """Batch normalisation over the batch axis of ``(M, B, n)``, ε = 0, no affine."""
    centred = h - h.mean(1, keepdim=True)
    return centred / centred.pow(2).mean(1, keepdim=True).sqrt()


def forward(w1: torch.Tensor, w2: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Logits ``(M, B, 10)`` of inputs ``(M, B, 64)``; w1 ``(M, H, 64)``, w2 ``(M, 10, H)``."""
    h = F.relu(_standardise(x @ w1.transpose(1, 2)))
    return _standardise(h @ w2.transpose(1, 2))


def sgd_step(w: list[torch.Tensor], v: list[torch.Tensor], grads, eta: torch.Tensor,
             lam: torch.Tensor, beta: torch.Tensor) -> None:
    """In place, PyTorch's SGD (dampening 0): v ← β v + (g + λ θ); θ ← θ − η v.

    η, λ, β: ``(M, 1, 1)`` per member. With v starting at 0 the first step is PyTorch's
    fresh buffer v_1 = g + λθ.
    """
    with torch.no_grad():
        for x, g, buf in zip(w, grads, v, strict=True):
            buf.mul_(beta).add_(g + lam * x)
            x.sub_(eta * buf)


def train_angles(*, dataset: torch.Tensor, lr: torch.Tensor, weight_decay: torch.Tensor,
                 momentum: torch.Tensor, burn: np.ndarray, total: np.ndarray, width: int,
                 batch: int, seed: int, device: str, progress: Progress
                 ) -> dict[str, np.ndarray]:
    """Window sums of each member's two layers.

    Member m trains max(total) steps; its window is the last total_m − burn_m of them.
    Returns ``dot``, ``q_k``, ``q_next``: ``(M, 2)`` sums over the window of ⟨θ_k, θ_{k+1}⟩,
    ‖θ_k‖², ‖θ_{k+1}‖²; ``q_first``, ``q_last``: sums of ‖θ_k‖² over the window's first and
    last fifth; and ``q_init``: ``(M, 2)`` the initial ‖θ‖².
    """
    gen = torch.Generator().manual_seed(seed)
    data = digits(flatten=True, dtype=torch.float64, device=device)
    labels = torch.stack([data.y, data.y[torch.randperm(len(data.y), generator=gen)]])
    m, n = len(lr), len(data.y)
    w = [((torch.rand(m, width, 64, generator=gen, dtype=torch.float64) * 2 - 1) / 8),
         ((torch.rand(m, 10, width, generator=gen, dtype=torch.float64) * 2 - 1) / width**0.5)]
    w = [x.to(device).requires_grad_() for x in w]
    v = [torch.zeros_like(x) for x in w]
    eta, lam, beta = (t.to(device)[:, None, None] for t in (lr, weight_decay, momentum))
    steps = int(total.max())
    length = torch.as_tensor(total - burn, device=device)
    start = steps - length  # window start per member
    fifth = start + length // 5  # end of the window's first fifth
    last = steps - length // 5  # start of its last fifth
    # dot, ‖θ_k‖², ‖θ_k+1‖², and ‖θ_k‖² over the first and the last fifth of the window
    sums = torch.zeros(5, m, 2, dtype=torch.float64, device=device)
    q0 = torch.stack([x.detach().pow(2).sum((1, 2)) for x in w], 1)  # (M, 2)
    for k in range(steps):
        idx = torch.randint(0, n, (m, batch), generator=gen).to(device)
        logits = forward(w[0], w[1], data.x[idx])  # (M, B, 10)
        loss = F.cross_entropy(logits.reshape(-1, 10), labels[dataset.to(device)[:, None]
                                                              .expand(-1, batch), idx]
                               .reshape(-1), reduction="none").reshape(m, batch).mean(1)
        grads = torch.autograd.grad(loss.sum(), w)  # members independent: each its own grad
        inside = (k >= start).to(torch.float64)[:, None]  # (M, 1)
        first = ((k >= start) & (k < fifth)).to(torch.float64)[:, None]
        final = (k >= last).to(torch.float64)[:, None]
        with torch.no_grad():
            old = [x.detach().clone() for x in w]
            sgd_step(w, v, grads, eta, lam, beta)
            q_old = torch.stack([o.pow(2).sum((1, 2)) for o in old], 1)  # (M, 2)
            dots = [(o * x).sum((1, 2)) for o, x in zip(old, w, strict=True)]
            sums[0] += inside * torch.stack(dots, 1)
            sums[1] += inside * q_old
            sums[2] += inside * torch.stack([x.pow(2).sum((1, 2)) for x in w], 1)
            sums[3] += first * q_old
            sums[4] += final * q_old
        if (k + 1) % max(1, steps // 50) == 0 or k + 1 == steps:
            progress((k + 1) / steps)
    out = sums.cpu().numpy()
    return {"dot": out[0], "q_k": out[1], "q_next": out[2], "q_first": out[3],
            "q_last": out[4], "q_init": q0.cpu().numpy()}
