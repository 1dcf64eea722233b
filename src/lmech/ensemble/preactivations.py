"""Monte Carlo at initialisation: the preactivations of every layer of many random MLPs.

Network (docs/theory/init.md, §Conventions): z¹ = b¹ + W¹ x and
z^(l+1) = b^(l+1) + W^(l+1) σ(z^(l)), with W^(l) ~ N(0, C_W/n_{l−1}) and b^(l) ~ N(0, C_b),
n_0 the input dimension.

Two exact samplers of the same distribution:
- ``method="weights"`` draws every weight and bias and runs the network;
- ``method="direct"`` uses that, given layer l, the neurons of layer l+1 are independent
  Gaussians across neurons with covariance over inputs
  Ĝ_αβ = C_b + (C_W/n_l) Σ_j σ(z_jα) σ(z_jβ)
  (a sum of Gaussian weights times fixed activations), so it draws z^(l+1) = L ξ with
  L Lᵀ = Ĝ the small (n_inputs × n_inputs) Cholesky factor and ξ standard normal. Its cost
  is linear in the width instead of quadratic, and it draws n_inputs·n numbers per layer
  instead of n².

Source: Roberts, Yaida & Hanin, *Principles of Deep Learning Theory* (arXiv:2106.10165),
§4.1 (the conditional Gaussianity of z^(l+1) given layer l, eq. 4.7 and around).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import torch

from lmech.ensemble._knobs import Knob, check_members, check_nonnegative, per_layer_member
from lmech.errors import LmechError
from lmech.theory import Activation, get_activation

__all__ = ["sample_preactivations"]

METHODS = ("direct", "weights")
DEFAULT_MAX_BYTES = 32 * 2**20  # PERF.md: temporaries above 32 MiB pay for page faults
CACHE_BYTES = 2**19


def sample_preactivations(
    inputs: torch.Tensor,
    *,
    depth: int,
    width: int | Sequence[int],
    activation: str | Activation | Callable,
    C_W: Knob,
    C_b: Knob,
    members: int,
    generator: torch.Generator,
    method: str = "direct",
    chunk_members: int | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    layers: Sequence[int] | None = None,
    device: str | torch.device = "cpu",
) -> list[torch.Tensor]:
    """Preactivations z^(1) … z^(depth) of `members` independent random MLPs on `inputs`.

    Args:
        inputs: ``(n_inputs, n_0)``; its floating dtype is the dtype of the result
            (float32 if it is not floating).
        depth: number of layers L >= 1 (layer l labels preactivations z^(l)).
        width: n_l of every layer, or a list of L widths.
        activation: a name or object for `lmech.theory.get_activation`.
        C_W, C_b: weight and bias variances: a number, a list of L per-layer values, a
            ``(M,)`` per-member tensor, or a ``(L, M)`` tensor (see `ensemble._knobs`).
        members: M, the number of networks.
        generator: the only source of randomness: it seeds one generator per chunk. The
            numbers drawn depend on the chunk size (not on the thread count), so a fixed
            (generator seed, chunk size) repeats exactly.
        method: "direct" (conditional Gaussian, linear in width) or "weights".
        chunk_members: members per chunk; default: as many as keep the largest working
            tensor under `max_bytes` (for "direct", one layer of a chunk under 512 KiB, so
            its elementwise work stays in cache). Chunks run in parallel on
            ``torch.get_num_threads()`` Python threads.
        max_bytes: working-memory budget per tensor of one chunk (the returned tensors are
            extra: L · M · n_inputs · n · itemsize bytes).
        layers: which layers (1-based) to return; default all. Returning only the last
            layer keeps memory at one layer for very large ensembles.
        device: where to compute and return.

    Returns:
        a list with one ``(M, n_inputs, n_l)`` tensor per requested layer.

    Raises:
        LmechError: inputs not 2-d, depth/width/members not positive, unknown activation
            or method, a knob of the wrong length, or a negative variance.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> z = sample_preactivations(torch.ones(1, 3), depth=2, width=4, activation="tanh",
        ...                           C_W=1.0, C_b=0.0, members=5, generator=g)
        >>> [tuple(t.shape) for t in z]
        [(5, 1, 4), (5, 1, 4)]
    """
    plan = _Plan.build(inputs, depth, width, activation, C_W, C_b, members, method, layers)
    dtype = plan.x.dtype
    x = plan.x.to(device)
    out = {
        ell: torch.empty(members, x.shape[0], plan.widths[ell - 1], dtype=dtype, device=device)
        for ell in plan.layers
    }
    chunk = chunk_members or _default_chunk(plan, method, x.shape[0], dtype.itemsize, max_bytes)
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise LmechError(f"chunk_members must be a positive integer, got {chunk_members!r}")
    run = _run_direct if method == "direct" else _run_weights
    starts = list(range(0, members, chunk))
    # Each chunk draws from its own generator, seeded from `generator`: the numbers depend
    # on the chunk size only, not on how many threads process the chunks.
    seeds = torch.randint(0, 2**62, (len(starts),), generator=generator).tolist()

    def one_chunk(j: int) -> None:
        lo, hi = starts[j], min(members, starts[j] + chunk)
        views = {ell: o[lo:hi] for ell, o in out.items()}
        gen = torch.Generator().manual_seed(seeds[j])
        run(plan, x, plan.c_w[:, lo:hi], plan.c_b[:, lo:hi], views, gen)

    workers = min(torch.get_num_threads(), len(starts))
    if workers > 1:  # torch ops release the GIL, so chunks run in parallel
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(one_chunk, range(len(starts))))
    else:
        for j in range(len(starts)):
            one_chunk(j)
    return [out[ell] for ell in plan.layers]


class _Plan:
    """Validated arguments of one call (private)."""

    def __init__(self, x, widths, sigma, c_w, c_b, layers) -> None:
        self.x, self.widths, self.sigma = x, widths, sigma
        self.c_w, self.c_b, self.layers = c_w, c_b, layers

    @classmethod
    def build(cls, inputs, depth, width, activation, c_w, c_b, members, method, layers):
        if not isinstance(inputs, torch.Tensor) or inputs.dim() != 2 or inputs.shape[0] < 1:
            shape = tuple(inputs.shape) if isinstance(inputs, torch.Tensor) else type(inputs)
            raise LmechError(f"inputs must be a (n_inputs, n_0) tensor, got {shape}")
        x = inputs.detach() if inputs.is_floating_point() else inputs.detach().float()
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
            raise LmechError(f"depth must be an integer >= 1, got {depth!r}")
        widths = list(width) if isinstance(width, (list, tuple)) else [width] * depth
        if len(widths) != depth or any(
            isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in widths
        ):
            raise LmechError(
                f"width must be a positive integer or a list of depth = {depth} of them, "
                f"got {width!r}"
            )
        members = check_members(members)
        if method not in METHODS:
            raise LmechError(f"method must be one of {METHODS}, got {method!r}")
        layers = list(range(1, depth + 1)) if layers is None else list(layers)
        if not layers or any(not isinstance(ell, int) or not 1 <= ell <= depth for ell in layers):
            raise LmechError(f"layers must be integers in 1..depth = {depth}, got {layers!r}")
        c_w = check_nonnegative(per_layer_member(c_w, "C_W", depth, members), "C_W")
        c_b = check_nonnegative(per_layer_member(c_b, "C_b", depth, members), "C_b")
        sigma = get_activation(activation)
        return cls(x, widths, sigma, c_w, c_b, layers)

    @property
    def depth(self) -> int:
        return len(self.widths)


def _default_chunk(plan: _Plan, method: str, n_inputs: int, itemsize: int, max_bytes: int) -> int:
    per_member = max(max(n_inputs * n * itemsize for n in plan.widths), n_inputs**2 * 8 * 3)
    if method == "direct":  # elementwise work: keep one layer of a chunk in the CPU cache
        return max(1, min(plan.c_w.shape[1], min(max_bytes, CACHE_BYTES) // per_member))
    if method == "weights":
        fan_ins = [plan.x.shape[1]] + plan.widths[:-1]
        per_member = max(per_member, *(f * n * itemsize for f, n in zip(fan_ins, plan.widths,
                                                                        strict=True)))
    return max(1, min(plan.c_w.shape[1], max_bytes // per_member))


def _run_direct(plan: _Plan, x, c_w, c_b, out: dict, generator) -> None:
    """Fill `out[l]` ``(m, n_inputs, n_l)`` by sampling each layer given the previous one."""
    m = c_w.shape[1]
    gram = (x.double() @ x.double().T / x.shape[1]).expand(m, -1, -1)  # (m, n_in, n_in)
    z = None
    for ell in range(1, plan.depth + 1):
        if ell > 1:
            s = _activate(plan.sigma, z)  # (m, n_inputs, n_{ell-1})
            if s.shape[1] == 1:  # a batched 1×1 matmul is much slower than a reduction
                gram = torch.linalg.vector_norm(s, dim=-1, keepdim=True).double().square_()
            else:  # in float64: float32 rounding of a nearly singular Gram matrix would
                # decorrelate nearby inputs by ~√ε ≈ 2e-4 per layer through its Cholesky factor
                s = s.double()
                gram = s @ s.transpose(-1, -2)
            gram /= s.shape[-1]
        cov = c_b[ell - 1, :, None, None] + c_w[ell - 1, :, None, None] * gram
        z = out[ell] if ell in out else None
        z = _gaussian_rows(cov, plan.widths[ell - 1], generator, z, x)


def _activate(sigma, z: torch.Tensor) -> torch.Tensor:
    """σ(z) by the activation's fast torch form where it has one (tanh as 2·sigmoid(2z) − 1:
    σ was a quarter of the sampler's time); `sigma` is an `Activation` or a callable."""
    fast = getattr(sigma, "fast_torch", None)
    return sigma(z) if fast is None else fast(z)


def _gaussian_rows(cov, n, generator, buffer, like) -> torch.Tensor:
    """``(m, k, n)`` with columns i.i.d. N(0, cov[m]): L ξ, L Lᵀ = cov. Writes into buffer."""
    m, k, _ = cov.shape
    if buffer is None:
        buffer = torch.empty(m, k, n, dtype=like.dtype, device=like.device)
    if buffer.device.type == "cpu":
        torch.randn(buffer.shape, generator=generator, dtype=buffer.dtype, out=buffer)
    else:
        buffer.copy_(torch.randn(buffer.shape, generator=generator, dtype=buffer.dtype))
    if k == 1:
        buffer.mul_(cov.clamp_min(0).sqrt().to(buffer.dtype))
        return buffer
    buffer.copy_(_psd_sqrt(cov).to(buffer.dtype) @ buffer)
    return buffer


def _psd_sqrt(cov: torch.Tensor) -> torch.Tensor:
    """A factor L with L Lᵀ = cov for a batch of PSD matrices (Cholesky; eigh if singular)."""
    chol, info = torch.linalg.cholesky_ex(cov)
    bad = info != 0
    if bad.any():
        vals, vecs = torch.linalg.eigh(cov[bad])
        chol[bad] = vecs * vals.clamp_min(0).sqrt().unsqueeze(-2)
    return chol


def _run_weights(plan: _Plan, x, c_w, c_b, out: dict, generator) -> None:
    """Fill `out[l]` by drawing W^(l) ``(m, n_l, n_{l-1})``, b^(l) and running the network."""
    m = c_w.shape[1]
    a = x.expand(m, -1, -1)  # (m, n_inputs, n_0)
    for ell in range(1, plan.depth + 1):
        fan_in, n = a.shape[-1], plan.widths[ell - 1]
        w = _randn((m, n, fan_in), generator, x)
        w.mul_((c_w[ell - 1] / fan_in).sqrt().to(x.dtype).view(m, 1, 1))
        b = _randn((m, 1, n), generator, x)
        b.mul_(c_b[ell - 1].sqrt().to(x.dtype).view(m, 1, 1))
        z = torch.baddbmm(b, a, w.transpose(-1, -2))  # (m, n_inputs, n_l)
        if ell in out:
            out[ell].copy_(z)
        a = plan.sigma(z)


def _randn(shape, generator, like) -> torch.Tensor:
    return torch.randn(shape, generator=generator, dtype=like.dtype).to(like.device)
