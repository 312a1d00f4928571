"""Shared helpers with no speedoflight dependencies: atomic writes, JSON, notices, shipped data, plotting set-up."""
