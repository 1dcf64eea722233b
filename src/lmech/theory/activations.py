"""Elementwise activations, each one object: σ, σ', a fast torch form, closed forms.

One object per activation (the model is neural-tangents' `stax/elementwise.py`): the
function on numpy arrays and torch tensors, its derivative, a fast in-place torch form for
hot loops, and its closed-form Gaussian expectations where known (`GaussianForms`);
`lmech.theory.gaussian` computes by quadrature whatever an activation leaves out.

Adding an activation touches this file only: write its `Activation` (with the closed forms
that are known, else none) and add its factory to `ACTIVATIONS`. An `Activation` built
anywhere else (a user's file, a test) works too, through quadrature.

Names: linear, relu, leaky_relu (slope, default 0.01), tanh, erf, sigmoid, softplus,
gelu, swish (= silu), sin. `get_activation` also accepts any callable working on numpy
arrays (and, for use in networks, on torch tensors).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from scipy import special

from lmech.errors import LmechError

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "FastForm",
    "GaussianForms",
    "get_activation",
    "scale_invariant_forms",
]

_Pair = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
_Single = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class GaussianForms:
    """Closed-form Gaussian expectations of σ; None where none is known (quadrature).

    z ~ N(0, K); (u, v) ~ N(0, [[K11, K12], [K12, K22]]); arguments are float64 arrays
    that broadcast.

    Attributes:
        sigma_sigma: (K11, K12, K22) ↦ <σ(u)σ(v)>.
        dsigma_dsigma: (K11, K12, K22) ↦ <σ'(u)σ'(v)>.
        sigma2: K ↦ <σ²>_K.
        sigma4: K ↦ <σ⁴>_K.
        dsigma2: K ↦ <σ'²>_K.
        sigma2_dK: K ↦ d<σ²>_K/dK = <σ²(z)(z² − K)>_K/(2K²), i.e. χ∥/C_W
            (PDLT, arXiv:2106.10165, eq. 5.10).
    """

    sigma_sigma: _Pair | None = field(default=None, repr=False)
    dsigma_dsigma: _Pair | None = field(default=None, repr=False)
    sigma2: _Single | None = field(default=None, repr=False)
    sigma4: _Single | None = field(default=None, repr=False)
    dsigma2: _Single | None = field(default=None, repr=False)
    sigma2_dK: _Single | None = field(default=None, repr=False)


@dataclass(frozen=True)
class FastForm:
    """σ(z) = g(s·z) for hot loops without autograd. The scale s is a power of two, so s·z
    is exact and a caller may fold it into the matmul that produces z; `outer(y, out=None)`
    returns g(y), written into `out` when one is given (`out` may be y: in place).

    Example:
        >>> get_activation("relu").fast_torch(torch.tensor([-1.0, 2.0])).tolist()
        [0.0, 2.0]
    """

    scale: float
    outer: Callable[..., torch.Tensor] = field(repr=False)

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        """σ(z), in a new tensor unless σ is the identity."""
        if self.scale == 1:
            return self.outer(z)
        y = z * self.scale
        return self.outer(y, y)


@dataclass(frozen=True)
class Activation:
    """An elementwise activation σ.

    Attributes:
        name: its name ("relu", "leaky_relu(0.1)", or a callable's name).
        numpy: σ on numpy arrays (float64).
        torch: σ on torch tensors.
        params: its parameters (e.g. {"slope": 0.1} for leaky_relu).
        derivative: σ' on numpy arrays, or None when not known in closed form.
        slopes: (a₊, a₋) for a scale-invariant σ(z) = a₊z (z > 0), a₋z (z < 0), else None.
        fast_torch: a faster torch form for hot loops (`FastForm`), or None.
        backward_from_output: (δ, a) ↦ δ·σ'(z) from the output a = σ(z), written into δ,
            for engines that keep only σ(z) (tanh' = 1 − a², relu' = [a > 0]); or None.
        gaussian: its closed-form Gaussian expectations (`GaussianForms`).
    """

    name: str
    numpy: Callable[[np.ndarray], np.ndarray] = field(repr=False)
    torch: Callable[[torch.Tensor], torch.Tensor] = field(repr=False)
    params: dict[str, Any] = field(default_factory=dict)
    derivative: Callable[[np.ndarray], np.ndarray] | None = field(default=None, repr=False)
    slopes: tuple[float, float] | None = None
    fast_torch: FastForm | None = field(default=None, repr=False)
    backward_from_output: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = field(
        default=None, repr=False)
    gaussian: GaussianForms = field(default_factory=GaussianForms, repr=False)

    def __call__(self, x):
        """σ(x) for a torch tensor or anything numpy accepts."""
        return self.torch(x) if isinstance(x, torch.Tensor) else self.numpy(np.asarray(x))


# ---- scale-invariant σ(z) = a₊z (z > 0), a₋z (z < 0): the arc-cosine kernels ----

def _arccos_terms(K11, K12, K22):
    norm = np.sqrt(K11 * K22)
    with np.errstate(divide="ignore", invalid="ignore"):
        cos = np.clip(np.where(norm > 0, K12 / norm, 1.0), -1.0, 1.0)
    theta = np.arccos(cos)
    return norm, cos, theta


def _j(norm, cos, theta):
    return norm / (2 * math.pi) * (np.sqrt(1.0 - cos * cos) + (math.pi - theta) * cos)


def scale_invariant_forms(ap: float, am: float) -> GaussianForms:
    """Closed forms of σ(z) = a₊z (z > 0), a₋z (z < 0), with cos θ = K12/√(K11K22),
    J(K12) = √(K11K22)/(2π)·[sin θ + (π − θ) cos θ], A_k = (a₊^k + a₋^k)/2:

        <σ(u)σ(v)> = (a₊² + a₋²) J(K12) − 2a₊a₋ J(−K12),
        <σ'(u)σ'(v)> = [(a₊² + a₋²)(π − θ) + 2a₊a₋ θ]/(2π),
        <σ²>_K = A₂K, <σ⁴>_K = 3A₄K², <σ'²>_K = d<σ²>_K/dK = A₂.

    Source: Cho & Saul 2009, "Kernel methods for deep learning" (arc-cosine kernels of
    degree 0 and 1); PDLT (arXiv:2106.10165) §5.2.

    Example:
        >>> float(scale_invariant_forms(1.0, 0.0).sigma_sigma(1.0, 1.0, 1.0))
        0.5
    """
    a2, a4 = (ap**2 + am**2) / 2, (ap**4 + am**4) / 2

    def sigma_sigma(K11, K12, K22):
        norm, cos, theta = _arccos_terms(K11, K12, K22)
        # J(−K12): θ → π − θ, cos → −cos
        return (ap**2 + am**2) * _j(norm, cos, theta) - 2 * ap * am * _j(norm, -cos,
                                                                          math.pi - theta)

    def dsigma_dsigma(K11, K12, K22):
        _, _, theta = _arccos_terms(K11, K12, K22)
        return ((ap**2 + am**2) * (math.pi - theta) + 2 * ap * am * theta) / (2 * math.pi)

    def constant(K):
        return np.full(np.shape(K), a2)

    return GaussianForms(sigma_sigma, dsigma_dsigma, sigma2=lambda K: a2 * K,
                         sigma4=lambda K: 3 * a4 * K * K, dsigma2=constant, sigma2_dK=constant)


def _scale_invariant(name: str, numpy, torch_fn, ap: float, am: float, **kw) -> Activation:
    return Activation(name, numpy, torch_fn, derivative=lambda x: np.where(x > 0, ap, am),
                      slopes=(ap, am), gaussian=scale_invariant_forms(ap, am), **kw)


def _relu_into(y: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    return torch.clamp_min(y, 0, out=out)  # what torch.relu and torch.relu_ run


def _threshold_backward(d: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    return torch.ops.aten.threshold_backward.grad_input(d, a, 0, grad_input=d)


def _identity_into(y: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    return y if out is None or out is y else out.copy_(y)


def _linear() -> Activation:
    return _scale_invariant("linear", lambda x: np.asarray(x, dtype=float), lambda x: x,
                            1.0, 1.0, fast_torch=FastForm(1.0, _identity_into),
                            backward_from_output=lambda d, a: d)


def _relu() -> Activation:
    return _scale_invariant("relu", lambda x: np.maximum(x, 0.0), torch.relu, 1.0, 0.0,
                            fast_torch=FastForm(1.0, _relu_into),
                            backward_from_output=_threshold_backward)


def _leaky(slope: float) -> Activation:
    return _scale_invariant(f"leaky_relu({slope:g})", lambda x: np.where(x > 0, x, slope * x),
                            lambda x: torch.nn.functional.leaky_relu(x, slope), 1.0, slope,
                            params={"slope": slope})


# ---- tanh: the fast form 2·sigmoid(2z) − 1 ----

def _tanh_from_doubled(y: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """tanh(y/2) = 2·sigmoid(y) − 1: on CPU ≈ 1.1 ns/element against torch.tanh's ≈ 3.6, and
    within 2⁻²² absolute of torch.tanh in float32 (≈ 4e-16 in float64)."""
    out = torch.sigmoid(y, out=out)
    return torch.add(out.new_full((), -1.0), out, alpha=2.0, out=out)


def _tanh_backward(d: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    return torch.ops.aten.tanh_backward.grad_input(d, a, grad_input=d)


def _tanh() -> Activation:
    return Activation("tanh", np.tanh, torch.tanh, derivative=lambda x: 1.0 / np.cosh(x) ** 2,
                      fast_torch=FastForm(2.0, _tanh_from_doubled),
                      backward_from_output=_tanh_backward)


# ---- erf: Williams' arcsine kernel ----

def _erf_sigma_sigma(K11, K12, K22):
    arg = 2 * K12 / np.sqrt((1 + 2 * K11) * (1 + 2 * K22))
    return 2 / math.pi * np.arcsin(np.clip(arg, -1.0, 1.0))


def _erf_dsigma_dsigma(K11, K12, K22):
    return 4 / math.pi / np.sqrt((1 + 2 * K11) * (1 + 2 * K22) - 4 * K12 * K12)


_ERF_FORMS = GaussianForms(
    _erf_sigma_sigma,
    _erf_dsigma_dsigma,
    sigma2=lambda K: 2 / math.pi * np.arcsin(2 * K / (1 + 2 * K)),
    dsigma2=lambda K: 4 / math.pi / np.sqrt(1 + 4 * K),
    sigma2_dK=lambda K: 4 / math.pi / ((1 + 2 * K) * np.sqrt(1 + 4 * K)),
)
"""erf: <σ(u)σ(v)> = (2/π) arcsin(2K12/√((1 + 2K11)(1 + 2K22))) (Williams 1997,
"Computing with infinite networks", the V_erf kernel); <σ'(u)σ'(v)> =
(4/π)/√((1 + 2K11)(1 + 2K22) − 4K12²), the Gaussian integral of (4/π)e^{−u²−v²};
the single-input forms are their diagonal (K11 = K12 = K22 = K) and its K-derivative."""


# ---- the rest: no closed forms ----

def _gelu_np(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + special.erf(x / math.sqrt(2.0)))


def _gelu_prime(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + special.erf(x / math.sqrt(2.0))) + x * np.exp(-0.5 * x * x) / math.sqrt(
        2.0 * math.pi)


def _swish_prime(x: np.ndarray) -> np.ndarray:
    s = special.expit(x)
    return s * (1.0 + x * (1.0 - s))


def _swish() -> Activation:
    return Activation("swish", lambda x: x * special.expit(x), torch.nn.functional.silu,
                      derivative=_swish_prime)


ACTIVATIONS: dict[str, Callable[..., Activation]] = {
    "linear": _linear,
    "relu": _relu,
    "leaky_relu": lambda slope=0.01: _leaky(float(slope)),
    "tanh": _tanh,
    "erf": lambda: Activation("erf", special.erf, torch.erf,
                              derivative=lambda x: 2.0 / math.sqrt(math.pi) * np.exp(-x * x),
                              gaussian=_ERF_FORMS),
    "sigmoid": lambda: Activation("sigmoid", special.expit, torch.sigmoid,
                                  derivative=lambda x: special.expit(x) * special.expit(-x)),
    "softplus": lambda: Activation("softplus", lambda x: np.logaddexp(0.0, x),
                                   torch.nn.functional.softplus, derivative=special.expit),
    "gelu": lambda: Activation("gelu", _gelu_np, torch.nn.functional.gelu,
                               derivative=_gelu_prime),
    "swish": _swish,
    "silu": _swish,
    "sin": lambda: Activation("sin", np.sin, torch.sin, derivative=np.cos),
}
"""Factories of the named activations; keyword arguments set their parameters."""


def get_activation(activation: str | Activation | Callable, **params: Any) -> Activation:
    """The activation called `activation` (with `params`), or one wrapping a callable.

    Raises:
        LmechError: unknown name or parameter; the message lists the known names.

    Example:
        >>> get_activation("leaky_relu", slope=0.1)(np.array([-1.0, 2.0])).tolist()
        [-0.1, 2.0]
    """
    if isinstance(activation, Activation):
        return activation
    if isinstance(activation, str):
        factory = ACTIVATIONS.get(activation.lower())
        if factory is None:
            raise LmechError(
                f"unknown activation {activation!r}; known: {', '.join(ACTIVATIONS)} "
                "or any callable"
            )
        try:
            return factory(**params)
        except TypeError:
            raise LmechError(f"activation {activation!r} takes no parameters {params}") from None
    if callable(activation):
        fn = activation
        return Activation(getattr(fn, "__name__", "custom"), lambda x: np.asarray(fn(x)), fn)
    raise LmechError(f"activation must be a name or a callable, got {type(activation).__name__}")
