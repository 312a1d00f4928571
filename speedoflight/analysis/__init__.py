"""Comparisons and reports: measured drafters against the ceiling, the real optimum against the theory."""
