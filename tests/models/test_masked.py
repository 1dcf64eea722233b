"""models.masked: the stacked masked forward against a loop of pruned torch modules, zero
gradient on pruned weights, and unknown mask names refused."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils import prune

from lmech.errors import LmechError
from lmech.models.masked import StackedForward


def _template() -> nn.Module:
    return nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3, bias=False))


def _stacked(generator, members: int = 3):
    net = _template()
    params = {k: torch.randn(members, *v.shape, generator=generator)
              for k, v in net.named_parameters()}
    masks = {k: torch.rand(params[k].shape, generator=generator) > 0.5
             for k in ("0.weight", "2.weight")}
    return net, params, {k: v.float() for k, v in masks.items()}


def test_each_member_is_its_module_pruned_by_torch(generator) -> None:
    """Oracle: member m equals a module holding member m's parameters with
    torch.nn.utils.prune.custom_from_mask applied, on a shared and a per-member batch."""
    net, params, masks = _stacked(generator)
    forward = StackedForward(net, masks, input_dims=1)
    shared = torch.randn(5, 4, generator=generator)
    per_member = torch.randn(3, 5, 4, generator=generator)
    out_shared, out_own = forward(params, (shared,)), forward(params, (per_member,))
    for m in range(3):
        module = _template()
        module.load_state_dict({k: v[m] for k, v in params.items()})
        for name in masks:
            layer = module[int(name.split(".")[0])]
            prune.custom_from_mask(layer, "weight", masks[name][m])
        torch.testing.assert_close(out_shared[m], module(shared))
        torch.testing.assert_close(out_own[m], module(per_member[m]))


def test_pruned_weights_get_zero_gradient(generator) -> None:
    net, params, masks = _stacked(generator)
    leaves = {k: v.clone().requires_grad_() for k, v in params.items()}
    StackedForward(net, masks, input_dims=1)(leaves, (torch.ones(2, 4),)).sum().backward()
    for name, mask in masks.items():
        assert torch.all(leaves[name].grad[mask == 0] == 0)
        assert torch.any(leaves[name].grad[mask == 1] != 0)


def test_unknown_mask_names_are_refused() -> None:
    with pytest.raises(LmechError, match="not parameters"):
        StackedForward(_template(), {"3.weight": torch.ones(1)}, input_dims=1)
