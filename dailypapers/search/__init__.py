"""Search: lexical (FTS5) now; query parsing, vectors and hybrid ranking come with #5."""
