"""lmech.tools.scaling_fit.fit: exact recovery, interval coverage at the nominal rate, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.optimize import check_grad

from lmech.errors import LmechError
from lmech.tools.scaling_fit import FitNotConverged, extrapolate, fit
from lmech.tools.scaling_fit._objective import huber, objective, start_grid

TRUE = dict(A=406.4, alpha=0.34, B=410.7, beta=0.28, E=1.69)  # Hoffmann et al.'s fit


def _runs(noise: float, seed: int, n_n: int = 8, n_d: int = 6) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n, d = (a.ravel() for a in np.meshgrid(np.geomspace(1e6, 1e9, n_n),
                                           np.geomspace(1e8, 1e11, n_d)))
    loss = TRUE["E"] + TRUE["A"] / n ** TRUE["alpha"] + TRUE["B"] / d ** TRUE["beta"]
    return pd.DataFrame(dict(N=n, D=d, loss=loss * np.exp(noise * rng.standard_normal(n.size))))


def test_objective_gradient_is_exact(rng) -> None:
    runs = _runs(0.01, 0)
    log_x, log_y = np.log(runs[["N", "D"]].to_numpy()), np.log(runs["loss"].to_numpy())
    for theta in (np.array([6.0, 0.3, 6.0, 0.3, 0.5]), rng.normal(size=5) + [5, 0, 5, 0, 0]):
        err = check_grad(lambda t: objective(t[None], log_x, log_y)[0][0],
                         lambda t: objective(t[None], log_x, log_y)[1][0], theta)
        assert err < 1e-6 * (1 + np.abs(objective(theta[None], log_x, log_y)[1]).max())


def test_huber_and_grid() -> None:
    value, slope = huber(np.array([0.0, 5e-4, -2e-3, 1e308]))
    np.testing.assert_allclose(value[:3], [0.0, 1.25e-7, 1e-3 * (2e-3 - 5e-4)])
    np.testing.assert_allclose(slope, [0.0, 5e-4, -1e-3, 1e-3])
    assert start_grid(2).shape == (4500, 5) and start_grid(1).shape == (150, 3)


def test_noiseless_data_recovers_the_law_exactly() -> None:
    r = fit(_runs(0.0, 0), n_starts=32, n_bootstrap=20)
    for k, v in TRUE.items():
        assert r.params[k] == pytest.approx(v, rel=1e-4), k
    assert r.objective < 1e-12
    one = fit(_runs(0.0, 0).drop(columns="D").assign(loss=lambda f: 1.7 + 400 / f.N**0.34),
              x=["N"], n_bootstrap=20)
    assert one.params == pytest.approx(dict(A=400, alpha=0.34, E=1.7), rel=1e-4)


def test_full_grid_finds_the_screened_optimum() -> None:
    """All 150 one-size starts and the 8 best-screened reach the same optimum (the two-size
    grid of 4500 takes ~20 s here, so it is exercised by the CLI default, not the tests)."""
    runs = _runs(0.02, 3).query("D == D.max()")
    a = fit(runs, x=["N"], n_starts=None, n_bootstrap=10)
    b = fit(runs, x=["N"], n_starts=8, n_bootstrap=10)
    assert a.objective == pytest.approx(b.objective, rel=1e-9)


@pytest.mark.slow  # hundreds of bootstrap fits; run by .ci/run with -m slow
def test_intervals_cover_the_truth_at_the_nominal_rate() -> None:
    """30 noisy data sets, 90 % intervals: each parameter covered at a rate consistent
    with 0.9 (one-sided binomial test at 0.1 %), and not grossly over-wide."""
    level, trials = 0.9, 30
    hits = np.array([
        [lo <= TRUE[k] <= hi for k, (lo, hi) in
         fit(_runs(0.02, 100 + t), n_starts=8, n_bootstrap=80, level=level, seed=t)
         .intervals.items()]
        for t in range(trials)
    ])
    floor = stats.binom.ppf(0.001, trials, level)
    assert np.all(hits.sum(axis=0) >= floor), hits.mean(axis=0)
    assert hits.mean() < 0.99, "intervals cover every time: too wide to be informative"


def test_compute_optimal_allocation_spends_the_compute() -> None:
    r = fit(_runs(0.0, 0), n_starts=16, n_bootstrap=20)
    c = np.array([1e20, 1e23])
    opt = r.compute_optimal(c)
    np.testing.assert_allclose(6 * opt["N"] * opt["D"], c, rtol=1e-8)
    # N* minimises L(N, C/6N): a neighbour on either side has higher loss.
    for k, ci in enumerate(c):
        n = opt["N"][k] * np.array([0.9, 1.0, 1.1])
        loss = r.predict(np.stack([n, ci / (6 * n)], 1))
        assert loss[1] < loss[0] and loss[1] < loss[2]
    a, al, b, be = TRUE["A"], TRUE["alpha"], TRUE["B"], TRUE["beta"]
    g = (al * a / (be * b)) ** (1 / (al + be))
    np.testing.assert_allclose(opt["N"], g * (c / 6) ** (be / (al + be)), rtol=1e-3)


def test_extrapolation_reports_the_held_out_error() -> None:
    check = extrapolate(_runs(0.005, 1), holdout=0.2, n_starts=16, n_bootstrap=40)
    held = check.held_out
    assert len(held) == 10 and len(check.fitted) == 38
    assert held["N"].min() * held["D"].min() >= check.fitted["N"].min() * check.fitted["D"].min()
    np.testing.assert_allclose(held["relative_error"], held["predicted"] / held["loss"] - 1)
    assert check.max_relative_error < 0.05


@pytest.mark.parametrize("change, fragment", [
    (lambda f: f.drop(columns="D"), "column 'D' not in the data"),
    (lambda f: f.assign(loss=f.loss.where(f.index != 5, -1.0)), "column 'loss', row 5"),
    (lambda f: f.assign(N=f.N.astype(object).where(f.index != 2, "big")), "column 'N', row 2"),
    (lambda f: f.head(5), "5 points cannot fit a model with 5 parameters"),
    (lambda f: f.assign(loss=2.5), "column 'loss' is 2.5 in every row: a constant loss"),
    (lambda f: f.assign(N=1e7, D=1e9), r"all 48 rows are at one size \(N=1e\+07, D=1e\+09\)"),
    (lambda f: f[f.N.isin(f.N.unique()[:2])], "column 'N' takes only 2 distinct values"),
    (lambda f: f[f.D.isin(f.D.unique()[:1])], "column 'D' takes only 1 distinct values"),
    (lambda f: pd.concat([_diagonal(f)] * 4, ignore_index=True),
     r"only 5 distinct \(N, D\) points among 20 rows"),
])
def test_bad_data_names_the_column_or_row(change, fragment) -> None:
    """Data that cannot determine the law are refused with the reason, before any
    optimisation (so no nan and no RuntimeWarning, which pytest would turn into errors)."""
    with pytest.raises(LmechError, match=fragment):
        fit(change(_runs(0.01, 0)), n_bootstrap=10)


def _diagonal(runs: pd.DataFrame) -> pd.DataFrame:
    """Five runs whose N and D both take 3+ values, but only 5 distinct (N, D) points."""
    n, d = np.sort(runs.N.unique()), np.sort(runs.D.unique())
    pairs = [(n[0], d[0]), (n[1], d[1]), (n[2], d[2]), (n[0], d[1]), (n[1], d[2])]
    return pd.concat([runs[(runs.N == a) & (runs.D == b)] for a, b in pairs])


def test_one_size_fit_needs_more_distinct_sizes_than_parameters() -> None:
    runs = _runs(0.0, 0).drop(columns="D").drop_duplicates("N")  # 8 distinct N
    three = pd.concat([runs.head(3)] * 3, ignore_index=True)
    with pytest.raises(LmechError, match=r"only 3 distinct \(N\) points among 9 rows"):
        fit(three, x=["N"], n_bootstrap=10)


def test_extrapolation_says_when_the_small_runs_are_not_enough() -> None:
    """Enough runs for the full fit, but the two held out are the only ones at N = 1e9."""
    sizes = [(n, d) for n in (1e6, 1e7) for d in (1e8, 1e9, 1e10, 1e11)]
    sizes += [(1e9, 1e10), (1e9, 1e11)]
    n, d = np.array(sizes).T
    runs = pd.DataFrame(dict(N=n, D=d, loss=1.7 + 400 / n**0.34 + 400 / d**0.28))
    with pytest.raises(LmechError, match=r"the extrapolation check fits the 8 smallest runs "
                                         r"and holds out the 2 largest \(holdout=0.2\); on "
                                         r"those 8: column 'N' takes only 2 distinct"):
        extrapolate(runs, holdout=0.2, n_starts=8, n_bootstrap=10)


def test_a_fit_that_does_not_converge_returns_no_numbers() -> None:
    with pytest.raises(FitNotConverged, match="did not converge"):
        fit(_runs(0.01, 0), n_starts=4, max_iter=2, n_bootstrap=10)


@pytest.mark.parametrize("options, fragment", [
    (dict(x=["N", "D", "loss"]), "one or two size columns"),
    (dict(x=[]), "one or two size columns"),
    (dict(n_starts=0), "n_starts must be an integer >= 1"),
    (dict(n_starts=2.5), "n_starts must be an integer >= 1"),
    (dict(n_bootstrap=9), "n_bootstrap must be an integer >= 10, got 9"),
    (dict(level=1.0), r"level must be in \(0, 1\), got 1.0"),
    (dict(level="high"), r"level must be in \(0, 1\)"),
    (dict(max_iter=0), "max_iter must be an integer >= 1"),
    (dict(seed=-2), "seed must be an integer >= 0"),
    (dict(law="x"), "law='x' selects points in an lmech store, but the data given is a "
                    "DataFrame"),
])
def test_bad_arguments(options, fragment) -> None:
    with pytest.raises(LmechError, match=fragment):
        fit(_runs(0.01, 0), **{"n_bootstrap": 10, **options})


@pytest.mark.parametrize("holdout", [0, 0.0, -0.1, 0.51, 1.5, "half", True])
def test_bad_holdout(holdout) -> None:
    with pytest.raises(LmechError, match=r"holdout must be a fraction in \(0, 0.5\]"):
        extrapolate(_runs(0.01, 0), holdout=holdout, n_bootstrap=10)


def test_bad_files(tmp_path) -> None:
    with pytest.raises(LmechError, match="no such file"):
        fit(tmp_path / "missing.csv")
    (tmp_path / "runs.txt").write_text("N,D,loss\n")
    with pytest.raises(LmechError, match="cannot read"):
        fit(tmp_path / "runs.txt")
