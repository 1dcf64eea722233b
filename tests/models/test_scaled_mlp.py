"""models.scaled_mlp: the forward by hand (plain and residual), shapes and parameter
count, and the reparametrisation it rests on: Adam on V = W/c used as c·V is Adam on W
with learning rate c·η and ε/c."""

from __future__ import annotations

import pytest
import torch

from lmech.errors import LmechError
from lmech.models.scaled_mlp import ScaledMLP, ScaledMLPConfig


def _draw(net: ScaledMLP, members: int, generator) -> dict[str, torch.Tensor]:
    return {k: torch.randn(members, *s, generator=generator, dtype=torch.float64)
            for k, s in net.shapes().items()}


def test_plain_forward_by_hand(generator) -> None:
    net = ScaledMLP(ScaledMLPConfig(3, 5, 2, 2), "a")
    p = _draw(net, 2, generator)
    f = {k: torch.tensor([0.5, 2.0]) for k in net.multiplier_names()}
    x = torch.randn(4, 3, generator=generator, dtype=torch.float64)
    records: list = []
    out = net(p, f, x, records)
    for m in range(2):
        a = f["a.0"][m] * x @ p["a.0.weight"][m].T
        b = f["a.1"][m] * a.relu() @ p["a.1.weight"][m].T
        c = f["a.2"][m] * b.relu() @ p["a.2.weight"][m].T
        torch.testing.assert_close(out[m], c)
        torch.testing.assert_close(records[1][m], b)
    assert out.shape == (2, 4, 2) and len(records) == 3


def test_residual_forward_by_hand(generator) -> None:
    net = ScaledMLP(ScaledMLPConfig(3, 4, 2, 1, residual=True), "r")
    assert net.config.sizes == [3, 4, 4, 4, 1]
    assert sum(s[0] * s[1] for s in net.shapes().values()) == 12 + 16 + 16 + 4
    p = _draw(net, 1, generator)
    f = {k: torch.tensor([1.5]) for k in net.multiplier_names()}
    f["r.branch"] = torch.tensor([0.25])
    x = torch.randn(6, 3, generator=generator, dtype=torch.float64)
    h = 1.5 * x @ p["r.0.weight"][0].T
    for k in (1, 2):
        h = h + 0.25 * 1.5 * h.relu() @ p[f"r.{k}.weight"][0].T
    torch.testing.assert_close(net(p, f, x)[0], 1.5 * h @ p["r.3.weight"][0].T)


def test_adam_on_a_scaled_weight_is_adam_with_a_scaled_rate(generator) -> None:
    """Five Adam steps on V = W/c with forward factor c (rate η, ε) land on W's steps
    with rate c·η and ε/c, per layer (Kingma & Ba's update is invariant to rescaling the
    gradient apart from ε)."""
    net = ScaledMLP(ScaledMLPConfig(3, 6, 1, 1), "n")
    c = {"n.0": 4.0, "n.1": 0.5, "n.2": 2.0}
    w0 = {k: v[0] for k, v in _draw(net, 1, generator).items()}
    x = torch.randn(8, 3, generator=generator, dtype=torch.float64)
    y = torch.randn(8, 1, generator=generator, dtype=torch.float64)
    eta, eps = 0.01, 1e-6
    v = {k: (w / c[k.rsplit(".", 1)[0]]).clone().requires_grad_() for k, w in w0.items()}
    w = {k: t.clone().requires_grad_() for k, t in w0.items()}
    scaled = torch.optim.Adam(list(v.values()), lr=eta, eps=eps)
    plain = torch.optim.Adam([{"params": [w[k]], "lr": c[k.rsplit(".", 1)[0]] * eta,
                               "eps": eps / c[k.rsplit(".", 1)[0]]} for k in w])
    ones = {k: torch.ones(1) for k in c}
    for _ in range(5):
        for opt, params, factors in ((scaled, v, c), (plain, w, ones)):
            f = {k: torch.as_tensor(s, dtype=torch.float64).reshape(1) for k, s in
                 factors.items()}
            loss = (net({k: t[None] for k, t in params.items()}, f, x)[0] - y).square().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    for k in w:
        torch.testing.assert_close(v[k].detach() * c[k.rsplit(".", 1)[0]], w[k].detach())


@pytest.mark.parametrize("config,match", [
    (ScaledMLPConfig(0, 4, 1), "n_in"),
    (ScaledMLPConfig(3, 4, 0), "depth"),
    (ScaledMLPConfig(3, True, 1), "width"),
    (ScaledMLPConfig(3, 4, 1, activation="bogus"), "bogus"),
])
def test_bad_config_names_the_field(config, match) -> None:
    with pytest.raises(LmechError, match=match):
        ScaledMLP(config, "x")
