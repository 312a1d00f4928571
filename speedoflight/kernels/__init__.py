"""The numba kernels behind the one jit factory, and the row moments they compute."""
