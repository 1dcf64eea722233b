"""Laws of the network at initialisation: kernels, criticality, finite-width interactions."""
