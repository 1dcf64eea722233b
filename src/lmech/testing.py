"""The law contract as public checks, for lmech's own tests and for a user's pytest.

``check_law(law)`` runs every check on one law (its `smoke` budget runs once, at one
seed, and the checks share it) and raises an AssertionError naming the law, the check and
the field at the first failure. In a test suite, parametrize over the checks so that each
failure is reported on its own (as scikit-learn's ``parametrize_with_checks`` does)::

    import pytest
    from lmech.testing import LAW_CHECKS, run_check
    from mylaws import MyLaw

    @pytest.mark.parametrize("check", LAW_CHECKS)
    def test_my_law(check):
        run_check(MyLaw(), check)

The checks: the law declares its identity, kind, tolerance basis and expected outcome;
every budget validates and unknown parameters are refused; the smoke run does not
contradict the expected outcome, and its measured points carry at least 2 units each;
`measure` calls `progress` and honours `device`; no approximate theory has a zero
tolerance; a fixed seed repeats; the prediction differs from the foil; and the foil in the
prediction's place is rejected (REFUTED, or BROKEN for an identity). Panels that only
illustrate (``Panel.illustrates``) are left out of the checks, as the verdict leaves them
out; a law needs at least one judged panel.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from lmech.budgets import BUDGETS
from lmech.errors import LmechError
from lmech.laws import AbstractLaw, Kind, Pillar, Series
from lmech.run.verdict import Outcome, Verdict, judge, judged_points

__all__ = ["LAW_CHECKS", "SEED", "SmokeRun", "check_law", "run_check", "smoke_run"]

SEED = 7
"""The seed of every contract check's smoke run."""


@dataclass(frozen=True)
class SmokeRun:
    """What a law produces at its smoke budget and `SEED`, and what `progress` was told."""

    params: Any
    prediction: Series
    measurement: Series
    foil: Series
    tolerance: np.ndarray
    progress: tuple[float, ...]


_RUNS: dict[tuple[str, int, str, str], SmokeRun] = {}


def smoke_run(law: AbstractLaw, seed: int = SEED, budget: str = "smoke", *,
              device: str = "cpu", **overrides: Any) -> SmokeRun:
    """Predict, measure, foil and tolerance of `law` (cached per law, seed, budget, device
    and overrides for the life of the process)."""
    key = (law.name, seed, budget, device + repr(sorted(overrides.items())))
    if key not in _RUNS:
        params = law.parameters(budget, overrides)
        told: list[float] = []
        prediction = law.predict(params)
        measurement = law.measure(params, seed, device=device, progress=told.append)
        _RUNS[key] = SmokeRun(params, prediction, measurement, law.foil(params),
                              law.tolerance(params, prediction), tuple(told))
    return _RUNS[key]


def _judge(law: AbstractLaw, run: SmokeRun, hypothesis: Series, foil: Series) -> Verdict:
    _, measurement, _, tolerance = _judged(law, run)
    hypothesis, foil = (judged_points(s, law.unjudged_panels()) for s in (hypothesis, foil))
    return judge(hypothesis, measurement, foil, tolerance, kind=law.kind,
                 foilless_panels=law.foilless_panels())


def _judged(law: AbstractLaw, run: SmokeRun) -> tuple[Series, Series, Series, np.ndarray]:
    """The run's prediction, measurement, foil and tolerance on the judged panels only
    (a panel that illustrates is never judged, so the contract does not ask of it)."""
    unjudged = law.unjudged_panels()
    keep = ~np.isin(run.prediction.panel, list(unjudged))
    return (*(judged_points(s, unjudged) for s in (run.prediction, run.measurement, run.foil)),
            np.asarray(run.tolerance)[keep])


def _fail(law: AbstractLaw, what: str) -> None:
    raise AssertionError(f"{law.name}: {what}")


def check_identity(law: AbstractLaw) -> None:
    """Claim, source, pillar and at least one panel."""
    if not (isinstance(law.claim, str) and law.claim.strip()):
        _fail(law, "claim is empty")
    if not (isinstance(law.source, str) and law.source.strip()):
        _fail(law, "source is empty")
    if not isinstance(law.pillar, Pillar):
        _fail(law, f"pillar must be a Pillar, got {law.pillar!r}")
    if not law.panels:
        _fail(law, "declares no panel")
    if all(not p.judged for p in law.panels):
        _fail(law, "every panel illustrates (Panel.illustrates): nothing is judged")


def check_declarations(law: AbstractLaw) -> None:
    """Kind, tolerance basis (computed, or a pilot naming its seeds and what it measured),
    and an expected outcome that is an outcome, set exactly when a finding is recorded."""
    if not isinstance(law.kind, Kind):
        _fail(law, f"kind must be a Kind, got {law.kind!r}")
    basis = getattr(law, "tolerance_basis", None)
    if basis is None:
        _fail(law, "declares no tolerance_basis (ToleranceBasis.computed or .pilot)")
    if basis.kind not in ("computed", "pilot"):
        _fail(law, f"tolerance_basis.kind must be 'computed' or 'pilot', got {basis.kind!r}")
    if not basis.why.strip():
        _fail(law, "tolerance_basis.why is empty")
    if basis.kind == "pilot":
        if not basis.pilot_seeds:
            _fail(law, "tolerance_basis: a pilot names its pilot seeds")
        if not basis.pilot_measured.strip():
            _fail(law, "tolerance_basis: say what the pilot measured (pilot_measured)")
        if SEED in basis.pilot_seeds or 0 in basis.pilot_seeds:
            _fail(law, "tolerance_basis: pilot seeds must not be seeds a verdict uses")
    outcomes = {o.value for o in Outcome} - {"ERROR"}
    if law.expected_outcome not in outcomes:
        _fail(law, f"expected outcome {law.expected_outcome!r} is not one of "
                   f"{sorted(outcomes)}")
    if law.finding and law.expected is None:
        _fail(law, "a recorded finding declares its expected outcome (expected)")
    if law.expected is not None and not law.finding.strip():
        _fail(law, "an expected outcome other than the default is a recorded finding: say "
                   "what was found in `finding`")
    for panel in law.panels:
        if not isinstance(panel.no_foil, str):
            _fail(law, f"panel {panel.name}: no_foil must be a reason (str)")
        if not isinstance(panel.illustrates, str):
            _fail(law, f"panel {panel.name}: illustrates must say what it shows (str)")


def check_budgets(law: AbstractLaw) -> None:
    """Every budget validates; an unknown parameter is refused with a named error."""
    for budget in BUDGETS:
        law.parameters(budget)
    try:
        law.parameters("smoke", {"no_such_parameter": 1})
    except LmechError as err:
        if "unknown parameter" not in str(err):
            _fail(law, f"an unknown parameter gives {err}, not 'unknown parameter'")
    else:
        _fail(law, "accepts an unknown parameter")


def check_smoke_outcome(law: AbstractLaw) -> None:
    """The smoke run never contradicts the law book: its verdict is the expected outcome
    or INCONCLUSIVE (smoke budgets test the machinery, not the theory; a recorded finding
    may come out either way), on the prediction's points, with >= 2 units per measured
    point of an empirical law."""
    run = smoke_run(law)
    prediction, measurement, foil, _ = _judged(law, run)
    if not measurement.same_points_as(prediction):
        _fail(law, "the measurement is not on the prediction's points")
    if not foil.same_points_as(prediction):
        _fail(law, "the foil is not on the prediction's points")
    unknown = set().union(*(s.panel for s in (run.prediction, run.measurement, run.foil))) \
        - {p.name for p in law.panels}
    if unknown:
        _fail(law, f"points on undeclared panels {sorted(unknown)}")
    if law.kind is Kind.EMPIRICAL and np.any(measurement.units < 2):
        _fail(law, "every measured point needs >= 2 independent units (Curve units)")
    verdict = _judge(law, run, run.prediction, run.foil)
    allowed = {law.expected_outcome, Outcome.INCONCLUSIVE.value}
    if law.finding:
        allowed |= {Outcome.CONFIRMED.value, Outcome.REFUTED.value}
    if verdict.outcome.value not in allowed:
        _fail(law, f"smoke verdict {verdict.outcome.value} ({verdict.reason}); expected "
                   f"{law.expected_outcome}")


def check_progress_and_device(law: AbstractLaw, device: str | None = None) -> None:
    """`measure` reports progress in [0, 1], reaching (about) 1, and passes `device` on (its
    body uses the argument: a law that drops it trains on the CPU whatever the user asks;
    a law whose module never uses torch has nothing to place and is exempt); with a CUDA
    device available, the smoke run runs there and its work lands there."""
    body = _measure_body(law)
    if body is not None and _uses_torch(law) and "device" not in body:
        _fail(law, "measure ignores its device argument")
    if device is None:
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device != "cpu":
        _check_work_lands_on(law, device)
    run = smoke_run(law, device=device)
    if not run.progress:
        _fail(law, "measure never called progress")
    told = np.array(run.progress)
    if np.any(told < -1e-9) or np.any(told > 1 + 1e-9):
        _fail(law, f"progress must stay in [0, 1], got {told.min():.3g} … {told.max():.3g}")
    if told.max() < 0.99:
        _fail(law, f"progress never reached 1 (last {told[-1]:.3g})")


def _uses_torch(law: AbstractLaw) -> bool:
    """Whether the module that defines the law's `measure` holds torch, or lmech's torch
    layers (engine, models, measure), among its globals: then it has work to place."""
    import inspect

    def torch_based(value: object) -> bool:
        name = getattr(value, "__module__", None) or getattr(value, "__name__", "")
        return isinstance(name, str) and name.startswith(
            ("torch", "lmech.ensemble", "lmech.models", "lmech.measure"))

    return any(map(torch_based, inspect.unwrap(type(law).measure).__globals__.values()))


def _measure_body(law: AbstractLaw) -> str | None:
    """The source of the law's `measure` below its signature (None if unavailable)."""
    import inspect

    fn = inspect.unwrap(type(law).measure)
    try:
        lines = inspect.getsource(fn).splitlines()
    except (OSError, TypeError):
        return None
    start = next((i for i, line in enumerate(lines) if line.rstrip().endswith(":")
                  and ")" in line), 0)
    body = (line.split("#")[0] for line in lines[start + 1:])
    return "\n".join(line for line in body if line.strip() != "del device")


def _check_work_lands_on(law: AbstractLaw, device: str) -> None:
    """Most of the tensor operations of a smoke run happen on `device`."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    class Count(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.on, self.off = 0, 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            first = out[0] if isinstance(out, (tuple, list)) and out else out
            if isinstance(first, torch.Tensor) and first.numel() > 1:
                if first.device.type == torch.device(device).type:
                    self.on += 1
                else:
                    self.off += 1
            return out

    params = law.parameters("smoke")
    with Count() as count:
        law.measure(params, SEED, device=device)
    if count.on < count.off:
        _fail(law, f"asked for {device}, {count.off} of {count.on + count.off} tensor "
                   "operations ran elsewhere")


def check_tolerance_policy(law: AbstractLaw) -> None:
    """No approximate theory gets a zero tolerance (an exact claim whose failure is a
    recorded finding may)."""
    tolerance = _judged(law, smoke_run(law))[3]
    exact_claim = bool(law.finding) and law.expected_outcome == "REFUTED"
    if not exact_claim and not np.all(tolerance > 0):
        _fail(law, "no approximate theory gets a zero tolerance")


def check_fixed_seed_repeats(law: AbstractLaw) -> None:
    """The same seed gives the same numbers, bit for bit."""
    run = smoke_run(law)
    again = law.measure(run.params, SEED)
    for field in ("y", "stderr", "units"):
        if not np.array_equal(getattr(again, field), getattr(run.measurement, field)):
            _fail(law, f"measure at a fixed seed does not repeat ({field} differs)")
    if not np.array_equal(law.predict(run.params).y, run.prediction.y):
        _fail(law, "predict does not repeat")


def check_prediction_differs_from_foil(law: AbstractLaw) -> None:
    """Somewhere the foil lies outside the prediction's tolerance band."""
    prediction, _, foil, tolerance = _judged(law, smoke_run(law))
    judged = ~np.isin(prediction.panel, law.foilless_panels())
    gap = np.abs(prediction.y - foil.y)[judged]
    if not np.any(gap > tolerance[judged]):
        _fail(law, "the foil lies inside the tolerance band everywhere")


def check_foil_as_prediction_is_rejected(law: AbstractLaw) -> None:
    """The foil in the prediction's place is REFUTED (BROKEN for an identity)."""
    if law.foilless_panels():
        return  # a panel without a foil cannot stand in for the prediction
    run = smoke_run(law)
    verdict = _judge(law, run, run.foil, run.prediction)
    wrong = Outcome.BROKEN if law.kind is Kind.IDENTITY else Outcome.REFUTED
    if verdict.outcome is not wrong:
        _fail(law, f"the foil as prediction gives {verdict.outcome.value} "
                   f"({verdict.reason}), not {wrong.value}")


CHECKS: dict[str, Callable[[AbstractLaw], None]] = {
    "identity": check_identity,
    "declarations": check_declarations,
    "budgets": check_budgets,
    "smoke_outcome": check_smoke_outcome,
    "progress_and_device": check_progress_and_device,
    "tolerance_policy": check_tolerance_policy,
    "fixed_seed_repeats": check_fixed_seed_repeats,
    "prediction_differs_from_foil": check_prediction_differs_from_foil,
    "foil_as_prediction_is_rejected": check_foil_as_prediction_is_rejected,
}
LAW_CHECKS = tuple(CHECKS)
"""The names of the contract's checks, in order."""


def run_check(law: AbstractLaw, check: str) -> None:
    """Run the check called `check` (one of `LAW_CHECKS`) on `law`."""
    if check not in CHECKS:
        raise LmechError(f"unknown check {check!r}; known: {', '.join(LAW_CHECKS)}")
    CHECKS[check](law)


def check_law(law: AbstractLaw) -> None:
    """Every contract check on `law`; an AssertionError names the first that fails."""
    if not isinstance(law, AbstractLaw):
        raise LmechError(f"check_law takes a law object, got {law!r}")
    for name in LAW_CHECKS:
        try:
            CHECKS[name](law)
        except AssertionError as err:
            raise AssertionError(f"[{name}] {err}") from None
