"""The answers' INSERTs compiled once from tables.py, run with the driver's own executemany.

SQLAlchemy's execute redoes per call what never changes for these two statements (the compiled
cache lookup, the execution context, the parameter dicts, events): about as much CPU as SQLite's
own work for a small batch, all of it on the event loop. Here the statement text and the column
order come from the same Table objects, once per dialect, and every value goes through its column
type's own bind conversion, so the rows are what SQLAlchemy itself would write."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from operator import itemgetter
from typing import Any, cast

from sqlalchemy import Dialect, PoolProxiedConnection, Table, insert
from sqlalchemy.exc import DBAPIError


class CompiledInsert:
    """`INSERT INTO table (keys…)` for one dialect, and rows turned into its parameters."""

    def __init__(self, table: Table, dialect: Dialect) -> None:
        """Every column but an autoincrement key: each row gives them all."""
        keys = [c.key for c in table.c if c is not table.autoincrement_column]
        compiled = insert(table).compile(dialect=dialect, column_keys=keys)
        order = compiled.positiontup or keys  # a positional paramstyle's order
        self.sql = compiled.string
        self._values = itemgetter(*order)
        kinds = [table.c[key].type.dialect_impl(dialect) for key in order]
        self._convert: list[tuple[int, Callable[[Any], Any]]] = [
            (i, convert)
            for i, kind in enumerate(kinds)
            if (convert := kind.bind_processor(dialect)) is not None
        ]

    def params(self, rows: Iterable[dict[str, Any]]) -> list[list[Any]]:
        """Each row's values in the statement's order, converted as its column's type does."""
        out = []
        # A value the row before had in that column is converted once (each claim of an answer
        # has its time: a datetime conversion is ~3 us).
        last: dict[int, tuple[Any, Any]] = {}
        for row in rows:
            values = list(self._values(row))
            for i, convert in self._convert:
                seen = last.get(i)
                if seen is None or seen[0] is not values[i]:
                    seen = last[i] = (values[i], convert(values[i]))
                values[i] = seen[1]
            out.append(values)
        return out


def run_sqlite(pooled: PoolProxiedConnection, batch: Sequence[tuple[str, list[Any]]]) -> None:
    """Every (statement, parameters) of `batch` in one IMMEDIATE transaction on a SQLite engine's
    connection (in autocommit mode, engine.py); SQLite's errors as SQLAlchemy's classes, as an
    execute raises them, so the store handles them the same whichever way a batch was written."""
    connection = cast(sqlite3.Connection, pooled.driver_connection)
    cursor = connection.cursor()
    try:
        cursor.execute("BEGIN IMMEDIATE")
        for sql, params in batch:
            if params:
                cursor.executemany(sql, params)
        cursor.execute("COMMIT")
    except sqlite3.Error as exc:
        if connection.in_transaction:
            connection.rollback()
        # The parameters stay out of the error's text: they hold article text.
        raise DBAPIError.instance("INSERT", None, exc, sqlite3.Error, hide_parameters=True) from exc
    finally:
        cursor.close()
