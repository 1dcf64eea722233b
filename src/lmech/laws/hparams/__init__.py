"""Hyperparameter transfer: μP's width-independent updates and transferable learning rates."""
