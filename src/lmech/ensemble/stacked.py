"""M networks of one architecture, parameters stacked on a leading member axis.

Member i's initialisation depends only on (seed, i): each member draws from its own
generator seeded by ``derive(seed, "init", i)`` (`lmech.ensemble.seeds`), so a member
trained alone and inside an ensemble of any size starts from the same weights.

Physics-knob initialisation (Roberts, Yaida & Hanin, *Principles of Deep Learning Theory*,
arXiv:2106.10165, §2.1): every weight matrix or convolution kernel
W^(l) ~ N(0, C_W^(l)/fan_in), every bias b^(l) ~ N(0, C_b^(l)), normalisation gains 1 and
shifts 0. Layers are counted over the weight-bearing modules in order (an MLP of `depth`
hidden layers has depth + 1 of them, the readout last). ``init="torch"`` instead draws
PyTorch's default for Linear/Conv: U(−1/√fan_in, 1/√fan_in) for weights and biases.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.func import functional_call

from lmech.ensemble._knobs import Knob, check_members, check_nonnegative, per_layer_member
from lmech.ensemble.seeds import derive
from lmech.errors import LmechError
from lmech.models import MLP, CNNConfig, MLPConfig, SmallCNN

__all__ = ["Ensemble", "init_ensemble", "member_seed"]

INITS = ("physics", "torch")


def member_seed(seed: int, member: int, purpose: str) -> int:
    """``derive(seed, purpose, member)`` (`lmech.ensemble.seeds`) in the argument order the
    laws written before the seed registry use."""
    return derive(seed, purpose, member)


class Ensemble:
    """M networks sharing `template`'s architecture; ``params[name]`` is ``(M, *shape)``.

    Attributes:
        template: a module of the architecture (its own weights are not used).
        params: stacked parameters, keyed by the template's parameter names.
        member_ids: ``(M,)`` the id i of each member (seeds depend on (seed, i)).
        input_shape: the shape of one input, for a template without an ``input_shape``
            attribute (default: the template's, else ``(in_features,)`` of its first
            module if that is an ``nn.Linear``).
    """

    def __init__(self, template: nn.Module, params: dict[str, torch.Tensor],
                 member_ids: Sequence[int] | None = None,
                 input_shape: Sequence[int] | None = None) -> None:
        self.template = template
        self.params = params
        m = next(iter(params.values())).shape[0]
        self.member_ids = list(range(m)) if member_ids is None else list(member_ids)
        self._input_shape = None if input_shape is None else tuple(input_shape)

    @property
    def members(self) -> int:
        return len(self.member_ids)

    @property
    def input_shape(self) -> tuple[int, ...]:
        if self._input_shape is not None:
            return self._input_shape
        if hasattr(self.template, "input_shape"):
            return tuple(self.template.input_shape)
        first = next((mod for mod in self.template.modules()
                      if isinstance(mod, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d))), None)
        if isinstance(first, nn.Linear):
            return (first.in_features,)
        raise LmechError(f"the template {type(self.template).__name__} has no input_shape and "
                         "does not start with an nn.Linear; give Ensemble(..., input_shape=…)")

    def check_inputs(self, x: torch.Tensor) -> bool:
        """True if `x` is per member ``(M, B, *input)``, False if shared ``(B, *input)``."""
        k = len(self.input_shape)
        if not isinstance(x, torch.Tensor) or x.dim() not in (k + 1, k + 2) or \
                tuple(x.shape[-k:]) != self.input_shape:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise LmechError(
                f"inputs must have shape (B, {self.input_shape}) or (M, B, {self.input_shape})"
                f" with M = {self.members}, got {shape}"
            )
        if x.dim() == k + 2 and x.shape[0] != self.members:
            raise LmechError(f"inputs per member must have M = {self.members} rows, got "
                             f"{x.shape[0]}")
        return x.dim() == k + 2

    def forward(self, x: torch.Tensor, params: dict[str, torch.Tensor] | None = None
                ) -> torch.Tensor:
        """Every member's output: `x` ``(B, …)`` or ``(M, B, …)`` → ``(M, B, n_out)``."""
        params = self.params if params is None else params
        per_member = self.check_inputs(x)
        if isinstance(self.template, MLP):
            return _mlp_forward(self.template, params, x)
        in_dims = (0, 0 if per_member else None)
        return torch.vmap(lambda p, xb: functional_call(self.template, p, (xb,)),
                          in_dims=in_dims)(params, x)

    __call__ = forward

    def member(self, i: int) -> nn.Module:
        """Member at position i as an ordinary module with its (current) weights."""
        if not 0 <= i < self.members:
            raise LmechError(f"member index must be in 0..{self.members - 1}, got {i}")
        module = copy.deepcopy(self.template)
        module.load_state_dict({k: v[i].detach().clone() for k, v in self.params.items()},
                               strict=False)
        return module

    @classmethod
    def from_modules(cls, modules: Sequence[nn.Module],
                     input_shape: Sequence[int] | None = None) -> Ensemble:
        """Stack the parameters of modules of one architecture (the first is the template;
        `input_shape` as in the class docstring)."""
        if len(modules) < 1:
            raise LmechError("modules must be a non-empty list of modules")
        names = [dict(m.named_parameters()) for m in modules]
        keys = list(names[0])
        for i, d in enumerate(names):
            if list(d) != keys or any(d[k].shape != names[0][k].shape for k in keys):
                raise LmechError(f"modules[{i}] has a different architecture from modules[0]")
        params = {k: torch.stack([d[k].detach() for d in names]).clone() for k in keys}
        return cls(copy.deepcopy(modules[0]), params, input_shape=input_shape)


def _mlp_forward(net: MLP, params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Batched matmuls: a ``(B, n_0)`` shared or ``(M, B, n_0)`` input → ``(M, B, n_out)``."""
    n = len(net.layers)
    a = x
    for k in range(n):
        w = params[f"layers.{k}.weight"]  # (M, n_{k+1}, n_k)
        b = params.get(f"layers.{k}.bias")  # (M, n_{k+1})
        z = torch.matmul(a, w.transpose(-1, -2))  # (M, B, n_{k+1})
        if b is not None:
            z = z + b.unsqueeze(-2)
        a = net.sigma(z) if k < n - 1 else z
    return a


def _template(model: nn.Module | MLPConfig | CNNConfig) -> nn.Module:
    if isinstance(model, MLPConfig):
        return MLP(model)
    if isinstance(model, CNNConfig):
        return SmallCNN(model)
    if isinstance(model, nn.Module) and hasattr(model, "input_shape"):
        return copy.deepcopy(model)
    raise LmechError(
        "model must be an MLPConfig, a CNNConfig, or an nn.Module with an input_shape, "
        f"got {type(model).__name__}"
    )


_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.LayerNorm, nn.GroupNorm)


def _weight_layers(template: nn.Module) -> list[str]:
    """Names of the weight-bearing modules (Linear, Conv) in order."""
    return [n for n, m in template.named_modules()
            if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d))]


def init_ensemble(
    model: nn.Module | MLPConfig | CNNConfig,
    *,
    members: int | None = None,
    seed: int,
    C_W: Knob = 1.0,
    C_b: Knob = 0.0,
    init: str = "physics",
    member_ids: Sequence[int] | None = None,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
) -> Ensemble:
    """An ensemble of `members` freshly initialised networks (ids 0 … M−1, or `member_ids`).

    Args:
        model: the architecture: an `MLPConfig`, a `CNNConfig`, or a module with an
            ``input_shape`` attribute.
        C_W, C_b: physics knobs per layer and per member (see `lmech.ensemble._knobs`;
            a per-layer list has one entry per weight-bearing layer, readout last).
        init: "physics" (the knobs) or "torch" (PyTorch's default Linear/Conv init).
        member_ids: the ids i of the members; member i draws from seed (seed, i).

    Example:
        >>> ens = init_ensemble(MLPConfig(n_in=3, width=8, depth=2), members=4, seed=0)
        >>> ens(torch.zeros(5, 3)).shape
        torch.Size([4, 5, 1])
    """
    template = _template(model).to(dtype=dtype, device=device)
    if member_ids is None:
        if members is None:
            raise LmechError("give members (an integer >= 1) or member_ids")
        member_ids = list(range(check_members(members)))
    elif members is not None and members != len(member_ids):
        raise LmechError(f"member_ids has {len(member_ids)} entries but members = {members}")
    m = check_members(len(member_ids))
    if init not in INITS:
        raise LmechError(f"init must be one of {INITS}, got {init!r}")
    layers = _weight_layers(template)
    c_w = check_nonnegative(per_layer_member(C_W, "C_W", len(layers), m), "C_W")
    c_b = check_nonnegative(per_layer_member(C_b, "C_b", len(layers), m), "C_b")
    per_member = [
        _init_member(template, layers, c_w[:, j], c_b[:, j], init,
                     torch.Generator().manual_seed(derive(seed, "init", i)))
        for j, i in enumerate(member_ids)
    ]
    params = {k: torch.stack([p[k] for p in per_member]).to(device) for k in per_member[0]}
    return Ensemble(template, params, member_ids)


def _init_member(template, layers, c_w, c_b, init, gen) -> dict[str, torch.Tensor]:
    """One member's parameters, drawn in the template's parameter order from `gen`."""
    out = {}
    for name, p in template.named_parameters():
        owner, _, kind = name.rpartition(".")
        shape, dtype = p.shape, p.dtype
        if owner in layers:
            k = layers.index(owner)
            fan_in = template.get_submodule(owner).weight[0].numel()
            if init == "torch":
                bound = 1 / math.sqrt(fan_in)
                t = (torch.rand(shape, generator=gen, dtype=torch.float64) * 2 - 1) * bound
            else:
                var = c_w[k] / fan_in if kind == "weight" else c_b[k]
                t = torch.randn(shape, generator=gen, dtype=torch.float64) * var.sqrt()
        elif isinstance(template.get_submodule(owner), _NORMS):  # gains 1, shifts 0
            t = torch.ones(shape) if kind == "weight" else torch.zeros(shape)
        else:
            raise LmechError(
                f"init_ensemble cannot initialise parameter {name!r} (of an "
                f"nn.{type(template.get_submodule(owner)).__name__}): it knows Linear and Conv "
                "layers (the knobs) and normalisation layers; draw other modules' "
                "parameters with lmech.models.initialise.default_parameters")
        out[name] = t.to(dtype)
    return out
