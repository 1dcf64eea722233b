"""A law's run time beside busy processes: does it lose more than the CPU share it lost?

Runs one law at its `quick` budget (seed 0) twice in this process, with the runner's
thread setting: idle, then beside two busy loops (two Python processes spinning on the
machine's cores). With k effective threads idle (its CPU time over its wall time), fair
scheduling beside two spinning processes on c cores gives it c·k/(k + 2) cores, so the
slowdown its lost CPU share explains is k / (c·k/(k + 2)) = (k + 2)/c; the target is a
measured slowdown within 3× of that (the audit saw 20× for `dln.saxe_modes`: two-thread
ops stalling on a busy core).

Prints one JSON line. Usage: python benchmarks/contention.py [LAW] [--busy 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from lmech.laws import get_law
from lmech.run.tasks import run_law, torch_threads


def _run(law, params, threads: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of one run."""
    c0, t0 = time.process_time(), time.perf_counter()
    with torch_threads(threads):
        result = run_law(law, params, budget="quick", seed=0)
    if result.error:
        raise SystemExit(result.error)
    return time.perf_counter() - t0, time.process_time() - c0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("law", nargs="?", default="dln.saxe_modes")
    parser.add_argument("--busy", type=int, default=2, help="spinning processes")
    parser.add_argument("--threads", type=int, default=min(os.cpu_count() or 1, 2),
                        help="the runner's thread cap (its local default)")
    args = parser.parse_args()
    law = get_law(args.law)
    params = law.parameters("quick")
    cores = os.cpu_count() or 1
    _run(law, params, args.threads)  # warm caches and lazy imports
    idle_wall, idle_cpu = _run(law, params, args.threads)
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                for _ in range(args.busy)]
    try:
        time.sleep(1.0)
        busy_wall, busy_cpu = _run(law, params, args.threads)
    finally:
        for p in spinners:
            p.kill()
            p.wait()
    k = idle_cpu / idle_wall
    explained = max(1.0, (k + args.busy) / cores)
    slowdown = busy_wall / idle_wall
    print(json.dumps({
        "law": law.name, "cores": cores, "busy_processes": args.busy,
        "thread_cap": args.threads, "idle_s": round(idle_wall, 2),
        "idle_effective_threads": round(k, 2), "busy_s": round(busy_wall, 2),
        "slowdown": round(slowdown, 2), "explained_by_cpu_share": round(explained, 2),
        "slowdown_over_explained": round(slowdown / explained, 2),
        "target_slowdown_over_explained": 3.0,
    }))


if __name__ == "__main__":
    main()
