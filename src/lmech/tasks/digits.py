"""scikit-learn's handwritten digits (1,797 images of 8×8 pixels, 10 classes), no download.

The data ship inside scikit-learn, so loading them touches no network.

Source: UCI optical recognition of handwritten digits, as packaged by
``sklearn.datasets.load_digits``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["Digits", "digits"]


@dataclass(frozen=True)
class Digits:
    """Inputs and labels.

    Attributes:
        x: ``(1797, 1, 8, 8)`` images, or ``(1797, 64)`` when flattened; standardised to
            zero mean and unit variance over all pixels.
        y: ``(1797,)`` int64 class labels in 0…9.
        n_classes: 10.
    """

    x: torch.Tensor
    y: torch.Tensor
    n_classes: int = 10


def digits(*, flatten: bool = False, dtype: torch.dtype = torch.float32,
           device: str = "cpu") -> Digits:
    """The digits data set as tensors (the same every call: no randomness).

    Example:
        >>> d = digits(flatten=True)
        >>> tuple(d.x.shape), int(d.y.max()) + 1
        ((1797, 64), 10)
    """
    from sklearn.datasets import load_digits  # deferred: scikit-learn is slow to import

    bunch = load_digits()
    x = torch.as_tensor(bunch.data, dtype=torch.float64)
    x = (x - x.mean()) / x.std()
    x = x if flatten else x.reshape(-1, 1, 8, 8)
    y = torch.as_tensor(bunch.target, dtype=torch.int64)
    return Digits(x.to(dtype=dtype, device=device), y.to(device))
