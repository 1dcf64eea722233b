"""Superposition: how networks store more features than they have dimensions."""
