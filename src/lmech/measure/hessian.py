"""Curvature of a loss: Hessian–vector products, top eigenpairs, trace and spectral density.

All tools see the Hessian H = ∇²_θ L(θ) of `loss_fn(model(x), y)` with respect to the
model's parameters that require grad, flattened in `model.parameters()` order, only
through Hessian–vector products Hv = ∇_θ(∇_θL · v) (Pearlmutter 1994). The gradient graph
is built once per call and reused by every product, so one product costs one extra
backward pass. `batch` is one ``(inputs, targets)`` pair, or an iterable of such pairs
(a data loader); with several batches the loss is the size-weighted mean of the batch
losses (exact when `loss_fn` takes a mean over its batch).

- `top_eigenvalues`: the k largest eigenvalues (descending) and eigenvectors, by Lanczos
  with full reorthogonalisation, stopped when every residual ‖Hv − λv‖ <= tol·|λ|.
- `hessian_trace`: Hutchinson's estimator tr H ≈ mean_j z_jᵀHz_j with Rademacher z_j, and
  its standard error.
- `spectral_density`: stochastic Lanczos quadrature (Ghorbani, Krishnan & Xiao 2019).
- `preconditioned_sharpness`: λ_max(P⁻¹H) with Adam's P = diag(√v̂ + ε) (Cohen et al. 2022).

Source: B. A. Pearlmutter, Neural Comput. 6 (1994) 147; M. F. Hutchinson, Commun. Stat.
Simul. Comput. 19 (1990) 433; B. Ghorbani, S. Krishnan, Y. Xiao, ICML 2019
(arXiv:1901.10159), §3; J. M. Cohen et al., arXiv:2207.14484 (2022), §2.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from lmech.errors import LmechError
from lmech.measure._lanczos import lanczos

__all__ = [
    "HessianOperator",
    "SharpnessTracker",
    "SpectralDensity",
    "TraceEstimate",
    "adam_preconditioner",
    "hessian_trace",
    "hessian_vector_product",
    "preconditioned_sharpness",
    "spectral_density",
    "top_eigenvalues",
]

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _trainable(model: nn.Module) -> list[torch.Tensor]:
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise LmechError(
            f"model {type(model).__name__} has no parameters that require grad; the Hessian "
            "is taken with respect to trainable parameters"
        )
    return params


def _batches(batch) -> list[tuple[torch.Tensor, torch.Tensor]]:
    if isinstance(batch, (tuple, list)) and len(batch) == 2 and all(
        isinstance(t, torch.Tensor) for t in batch
    ):
        return [(batch[0], batch[1])]
    if not isinstance(batch, Iterable):
        raise LmechError("batch must be an (inputs, targets) pair or an iterable of such pairs")
    out = [tuple(b) for b in batch]
    if not out or any(len(b) != 2 for b in out):
        raise LmechError("batch must be an (inputs, targets) pair or an iterable of such pairs")
    return out


class HessianOperator:
    """v ↦ Hv for the loss of `model` on `batch` at the model's current parameters.

    The gradient graph of each batch is built on first use and kept, so every product
    costs one backward pass per batch. Vectors are flat, shape ``(n_params,)``, in the
    parameters' dtype and device. Rebuild the operator after the parameters change.

    Example:
        >>> model = nn.Linear(3, 1, bias=False)
        >>> x, y = torch.eye(3), torch.zeros(3, 1)
        >>> op = HessianOperator(model, nn.functional.mse_loss, (x, y))
        >>> op(torch.tensor([1.0, 0.0, 0.0]))  # H = (2/3) I for the mean squared error
        tensor([0.6667, 0.0000, 0.0000])
    """

    def __init__(self, model: nn.Module, loss_fn: LossFn, batch) -> None:
        self.model = model
        self.loss_fn = loss_fn
        self.batch = batch
        self.n_matvec_ = 0
        self._grads: list[tuple[float, tuple[torch.Tensor, ...]]] | None = None

    @property
    def params(self) -> list[torch.Tensor]:
        return _trainable(self.model)

    @property
    def dim(self) -> int:
        return sum(p.numel() for p in self.params)

    def _gradient_graphs(self) -> list[tuple[float, tuple[torch.Tensor, ...]]]:
        if self._grads is None:
            params, batches = self.params, _batches(self.batch)
            total = sum(len(x) for x, _ in batches)
            self._grads = []
            for x, y in batches:
                loss = self.loss_fn(self.model(x), y)
                grads = torch.autograd.grad(loss, params, create_graph=True)
                self._grads.append((len(x) / total, grads))
        return self._grads

    def gradient(self) -> torch.Tensor:
        """∇L, flat, shape ``(n_params,)``."""
        return sum(w * torch.cat([g.detach().reshape(-1) for g in gs])
                   for w, gs in self._gradient_graphs())

    def __call__(self, vector: torch.Tensor) -> torch.Tensor:
        params = self.params
        if vector.shape != (self.dim,):
            raise LmechError(f"vector must have shape ({self.dim},), got {tuple(vector.shape)}")
        pieces = torch.split(vector.detach(), [p.numel() for p in params])
        out = None
        for w, grads in self._gradient_graphs():
            dot = sum((g * v.view_as(g)).sum() for g, v in zip(grads, pieces, strict=True))
            hv = torch.autograd.grad(dot, params, retain_graph=True)
            flat = torch.cat([h.reshape(-1) for h in hv])
            out = w * flat if out is None else out + w * flat
        self.n_matvec_ += 1
        return out


def hessian_vector_product(
    model: nn.Module, loss_fn: LossFn, batch, vector: torch.Tensor
) -> torch.Tensor:
    """Hv for a flat vector v, shape ``(n_params,)`` (one product; see `HessianOperator`)."""
    return HessianOperator(model, loss_fn, batch)(vector)


def _start_vector(dim: int, like: torch.Tensor, generator, init) -> torch.Tensor:
    if init is not None:
        init = torch.as_tensor(init, dtype=like.dtype, device=like.device).reshape(-1)
        if init.numel() != dim or float(torch.linalg.vector_norm(init)) == 0:
            raise LmechError(f"init must be a nonzero vector of {dim} entries")
        return init
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    return torch.randn(dim, generator=gen, dtype=like.dtype).to(like.device)


def _top_of(op: Callable, dim: int, like: torch.Tensor, k: int, tol: float, max_iter: int,
            generator, init) -> tuple[torch.Tensor, torch.Tensor, int]:
    if not 1 <= k <= dim:
        raise LmechError(f"k must be between 1 and the number of parameters {dim}, got {k}")
    if not 0 < tol < 1:
        raise LmechError(f"tol must be in (0, 1), got {tol}")
    if max_iter < k:
        raise LmechError(f"max_iter must be >= k = {k}, got {max_iter}")
    result = lanczos(op, _start_vector(dim, like, generator, init), max_iter, k=k, tol=tol)
    index = torch.arange(result.ritz_values.numel() - 1, result.ritz_values.numel() - 1 - k, -1)
    values = result.ritz_values[index]
    converged = bool(torch.all(result.residuals[index] <= tol * values.abs()))
    if not converged and result.n_matvec < dim:
        raise LmechError(
            f"Lanczos did not reach the residual tolerance {tol:g} within max_iter = "
            f"{max_iter} Hessian–vector products; raise max_iter or tol"
        )
    vectors = result.ritz_vectors(index)
    return values, vectors / torch.linalg.vector_norm(vectors, dim=1, keepdim=True), \
        result.n_matvec


def top_eigenvalues(
    model: nn.Module,
    loss_fn: LossFn,
    batch,
    k: int = 1,
    *,
    tol: float = 1e-3,
    max_iter: int = 200,
    generator: torch.Generator | None = None,
    init: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The k largest (algebraic) Hessian eigenvalues, descending, and their eigenvectors.

    Lanczos with full reorthogonalisation from a Gaussian start (or `init`), stopped when
    each of the k Ritz pairs has residual ‖Hv − λv‖ <= tol·|λ| (then |λ − λ_true| <= tol|λ|,
    and much less when λ is separated from the rest of the spectrum).

    Args:
        model, loss_fn, batch: see the module docstring.
        k: how many eigenpairs, 1 <= k <= number of trainable parameters.
        tol: relative residual tolerance in (0, 1).
        max_iter: at most this many Hessian–vector products.
        generator: draws the random start vector (default: a fixed seed).
        init: start vector ``(n_params,)`` instead (e.g. the previous top eigenvector).

    Returns:
        eigenvalues ``(k,)`` float64, eigenvectors ``(k, n_params)`` of unit norm.

    Raises:
        LmechError: no trainable parameters, k out of range, bad tol or init.
    """
    op = HessianOperator(model, loss_fn, batch)
    params = op.params
    values, vectors, _ = _top_of(op, op.dim, params[0], k, tol, max_iter, generator, init)
    return values, vectors


class TraceEstimate(NamedTuple):
    """An estimate and its standard error."""

    value: float
    stderr: float


def hessian_trace(
    model: nn.Module,
    loss_fn: LossFn,
    batch,
    n_probes: int = 100,
    *,
    generator: torch.Generator | None = None,
) -> TraceEstimate:
    """Hutchinson's estimate of tr H with its standard error.

        tr H = E[zᵀHz],  z_i = ±1 independently;  stderr = std_j(z_jᵀHz_j)/√n_probes

    Source: Hutchinson 1990; Rademacher probes minimise the variance, 2 Σ_{i≠j} H_ij².
    """
    if n_probes < 2:
        raise LmechError(f"n_probes must be >= 2 for a standard error, got {n_probes}")
    op = HessianOperator(model, loss_fn, batch)
    like = op.params[0]
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    samples = []
    for _ in range(n_probes):
        z = torch.randint(0, 2, (op.dim,), generator=gen).to(like) * 2 - 1
        samples.append(float(torch.dot(z, op(z))))
    s = np.asarray(samples)
    return TraceEstimate(float(s.mean()), float(s.std(ddof=1) / np.sqrt(n_probes)))


class SpectralDensity(NamedTuple):
    """Stochastic Lanczos quadrature of the Hessian's eigenvalue density.

    Attributes:
        nodes: ``(n_probes, m)`` Ritz values of each probe's Lanczos run.
        weights: ``(n_probes, m)`` their Gauss-quadrature weights; each row sums to 1.
    """

    nodes: np.ndarray
    weights: np.ndarray

    def density(self, grid, sigma: float) -> np.ndarray:
        """Eigenvalue density on `grid`, each node smeared by a Gaussian of width sigma.

        φ(t) = (1/n_probes) Σ_l Σ_j w_lj N(t; θ_lj, σ²), which integrates to 1.
        """
        t = np.asarray(grid, dtype=np.float64)[..., None, None]
        g = np.exp(-0.5 * ((t - self.nodes) / sigma) ** 2) / (sigma * np.sqrt(2 * np.pi))
        return (g * self.weights).sum(axis=(-1, -2)) / self.nodes.shape[0]

    def moment(self, power: int) -> float:
        """Estimate of (1/n_params) tr Hᵖ, exact per probe for power <= 2m − 1."""
        return float((self.weights * self.nodes**power).sum(axis=1).mean())


def spectral_density(
    model: nn.Module,
    loss_fn: LossFn,
    batch,
    n_probes: int = 10,
    n_steps: int = 50,
    *,
    generator: torch.Generator | None = None,
) -> SpectralDensity:
    """Eigenvalue density of H by stochastic Lanczos quadrature.

    For a Gaussian probe v (normalised), m Lanczos steps give the Gauss quadrature
    vᵀf(H)v ≈ Σ_j w_j f(θ_j) with nodes θ_j (the Ritz values) and weights w_j = s_{1j}²;
    averaging over probes estimates (1/n) tr f(H) = ∫ f(λ) φ(λ) dλ.

    Source: Ghorbani, Krishnan & Xiao, ICML 2019 (arXiv:1901.10159), §3, eq. 5;
    Golub & Meurant 2010, ch. 6.
    """
    if n_probes < 1 or n_steps < 1:
        raise LmechError(f"n_probes and n_steps must be >= 1, got {n_probes}, {n_steps}")
    op = HessianOperator(model, loss_fn, batch)
    like = op.params[0]
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    m = min(n_steps, op.dim)
    nodes, weights = np.zeros((n_probes, m)), np.zeros((n_probes, m))
    for i in range(n_probes):
        run = lanczos(op, torch.randn(op.dim, generator=gen, dtype=like.dtype).to(like), m)
        j = run.ritz_values.numel()  # fewer than m if the Krylov space closed early
        nodes[i, :j] = run.ritz_values.numpy()
        weights[i, :j] = run.ritz_first.numpy() ** 2
    return SpectralDensity(nodes, weights)


def adam_preconditioner(optimizer: torch.optim.Optimizer, params: list[torch.Tensor]):
    """Adam's diagonal P = √v̂ + ε, v̂ = v/(1 − β₂ᵗ), flat ``(n_params,)``, from its state."""
    settings = {id(p): g for g in optimizer.param_groups for p in g["params"]}
    pieces = []
    for p in params:
        state = optimizer.state.get(p, {})
        if id(p) not in settings or "exp_avg_sq" not in state:
            raise LmechError(
                "optimizer must be an Adam-type optimizer over the model's parameters that "
                "has taken at least one step (its state holds exp_avg_sq)"
            )
        group = settings[id(p)]
        step = float(state["step"])
        v_hat = state["exp_avg_sq"] / (1 - group["betas"][1] ** step)
        pieces.append((v_hat.sqrt() + group["eps"]).reshape(-1))
    return torch.cat(pieces).detach()


def preconditioned_sharpness(
    model: nn.Module,
    loss_fn: LossFn,
    batch,
    optimizer: torch.optim.Optimizer,
    *,
    tol: float = 1e-3,
    max_iter: int = 200,
    generator: torch.Generator | None = None,
) -> float:
    """λ_max(P⁻¹H) with Adam's preconditioner P = diag(√v̂ + ε).

    Computed as λ_max of the symmetric P^{-1/2} H P^{-1/2} (same spectrum). Adam with a
    frozen P is stable while this is below (2 + 2β₁)/((1 − β₁)η)
    (docs/theory/dynamics.md, §Stability thresholds).

    Source: Cohen et al., "Adaptive gradient methods at the edge of stability",
    arXiv:2207.14484, §2.
    """
    op = HessianOperator(model, loss_fn, batch)
    params = op.params
    scale = adam_preconditioner(optimizer, params).rsqrt()  # P^{-1/2}

    def matvec(v: torch.Tensor) -> torch.Tensor:
        return scale * op(scale * v)

    values, _, _ = _top_of(matvec, op.dim, params[0], 1, tol, max_iter, generator, None)
    return float(values[0])


class SharpnessTracker:
    """Records the sharpness λ_max(H) (or λ_max(P⁻¹H) for Adam) during ordinary training.

    Call `step(iteration)` once per training step; every `every` steps it measures the top
    eigenvalue on `batch`, starting Lanczos from the previous top eigenvector, which is
    close to the new one when the parameters moved little, so each measurement needs far
    fewer Hessian–vector products than a cold start.

    Args:
        model, loss_fn, batch: see the module docstring.
        every: measure at iterations divisible by `every` (>= 1).
        tol, max_iter: as in `top_eigenvalues`.
        optimizer: an Adam-type optimizer to track the preconditioned sharpness instead.
        generator: draws the first start vector.

    Attributes (after measuring):
        iterations_: the iterations measured; sharpness_: their sharpness values;
        eigenvector_: the latest top eigenvector (preconditioned coordinates for Adam);
        n_hvp_: Hessian–vector products used so far.

    Example:
        >>> model = nn.Linear(3, 1)
        >>> x, y = torch.randn(8, 3, generator=torch.Generator().manual_seed(0)), torch.zeros(8, 1)
        >>> tracker = SharpnessTracker(model, nn.functional.mse_loss, (x, y), every=5)
        >>> for it in range(10):
        ...     _ = tracker.step(it)
        >>> tracker.iterations_
        [0, 5]
    """

    def __init__(self, model: nn.Module, loss_fn: LossFn, batch, *, every: int = 10,
                 tol: float = 1e-3, max_iter: int = 200,
                 optimizer: torch.optim.Optimizer | None = None,
                 generator: torch.Generator | None = None) -> None:
        if every < 1:
            raise LmechError(f"every must be >= 1, got {every}")
        self.model = model
        self.loss_fn = loss_fn
        self.batch = batch
        self.every = every
        self.tol = tol
        self.max_iter = max_iter
        self.optimizer = optimizer
        self.generator = generator
        self.iterations_: list[int] = []
        self.sharpness_: list[float] = []
        self.eigenvector_: torch.Tensor | None = None
        self.n_hvp_ = 0

    def step(self, iteration: int) -> float | None:
        """Measure if `iteration` is on the cadence; returns the sharpness or None."""
        if iteration % self.every:
            return None
        return self.measure(iteration)

    def measure(self, iteration: int) -> float:
        """Measure now, warm-starting from the previous eigenvector, and record it."""
        op = HessianOperator(self.model, self.loss_fn, self.batch)
        params = op.params
        matvec = op
        if self.optimizer is not None:
            scale = adam_preconditioner(self.optimizer, params).rsqrt()

            def matvec(v: torch.Tensor) -> torch.Tensor:
                return scale * op(scale * v)

        values, vectors, used = _top_of(matvec, op.dim, params[0], 1, self.tol, self.max_iter,
                                        self.generator, self.eigenvector_)
        self.eigenvector_ = vectors[0]
        self.n_hvp_ += used
        self.iterations_.append(int(iteration))
        self.sharpness_.append(float(values[0]))
        return float(values[0])
