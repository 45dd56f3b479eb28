"""Search: papers by their words and by their meaning, fused into one ranking (DESIGN.md §1, §2).

``query`` parses what a user typed (terms, phrases, exclusions, filters; pure, no database).
``lexical/`` finds papers by their words in the database's full-text index (FTS5 on SQLite, a
stored ``tsvector`` on PostgreSQL); ``embed`` turns text into vectors with the ONNX model,
``indexer`` keeps every paper's vector current (the ``embed_paper`` jobs, ``index`` commands),
and ``vectors/`` (or ``pgvector_index`` on PostgreSQL with pgvector) finds the nearest ones.
``hybrid`` fuses both branches, re-ranking the head with ``coverage`` (the share of the query's
words a paper holds); it is what the site, the API and the CLI call. ``model_export`` builds
the ONNX model once, offline.
"""
