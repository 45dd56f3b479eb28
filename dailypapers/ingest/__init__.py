"""Ingestion: sources yield raw records → normalize → upsert (DESIGN.md §1)."""
