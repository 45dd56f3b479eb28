"""Data shipped with the package (see README.md for provenance and licence)."""

from pathlib import Path

DEMO_DAILY_PAPERS = Path(__file__).parent / "hf_daily_papers_2026-02.jsonl.gz"
