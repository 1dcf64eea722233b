"""The named budgets every law declares (no imports: the CLI's help reads it at start)."""

BUDGETS = ("smoke", "quick", "full")
"""`smoke` for tests (seconds), `quick` the default run (about a minute at most per law on
two CPU cores), `full` for publication-grade statistics."""

__all__ = ["BUDGETS"]
