"""Elementwise activations by name, evaluable on numpy arrays and torch tensors.

One object per activation (the model is neural-tangents' `stax/elementwise.py`): the
function in both array libraries, and the facts theory needs about it. Closed-form
Gaussian expectations, where known, are added beside the function by the theory modules.

Names: linear, relu, leaky_relu (slope, default 0.01), tanh, erf, sigmoid, softplus,
gelu, swish (= silu), sin. `get_activation` also accepts any callable working on numpy
arrays (and, for use in networks, on torch tensors).

Facts theory uses: `slopes` = (a₊, a₋) marks the scale-invariant activations
σ(z) = a₊z (z > 0), a₋z (z < 0), whose Gaussian expectations have closed forms
(`lmech.theory.gaussian`); `derivative` is σ' on numpy arrays (for a callable it is
taken by torch autograd when the callable accepts tensors, else by finite differences).
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

__all__ = ["ACTIVATIONS", "Activation", "get_activation"]


@dataclass(frozen=True)
class Activation:
    """An elementwise activation σ.

    Attributes:
        name: its name ("relu", "leaky_relu(0.1)", or a callable's name).
        numpy: σ on numpy arrays (float64).
        torch: σ on torch tensors.
        params: its parameters (e.g. {"slope": 0.1} for leaky_relu).
        derivative: σ' on numpy arrays, or None when not known in closed form.
        slopes: (a₊, a₋) for a scale-invariant activation, else None.
    """

    name: str
    numpy: Callable[[np.ndarray], np.ndarray] = field(repr=False)
    torch: Callable[[torch.Tensor], torch.Tensor] = field(repr=False)
    params: dict[str, Any] = field(default_factory=dict)
    derivative: Callable[[np.ndarray], np.ndarray] | None = field(default=None, repr=False)
    slopes: tuple[float, float] | None = None

    def __call__(self, x):
        """σ(x) for a torch tensor or anything numpy accepts."""
        return self.torch(x) if isinstance(x, torch.Tensor) else self.numpy(np.asarray(x))


def _gelu_np(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + special.erf(x / math.sqrt(2.0)))


def _gelu_prime(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + special.erf(x / math.sqrt(2.0))) + x * np.exp(-0.5 * x * x) / math.sqrt(
        2.0 * math.pi)


def _swish_prime(x: np.ndarray) -> np.ndarray:
    s = special.expit(x)
    return s * (1.0 + x * (1.0 - s))


def _leaky(slope: float) -> Activation:
    return Activation(
        f"leaky_relu({slope:g})",
        lambda x: np.where(x > 0, x, slope * x),
        lambda x: torch.nn.functional.leaky_relu(x, slope),
        {"slope": slope},
        derivative=lambda x: np.where(x > 0, 1.0, slope),
        slopes=(1.0, slope),
    )


def _swish() -> Activation:
    return Activation("swish", lambda x: x * special.expit(x), torch.nn.functional.silu,
                      derivative=_swish_prime)


ACTIVATIONS: dict[str, Callable[..., Activation]] = {
    "linear": lambda: Activation("linear", lambda x: np.asarray(x, dtype=float), lambda x: x,
                                 derivative=np.ones_like, slopes=(1.0, 1.0)),
    "relu": lambda: Activation("relu", lambda x: np.maximum(x, 0.0), torch.relu,
                               derivative=lambda x: (x > 0).astype(float), slopes=(1.0, 0.0)),
    "leaky_relu": lambda slope=0.01: _leaky(float(slope)),
    "tanh": lambda: Activation("tanh", np.tanh, torch.tanh,
                               derivative=lambda x: 1.0 / np.cosh(x) ** 2),
    "erf": lambda: Activation("erf", special.erf, torch.erf,
                              derivative=lambda x: 2.0 / math.sqrt(math.pi) * np.exp(-x * x)),
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
