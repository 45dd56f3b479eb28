"""Readers that yield raw records (dicts with their position) from one kind of input."""
