"""Multi-row INSERT for bulk loads, with SQLAlchemy's own type conversions.

SQLite runs one ``INSERT … VALUES (…), (…), …`` of many rows far faster than ``executemany``
of one-row INSERTs, and SQLAlchemy's per-row parameter building is a cost a bulk load pays per
row (docs/benchmarks.md). On drivers with
positional parameters (SQLite's ``?``, psycopg's ``%s``) this renders the statement itself,
converts each value with its column type's own bind processor (so what is stored is exactly what
SQLAlchemy would store), and passes flat tuples to the driver. Column defaults are not applied
here: every row carries every NOT NULL value.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, Table

# SQLite accepts at most 32,766 bound parameters per statement.
MAX_PARAMETERS = 32_000


def insert_rows(
    connection: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    suffix: str = "",
    returning: Sequence[str] = (),
) -> list[tuple[Any, ...]]:
    """INSERT ``rows`` (dicts with the same keys); ``suffix`` is e.g. an ON CONFLICT clause.

    With ``returning`` column names, returns those columns of the inserted rows (RETURNING is in
    SQLite ≥ 3.35 and PostgreSQL), which spares a SELECT for generated ids.
    """
    if not rows:
        return []
    dialect = connection.dialect
    columns = list(rows[0])
    # SQLite's driver takes "?", psycopg takes "%s"; both bind positional tuples.
    placeholder = "?" if dialect.paramstyle == "qmark" else "%s"
    quote = dialect.identifier_preparer.quote
    processors = [table.c[name].type.bind_processor(dialect) for name in columns]
    # Only quoted identifiers and placeholders are interpolated; every value is bound.
    head = f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) VALUES "  # noqa: S608
    one_row = "(" + ", ".join(placeholder for _ in columns) + ")"
    tail = (f" {suffix}" if suffix else "") + (
        f" RETURNING {', '.join(quote(c) for c in returning)}" if returning else ""
    )
    per_statement = max(1, MAX_PARAMETERS // len(columns))
    returned: list[tuple[Any, ...]] = []
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        by_column = [
            _converted([row[name] for row in chunk], process)
            for name, process in zip(columns, processors, strict=True)
        ]
        values = tuple(value for row_values in zip(*by_column, strict=True) for value in row_values)
        sql = head + ", ".join([one_row] * len(chunk)) + tail
        result = connection.exec_driver_sql(sql, values)
        if returning:
            returned.extend(tuple(row) for row in result.fetchall())
    return returned


def bind_value(connection: Connection, table: Table, column: str, value: Any) -> Any:
    """``value`` converted for ``table.column`` as :func:`insert_rows` converts it."""
    process = table.c[column].type.bind_processor(connection.dialect)
    return value if process is None or value is None else process(value)


def _converted(values: list[Any], process: Callable[[Any], Any] | None) -> list[Any]:
    """Apply a bind processor column-wise; a value repeated row after row is converted once."""
    if process is None:
        return values
    out: list[Any] = []
    last_in: Any = object()
    last_out: Any = None
    for value in values:
        if value is None:
            out.append(None)
            continue
        if value is not last_in:
            last_in, last_out = value, process(value)
        out.append(last_out)
    return out


def select_in(
    connection: Connection, table: Table, key: str, value: str, keys: Sequence[Any]
) -> dict[Any, Any]:
    """``{key: value}`` for the rows whose ``key`` column is in ``keys`` (chunked IN lists).

    Rendered directly: SQLAlchemy's expanding IN renders each value at a cost a bulk load
    pays for every author name and paper id.
    """
    dialect = connection.dialect
    placeholder = "?" if dialect.paramstyle == "qmark" else "%s"
    quote = dialect.identifier_preparer.quote
    found: dict[Any, Any] = {}
    per_statement = MAX_PARAMETERS
    for start in range(0, len(keys), per_statement):
        chunk = tuple(keys[start : start + per_statement])
        sql = (
            f"SELECT {quote(key)}, {quote(value)} FROM {quote(table.name)} "  # noqa: S608
            f"WHERE {quote(key)} IN ({', '.join([placeholder] * len(chunk))})"
        )
        found.update((row[0], row[1]) for row in connection.exec_driver_sql(sql, chunk).fetchall())
    return found
