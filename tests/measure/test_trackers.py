"""Trackers of ensemble training against brute force on tiny cases: the float64 step
geometry per member, group and window; the curves; bad groups named."""

from __future__ import annotations

import math

import pytest
import torch

from lmech.ensemble import SGD, Adam, init_ensemble, train
from lmech.errors import LmechError
from lmech.measure import GEOMETRY, CurveTracker, StepGeometry, Tracker
from lmech.models import MLPConfig

M, STEPS = 3, 12
GROUPS = {"hidden": ["layers.0.weight", "layers.0.bias"], "readout": ["layers.1.weight"]}


class Everything:
    """Copies every step's θ_k, g_k, θ_{k+1} and the momentum buffer (the brute force)."""

    def __init__(self, buffer="momentum_buffer") -> None:
        self.buffer = buffer
        self.steps = []

    def observe(self, s) -> None:
        if s.final:
            return
        buf = s.state.get(self.buffer)
        self.steps.append({
            "theta": {k: v.detach().double().clone() for k, v in s.params.items()},
            "after": {k: v.detach().double().clone() for k, v in s.params_after.items()},
            "grad": {k: v.detach().double().clone() for k, v in s.grads.items()},
            "buffer": None if buf is None else {k: v.double().clone() for k, v in buf.items()},
        })

    def records(self):
        return self.steps


def _fsum_dot(tensors_a, tensors_b, m) -> float:
    """Σ over the tensors of ⟨a_m, b_m⟩, products summed exactly (math.fsum)."""
    return math.fsum(float(u) * float(v) for a, b in zip(tensors_a, tensors_b, strict=True)
                     for u, v in zip(a[m].flatten().tolist(), b[m].flatten().tolist(),
                                     strict=True))


def _brute(step, names, m) -> dict[str, float]:
    th = [step["theta"][k] for k in names]
    af = [step["after"][k] for k in names]
    gr = [step["grad"][k] for k in names]
    diff = [a - t for a, t in zip(af, th, strict=True)]
    buf = None if step["buffer"] is None else [step["buffer"][k] for k in names]
    return {
        "theta_sq": _fsum_dot(th, th, m), "dot": _fsum_dot(th, af, m),
        "next_sq": _fsum_dot(af, af, m), "step_sq": _fsum_dot(diff, diff, m),
        "grad_sq": _fsum_dot(gr, gr, m), "grad_dot": _fsum_dot(gr, th, m),
        "buffer_sq": math.nan if buf is None else _fsum_dot(buf, buf, m),
        "theta_sum": math.fsum(float(u) for t in th for u in t[m].flatten().tolist()),
    }


def _run(optimizer, dtype, trackers, generator):
    x = torch.randn(10, 3, generator=generator, dtype=dtype)
    y = torch.randn(10, 2, generator=generator, dtype=dtype)
    ens = init_ensemble(MLPConfig(3, 5, 1, 2, activation="relu"), members=M, seed=1,
                        C_b=0.1, dtype=dtype)
    train(ens, x, y, optimizer=optimizer, steps=STEPS, batch_size=5, trackers=trackers)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_step_geometry_equals_brute_force(dtype, generator) -> None:
    """Every quantity, per member and group, on a cadence and over per-member windows."""
    start = torch.tensor([0, 3, 5])
    stop = torch.tensor([12, 9, 6])
    geometry = StepGeometry(GROUPS, every=4, windows={"w": (start, stop)})
    brute = Everything()
    _run(SGD(lr=0.1, momentum=0.9, weight_decay=0.01), dtype,
         {"geometry": geometry, "brute": brute}, generator)
    rec = geometry.records()
    assert rec["groups"] == list(GROUPS) and rec["steps"].tolist() == [0, 4, 8]
    window = rec["windows"]["w"]
    assert window["count"].tolist() == (stop - start).tolist()
    for g, (group, names) in enumerate(GROUPS.items()):
        for m in range(M):
            for t, k in enumerate(rec["steps"].tolist()):
                want = _brute(brute.steps[k], names, m)
                for q in GEOMETRY:
                    assert rec[q][m, t, g].item() == pytest.approx(want[q], rel=1e-13,
                                                                    abs=1e-15), (q, group)
            sums = [_brute(brute.steps[k], names, m) for k in range(start[m], stop[m])]
            for q in GEOMETRY:
                want = math.fsum(s[q] for s in sums)
                assert window[q][m, g].item() == pytest.approx(want, rel=1e-12, abs=1e-14)


def test_buffers_absent_are_nan_and_any_state_key_can_be_read(generator) -> None:
    plain, adam = StepGeometry(every=5), StepGeometry(every=5, buffer="exp_avg")
    _run(SGD(lr=0.1), torch.float64, {"g": plain}, generator)
    assert torch.isnan(plain.records()["buffer_sq"]).all()
    brute = Everything(buffer="exp_avg")
    _run(Adam(lr=0.01), torch.float64, {"g": adam, "b": brute}, generator)
    rec = adam.records()
    for m in range(M):
        want = _brute(brute.steps[5], ["layers.1.weight"], m)["buffer_sq"]
        assert rec["buffer_sq"][m, 1, 2].item() == pytest.approx(want, rel=1e-13)


def test_windows_only_and_default_groups(generator) -> None:
    geometry = StepGeometry(every=None, windows={"all": (0, STEPS)})
    brute = Everything()
    _run(SGD(lr=0.05, momentum=0.5), torch.float64, {"g": geometry, "b": brute}, generator)
    rec = geometry.records()
    assert rec["steps"].numel() == 0
    assert rec["groups"] == ["layers.0.weight", "layers.0.bias", "layers.1.weight",
                             "layers.1.bias"]
    for m in range(M):
        want = math.fsum(_brute(s, ["layers.1.bias"], m)["dot"] for s in brute.steps)
        assert rec["windows"]["all"]["dot"][m, 3].item() == pytest.approx(want, rel=1e-12)


def test_trackers_follow_the_protocol() -> None:
    assert isinstance(StepGeometry(), Tracker) and isinstance(CurveTracker(), Tracker)


@pytest.mark.parametrize("make,name", [
    (lambda: StepGeometry({"a": ["layers.9.weight"]}), "layers.9.weight"),
    (lambda: StepGeometry({"a": []}), "no parameters"),
    (lambda: StepGeometry(windows={"w": (torch.zeros(2, dtype=torch.long), 5)}), "start"),
    (lambda: StepGeometry(every=0), "every"),
])
def test_bad_groups_and_windows_are_named(make, name, generator) -> None:
    with pytest.raises(LmechError, match=name):
        _run(SGD(lr=0.1), torch.float64, {"g": make()}, generator)
