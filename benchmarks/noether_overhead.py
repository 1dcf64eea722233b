"""NoetherTracker's overhead on a training step of the digits CNN, at cadence 1 and 10.

Targets (issue 5): at most 30 % at cadence 1 and 5 % at cadence 10. The baseline is the
same loop without the tracker, measured in the same run: plain, cadence-1 and cadence-10
blocks of 25 steps are interleaved (in rotating order) over many rounds. The overhead is
the median over rounds of (tracked block time / plain block time of the same round) − 1:
pairing blocks measured a few milliseconds apart cancels the shared machine's drifts,
and the median discards rounds hit by a burst from another process. The ratio of each
configuration's fastest block is printed too. Attaching the tracker (once per run) and
assembling its table (`records`, once per analysis) are timed separately.

Prints one JSON line: overhead_cadence_1 and overhead_cadence_10 as fractions.
"""

from __future__ import annotations

import json
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from lmech.measure import NoetherTracker
from lmech.tasks import digits
from lmech.tools import detect

STEPS = 25  # per block
ROUNDS = 60
BATCH = 64


class DigitsCNN(nn.Module):
    """The digits CNN of `symmetry.scale_norm_dynamics` (two conv + BatchNorm layers)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8)
        self.conv2, self.bn2 = nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16)
        self.fc = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.relu(self.bn2(self.conv2(x)))
        return self.fc(x.mean((2, 3)))


def _block(model, opt, data, batches, cadence: int | None, symmetries) -> tuple[float, float]:
    """Seconds per training step of one block (cadence None: no tracker), and the seconds
    `records()` then takes once to assemble the table (not a per-step cost)."""

    def loop() -> None:
        for idx in batches:
            opt.zero_grad()
            F.cross_entropy(model(data.x[idx]), data.y[idx]).backward()
            opt.step()

    if cadence is None:
        start = time.perf_counter()
        loop()
        return (time.perf_counter() - start) / len(batches), 0.0
    with NoetherTracker(model, opt, symmetries, cadence=cadence) as tracker:
        start = time.perf_counter()  # attaching is a once-per-run cost, not a step's
        loop()
        per_step = (time.perf_counter() - start) / len(batches)
    start = time.perf_counter()
    tracker.records()
    return per_step, time.perf_counter() - start


def main() -> None:
    torch.set_num_threads(1)
    data = digits()
    gen = torch.Generator().manual_seed(0)
    model = DigitsCNN()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    symmetries = detect(model, data.x[:2], loss="cross_entropy")
    batches = [torch.randint(0, len(data.y), (BATCH,), generator=gen) for _ in range(STEPS)]
    steps_per_run = STEPS
    _block(model, opt, data, batches, None, symmetries)  # warm-up
    configs = {"plain": None, "c1": 1, "c10": 10}
    times: dict[str, list[float]] = {k: [] for k in configs}
    table: dict[str, list[float]] = {k: [] for k in configs}
    order = list(configs)
    for r in range(ROUNDS):
        for name in order[r % 3:] + order[: r % 3]:  # rotate so no configuration always leads
            step, rec = _block(model, opt, data, batches, configs[name], symmetries)
            times[name].append(step)
            table[name].append(rec)
    best = {k: min(v) for k, v in times.items()}
    paired = {k: statistics.median(c / p for c, p in zip(times[k], times["plain"], strict=True))
              - 1 for k in ("c1", "c10")}
    print(json.dumps({
        "benchmark": "noether_overhead",
        "model": "digits CNN (2 conv+BN, batch 64), SGD momentum 0.9, wd 5e-4",
        "symmetries": len(symmetries),
        "step_ms_plain": round(1e3 * best["plain"], 4),
        "step_ms_cadence_1": round(1e3 * best["c1"], 4),
        "step_ms_cadence_10": round(1e3 * best["c10"], 4),
        "fastest_block_overhead_cadence_1": round(best["c1"] / best["plain"] - 1, 4),
        "fastest_block_overhead_cadence_10": round(best["c10"] / best["plain"] - 1, 4),
        "records_ms_cadence_1": round(1e3 * statistics.median(table["c1"]), 2),
        "steps_per_block": steps_per_run,
        "blocks_per_configuration": ROUNDS,
        "overhead_cadence_1": round(paired["c1"], 4),
        "overhead_cadence_10": round(paired["c10"], 4),
        "targets": {"overhead_cadence_1": 0.30, "overhead_cadence_10": 0.05},
        "threads": torch.get_num_threads(),
    }))


if __name__ == "__main__":
    main()
