"""lmech: a laboratory for learning mechanics.

Sub-packages: ``lmech.theory`` (closed-form predictions), ``lmech.tasks`` (data),
``lmech.laws`` (the law book), ``lmech.run`` (verdicts, runner, store), ``lmech.report``.
"""

from lmech.errors import LmechError

__version__ = "0.1.0"

__all__ = ["LmechError", "__version__"]
