"""Emergence: abrupt capabilities explained as compositions of gradually learned parts."""
