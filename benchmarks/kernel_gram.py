"""Depth-10 ReLU NNGP Gram matrix of 2000 inputs of dimension 32: lmech against a baseline.

Baselines, measured in the same run: a plain float64 numpy recursion over the full matrix
(the textbook arc-cosine implementation), and neural-tangents' `stax` NNGP kernel, jitted and
timed JIT-warm in JAX's default float32, when it is installed (the `crosscheck` extra:
pip install -e ".[crosscheck]"). `speedup_vs_neural_tangents` and `max_abs_diff` compare the
timed lmech float32 result with neural-tangents'. Prints one JSON line with the timings
(best of `--repeats`), the speedups and the largest absolute difference.

    python benchmarks/kernel_gram.py [--n 2000] [--dim 32] [--depth 10] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np

from lmech.theory import nngp_kernel

C_W, C_B = 2.0, 0.0


def plain_numpy_relu_gram(x: np.ndarray, depth: int) -> np.ndarray:
    """The textbook float64 recursion on the full matrix (the baseline)."""
    K = C_B + C_W * x @ x.T / x.shape[1]
    for _ in range(depth - 1):
        d = np.sqrt(np.diag(K))
        norm = np.outer(d, d)
        cos = np.clip(K / norm, -1.0, 1.0)
        theta = np.arccos(cos)
        K = C_B + C_W * norm / (2 * math.pi) * (np.sin(theta) + (math.pi - theta) * cos)
    return K


def neural_tangents_gram(x: np.ndarray, depth: int):
    """A function computing neural-tangents' NNGP Gram (None if not installed)."""
    try:
        import jax
        from neural_tangents import stax
    except ImportError:
        return None
    layers = [stax.Dense(1, W_std=math.sqrt(C_W), b_std=math.sqrt(C_B))]
    for _ in range(depth - 1):
        layers += [stax.Relu(), stax.Dense(1, W_std=math.sqrt(C_W), b_std=math.sqrt(C_B))]
    _, _, kernel_fn = stax.serial(*layers)
    # jitted, as neural-tangents recommends (at this size eager is as fast); JAX default float32
    kernel_fn = jax.jit(kernel_fn, static_argnames="get")
    return lambda: kernel_fn(x, None, get="nngp").block_until_ready()  # converted untimed


def best_time(fn, repeats: int):
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--dim", type=int, default=32)
    p.add_argument("--depth", type=int, default=10)
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    x = np.random.default_rng(0).normal(size=(a.n, a.dim))
    t32, k32 = best_time(lambda: nngp_kernel(x, depth=a.depth, dtype=np.float32), a.repeats)
    t64, k64 = best_time(lambda: nngp_kernel(x, depth=a.depth), a.repeats)
    t_np, k_np = best_time(lambda: plain_numpy_relu_gram(x, a.depth), a.repeats)
    out = {
        "benchmark": "kernel_gram", "n": a.n, "dim": a.dim, "depth": a.depth,
        "lmech_float32_seconds": round(t32, 4), "lmech_float64_seconds": round(t64, 4),
        "numpy_float64_seconds": round(t_np, 4),
        "speedup_float32_vs_numpy": round(t_np / t32, 2),
        "speedup_float64_vs_numpy": round(t_np / t64, 2),
        "max_abs_diff_float32_vs_numpy": float(np.abs(k32 - k_np).max()),
        "max_abs_diff_float64_vs_numpy": float(np.abs(k64 - k_np).max()),
    }
    nt = neural_tangents_gram(x, a.depth)
    if nt is None:
        out["neural_tangents"] = "not installed (pip install -e '.[crosscheck]')"
    else:
        t_first, _ = best_time(nt, 1)  # JIT warm-up, as in PERF.md's 0.87 s figure
        t_nt, k_nt = best_time(nt, a.repeats)
        k_nt = np.asarray(k_nt, dtype=np.float64)
        out.update({"neural_tangents_seconds": round(t_nt, 4),
                    "neural_tangents_first_call_seconds": round(t_first, 4),
                    "speedup_vs_neural_tangents": round(t_nt / t32, 2),
                    "max_abs_diff": float(np.abs(k32 - k_nt).max()),
                    "max_abs_diff_float64_vs_neural_tangents": float(np.abs(k64 - k_nt).max())})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
