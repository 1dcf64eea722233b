"""Training many MLPs at once: `lmech.ensemble.train` against a loop of separate modules.

Measures, in one run and with the same thread count (2 by default):
- `ceiling`: a large float32 matmul (4096², best of a few, before and after the rest);
- two configurations, each trained full batch by gradient descent on the MSE to a random
  tanh teacher (shared inputs x ~ N(0, 1)):
  `small`: M = 1024, n_in 16, width 32, 3 hidden layers, tanh, 256 samples, 100 steps;
  `wide`: M = 64, n_in 32, width 128, 4 hidden layers, tanh, 1024 samples, 200 steps;
- for each, `lmech.ensemble.train` on an `init_ensemble(...)` (engine "auto", which
  takes the fused path here; the script checks that it does), and the naive loop: one
  `nn.Sequential` per member with its own `torch.optim.SGD`, each member trained for all
  its steps in turn (`zero_grad`, `mse_loss`, `backward`, `step`). The loop runs on the
  first `--naive-small`/`--naive-wide` members, initialised with the ensemble's weights,
  and its time is scaled to M members; the final losses of those members are compared.
  The two alternate `--repeats` times and the best time of each counts;
- `classify`: M = 256, n_in 16, width 64, 2 hidden layers, relu, 10 classes, 2048
  samples in minibatches of 128, Adam, cross-entropy, 100 steps: `train` with
  engine="fused" against engine="autograd" (the same call; the fused path's losses and
  gradients are hand-written, the rest is shared), alternating, best of `--repeats`.

FLOPs are the matmul FLOPs a step needs: forward 2·B·Σ_l n_l·n_(l+1), weight gradients
the same, input gradients 2·B·Σ_(l≥2) n_l·n_(l+1) (none for the first layer: the data
need no gradient); a run is `steps` such steps plus one forward (the final loss).
Elementwise work (σ, σ', bias, loss, update) is not counted.

Prints one JSON line: small.speedup_vs_naive (target >= 5), wide.speedup_vs_naive
(target >= 1.5), wide.fraction_of_ceiling (target >= 0.5), and
classify.fused_speedup_vs_autograd (reported, no target).
Usage: python benchmarks/ensemble_train.py [--threads 2] [--only small|wide|classify]
"""

from __future__ import annotations

import argparse
import json
import math
import time

import torch
from torch import nn

from lmech.ensemble import SGD, Adam, init_ensemble, train
from lmech.ensemble.fused import chunk_size, fused_unsupported
from lmech.models import MLPConfig

CONFIGS = {
    "small": dict(members=1024, n_in=16, width=32, depth=3, samples=256, steps=100),
    "wide": dict(members=64, n_in=32, width=128, depth=4, samples=1024, steps=200),
}
LR = 0.05


def best_time(fn, repeats: int) -> float:
    """Best of `repeats` wall times (the machine is shared: the best is the least
    disturbed)."""
    best = math.inf
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def ceiling_gflops(n: int = 4096, repeats: int = 5) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    c = torch.empty(n, n)
    torch.matmul(a, b, out=c)
    return 2 * n**3 / best_time(lambda: torch.matmul(a, b, out=c), repeats) / 1e9


def step_flops(widths: list[int], batch: int) -> tuple[int, int]:
    """(FLOPs of one training step, FLOPs of one forward) of one member."""
    pairs = [a * b for a, b in zip(widths[:-1], widths[1:], strict=True)]
    forward = 2 * batch * sum(pairs)
    return 2 * forward + 2 * batch * sum(pairs[1:]), forward


def data(cfg: dict, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs ``(P, n_in)`` and a random tanh teacher's outputs ``(P, 1)``."""
    x = torch.randn(cfg["samples"], cfg["n_in"], generator=gen)
    teacher = init_ensemble(config(cfg), members=1, seed=10**6)
    with torch.no_grad():
        return x, teacher(x)[0]


def config(cfg: dict) -> MLPConfig:
    return MLPConfig(cfg["n_in"], cfg["width"], cfg["depth"], 1, activation="tanh")


def naive(ensemble, members: int, x, y, steps: int) -> list[float]:
    """Each member as an nn.Sequential with its own torch.optim.SGD; final losses."""
    nets = []
    for i in range(members):
        layers = []
        for k, lin in enumerate(ensemble.member(i).layers):
            layers += [lin] if k == len(ensemble.template.layers) - 1 else [lin, nn.Tanh()]
        nets.append(nn.Sequential(*layers))
    final = []
    for net in nets:
        opt = torch.optim.SGD(net.parameters(), lr=LR)
        for _ in range(steps):
            opt.zero_grad()
            nn.functional.mse_loss(net(x), y).backward()
            opt.step()
        with torch.no_grad():
            final.append(nn.functional.mse_loss(net(x), y).item())
    return final


def measure(name: str, naive_members: int, repeats: int, gen: torch.Generator) -> dict:
    cfg = CONFIGS[name]
    x, y = data(cfg, gen)
    m, steps = cfg["members"], cfg["steps"]
    opt = SGD(lr=LR)
    fresh = init_ensemble(config(cfg), members=m, seed=0)
    reason = fused_unsupported(fresh, (x, y), "mse")
    if reason is not None:
        raise SystemExit(f"the fused path does not apply to {name}: {reason}")
    trained = {}

    def run_engine():
        ens = init_ensemble(config(cfg), members=m, seed=0)
        trained["traj"] = train(ens, x, y, optimizer=opt, steps=steps, every=steps)

    final_naive = []
    t_engine = t_naive = math.inf
    for _ in range(repeats):  # alternating, so that both see the same disturbances
        t_engine = min(t_engine, best_time(run_engine, 1))
        t_naive = min(t_naive, best_time(
            lambda: final_naive.append(naive(fresh, naive_members, x, y, steps)), 1))
    t_naive *= m / naive_members
    engine_final = trained["traj"].loss[:naive_members, -1]
    rel = (engine_final - torch.tensor(final_naive[0], dtype=torch.float64)).abs() / \
        engine_final.abs()
    widths = config(cfg).widths
    per_step, forward = step_flops(widths, cfg["samples"])
    flops = m * (steps * per_step + forward)
    return {
        **cfg, "engine_s": round(t_engine, 3), "naive_s_scaled": round(t_naive, 3),
        "naive_members_timed": naive_members,
        "speedup_vs_naive": round(t_naive / t_engine, 2),
        "engine_gflops": round(flops / t_engine / 1e9, 1),
        "naive_gflops": round(flops / t_naive / 1e9, 1),
        "chunk_members": chunk_size(widths, cfg["samples"], m, 4),
        "final_loss_mean": round(trained["traj"].loss[:, -1].mean().item(), 6),
        "final_loss_max_rel_diff_vs_naive": float(f"{rel.max().item():.2g}"),
    }


CLASSIFY = dict(members=256, n_in=16, width=64, depth=2, classes=10, samples=2048,
                batch_size=128, steps=100)


def measure_classify(repeats: int, gen: torch.Generator) -> dict:
    """Minibatch Adam on the cross-entropy: the fused engine against autograd."""
    cfg = CLASSIFY
    net = MLPConfig(cfg["n_in"], cfg["width"], cfg["depth"], cfg["classes"],
                    activation="relu")
    x = torch.randn(cfg["samples"], cfg["n_in"], generator=gen)
    y = (x[:, :4] > 0).long() @ torch.tensor([1, 2, 3, 4]) % cfg["classes"]  # (P,) labels
    reason = fused_unsupported(init_ensemble(net, members=2, seed=0), (x, y),
                               "cross_entropy")
    if reason is not None:
        raise SystemExit(f"the fused path does not apply to classify: {reason}")
    times, final = {}, {}
    for _ in range(repeats):
        for engine in ("fused", "autograd"):
            ens = init_ensemble(net, members=cfg["members"], seed=0)

            def run(ens=ens, engine=engine):
                final[engine] = train(ens, x, y, optimizer=Adam(lr=1e-3),
                                      steps=cfg["steps"], batch_size=cfg["batch_size"],
                                      loss="cross_entropy", every=cfg["steps"],
                                      engine=engine).loss[:, -1]

            times[engine] = min(times.get(engine, math.inf), best_time(run, 1))
    rel = ((final["fused"] - final["autograd"]).abs() / final["autograd"]).max().item()
    return {**cfg, "fused_s": round(times["fused"], 3),
            "autograd_s": round(times["autograd"], 3),
            "fused_speedup_vs_autograd": round(times["autograd"] / times["fused"], 2),
            "final_loss_mean": round(final["fused"].mean().item(), 6),
            "final_loss_max_rel_diff_fused_vs_autograd": float(f"{rel:.2g}")}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--naive-small", type=int, default=64)
    ap.add_argument("--naive-wide", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--only", choices=[*sorted(CONFIGS), "classify"])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    ceiling = ceiling_gflops()
    result = {}
    if args.only in (None, "small"):
        result["small"] = measure("small", args.naive_small, args.repeats, gen)
    if args.only in (None, "wide"):
        result["wide"] = measure("wide", args.naive_wide, args.repeats, gen)
    if args.only in (None, "classify"):
        result["classify"] = measure_classify(args.repeats, gen)
    ceiling = max(ceiling, ceiling_gflops())
    if "wide" in result:
        result["wide"]["fraction_of_ceiling"] = round(result["wide"]["engine_gflops"] /
                                                      ceiling, 3)
    result.update({
        "ceiling_gflops": round(ceiling, 1), "threads": args.threads,
        "flops_counted": "matmul only: forward 2B·Σ n_l n_(l+1), weight grads the same, "
                         "input grads for layers 2..L; steps·(fwd+bwd) + 1 forward",
        "torch": torch.__version__,
    })
    print(json.dumps(result))


if __name__ == "__main__":
    main()
