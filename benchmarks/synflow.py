"""Iterative SynFlow, 100 iterations on a VGG-11-shaped network: lmech vs a plain loop.

Network: VGG-11's layout (8 convolutions 3×3 with BatchNorm and ReLU, 5 max-pools, a
linear readout) with every channel count divided by 4 (16-32-64-64-128-128-128-128), on
CIFAR-sized 3×32×32 inputs; 577,712 prunable weights. Target compression ρ = 100 with the
exponential schedule (the k-th of 100 iterations keeps ρ^(−k/100) of the weights).

- lmech: `lmech.measure.prune_masks(model, "synflow", ρ)`. The |θ| network is built once
  (float64, normalisation layers made positive); each iteration multiplies one flat |θ|
  vector by one flat mask, runs one forward and one backward pass through
  ``torch.func.functional_call`` with views of that vector as the weights, and ranks the
  flat gradient ⊙ weight with one ``kthvalue`` over the entries still alive.
- plain: the same scores written as the per-iteration loop most code uses: deep-copy the
  model, cast it to float64, take |·| of every state_dict entry, multiply each weight by
  its mask, forward and backward, concatenate the per-layer scores and keep the global
  top-k with ``torch.topk``.

Both run with BatchNorm in evaluation mode (``norms="running"`` for lmech: at
initialisation it is the identity either way), so they compute the same scores and the
final masks are compared entry by entry (`masks_agree`). lmech's default ``norms="flow"``
is timed too. Prints one JSON line; `time_ratio` is plain over lmech (median of
`--repeats`). One intra-op thread by default: every pass is on a single sample, and on a
2-core machine shared with other work two threads made both sides several times slower
and far noisier (`--threads 2` to see it).
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time

import torch
from torch import nn

from lmech.measure.pruning import prune_masks

VGG11 = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")
PRUNABLE = (nn.Conv2d, nn.Linear)


def vgg11(scale: int = 4, classes: int = 10) -> nn.Sequential:
    layers: list[nn.Module] = []
    cin = 3
    for item in VGG11:
        if item == "M":
            layers.append(nn.MaxPool2d(2))
            continue
        cout = int(item) // scale
        layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU()]
        cin = cout
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(cin, classes))


def plain_synflow(model: nn.Module, compression: float, iterations: int,
                  input_shape: tuple[int, ...]) -> dict[str, torch.Tensor]:
    """SynFlow as a plain per-iteration loop, rebuilding everything every time."""
    names = [f"{n}.weight" for n, m in model.named_modules() if isinstance(m, PRUNABLE)]
    masks = {n: torch.ones_like(model.get_parameter(n), dtype=torch.bool) for n in names}
    total = sum(m.numel() for m in masks.values())
    for k in range(1, iterations + 1):
        net = copy.deepcopy(model).double().eval()
        with torch.no_grad():
            for tensor in net.state_dict().values():
                if tensor.is_floating_point():
                    tensor.abs_()
            for name in names:
                net.get_parameter(name).mul_(masks[name])
        net.zero_grad()
        net(torch.ones(1, *input_shape, dtype=torch.float64)).sum().backward()
        scores = [(net.get_parameter(n).grad * net.get_parameter(n)).detach().reshape(-1)
                  for n in names]
        flat = torch.cat(scores)
        flat[~torch.cat([masks[n].reshape(-1) for n in names])] = -1.0  # never revived
        keep = torch.zeros(total, dtype=torch.bool)
        keep[torch.topk(flat, round(total * compression ** (-k / iterations))).indices] = True
        start = 0
        for name in names:
            size = masks[name].numel()
            masks[name] = keep[start:start + size].view_as(masks[name])
            start += size
    return masks


def _timed(fn, repeats: int):
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return out, statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compression", type=float, default=100.0)
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)  # the layers' own default initialisation
    model = vgg11()
    shape = (3, 32, 32)
    rho, n = args.compression, args.iterations
    ours, t_ours = _timed(lambda: prune_masks(model, "synflow", rho, input_shape=shape,
                                              iterations=n, norms="running"), args.repeats)
    _, t_flow = _timed(lambda: prune_masks(model, "synflow", rho, input_shape=shape,
                                           iterations=n), args.repeats)
    plain, t_plain = _timed(lambda: plain_synflow(model, rho, n, shape), args.repeats)
    total = sum(m.numel() for m in ours.values())
    agree = sum(int((ours[k] == plain[k]).sum()) for k in ours) / total
    print(json.dumps({
        "benchmark": "synflow_vgg11_quarter",
        "prunable_weights": total,
        "kept": sum(int(m.sum()) for m in ours.values()),
        "compression": rho,
        "iterations": n,
        "threads": args.threads,
        "lmech_seconds": round(t_ours, 3),
        "plain_seconds": round(t_plain, 3),
        "time_ratio": round(t_plain / t_ours, 3),
        "lmech_flow_norms_seconds": round(t_flow, 3),
        "masks_agree": agree,
    }))


if __name__ == "__main__":
    main()
