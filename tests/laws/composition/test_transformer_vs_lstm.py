"""composition.transformer_vs_lstm: a wrong theory refuted, the accuracy read-out against
brute force on oracle networks, the matched LSTM, parameter checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lmech.ensemble import Ensemble, generator
from lmech.errors import LmechError
from lmech.laws import Curve, Series, get_law
from lmech.laws.composition.transformer_vs_lstm import (
    FORMAT,
    _accuracies,
    tasks,
    transformer_config,
)
from lmech.models.lstm import matched_lstm
from lmech.run import Outcome, judge
from lmech.testing import SEED

LAW = get_law("composition.transformer_vs_lstm")


@pytest.fixture(scope="module")
def smoke(law_run):
    return law_run(LAW, SEED)


def test_output_format_does_not_matter_is_refuted(smoke) -> None:
    """The rival that only the architecture matters: the transformer's step-by-step and
    direct answers generalise alike (gap 0), the architecture gap as predicted."""
    _, prediction, measurement, foil, tol = smoke
    curves = [Curve(c.panel, c.name, c.x, np.zeros_like(c.y) if c.panel == FORMAT else c.y)
              for c in prediction.curves()]
    verdict = judge(Series.from_curves(curves), measurement, foil, tol)
    assert verdict.outcome is Outcome.REFUTED, verdict


def _oracle(params, draws, wrong_on_held_out: bool):
    """Direct-format 'networks' that write F_j(F_i(x)) for prompt (i, j, x), or, when
    `wrong_on_held_out`, F_{j+1 mod n}(F_i(x)) on held-out compositions (a memoriser)."""
    start, n = params.depth + params.length, params.n_functions

    def forward(_, tokens: torch.Tensor) -> torch.Tensor:  # (M, B, T) -> (M, B, T, V)
        logits = torch.zeros(*tokens.shape, params.vocab + n)
        for j in range(tokens.shape[0]):
            task, _, held = draws[j % params.units]
            for b in range(tokens.shape[1]):
                i, k = (tokens[j, b, :2] - params.vocab).tolist()
                if wrong_on_held_out and (held == torch.tensor([i, k])).all(-1).any():
                    k = (k + 1) % n
                answer = task.maps[k][task.maps[i][tokens[j, b, 2:start]]]
                logits[j, b, start - 1:start - 1 + params.length] = F.one_hot(
                    answer, params.vocab + n).float()
        return logits

    return forward


@pytest.mark.parametrize("wrong_on_held_out", [False, True])
def test_accuracy_read_out_against_brute_force(wrong_on_held_out) -> None:
    """Greedy answers of oracle networks: all right, or, for the memoriser, right on trained
    compositions and on held-out ones exactly where F_{j+1} and F_j agree on F_i(x)."""
    params = LAW.parameters("smoke", {"units": 3, "length": 2, "eval_size": 40})
    seed, ids = 5, [3, 4, 5]  # the second network of each unit
    draws = tasks(params, seed)
    ensemble = Ensemble(nn.Identity(), {"w": torch.zeros(3, 1)}, ids, input_shape=(1,))
    held, seen = _accuracies(ensemble, _oracle(params, draws, wrong_on_held_out), params,
                             draws, False, seed, "cpu")
    assert seen.tolist() == [1.0, 1.0, 1.0]
    for u, j in enumerate(ids):
        task, _, held_out = draws[u]
        prompts = task.prompts(held_out, 40, step_by_step=False,
                               generator=generator(seed, "eval", j))
        i, k = prompts[:, 0] - params.vocab, prompts[:, 1] - params.vocab
        first = task.maps[i[:, None], prompts[:, 2:2 + params.length]]
        if wrong_on_held_out:
            other = (k + 1) % params.n_functions
            agree = task.maps[other[:, None], first] == task.maps[k[:, None], first]
            expected = agree.float().mean().item()
        else:
            expected = 1.0
        assert held[u] == pytest.approx(expected, abs=1e-12)


def test_held_out_compositions_are_unseen() -> None:
    params = LAW.parameters("quick")
    for _, trained, held in tasks(params, 0):
        assert len(trained) + len(held) == params.n_functions ** params.depth
        assert not (trained[:, None] == held[None]).all(-1).any()


def test_the_lstm_matches_the_transformer_in_parameters() -> None:
    params = LAW.parameters("quick")
    config = transformer_config(params, True)
    lstm = matched_lstm(config.parameter_count, config.vocab, config.max_len)
    assert abs(lstm.parameter_count / config.parameter_count - 1) < 0.02


@pytest.mark.parametrize("overrides,message", [
    ({"d_model": 30, "heads": 4}, "heads"),
    ({"test_fraction": 0.01}, "test_fraction"),
])
def test_bad_parameters_are_named(overrides, message) -> None:
    with pytest.raises(LmechError, match=message):
        LAW.parameters("quick", overrides)
