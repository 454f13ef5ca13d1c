"""Helpers for trying and testing the package without downloading weights (tiny real-architecture models)."""
