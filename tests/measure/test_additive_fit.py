"""lmech.measure.additive_fit: the Chinchilla surface recovered from its own values."""

from __future__ import annotations

import numpy as np
import pytest

from lmech.errors import LmechError
from lmech.measure.additive_fit import AdditivePowerLaw, fit_additive_power_law


def _grid() -> tuple[np.ndarray, np.ndarray]:
    n, p = np.meshgrid([10.0, 30, 100, 300, 1000], [20.0, 60, 200, 600, 2000])
    return n.ravel(), p.ravel()


@pytest.mark.parametrize("truth", [
    AdditivePowerLaw(E=0.5, A=40.0, alpha=0.7, B=15.0, beta=0.4, objective=0.0),
    AdditivePowerLaw(E=1e-3, A=1.0, alpha=1.2, B=3.0, beta=0.9, objective=0.0),
])
def test_noise_free_surfaces_are_recovered(truth) -> None:
    n, p = _grid()
    fit = fit_additive_power_law(n, p, truth(n, p))
    for name in ("E", "A", "alpha", "B", "beta"):
        assert getattr(fit, name) == pytest.approx(getattr(truth, name), rel=1e-4)
    assert fit.objective < 1e-12


def test_a_fit_minimises_the_summed_huber_loss(rng) -> None:
    """With noise the fit is a stationary point: nudging any parameter raises the loss."""
    n, p = _grid()
    truth = AdditivePowerLaw(E=0.2, A=5.0, alpha=0.5, B=8.0, beta=0.6, objective=0.0)
    loss = truth(n, p) * np.exp(0.01 * rng.standard_normal(n.size))
    fit = fit_additive_power_law(n, p, loss)

    def huber_sum(law: AdditivePowerLaw) -> float:
        r = np.abs(np.log(law(n, p)) - np.log(loss))
        return float(np.sum(np.where(r <= 1e-3, 0.5 * r**2, 1e-3 * (r - 5e-4))))

    assert huber_sum(fit) == pytest.approx(fit.objective, rel=1e-9)
    for name in ("E", "A", "alpha", "B", "beta"):
        for factor in (0.99, 1.01):
            moved = {k: getattr(fit, k) for k in ("E", "A", "alpha", "B", "beta")}
            moved[name] *= factor
            assert huber_sum(AdditivePowerLaw(**moved, objective=0.0)) >= fit.objective


def test_bad_input_is_named() -> None:
    with pytest.raises(LmechError, match="length >= 5"):
        fit_additive_power_law([1, 2], [1, 2], [1, 2])
    with pytest.raises(LmechError, match="> 0"):
        fit_additive_power_law([1, 2, 3, 4, 5], [1, 2, 3, 4, 5], [1, 2, 0, 4, 5])
