"""Pruning at initialisation: synaptic saliency, its conservation, layer collapse."""
