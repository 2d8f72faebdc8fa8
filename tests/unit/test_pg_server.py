"""The throwaway PostgreSQL server of tests/pg_server.py: reachable with the store's driver, and
each fresh database starts empty and stays apart from the others."""

from __future__ import annotations

import asyncpg
import pytest

from tests import pg_server
from tests.pg_server import PgServer


async def test_the_session_server_answers_over_tcp(postgres_url: str) -> None:
    conn = await asyncpg.connect(postgres_url)
    try:
        version = await conn.fetchval("select version()")
        database = await conn.fetchval("select current_database()")
    finally:
        await conn.close()
    assert version.startswith("PostgreSQL ")
    assert database == "newsbrief_test"


async def test_fresh_databases_do_not_see_each_other(
    postgres_server: PgServer, fresh_postgres_url: str
) -> None:
    other = postgres_server.create_database()
    try:
        first = await asyncpg.connect(fresh_postgres_url)
        second = await asyncpg.connect(postgres_server.url(other))
        try:
            await first.execute("create table briefs (id int primary key)")
            await first.execute("insert into briefs values (1)")
            assert await first.fetchval("select count(*) from briefs") == 1
            # The same table name is free in the other database: nothing leaked across.
            await second.execute("create table briefs (id int primary key)")
            assert await second.fetchval("select count(*) from briefs") == 0
        finally:
            await first.close()
            await second.close()
    finally:
        postgres_server.drop_database(other)


def test_a_dropped_fresh_database_is_gone(postgres_server: PgServer) -> None:
    name = postgres_server.create_database()
    postgres_server.drop_database(name)
    with pytest.raises(RuntimeError, match="does not exist"):
        postgres_server.sql(f"DROP DATABASE {name}")


def test_missing_server_binaries_fail_naming_the_install_script(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Not a skip: CI must run the PostgreSQL tests, so a machine without the server says how.
    monkeypatch.setattr(pg_server.shutil, "which", lambda _name: None)
    monkeypatch.setattr(pg_server.glob, "glob", lambda _pattern: [])
    with pytest.raises(RuntimeError, match="scripts/install-postgres"):
        pg_server.find_bindir()
