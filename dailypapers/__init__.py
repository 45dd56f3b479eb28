"""dailypapers: a self-hostable Daily Papers site."""

__version__ = "0.1.0"
