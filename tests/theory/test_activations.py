"""Activation objects: closed forms against the quadrature fallback, fast torch forms against
torch, and a new activation defined here working through the theory by quadrature."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from scipy import integrate

from lmech.theory import (
    ACTIVATIONS,
    Activation,
    GaussianForms,
    critical_point,
    dsigma_dsigma_expectation,
    get_activation,
    kernel_recursion,
    sigma_sigma_expectation,
)
from lmech.theory.gaussian import (
    derivative_square_expectation,
    sigma_power_expectation,
    sigma_square_slope,
)

VARIANTS = [(name, {}) for name in ACTIVATIONS] + [("leaky_relu", {"slope": s})
                                                    for s in (0.2, -0.5)]
WITH_CLOSED_FORMS = [(n, kw) for n, kw in VARIANTS
                     if get_activation(n, **kw).gaussian != GaussianForms()]
WITH_FAST_FORMS = [n for n, kw in VARIANTS if get_activation(n, **kw).fast_torch is not None]

# The fallback rule is accurate to ~1e-13 relative for integrands analytic in a strip, and
# test_gaussian holds it to 1e-10 against adaptive quadrature. For a scale-invariant σ the
# one-input integrand |z|^p(A + B sign z)φ has its kink at z = 0, which is a panel edge
# (even panel count) or the centre of a symmetric panel (odd), where the odd part
# B sign(z)|z|^p φ sums to zero: the same bound holds. Values near 0 get 1e-12 absolute.
REL, ABS = 1e-10, 1e-12
SINGLE = {
    "sigma2": lambda a, K: sigma_power_expectation(a, K, 2),
    "sigma4": lambda a, K: sigma_power_expectation(a, K, 4),
    "dsigma2": derivative_square_expectation,
    "sigma2_dK": sigma_square_slope,
}
PAIR = {"sigma_sigma": sigma_sigma_expectation, "dsigma_dsigma": dsigma_dsigma_expectation}


def _without_closed_forms(act: Activation) -> Activation:
    return dataclasses.replace(act, gaussian=GaussianForms())


def _pair_kernels(act: Activation) -> list[tuple[float, float, float]]:
    if act.slopes is None:
        return [(1.0, 0.5, 2.0), (0.2, 0.0, 0.3), (3.0, -2.9, 3.0), (0.05, 0.04, 0.1)]
    # The kinks u = 0 and v = 0 lie on the rule's axes x = 0, y = 0 only at ρ = 0 and ±1;
    # with both standard deviations ≤ 1 each axis has 10 panels, so the axes are panel
    # edges and every panel's integrand is smooth. (Other ρ: polar integration, test_gaussian.)
    return [(0.25, 0.0, 0.64), (1.0, 0.0, 1.0), (0.25, 0.4, 0.64), (0.25, -0.4, 0.64),
            (0.5, 0.5, 0.5), (0.81, -0.81, 0.81)]


@pytest.mark.parametrize(("name", "kw"), WITH_CLOSED_FORMS)
def test_every_closed_form_matches_the_quadrature_fallback(name: str, kw: dict) -> None:
    act = get_activation(name, **kw)
    bare = _without_closed_forms(act)
    K = np.array([0.01, 0.3, 1.0, 5.0, 40.0])
    checked = 0
    for form, value in SINGLE.items():
        if getattr(act.gaussian, form) is None:
            continue
        np.testing.assert_allclose(value(act, K), value(bare, K), rtol=REL, atol=ABS,
                                   err_msg=f"{act.name}.{form}")
        checked += 1
    for form, value in PAIR.items():
        if getattr(act.gaussian, form) is None:
            continue
        for k11, k12, k22 in _pair_kernels(act):
            scale = math.sqrt(k11 * k22)
            assert value(act, k11, k12, k22) == pytest.approx(
                float(value(bare, k11, k12, k22)), rel=REL, abs=ABS * scale), (form, k12)
        checked += 1
    assert checked == sum(f is not None for f in dataclasses.astuple(act.gaussian))


# A new activation defined in one object, with no closed forms: σ = arctan.
ARCTAN = Activation("arctan", np.arctan, torch.atan, derivative=lambda x: 1.0 / (1.0 + x * x))


def test_a_new_activation_runs_through_the_kernel_recursion_by_quadrature() -> None:
    C_W, C_b, K1 = 1.7, 0.1, 0.8
    got = kernel_recursion(ARCTAN, 5, C_W, C_b, K1)
    want = [K1]
    for _ in range(4):  # K^(l+1) = C_b + C_W <arctan²>_K by adaptive quadrature
        s = math.sqrt(want[-1])
        mean, _ = integrate.quad(lambda x, s=s: math.atan(s * x) ** 2 * math.exp(-x * x / 2),
                                 -40, 40, epsabs=1e-15, epsrel=1e-13, limit=400)
        want.append(C_b + C_W * mean / math.sqrt(2 * math.pi))
    # each layer: quadrature ~1e-13 relative, and χ∥ < 1 damps what came before
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_a_new_activation_has_its_critical_point_found_by_quadrature() -> None:
    """arctan = z − z³/3 + …: σ₁ = 1, σ₂ = 0, σ₃ = −2, so K*=0 class, C_W = 1, a₁ = −2."""
    cp = critical_point(ARCTAN)
    assert cp.activation == "arctan"
    assert cp.universality_class == "K*=0" and cp.C_b == 0.0 and cp.K_star == 0.0
    assert cp.C_W == 1.0  # 1/σ'(0)², σ'(0) = 1/(1 + 0) exactly
    # σ₃ from the central second difference of σ' at h = 1e-3: −2/(1 + h²), off by 2h² = 2e-6;
    # its rounding adds ~4ε/h² = 1e-9
    assert cp.a1 == pytest.approx(-2.0, abs=2e-6 + 1e-8)


@pytest.mark.parametrize("name", WITH_FAST_FORMS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fast_forms_agree_with_torch(name: str, dtype: torch.dtype) -> None:
    act = get_activation(name)
    z = torch.linspace(-12, 12, 100_001, dtype=dtype)
    # tanh's 2·sigmoid(2z) − 1: sigmoid's ≤ 1 ulp doubled (≤ ε), the subtraction's ≤ ε/2,
    # torch.tanh's own ≤ ε/2: ≤ 2ε absolute (1.5ε measured); relu and linear are exact
    eps = torch.finfo(dtype).eps
    torch.testing.assert_close(act.fast_torch(z), act.torch(z), rtol=2 * eps, atol=2 * eps)
    inplace = z.clone() * act.fast_torch.scale
    act.fast_torch.outer(inplace, inplace)
    torch.testing.assert_close(inplace, act.fast_torch(z), rtol=0, atol=0)


@pytest.mark.parametrize("name", [n for n in WITH_FAST_FORMS
                                  if get_activation(n).backward_from_output is not None])
def test_backward_from_output_agrees_with_autograd(name: str, generator) -> None:
    act = get_activation(name)
    z = torch.randn(1000, generator=generator, dtype=torch.float64).mul_(3).requires_grad_()
    delta = torch.randn(1000, generator=generator, dtype=torch.float64)
    (want,) = torch.autograd.grad(act.torch(z), z, delta)
    got = act.backward_from_output(delta.clone(), act.torch(z).detach())
    # σ'(z) from the rounded output a instead of z: a few ε of |δ|
    eps = torch.finfo(torch.float64).eps
    torch.testing.assert_close(got, want, rtol=4 * eps, atol=4 * eps * float(delta.abs().max()))
