"""Counting the SQL statements a piece of code runs, so an N+1 query cannot creep in."""

from __future__ import annotations

from sqlalchemy import Engine, event


class QueryCounter:
    """Counts SQL statements an engine runs while active (catches N+1 queries)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.statements: list[str] = []

    def _record(self, _conn: object, _cursor: object, statement: str, *_args: object) -> None:
        self.statements.append(statement)

    def __enter__(self) -> QueryCounter:
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *_exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._record)

    @property
    def count(self) -> int:
        return len(self.statements)
