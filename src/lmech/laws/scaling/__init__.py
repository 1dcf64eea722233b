"""Scaling laws: loss exponents predicted from the statistics of the data."""
