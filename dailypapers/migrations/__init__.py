"""Alembic migrations; run with ``dailypapers db upgrade``."""
