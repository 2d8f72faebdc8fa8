"""The answers' INSERTs compiled once from tables.py and run straight on the SQLite driver.

SQLAlchemy's execute redoes per call what never changes for these two statements (the compiled
cache lookup, the execution context, the parameter dicts, events): about as much CPU as SQLite's
own work for a small batch, all of it on the event loop. Here the statement text and the column
order come from the same Table objects, once per dialect, and every value goes through its column
type's own bind conversion, so the rows are what SQLAlchemy itself would write.

Each table's rows go in one multi-row statement, not one step per row (executemany): the driver
lets go of the GIL around every step, and when the pipeline's worker threads hold it (at 20 in
flight they ground answers) each step can wait a switch interval (5 ms) to get it back, with the
whole event loop stalled behind it. A batch is then four steps: BEGIN, two INSERTs, COMMIT."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from operator import itemgetter
from typing import Any, cast

from sqlalchemy import Dialect, PoolProxiedConnection, Table, insert
from sqlalchemy.exc import DBAPIError

MOST_PARAMS = 30_000  # SQLite allows 32,766 parameters a statement
MOST_ROWS = 500  # rows a statement at most


class CompiledInsert:
    """`INSERT INTO table (keys…) VALUES (…), (…)` for one dialect, rows turned into parameters."""

    def __init__(self, table: Table, dialect: Dialect) -> None:
        """Every column but an autoincrement key: each row gives them all."""
        keys = [c.key for c in table.c if c is not table.autoincrement_column]
        compiled = insert(table).compile(dialect=dialect, column_keys=keys)
        order = compiled.positiontup or keys  # a positional paramstyle's order
        self._head, _, self._row = compiled.string.rpartition(" VALUES ")  # `(?, ?, …)`: a row
        self._sql_for: dict[int, str] = {}  # rows: the statement for that many
        self._width = len(order)
        pick = itemgetter(*order)  # one key: the value itself, not a 1-tuple
        self._values: Callable[[dict[str, Any]], Sequence[Any]] = (
            pick if len(order) > 1 else lambda row: (pick(row),)
        )
        kinds = [table.c[key].type.dialect_impl(dialect) for key in order]
        self._convert: list[tuple[int, Callable[[Any], Any]]] = [
            (i, convert)
            for i, kind in enumerate(kinds)
            if (convert := kind.bind_processor(dialect)) is not None
        ]

    def statements(self, rows: Sequence[dict[str, Any]]) -> list[tuple[str, list[Any]]]:
        """The rows as few multi-row statements as SQLite's limits allow, with their parameters."""
        values = self.params(rows)
        most = max(1, min(MOST_ROWS, MOST_PARAMS // self._width))
        out = []
        for start in range(0, len(values), most):
            part = values[start : start + most]
            sql = self._sql_for.get(len(part))
            if sql is None:
                sql = self._sql_for[len(part)] = f"{self._head} VALUES " + ", ".join(
                    [self._row] * len(part)
                )
            out.append((sql, [value for row in part for value in row]))
        return out

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
            cursor.execute(sql, params)
        cursor.execute("COMMIT")
    except sqlite3.Error as exc:
        if connection.in_transaction:
            connection.rollback()
        # The parameters stay out of the error's text: they hold article text.
        raise DBAPIError.instance("INSERT", None, exc, sqlite3.Error, hide_parameters=True) from exc
    finally:
        cursor.close()
