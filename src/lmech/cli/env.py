"""`lmech env`: versions and hardware, for bug reports."""

from __future__ import annotations

import os
import platform

import typer

__all__ = ["env_command"]


def env_command() -> None:
    """Print versions and hardware, for bug reports."""
    import numpy
    import torch

    import lmech

    lines = {
        "lmech": lmech.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "torch threads": torch.get_num_threads(),
        "cuda available": torch.cuda.is_available(),
        "numpy": numpy.__version__,
        "cpu count": os.cpu_count(),
    }
    for k, v in lines.items():
        typer.echo(f"{k}: {v}")
