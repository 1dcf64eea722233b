"""The μP table: each layer's initialisation, forward multiplier and learning-rate multiplier.

Widths are counted relative to a *base* model, the narrow one whose hyperparameters were
tuned: m_in = fan_in / base_fan_in and m_out = fan_out / base_fan_out for a dimension that
grows with width (1 for one that does not). A parameter's role is set by which of its
dimensions grow: ``input`` (only fan_out: first-layer weights, embeddings, every bias and
norm gain), ``hidden`` (both), ``output`` (only fan_in: the readout) or ``fixed`` (neither).
With σ² the weight variance C_W and η the base learning rate, μP is (Yang, Hu et al. 2022,
Table 8, the readout-multiplier form of Table 3, normalised so that at the base width every
entry is the standard parametrisation's):

    role     init std of the stored weight   forward multiplier   SGD LR        Adam LR
    input    σ / √fan_in                     1                    η m_out       η
    hidden   σ / √fan_in                     1                    η m_out/m_in  η / m_in
    output   σ / √base_fan_in  (or 0)        1 / m_in             η m_in        η
    fixed    σ / √fan_in                     1                    η             η

The readout's stored weight W keeps its base-width scale and the layer computes W(x/m_in):
its effective weight W/m_in has variance σ²/(fan_in m_in) ∝ 1/fan_in² and moves by
η/m_in per step, Table 3's μP exactly. Depth (Yang et al. 2023, Depth-μP; Bordelon et
al. 2023): a residual branch is multiplied by √(L₀/L) for L blocks against a base of L₀,
and under Adam the learning rate of the parameters inside a branch by √(L₀/L) as well.

Source: Yang, Hu, Babuschkin, Sidor, Liu, Farhi, Ryder, Pachocki, Chen & Gao, "Tensor
Programs V" (arXiv:2203.03466), Tables 3 and 8; Yang, Yu, Zhu & Hayou, "Tensor Programs VI"
(arXiv:2310.02244); Bordelon, Noci, Li, Hanin & Pehlevan (arXiv:2309.16620).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from lmech.errors import LmechError

__all__ = [
    "OPTIMIZERS",
    "ROLES",
    "LayerMultipliers",
    "depth_lr_multiplier",
    "mlp_mup_table",
    "mup_multipliers",
    "residual_multiplier",
]

Role = Literal["input", "hidden", "output", "fixed"]
ROLES: tuple[str, ...] = ("input", "hidden", "output", "fixed")
OPTIMIZERS: tuple[str, ...] = ("sgd", "adam")


@dataclass(frozen=True)
class LayerMultipliers:
    """One parameter's μP numbers (see the module docstring's table).

    Attributes:
        init_std: standard deviation of the stored weight at initialisation (σ above).
        forward_multiplier: the layer computes ``layer(forward_multiplier · x)``.
        lr_multiplier: the parameter's learning rate is ``lr_multiplier · η``.
    """

    init_std: float
    forward_multiplier: float
    lr_multiplier: float


def _check_optimizer(optimizer: str) -> str:
    name = str(optimizer).lower()
    if name == "adamw":
        return "adam"  # the decoupled decay changes nothing in the table
    if name not in OPTIMIZERS:
        raise LmechError(f"optimizer must be one of sgd, adam, adamw; got {optimizer!r}")
    return name


def mup_multipliers(role: str, fan_in: int, fan_out: int, base_fan_in: int,
                    base_fan_out: int, optimizer: str, *,
                    weight_variance: float = 1.0, zero_readout: bool = False
                    ) -> LayerMultipliers:
    """μP init std, forward multiplier and LR multiplier of one weight (Yang et al. 2022,
    Table 8, relative to a base width; see the module docstring).

    Args:
        role: ``input``, ``hidden``, ``output`` or ``fixed``.
        fan_in, fan_out: the weight's fans at the target width (a Conv's fan_in counts its
            kernel; an embedding's fan_in is 1, one row per token).
        base_fan_in, base_fan_out: the same at the base width.
        optimizer: ``sgd`` or ``adam`` (``adamw`` is ``adam``).
        weight_variance: σ², the C_W of W ~ N(0, σ²/fan_in).
        zero_readout: initialise ``output`` weights at zero (Yang et al. 2022, §D.2).

    Raises:
        LmechError: an unknown role or optimizer, a fan below 1, σ² ≤ 0.

    Example:
        >>> mup_multipliers("hidden", 1024, 1024, 64, 64, "adam").lr_multiplier
        0.0625
        >>> mup_multipliers("output", 1024, 10, 64, 10, "adam").forward_multiplier
        0.0625
    """
    opt = _check_optimizer(optimizer)
    if role not in ROLES:
        raise LmechError(f"role must be one of {', '.join(ROLES)}; got {role!r}")
    for label, fan in (("fan_in", fan_in), ("fan_out", fan_out), ("base_fan_in", base_fan_in),
                       ("base_fan_out", base_fan_out)):
        if isinstance(fan, bool) or not isinstance(fan, int) or fan < 1:
            raise LmechError(f"{label} must be a positive integer, got {fan!r}")
    if not weight_variance > 0:
        raise LmechError(f"weight_variance must be > 0, got {weight_variance!r}")
    sigma = math.sqrt(weight_variance)
    m_in, m_out = fan_in / base_fan_in, fan_out / base_fan_out
    if role == "output":
        std = 0.0 if zero_readout else sigma / math.sqrt(base_fan_in)
        return LayerMultipliers(std, 1 / m_in, m_in if opt == "sgd" else 1.0)
    std = sigma / math.sqrt(fan_in)
    if role == "input":
        return LayerMultipliers(std, 1.0, m_out if opt == "sgd" else 1.0)
    if role == "hidden":
        return LayerMultipliers(std, 1.0, m_out / m_in if opt == "sgd" else 1 / m_in)
    return LayerMultipliers(std, 1.0, 1.0)


def residual_multiplier(depth: int, base_depth: int) -> float:
    """√(L₀/L): the factor on each residual branch of a network of L blocks tuned at L₀.

    x_{l+1} = x_l + √(L₀/L) f_l(x_l) keeps the residual stream's scale and its per-block
    feature updates of the same order at every depth (Depth-μP with α = 1/2).

    Source: Yang et al. 2023 (arXiv:2310.02244); Bordelon et al. 2023
    (arXiv:2309.16620).

    Example:
        >>> residual_multiplier(32, 8)
        0.5
    """
    for label, value in (("depth", depth), ("base_depth", base_depth)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise LmechError(f"{label} must be a positive integer, got {value!r}")
    return math.sqrt(base_depth / depth)


def depth_lr_multiplier(depth: int, base_depth: int, optimizer: str) -> float:
    """The LR factor of the parameters inside a residual branch: 1 for SGD, √(L₀/L) for
    Adam (Depth-μP: η L^{2α−1} for SGD and η L^{α−1} for Adam at α = 1/2).

    Source: Yang et al. 2023 (arXiv:2310.02244), their Depth-μP learning rates.

    Example:
        >>> depth_lr_multiplier(32, 8, "adam"), depth_lr_multiplier(32, 8, "sgd")
        (0.5, 1.0)
    """
    factor = residual_multiplier(depth, base_depth)
    return 1.0 if _check_optimizer(optimizer) == "sgd" else factor


def mlp_mup_table(n_in: int, width: int, depth: int, n_out: int, *, base_width: int,
                  optimizer: str, weight_variance: float = 1.0,
                  zero_readout: bool = False) -> dict[str, LayerMultipliers]:
    """μP numbers for every parameter of `lmech.models.MLP` (``layers.{k}.weight`` and
    ``.bias``), with `depth` hidden layers of `width` against a base of `base_width`.

    The first layer is ``input``, the middle ones ``hidden``, the last ``output``; the
    hidden biases are ``input``-like (their one dimension grows) and the readout bias
    ``fixed``. Biases start at zero (init_std 0). For a stacked ensemble over widths or
    learning rates, as the law ``hparams.lr_transfer`` needs.

    Raises:
        LmechError: a size below 1 (depth below 1), or as `mup_multipliers`.

    Example:
        >>> t = mlp_mup_table(8, 256, 2, 1, base_width=64, optimizer="sgd")
        >>> [round(t[f"layers.{k}.weight"].lr_multiplier, 3) for k in range(3)]
        [4.0, 1.0, 4.0]
    """
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise LmechError(f"depth must be a positive integer (hidden layers), got {depth!r}")
    sizes, base = [n_in, *[width] * depth, n_out], [n_in, *[base_width] * depth, n_out]
    table = {}
    for k in range(depth + 1):
        role = "input" if k == 0 else "output" if k == depth else "hidden"
        table[f"layers.{k}.weight"] = mup_multipliers(
            role, sizes[k], sizes[k + 1], base[k], base[k + 1], optimizer,
            weight_variance=weight_variance, zero_readout=zero_readout)
        bias_role = "fixed" if k == depth else "input"
        lr = mup_multipliers(bias_role, 1, sizes[k + 1], 1, base[k + 1], optimizer).lr_multiplier
        table[f"layers.{k}.bias"] = LayerMultipliers(0.0, 1.0, lr)
    return table
