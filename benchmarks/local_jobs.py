"""`verify --jobs 2` (tasks in two worker processes) against the one-process loop, in one run.

Both sides run the same laws at the same budget and seed with one torch thread per task,
so they do the same work and give the same numbers. `speedup` = one-process wall / jobs
wall; `ideal` = Σ task seconds / max(longest task, Σ task seconds / jobs), what perfect
packing on `jobs` cores would give. The default work is the smoke book (seconds); pass
`--budget quick` for the whole quick book (about 11 + 6 minutes on two cores).

Prints one JSON line. Usage: python benchmarks/local_jobs.py [--budget smoke] [--jobs 2]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

from lmech.laws import all_laws
from lmech.run import verify


def _timed(laws, budget: str, jobs: int, out: str) -> tuple[float, list[float]]:
    start = time.perf_counter()
    summary = verify(laws, out=out, budget=budget, seed=0, threads=1, jobs=jobs)
    return time.perf_counter() - start, [r.seconds for r in summary.per_seed]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--budget", default="smoke")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    laws = list(all_laws())
    with tempfile.TemporaryDirectory() as tmp:
        loop_wall, tasks = _timed(laws, args.budget, 1, f"{tmp}/loop")
        jobs_wall, _ = _timed(laws, args.budget, args.jobs, f"{tmp}/jobs")
    total = sum(tasks)
    print(json.dumps({
        "budget": args.budget, "laws": len(laws), "jobs": args.jobs,
        "one_process_wall_s": round(loop_wall, 1), "jobs_wall_s": round(jobs_wall, 1),
        "task_sum_s": round(total, 1), "speedup": round(loop_wall / jobs_wall, 2),
        "ideal": round(total / max(max(tasks), total / args.jobs), 2),
    }))


if __name__ == "__main__":
    main()
