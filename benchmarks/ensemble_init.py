"""Monte Carlo at initialisation: preactivations of every layer of many random tanh MLPs.

Measures, in one run and with the same thread count:
- naive: each network built as nn.Modules (Linear layers initialised N(0, C_W/fan_in) from
  a generator) and run on the input, recording every layer's preactivations; timed on a
  subset of networks and reported as networks per second;
- `lmech.ensemble.sample_preactivations` with method="direct" (conditional Gaussian per
  layer) and method="weights" (stacked weights) on all the networks;
- the peak resident memory of sampling 100,000 networks (all layers kept) by chunking.

Prints one JSON line; `speedup_vs_naive` is direct / naive (target >= 200).
Usage: python benchmarks/ensemble_init.py [--networks 10000] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import time

import torch
from torch import nn

from lmech.ensemble import sample_preactivations

WIDTH, DEPTH, C_W, C_B = 64, 20, 1.0, 0.0


def naive(x: torch.Tensor, networks: int, generator: torch.Generator) -> list[torch.Tensor]:
    out = []
    for _ in range(networks):
        layers = nn.ModuleList(nn.Linear(x.shape[1] if k == 0 else WIDTH, WIDTH)
                               for k in range(DEPTH))
        with torch.no_grad():
            for layer in layers:
                nn.init.normal_(layer.weight, 0.0, math.sqrt(C_W / layer.in_features),
                                generator=generator)
                nn.init.zeros_(layer.bias)
            a, zs = x, []
            for layer in layers:
                z = layer(a)
                zs.append(z)
                a = torch.tanh(z)
        out.append(torch.stack(zs))
    return out


def rate(fn, networks: int, repeats: int = 3) -> float:
    """Best of `repeats` networks per second (the machine is shared: the best is the least
    disturbed)."""
    best = math.inf
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return networks / best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--networks", type=int, default=10_000)
    ap.add_argument("--naive-networks", type=int, default=300)
    ap.add_argument("--threads", type=int, default=2)  # both cores, for both sides
    ap.add_argument("--memory-networks", type=int, default=100_000)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    x = torch.ones(1, WIDTH)
    kw = dict(depth=DEPTH, width=WIDTH, activation="tanh", C_W=C_W, C_b=C_B, generator=gen)

    naive_rate = rate(lambda: naive(x, args.naive_networks, gen), args.naive_networks)
    direct = rate(lambda: sample_preactivations(x, members=args.networks, **kw), args.networks)
    weights = rate(lambda: sample_preactivations(x, members=args.networks, method="weights",
                                                 **kw), args.networks, repeats=1)
    # Same distribution: the last layer's second moment from each sampler.
    z_d = sample_preactivations(x, members=args.networks, **kw)[-1]
    z_w = sample_preactivations(x, members=args.networks, method="weights", **kw)[-1]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    big = sample_preactivations(x, members=args.memory_networks, **kw)
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    result = {
        "networks": args.networks, "width": WIDTH, "depth": DEPTH, "threads": args.threads,
        "naive_networks_per_s": round(naive_rate, 1),
        "direct_networks_per_s": round(direct, 1),
        "weights_networks_per_s": round(weights, 1),
        "speedup_vs_naive": round(direct / naive_rate, 1),
        "weights_speedup_vs_naive": round(weights / naive_rate, 1),
        "last_layer_Ez2_direct": round(z_d.pow(2).mean().item(), 5),
        "last_layer_Ez2_weights": round(z_w.pow(2).mean().item(), 5),
        "memory_networks": args.memory_networks,
        "memory_output_gib": round(sum(t.numel() * t.element_size() for t in big) / 2**30, 3),
        "peak_rss_gib": round(peak_gib, 3),
        "peak_rss_gib_before_memory_run": round(before / 2**20, 3),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
