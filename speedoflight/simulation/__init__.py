"""Simulated draft trees: the optimal tree under the i.i.d. model, practical policies, positional trees."""
