"""The sharpness λ_max(∇²L_m) of every member of an ensemble at once.

Members share no parameters, so the Hessian of Σ_m L_m(θ_m) with respect to the stacked
parameters is block diagonal, one block ∇²L_m per member. One Hessian–vector product of
the sum (Pearlmutter's double backward) is therefore every member's own product at once,
and a Lanczos recurrence run per member with per-member inner products
(`lmech.measure._batched_lanczos`) gives every member's top eigenvalue from the same
products: the cost of one member's Lanczos, with M-fold batched arithmetic.

Source: B. A. Pearlmutter, Neural Comput. 6 (1994) 147 (Hv by double backward);
Golub & Van Loan, *Matrix Computations* (4th ed.), §10.1 (Lanczos); the sharpness as the
edge-of-stability observable: J. M. Cohen et al., ICLR 2021 (arXiv:2103.00065).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from lmech.errors import LmechError
from lmech.measure._batched_lanczos import TopEigenpairs, batched_lanczos
from lmech.measure.tracking import TrainingStep, check_every, on_cadence

__all__ = ["EnsembleSharpness", "StackedHessian", "ensemble_top_eigenvalues"]

Params = dict[str, torch.Tensor]
Objective = Callable[[Params, Any], torch.Tensor]


class StackedHessian:
    """v ↦ (∇²L_m v_m)_m for ``v (M, D)``: every member's Hessian–vector product at once.

    The parameters are flattened per member in the dict's order (D = Σ numel / M). The
    gradient graph is built once, at construction, and reused by every product.

    Args:
        objective: ``objective(params, batch) -> (M,)`` per-member loss.
        params: name → ``(M, …)``, the point at which the Hessian is taken.
        batch: what the objective reads.
    """

    def __init__(self, objective: Objective, params: Params, batch: Any) -> None:
        self.params = {k: v.detach().requires_grad_() for k, v in params.items()}
        self.sizes = [p[0].numel() for p in self.params.values()]
        with torch.enable_grad():
            loss = objective(self.params, batch)
            if loss.dim() != 1:
                raise LmechError(f"the objective must return one loss per member (M,), got "
                                 f"shape {tuple(loss.shape)}")
            self.grads = torch.autograd.grad(loss.sum(), list(self.params.values()),
                                             create_graph=True, materialize_grads=True)
        self.n_matvec_ = 0

    @property
    def dim(self) -> int:
        return sum(self.sizes)

    def __call__(self, vector: torch.Tensor) -> torch.Tensor:
        pieces = torch.split(vector.detach(), self.sizes, dim=1)
        with torch.enable_grad():
            dot = sum((g * v.view_as(g)).sum() for g, v in
                      zip(self.grads, pieces, strict=True))
            hv = torch.autograd.grad(dot, list(self.params.values()), retain_graph=True,
                                     materialize_grads=True)
        self.n_matvec_ += 1
        return torch.cat([h.flatten(1) for h in hv], 1)


def ensemble_top_eigenvalues(
    objective: Objective,
    params: Params,
    batch: Any,
    *,
    tol: float = 1e-3,
    max_iter: int = 200,
    init: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> TopEigenpairs:
    """λ_max of ∇²L_m for every member m, and its eigenvector, by batched Lanczos.

    Each member's Lanczos stops when its top Ritz pair has residual ‖H_m v − λv‖ <=
    tol·|λ| (then |λ − λ_true| <= tol·|λ|, and far less when λ is well separated).

    Args:
        objective, params, batch: see `StackedHessian`.
        tol: relative residual tolerance in (0, 1).
        max_iter: at most this many Hessian–vector products.
        init: ``(M, D)`` start vectors (e.g. the previous eigenvectors), else Gaussian.
        generator: draws the Gaussian start (default: a fixed seed).

    Returns:
        `TopEigenpairs`: values ``(M,)``, unit vectors ``(M, D)``, converged ``(M,)`` …

    Example:
        >>> scale = torch.tensor([1.0, 4.0], dtype=torch.float64)  # member m: ∇²L = s_m·D
        >>> def objective(p, batch):
        ...     return 0.5 * scale * (p["w"] ** 2 * torch.tensor([1.0, 2.0, 0.5])).sum(1)
        >>> w = {"w": torch.zeros(2, 3, dtype=torch.float64)}
        >>> [round(v, 9) for v in ensemble_top_eigenvalues(objective, w, None).values.tolist()]
        [2.0, 8.0]
    """
    if not 0 < tol < 1:
        raise LmechError(f"tol must be in (0, 1), got {tol}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise LmechError(f"max_iter must be an integer >= 1, got {max_iter!r}")
    op = StackedHessian(objective, params, batch)
    like = next(iter(op.params.values()))
    m = like.shape[0]
    if init is None:
        gen = generator if generator is not None else torch.Generator().manual_seed(0)
        init = torch.randn(m, op.dim, generator=gen, dtype=like.dtype).to(like.device)
    elif tuple(init.shape) != (m, op.dim) or \
            not bool((torch.linalg.vector_norm(init, dim=1) > 0).all()):
        raise LmechError(f"init must be (M, D) = ({m}, {op.dim}) with no zero row, got "
                         f"{tuple(init.shape)}")
    return batched_lanczos(op, init.to(like), max_iter, tol)


class EnsembleSharpness:
    """Records every member's sharpness λ_max(∇²L_m) during `lmech.ensemble.train`.

    Measures at steps start, start + every, … (θ_k, before update k), on `batch`, or on the
    whole training set when there is one, else on the step's batch. Each measurement starts
    Lanczos from the member's previous top eigenvector (the parameters moved little, so it
    needs few products); the first from a Gaussian drawn from the member's "probe" stream.

    Args:
        every: steps between measurements (>= 1).
        start: first step measured.
        batch: a fixed batch to measure on, instead of the training set.
        tol, max_iter: as in `ensemble_top_eigenvalues`.

    Records: ``steps (T,)``, ``sharpness (M, T)`` float64, ``converged (M, T)`` bool (a
    measurement that reached `max_iter` first is kept, flagged False), ``n_hvp (T,)``.
    """

    def __init__(self, every: int = 10, *, start: int = 0, batch: Any = None,
                 tol: float = 1e-3, max_iter: int = 200) -> None:
        self.every = check_every(every)
        self.start = start
        self.batch = batch
        self.tol = tol
        self.max_iter = max_iter
        self._steps: list[int] = []
        self._values: list[torch.Tensor] = []
        self._converged: list[torch.Tensor] = []
        self._hvp: list[int] = []
        self.eigenvectors_: torch.Tensor | None = None

    def observe(self, s: TrainingStep) -> None:
        if not on_cadence(s.step, self.every, self.start):
            return
        batch = self.batch if self.batch is not None else \
            s.data if s.data is not None else s.batch
        init = self.eigenvectors_
        norms = None if init is None else torch.linalg.vector_norm(init, dim=1)
        if init is None or not bool((norms > 0).all() & torch.isfinite(norms).all()):
            like = next(iter(s.params.values()))
            dim = sum(p[0].numel() for p in s.params.values())
            fresh = s.streams.randn("probe", dim, dtype=like.dtype).to(like.device)
            # a member without a usable previous eigenvector (none yet, or a failed one)
            init = fresh if init is None else \
                torch.where(((norms > 0) & torch.isfinite(norms))[:, None], init, fresh)
        result = ensemble_top_eigenvalues(s.objective, s.params, batch, tol=self.tol,
                                          max_iter=self.max_iter, init=init)
        self.eigenvectors_ = result.vectors
        self._steps.append(s.step)
        self._values.append(result.values)
        self._converged.append(result.converged)
        self._hvp.append(result.n_matvec)

    def records(self) -> dict[str, torch.Tensor]:
        def stack(xs, dtype):
            return torch.stack(xs, 1) if xs else torch.zeros(0, 0, dtype=dtype)

        return {"steps": torch.tensor(self._steps, dtype=torch.long),
                "sharpness": stack(self._values, torch.float64),
                "converged": stack(self._converged, torch.bool),
                "n_hvp": torch.tensor(self._hvp, dtype=torch.long)}
