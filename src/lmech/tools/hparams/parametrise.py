"""μP on a user's network: readout multipliers, initialisation and optimizer groups.

Given a `MuPPlan` (from `classify` or `plan_from_factory`), with σ² = `weight_variance`,
η the learning rate tuned at the base width, m_in = fan_in/base_fan_in and
m_out = fan_out/base_fan_out (Yang, Hu et al. 2022, Table 8, normalised to the base):

    role     init of a weight          forward            SGD LR        Adam(W) LR
    input    N(0, σ²/fan_in)           W x                η m_out       η
    hidden   N(0, σ²/fan_in)           W x                η m_out/m_in  η / m_in
    output   N(0, σ²/base_fan_in)|0    W (x / m_in) + b   η m_in        η
    fixed    N(0, σ²/fan_in)           W x                η             η

Embeddings are N(0, σ²) (fan_in 1), biases 0, norm gains 1. Weight decay λ is given to
each group as λ / (its LR multiplier), so that the shrink per step, LR × λ, is the base
model's at every width (a choice: μP makes no claim about regularisation). Under Adam the
parameters inside a `ResidualBranch` also get its √(L₀/L) (Depth-μP). Attention under μP
divides logits by d_head, not √d_head: `attention_scale`.

Source: Yang, Hu et al., "Tensor Programs V" (arXiv:2203.03466), Tables 3 and 8, §4
(attention); Yang et al., "Tensor Programs VI" (arXiv:2310.02244).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from lmech.errors import LmechError
from lmech.measure.mu_parametrisation import depth_lr_multiplier
from lmech.tools.hparams.roles import MuPPlan, ParameterRole, plan_from_factory
from lmech.tools.hparams.wrappers import Readout, ResidualBranch, parameter_owners
from lmech.tools.user_model import model_from

__all__ = ["attention_scale", "mup_init_", "mup_model", "mup_param_groups", "scale_readouts"]


def attention_scale(d_head: int, base_d_head: int) -> float:
    """√d₀/d: the μP factor on attention logits qᵀk, 1/√d₀ at the base head size d₀ and
    ∝ 1/d beyond it (Yang, Hu et al. 2022, §4: 1/d instead of 1/√d, because q and k
    become correlated during training and qᵀk grows like d). Pass it as
    ``F.scaled_dot_product_attention(q, k, v, scale=attention_scale(d, d0))``.

    Example:
        >>> attention_scale(64, 16)
        0.0625
    """
    for label, value in (("d_head", d_head), ("base_d_head", base_d_head)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise LmechError(f"{label} must be a positive integer, got {value!r}")
    return math.sqrt(base_d_head) / d_head


def scale_readouts(model: nn.Module, plan: MuPPlan) -> nn.Module:
    """Replace each readout module of `plan` by ``Readout(module, 1/m_in)``, in place.

    Idempotent: a readout already wrapped gets the plan's multiplier. Returns `model`.

    Raises:
        LmechError: `model` is itself the readout (wrap it as ``Readout(model, 1/m_in)``)
            or lacks a readout the plan names.
    """
    for name in plan.readouts:
        role = plan.roles[f"{name}.weight"]
        multiplier = role.base_fan_in / role.fan_in
        if name == "":
            raise LmechError(f"the model ({type(model).__name__}) is itself the readout; "
                             f"wrap it: Readout(model, {multiplier:.6g})")
        parent_name, _, child = name.rpartition(".")
        try:
            parent = model.get_submodule(parent_name)
            layer = getattr(parent, child)
        except AttributeError:
            raise LmechError(f"{type(model).__name__} has no readout module {name!r}; was the "
                             f"plan made for another architecture?") from None
        if isinstance(layer, Readout):
            layer.multiplier = multiplier
        else:
            setattr(parent, child, Readout(layer, multiplier))
    return model


def _unique(model: nn.Module, plan: MuPPlan
            ) -> list[tuple[ParameterRole, nn.Module, str, nn.Parameter]]:
    """Each distinct parameter once (a tied one under its first name), checked against
    the plan."""
    seen, out = set(), []
    for name, module, local, p in parameter_owners(model):
        role = plan.roles.get(name)
        if role is None or tuple(p.shape) != role.shape:
            what = "is not in the plan" if role is None else \
                f"has shape {tuple(p.shape)}, the plan {role.shape}"
            raise LmechError(f"parameter {name!r} {what}; make the plan from this model "
                             f"(classify(model, base_model) or plan_from_factory)")
        if id(p) not in seen:
            seen.add(id(p))
            out.append((role, module, local, p))
    wrapped = {n for n, m in model.named_modules() if isinstance(m, Readout)}
    missing = [r for r in plan.readouts if r not in wrapped]
    if missing:
        raise LmechError(f"readout {missing[0]!r} has no 1/m_in multiplier; call "
                         f"scale_readouts(model, plan) first")
    return out


def mup_init_(model: nn.Module, plan: MuPPlan, *, generator: torch.Generator,
              weight_variance: float = 1.0, zero_readout: bool = False) -> nn.Module:
    """Re-initialise `model`'s parameters with μP variances (the module table), in place.

    Parameters of kind ``other`` (not a layer of a supported type) are left as built.

    Raises:
        LmechError: `generator` is not a ``torch.Generator``, weight_variance ≤ 0, the plan
            does not fit the model, or a readout is not wrapped yet (see `scale_readouts`).
    """
    if not isinstance(generator, torch.Generator):
        raise LmechError(f"generator must be a torch.Generator, got {generator!r}")
    if not weight_variance > 0:
        raise LmechError(f"weight_variance must be > 0, got {weight_variance!r}")
    sigma = math.sqrt(weight_variance)
    with torch.no_grad():
        for role, _, _, p in _unique(model, plan):
            if role.kind in ("weight", "embedding"):
                std = role.multipliers("sgd", weight_variance=weight_variance,
                                       zero_readout=zero_readout).init_std
                std = sigma if role.kind == "embedding" else std
                noise = torch.randn(p.shape, generator=generator, device=generator.device)
                p.copy_(noise * std)
            elif role.kind == "bias":
                p.zero_()
            elif role.kind == "gain":
                p.fill_(1.0)
    return model


def _depth_factors(model: nn.Module, optimizer: str) -> dict[int, float]:
    factors: dict[int, float] = {}
    for module in model.modules():
        if isinstance(module, ResidualBranch):
            f = depth_lr_multiplier(module.depth, module.base_depth, optimizer)
            for p in module.parameters():
                factors[id(p)] = factors.get(id(p), 1.0) * f
    return factors


def mup_param_groups(model: nn.Module, plan: MuPPlan, *, lr: float, optimizer: str,
                     weight_decay: float = 0.0) -> list[dict]:
    """``torch.optim`` parameter groups with μP learning rates: one group per distinct
    multiplier, each ``{"params", "lr": lr·mult, "weight_decay": λ/mult, "lr_multiplier"}``.

    Args:
        lr: η, the learning rate tuned at the base width.
        optimizer: ``sgd`` or ``adam``/``adamw`` (the groups suit ``torch.optim.SGD`` or
            ``torch.optim.Adam``/``AdamW``).
        weight_decay: λ at the base width.

    Raises:
        LmechError: lr ≤ 0, weight_decay < 0, an unknown optimizer, or the plan does not
            fit the model (see `mup_init_`).
    """
    if not lr > 0 or not weight_decay >= 0:
        raise LmechError(f"lr must be > 0 and weight_decay ≥ 0; got lr={lr!r}, "
                         f"weight_decay={weight_decay!r}")
    depth = _depth_factors(model, optimizer)
    groups: dict[float, dict] = {}
    for role, _, _, p in _unique(model, plan):
        mult = role.multipliers(optimizer).lr_multiplier * depth.get(id(p), 1.0)
        group = groups.setdefault(mult, {"params": [], "lr": lr * mult,
                                         "weight_decay": weight_decay / mult,
                                         "lr_multiplier": mult})
        group["params"].append(p)
    return list(groups.values())


def mup_model(model_fn: Callable[[int], nn.Module], width: int, *, base_width: int,
              generator: torch.Generator, weight_variance: float = 1.0,
              zero_readout: bool = False) -> tuple[nn.Module, MuPPlan]:
    """``model_fn(width)`` in μP against ``model_fn(base_width)``: readouts wrapped,
    parameters initialised by `mup_init_`. Returns the model and its plan; pass both to
    `mup_param_groups` for the optimizer.

    The factory builds under a forked RNG seeded from `generator` (the global RNG is left
    as it was), so parameters that `mup_init_` leaves as built are reproducible too.

    Example:
        >>> def mlp(n):
        ...     return nn.Sequential(nn.Linear(4, n), nn.ReLU(), nn.Linear(n, 1))
        >>> net, plan = mup_model(mlp, 256, base_width=64,
        ...                       generator=torch.Generator().manual_seed(0))
        >>> net[2]
        Readout(
          multiplier=0.25
          (layer): Linear(in_features=256, out_features=1, bias=True)
        )
        >>> opt = torch.optim.Adam(mup_param_groups(net, plan, lr=1e-2, optimizer="adam"))
    """
    if not isinstance(generator, torch.Generator):
        raise LmechError(f"generator must be a torch.Generator, got {generator!r}")
    plan = plan_from_factory(model_fn, width, base_width=base_width)
    seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = model_from(model_fn, width, what=f"model_fn({width})")
    scale_readouts(model, plan)
    mup_init_(model, plan, generator=generator, weight_variance=weight_variance,
              zero_readout=zero_readout)
    return model, plan
