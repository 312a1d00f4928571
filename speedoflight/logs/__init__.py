"""Serving logs in: measured acceptance from every source, normalised to accepted draft tokens per call."""
