"""Practical tools from the effective theory at initialisation.

- `critical_`: initialise a user's MLP at criticality, in place.
- `critical_summary`: the critical point, class, susceptibilities and depth scales of an
  activation (what `lmech critical` prints), and `plot_flows` (what `--plot` draws).
"""

from lmech.init.critical import critical_, critical_summary, plot_flows

__all__ = ["critical_", "critical_summary", "plot_flows"]
