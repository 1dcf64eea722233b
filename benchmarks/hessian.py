"""Top Hessian eigenvalue: lmech's Lanczos vs plain power iteration, measured in the same run.

Model: a tanh MLP 128 → 256 → 256 → 1 (99,073 parameters) on 1024 Gaussian samples with a
random-teacher target, after 100 Adam steps (so the spectrum is that of a partly trained
network, not of the initialisation). Both methods use the same double-backward
Hessian–vector product with the gradient graph built once and kept (the cheapest product
in PyTorch on this machine, PERF.md), the same start vector and the same stopping rule:
the relative residual ‖Hv − λv‖ <= 1e-3·|λ|. A reference λ_max from lmech at 1e-9 gives
each method's actual relative error. The plain power iteration is also reported with the
common looser rule (stop when λ changes by less than 1e-3 relative between iterations).

Prints one JSON line; `hvp_ratio` and `time_ratio` are plain over lmech (median of
`--repeats` timings each).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from torch import nn

from lmech.measure import HessianOperator
from lmech.measure._lanczos import lanczos

TOL = 1e-3


def _problem(seed: int):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(1024, 128, generator=gen)
    teacher = torch.randn(128, generator=gen) / 128**0.5
    y = torch.sin(3 * x @ teacher).unsqueeze(1)
    torch.manual_seed(seed)  # nn.Linear's default initialisation
    model = nn.Sequential(nn.Linear(128, 256), nn.Tanh(), nn.Linear(256, 256), nn.Tanh(),
                          nn.Linear(256, 1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(100):
        opt.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        opt.step()
    start = torch.randn(sum(p.numel() for p in model.parameters()), generator=gen)
    return model, x, y, start


def _power_iteration(op: HessianOperator, start: torch.Tensor, rule: str, max_iter: int = 1000):
    v = start / torch.linalg.vector_norm(start)
    previous = None
    for k in range(1, max_iter + 1):
        hv = op(v)
        lam = float(v @ hv)
        if rule == "residual" and float(torch.linalg.vector_norm(hv - lam * v)) <= TOL * abs(lam):
            return lam, k
        if rule == "change" and previous is not None and abs(lam - previous) <= TOL * abs(lam):
            return lam, k
        previous = lam
        v = hv / torch.linalg.vector_norm(hv)
    raise RuntimeError("power iteration did not converge")


def _lmech(op: HessianOperator, start: torch.Tensor, tol: float = TOL):
    run = lanczos(op, start, 500, k=1, tol=tol)
    return float(run.ritz_values[-1]), run.n_matvec


def _timed(fn, model, x, y, start, repeats: int):
    times, out = [], None
    for _ in range(repeats):
        op = HessianOperator(model, nn.functional.mse_loss, (x, y))
        t0 = time.perf_counter()
        out = fn(op, start)
        times.append(time.perf_counter() - t0)  # includes building the gradient graph
    return out, statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, x, y, start = _problem(args.seed)
    n_params = start.numel()
    reference, _ = _lmech(HessianOperator(model, nn.functional.mse_loss, (x, y)), start, 1e-9)
    (lam_l, hvp_l), t_l = _timed(_lmech, model, x, y, start, args.repeats)
    (lam_p, hvp_p), t_p = _timed(lambda op, s: _power_iteration(op, s, "residual"),
                                 model, x, y, start, args.repeats)
    (lam_c, hvp_c), t_c = _timed(lambda op, s: _power_iteration(op, s, "change"),
                                 model, x, y, start, args.repeats)
    print(json.dumps({
        "benchmark": "hessian_top_eigenvalue",
        "n_params": n_params,
        "n_samples": int(x.shape[0]),
        "tol": TOL,
        "threads": args.threads,
        "reference_lambda_max": reference,
        "lmech": {"hvps": hvp_l, "seconds": round(t_l, 4),
                  "rel_error": abs(lam_l - reference) / reference},
        "plain_power": {"hvps": hvp_p, "seconds": round(t_p, 4),
                        "rel_error": abs(lam_p - reference) / reference},
        "plain_power_change_rule": {"hvps": hvp_c, "seconds": round(t_c, 4),
                                    "rel_error": abs(lam_c - reference) / reference},
        "hvp_ratio": hvp_p / hvp_l,
        "time_ratio": t_p / t_l,
        "hvp_ratio_change_rule": hvp_c / hvp_l,
        "time_ratio_change_rule": t_c / t_l,
    }))


if __name__ == "__main__":
    main()
