"""Points a law produces: prediction, measurement or foil, grouped in named curves and panels."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from lmech.errors import LmechError

__all__ = ["Curve", "Series"]


@dataclass(frozen=True)
class Curve:
    """One curve of a law's output: y(x) with standard errors, drawn in panel `panel`.

    Args:
        panel: name of the figure panel the curve belongs to (a law may have several).
        name: curve label, unique within its panel (e.g. ``"s=3"``).
        x, y: shape ``(n,)``.
        stderr: shape ``(n,)`` standard error of each ``y``; ``None`` means exact (theory).
        units: the number of independent units (networks, seeds, data draws) behind each
            standard error: one number for the whole curve or shape ``(n,)``; ``None`` for
            theory. The verdict's critical values are Student-t at ``units - 1`` degrees of
            freedom.
    """

    panel: str
    name: str
    x: Sequence[float] | np.ndarray
    y: Sequence[float] | np.ndarray
    stderr: Sequence[float] | np.ndarray | None = None
    units: int | Sequence[int] | np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class Series:
    """Aligned 1-D arrays of points, the currency between laws, verdicts and the store.

    Every point has a panel, a curve name, x, y, a standard error (0 for theory) and the
    number of independent units behind that error (0 for theory). Two series are
    comparable point by point when their (panel, curve, x) keys match.
    """

    panel: np.ndarray  # (n,) str
    curve: np.ndarray  # (n,) str
    x: np.ndarray  # (n,) float64
    y: np.ndarray  # (n,) float64
    stderr: np.ndarray  # (n,) float64, >= 0
    units: np.ndarray  # (n,) int64, >= 0

    @classmethod
    def from_curves(cls, curves: Iterable[Curve]) -> Series:
        """Concatenate curves into one series, checking shapes and standard errors."""
        panels, names, xs, ys, ses, units = [], [], [], [], [], []
        for c in curves:
            x = np.asarray(c.x, dtype=np.float64).reshape(-1)
            y = np.asarray(c.y, dtype=np.float64).reshape(-1)
            se = (
                np.zeros_like(y)
                if c.stderr is None
                else np.asarray(c.stderr, dtype=np.float64).reshape(-1)
            )
            if not (x.shape == y.shape == se.shape):
                raise LmechError(
                    f"curve {c.panel}/{c.name}: x, y and stderr must have the same length, "
                    f"got {x.size}, {y.size} and {se.size}"
                )
            if np.any(se < 0) or np.any(np.isnan(se)):
                raise LmechError(f"curve {c.panel}/{c.name}: stderr must be >= 0")
            n_units = _units(c, x.size)
            panels.append(np.full(x.size, c.panel, dtype=object))
            names.append(np.full(x.size, c.name, dtype=object))
            xs.append(x)
            ys.append(y)
            ses.append(se)
            units.append(n_units)
        if not xs:
            raise LmechError("a series needs at least one curve")
        return cls(
            np.concatenate(panels),
            np.concatenate(names),
            np.concatenate(xs),
            np.concatenate(ys),
            np.concatenate(ses),
            np.concatenate(units),
        )

    def __len__(self) -> int:
        return int(self.y.size)

    def keys(self) -> list[tuple[str, str, float]]:
        """The (panel, curve, x) key of every point, in order."""
        return list(zip(self.panel.tolist(), self.curve.tolist(), self.x.tolist(), strict=True))

    def curves(self) -> list[Curve]:
        """Split back into curves, in order of first appearance."""
        out = []
        seen: dict[tuple[str, str], None] = {}
        for key in zip(self.panel.tolist(), self.curve.tolist(), strict=True):
            seen.setdefault(key, None)
        for panel, name in seen:
            m = (self.panel == panel) & (self.curve == name)
            out.append(Curve(panel, name, self.x[m], self.y[m], self.stderr[m], self.units[m]))
        return out

    def same_points_as(self, other: Series) -> bool:
        """True when both series have the same (panel, curve, x) keys in the same order."""
        return (
            len(self) == len(other)
            and bool(np.all(self.panel == other.panel))
            and bool(np.all(self.curve == other.curve))
            and (np.array_equal(self.x, other.x)
                 or bool(np.allclose(self.x, other.x, rtol=1e-12, atol=0.0)))
        )


def _units(curve: Curve, n: int) -> np.ndarray:
    """The curve's unit counts as ``(n,)`` int64 (0 for theory)."""
    raw = np.asarray(0 if curve.units is None else curve.units)
    ok = (raw.ndim == 0 or raw.shape == (n,)) and np.issubdtype(raw.dtype, np.number)
    if ok and raw.size:
        ok = bool(np.all(np.isfinite(raw)) and np.all(raw >= 0) and np.all(raw == np.round(raw)))
    if not ok:
        raise LmechError(
            f"curve {curve.panel}/{curve.name}: units must be one whole number >= 0 or one "
            f"per point ({n}), got {curve.units!r}"
        )
    return np.broadcast_to(raw.astype(np.int64), (n,)).copy()
