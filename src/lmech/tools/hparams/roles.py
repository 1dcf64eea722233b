"""Which parameters of a network grow with width, and how: the μP role of each.

Two models of one architecture at different widths are compared shape by shape (never by
attributes patched onto tensors): a dimension whose size differs grows with width. A
layer's weight is ``input``-like when only its fan_out grows, ``hidden`` when both fans
grow, ``output``-like (a readout) when only its fan_in grows, and ``fixed`` otherwise; every
one-dimensional parameter (bias, norm gain) is a vector, input-like when it grows.

Layers understood: ``nn.Linear``, ``nn.ConvNd``, ``nn.ConvTransposeNd``, ``nn.Embedding``,
``nn.EmbeddingBag``, ``nn.MultiheadAttention`` and any module's one-dimensional parameters.
A parameter of another kind is allowed if at most one of its dimensions grows (it is then a
vector, left as built by `mup_init_`).

Source: Yang, Hu et al., "Tensor Programs V" (arXiv:2203.03466), Tables 3 and 8 (input,
hidden and output weights, by which of their dimensions are infinite).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from lmech.errors import LmechError
from lmech.measure.mu_parametrisation import LayerMultipliers, mup_multipliers
from lmech.tools.hparams.wrappers import parameter_owners
from lmech.tools.user_model import model_from

__all__ = ["MuPPlan", "ParameterRole", "classify", "plan_from_factory"]

_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_CONV_T = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
_PROJECTIONS = ("in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight")
SUPPORTED = ("nn.Linear, nn.Conv1d/2d/3d, nn.ConvTranspose1d/2d/3d, nn.Embedding, "
             "nn.EmbeddingBag, nn.MultiheadAttention, or a one-dimensional parameter")


@dataclass(frozen=True)
class ParameterRole:
    """One parameter's place in μP.

    Attributes:
        name: its name in ``named_parameters`` (tied parameters appear under every name).
        kind: ``weight`` (of a Linear, Conv or attention projection), ``embedding``,
            ``bias``, ``gain`` (a norm's or any other module's one-dimensional parameter)
            or ``other``.
        role: ``input``, ``hidden``, ``output`` or ``fixed``.
        fan_in, fan_out: at the target width (an embedding's fan_in is 1).
        base_fan_in, base_fan_out: at the base width.
        shape: the parameter's shape at the target width.
    """

    name: str
    kind: str
    role: str
    fan_in: int
    fan_out: int
    base_fan_in: int
    base_fan_out: int
    shape: tuple[int, ...]

    def multipliers(self, optimizer: str, *, weight_variance: float = 1.0,
                    zero_readout: bool = False) -> LayerMultipliers:
        """The table's init std, forward multiplier and LR multiplier for this parameter."""
        return mup_multipliers(self.role, self.fan_in, self.fan_out, self.base_fan_in,
                               self.base_fan_out, optimizer, weight_variance=weight_variance,
                               zero_readout=zero_readout)


@dataclass(frozen=True)
class MuPPlan:
    """The roles of a model's parameters, and the notes a user should read.

    Attributes:
        roles: name → `ParameterRole`, for every name under which a parameter appears.
        readouts: names of the modules whose weight is ``output``-like (each gets the
            1/m_in forward multiplier through `scale_readouts`).
        notes: what μP needs that this plan cannot do itself (e.g. attention logits).
    """

    roles: dict[str, ParameterRole]
    readouts: tuple[str, ...]
    notes: tuple[str, ...] = ()

    def table(self, optimizer: str = "adam") -> list[tuple[str, str, float, float, float]]:
        """Rows (name, role, m_in, m_out, LR multiplier) in the model's order."""
        rows = []
        for r in self.roles.values():
            lr = r.multipliers(optimizer).lr_multiplier
            rows.append((r.name, r.role, r.fan_in / r.base_fan_in, r.fan_out / r.base_fan_out,
                         lr))
        return rows


def _fan_dims(module: nn.Module, local: str, shape: torch.Size
              ) -> tuple[str, tuple[int, ...], tuple[int, ...], tuple[int, ...]] | None:
    """(kind, fan_in dims, fan_out dims, dims that must not grow) of one parameter."""
    rest = tuple(range(2, len(shape)))
    if isinstance(module, nn.Linear) and local == "weight":
        return "weight", (1,), (0,), ()
    if isinstance(module, _CONV) and local == "weight":
        return "weight", (1, *rest), (0,), rest
    if isinstance(module, _CONV_T) and local == "weight":
        return "weight", (0, *rest), (1,), rest
    if isinstance(module, nn.Embedding | nn.EmbeddingBag) and local == "weight":
        return "embedding", (), (1,), (0,)
    if isinstance(module, nn.MultiheadAttention) and local in _PROJECTIONS:
        return "weight", (1,), (0,), ()
    if len(shape) == 1:
        is_bias = local == "bias" or local.endswith("_bias") or local.startswith("bias_")
        return ("bias" if is_bias else "gain"), (), (0,), ()
    return None


def _role(grows_in: bool, grows_out: bool) -> str:
    if grows_in and grows_out:
        return "hidden"
    return "input" if grows_out else "output" if grows_in else "fixed"


def _size(shape: torch.Size, dims: tuple[int, ...]) -> int:
    return math.prod(shape[d] for d in dims) if dims else 1


def _shapes(model: nn.Module, what: str) -> dict[str, torch.Size]:
    if not isinstance(model, nn.Module):
        raise LmechError(f"{what} must be a torch.nn.Module, got {type(model).__name__}")
    return {name: p.shape for name, _, _, p in parameter_owners(model)}


def classify(model: nn.Module, base_model: nn.Module, *,
             delta_model: nn.Module | None = None) -> MuPPlan:
    """Each parameter's μP role, from its shapes in `model` and in `base_model`.

    A dimension grows with width where its size differs between `base_model` and
    `model`, or between `base_model` and `delta_model` (needed when `model` is at the base
    width: any third width shows which dimensions grow).

    Raises:
        LmechError: the models' parameter names or ranks differ, no dimension differs
            anywhere, a dimension that must stay fixed grows (a kernel size, a vocabulary),
            or a parameter of an unsupported kind has two or more growing dimensions.

    Example:
        >>> def mlp(n):
        ...     return nn.Sequential(nn.Linear(4, n), nn.ReLU(), nn.Linear(n, n),
        ...                          nn.ReLU(), nn.Linear(n, 2))
        >>> plan = classify(mlp(256), mlp(64))
        >>> [plan.roles[f"{k}.weight"].role for k in (0, 2, 4)], plan.readouts
        (['input', 'hidden', 'output'], ('4',))
    """
    target, base = _shapes(model, "model"), _shapes(base_model, "base_model")
    delta = _shapes(delta_model, "delta_model") if delta_model is not None else target
    for label, other in (("model", target), ("delta_model", delta)):
        if list(other) != list(base):
            odd = sorted(set(other) ^ set(base))[:3]
            raise LmechError(f"{label} and base_model must be one architecture at two widths;"
                             f" their parameter names differ (e.g. {odd})")
    grown = {n: {d for d in range(len(base[n])) if target[n][d] != base[n][d]
                 or delta[n][d] != base[n][d]} for n in base
             if len(base[n]) == len(target[n]) == len(delta[n])}
    if len(grown) != len(base):
        bad = next(n for n in base if n not in grown)
        raise LmechError(f"parameter {bad!r} has a different number of dimensions at the "
                         f"two widths ({tuple(base[bad])} vs {tuple(target[bad])})")
    if not any(grown.values()):
        raise LmechError("no parameter changes shape between model and base_model; give a "
                         "model (or delta_model) at another width than the base")
    roles, readouts = {}, []
    for name, module, local, _ in parameter_owners(model):
        roles[name] = _classify_one(name, module, local, target[name], base[name], grown[name])
        if roles[name].role == "output" and roles[name].kind == "weight":
            readouts.append(name.rpartition(".")[0])
    return MuPPlan(roles, tuple(dict.fromkeys(readouts)), _attention_notes(model, base_model))


def _classify_one(name: str, module: nn.Module, local: str, shape: torch.Size,
                  base_shape: torch.Size, grown: set[int]) -> ParameterRole:
    dims = _fan_dims(module, local, shape)
    if dims is None:
        if len(grown) > 1:
            raise LmechError(f"parameter {name!r} of {type(module).__name__} {tuple(shape)} "
                             f"has {len(grown)} dimensions that grow with width; μP here "
                             f"understands {SUPPORTED}")
        out = tuple(grown)
        return ParameterRole(name, "other", "input" if grown else "fixed", 1,
                             _size(shape, out), 1, _size(base_shape, out), tuple(shape))
    kind, fan_in, fan_out, frozen = dims
    if grown & set(frozen):
        raise LmechError(f"parameter {name!r} of {type(module).__name__}: dimension "
                         f"{min(grown & set(frozen))} of {tuple(shape)} grows with width, "
                         f"but only channels or features may (not kernel sizes or vocabulary)")
    role = _role(bool(grown & set(fan_in)), bool(grown & set(fan_out)))
    return ParameterRole(name, kind, role, _size(shape, fan_in), _size(shape, fan_out),
                         _size(base_shape, fan_in), _size(base_shape, fan_out), tuple(shape))


def _attention_notes(model: nn.Module, base_model: nn.Module) -> tuple[str, ...]:
    base = dict(base_model.named_modules())
    notes = []
    for name, m in model.named_modules():
        twin = base.get(name)
        if isinstance(m, nn.MultiheadAttention) and isinstance(twin, nn.MultiheadAttention) \
                and m.head_dim != twin.head_dim:
            notes.append(
                f"{name}: nn.MultiheadAttention divides its logits by √d_head (fixed in "
                f"PyTorch); μP divides by d_head, d_head {twin.head_dim} → "
                f"{m.head_dim}: compute attention with F.scaled_dot_product_attention("
                f"..., scale=attention_scale(d_head, base_d_head)), or keep d_head fixed and "
                f"grow the number of heads")
    return tuple(notes)


def _build(model_fn: Callable[[int], nn.Module], width: int) -> nn.Module:
    """`model_fn(width)` on the meta device (no memory, no randomness), or on the CPU
    under a forked, seeded RNG where the factory cannot build on meta."""
    try:
        with torch.device("meta"):
            return model_from(model_fn, width, what=f"model_fn({width})")
    except LmechError:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            return model_from(model_fn, width, what=f"model_fn({width})")


def plan_from_factory(model_fn: Callable[[int], nn.Module], width: int, *,
                      base_width: int) -> MuPPlan:
    """`classify` of ``model_fn(width)`` against ``model_fn(base_width)`` (and
    ``model_fn(2·base_width)`` when the two are equal), built on the meta device.

    Raises:
        LmechError: a width below 1, `base_width` larger than `width`, the factory raises
            or returns something other than an ``nn.Module``, or as `classify`.
    """
    for label, value in (("width", width), ("base_width", base_width)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise LmechError(f"{label} must be a positive integer, got {value!r}")
    if base_width > width:
        raise LmechError(f"base width {base_width} is larger than the target width {width}; "
                         f"the base is the narrow model whose hyperparameters were tuned")
    base = _build(model_fn, base_width)
    delta = _build(model_fn, 2 * base_width) if width == base_width else None
    return classify(_build(model_fn, width), base, delta_model=delta)
