"""The modified loss of gradient descent and the landscape seen along a trajectory.

Backward error analysis: gradient descent θ ← θ − η∇L follows, to O(η²) over a fixed
time t = kη, not the gradient flow of L but that of the modified loss

    L̃ = L + (η/4) ‖∇L‖²

(Barrett & Dherin 2021, Theorem 3.1; docs/theory/dynamics.md, §Implicit gradient
regularisation). `modified_loss` turns any per-member objective into L + c‖∇L‖² (one c
per member), differentiable in the parameters by double backward, so that
`lmech.ensemble.train` can integrate its flow; `landscape` measures what a trajectory
passes through: the loss, the squared gradient norm and the sharpness λ_max(∇²L) of
every member at once.

Source: D. G. T. Barrett & B. Dherin, "Implicit gradient regularization", ICLR 2021
(arXiv:2009.11162), Theorem 3.1; B. A. Pearlmutter, Neural Comput. 6 (1994) 147 (the
double backward).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from lmech.errors import LmechError
from lmech.measure.ensemble_sharpness import ensemble_top_eigenvalues

__all__ = ["landscape", "modified_loss"]

Params = dict[str, torch.Tensor]
Objective = Callable[[Params, Any], torch.Tensor]


def _per_member_grads(objective: Objective, params: Params, batch: Any, create_graph: bool
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(L (M,), ‖∇L‖² (M,))``; `params` must require grad."""
    loss = objective(params, batch)
    if loss.dim() != 1:
        raise LmechError(f"the objective must return one loss per member (M,), got shape "
                         f"{tuple(loss.shape)}")
    grads = torch.autograd.grad(loss.sum(), list(params.values()), create_graph=create_graph,
                                materialize_grads=True)
    return loss, sum(g.flatten(1).square().sum(1) for g in grads)


def modified_loss(objective: Objective, coefficient: float | torch.Tensor) -> Objective:
    """``(params, batch) -> (M,)`` the per-member L_m + c_m ‖∇L_m‖².

    With c = η/4 this is the modified loss whose gradient flow gradient descent at step η
    follows to O(η²). Members share no parameters, so ∇ of the summed loss is each
    member's own gradient. Under grad mode, with `params` requiring grad, the result is
    differentiable in them (double backward); otherwise only its value is computed.

    Args:
        objective: ``objective(params, batch) -> (M,)``, differentiable in params.
        coefficient: c, a number or an ``(M,)`` tensor.

    Example:
        >>> def objective(p, batch):  # L = ½ Σ a_i w_i², so ‖∇L‖² = Σ a_i² w_i²
        ...     return 0.5 * (torch.tensor([1.0, 3.0]) * p["w"] ** 2).sum(1)
        >>> w = {"w": torch.ones(2, 2, dtype=torch.float64)}
        >>> modified_loss(objective, 0.25)(w, None).tolist()  # L + ‖∇L‖²/4 per member
        [4.5, 4.5]
    """
    c = torch.as_tensor(coefficient, dtype=torch.float64)

    def modified(params: Params, batch: Any) -> torch.Tensor:
        differentiable = torch.is_grad_enabled() and \
            all(v.requires_grad for v in params.values())
        with torch.enable_grad():
            p = params if differentiable else \
                {k: v.detach().requires_grad_() for k, v in params.items()}
            loss, grad_sq = _per_member_grads(objective, p, batch, differentiable)
            out = loss + c.to(loss) * grad_sq
        return out if differentiable else out.detach()

    return modified


def landscape(objective: Objective, params: Params, batch: Any, *, tol: float = 1e-6,
              max_iter: int = 200, generator: torch.Generator | None = None
              ) -> dict[str, torch.Tensor]:
    """The loss L, the squared gradient norm ‖∇L‖² and the sharpness λ_max(∇²L) of every
    member at `params`, each ``(M,)`` float64 on the CPU.

    Args:
        objective: ``objective(params, batch) -> (M,)``, differentiable in params.
        params: name → ``(M, …)``.
        batch: what the objective reads.
        tol, max_iter, generator: the batched Lanczos of `ensemble_top_eigenvalues`.

    Example:
        >>> def objective(p, batch):
        ...     return 0.5 * (torch.tensor([1.0, 3.0]) * p["w"] ** 2).sum(1)
        >>> out = landscape(objective, {"w": torch.ones(2, 2, dtype=torch.float64)}, None)
        >>> out["loss"].tolist(), out["grad_sq"].tolist(), round(out["sharpness"][0].item(), 9)
        ([2.0, 2.0], [10.0, 10.0], 3.0)
    """
    p = {k: v.detach().requires_grad_() for k, v in params.items()}
    with torch.enable_grad():
        loss, grad_sq = _per_member_grads(objective, p, batch, False)
    top = ensemble_top_eigenvalues(objective, params, batch, tol=tol, max_iter=max_iter,
                                   generator=generator)
    return {"loss": loss.detach().double().cpu(), "grad_sq": grad_sq.detach().double().cpu(),
            "sharpness": top.values.double().cpu()}
