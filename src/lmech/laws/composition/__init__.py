"""Compositional generalisation of sequence models on compositions of functions."""
