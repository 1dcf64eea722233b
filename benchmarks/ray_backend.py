"""The Ray backend against the local one, on this machine, in one run.

Measures, with one torch thread per task on both backends (so both do the same work and
give the same numbers):
- `work`: `verify init. dynamics. --seeds 0:4` at the `quick` budget (`--work` names other
  laws), local (tasks one after another) and on a local Ray cluster (as many tasks at once
  as there are cores);
  `speedup` = local / Ray (target >= 1.6 on 2 cores);
- `smoke book`: every law at `smoke`, seed 0, local and on Ray; Ray's fixed overhead is
  its wall time beyond what its tasks need on the cores it has: Ray wall − max(longest
  task, Σ task time / cores) (target <= 15 s), with `ray.init`'s own time beside it;
- `scheduler`: throughput of trivial tasks (submitted at once, waited for together) on
  the same cluster, tasks per second.

Prints one JSON line. Usage: python benchmarks/ray_backend.py [--cores 2] [--skip-work]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

from lmech.laws import all_laws, select_laws
from lmech.run import verify

WORK = ("init.", "dynamics.")


def _timed(laws, budget, seeds, backend, out) -> tuple[float, float, float]:
    """(wall seconds, Σ task seconds, longest task seconds)."""
    start = time.perf_counter()
    summary = verify(laws, out=out, budget=budget, seed=seeds, backend=backend, threads=1)
    wall = time.perf_counter() - start
    tasks = [r.seconds for r in summary.per_seed]
    return wall, sum(tasks), max(tasks)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--work", nargs="+", default=list(WORK), help="laws or prefixes")
    parser.add_argument("--skip-work", action="store_true",
                        help="only the smoke book and the scheduler (minutes less)")
    args = parser.parse_args()
    import ray

    result: dict = {"cores": args.cores}
    start = time.perf_counter()
    ray.init(num_cpus=args.cores, include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    result["ray_init_s"] = round(time.perf_counter() - start, 2)

    @ray.remote(num_cpus=1)
    def nothing(i: int) -> int:
        return i

    ray.get([nothing.remote(i) for i in range(50)])  # warm the workers
    n = 2000
    start = time.perf_counter()
    ray.get([nothing.remote(i) for i in range(n)])
    result["scheduler_tasks_per_s"] = round(n / (time.perf_counter() - start), 1)

    with tempfile.TemporaryDirectory() as tmp:
        book = list(all_laws())
        local = _timed(book, "smoke", 0, "local", f"{tmp}/smoke-local")
        remote = _timed(book, "smoke", 0, "ray", f"{tmp}/smoke-ray")
        ideal = max(remote[2], remote[1] / args.cores)
        result["smoke_book"] = {"local_s": round(local[0], 1), "ray_s": round(remote[0], 1),
                                "ray_fixed_overhead_s": round(remote[0] - ideal, 1)}
        if not args.skip_work:
            laws = select_laws(args.work)
            seeds = range(4)
            local = _timed(laws, "quick", seeds, "local", f"{tmp}/work-local")
            remote = _timed(laws, "quick", seeds, "ray", f"{tmp}/work-ray")
            result["work"] = {"tasks": len(laws) * 4, "local_s": round(local[0], 1),
                              "ray_s": round(remote[0], 1),
                              "speedup": round(local[0] / remote[0], 2)}
    ray.shutdown()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
