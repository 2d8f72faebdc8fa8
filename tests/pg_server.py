"""A throwaway PostgreSQL server for the tests (a pytest plugin, registered in tests/conftest.py).

`postgres_url` starts one cluster per session, the first time a test asks for it: initdb into a
temporary directory, `postgres` on a free loopback port with its socket in that directory and
durability off (the data dies with the run), a database `newsbrief_test`. `fresh_postgres_url`
gives a test a new empty database of its own, so tests never see each other's rows. Tests using
either are marked `postgres`.

Debian's server binaries come from scripts/install-postgres (make test runs it); without them the
fixture fails, never skips: CI must run these tests. initdb and postgres refuse to run as root, so
under root they run as the package's `postgres` system user.
"""

from __future__ import annotations

import ctypes
import glob
import itertools
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import free_port

SUPERUSER = "newsbrief"
DATABASE = "newsbrief_test"
INSTALL_HINT = "run scripts/install-postgres (as root) to install Debian's PostgreSQL server"


def find_bindir() -> Path:
    """The directory holding initdb and postgres: pg_config's, else the newest Debian one."""
    candidates = []
    if pg_config := shutil.which("pg_config"):
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        candidates.append(out.stdout.strip())
    # Debian's pg_config comes with libpq-dev, not the server, and may name another version.
    versions = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += sorted(versions, key=lambda p: int(Path(p).parent.name), reverse=True)
    for bindir in candidates:
        if bindir and all((Path(bindir) / exe).is_file() for exe in ("initdb", "postgres")):
            return Path(bindir)
    raise RuntimeError(f"PostgreSQL server binaries (initdb, postgres) not found: {INSTALL_HINT}")


class PgServer:
    """One running cluster: its URL, and fresh databases on demand."""

    def __init__(self, bindir: Path, workdir: Path, port: int, run_as: dict[str, Any]) -> None:
        self.bindir, self.workdir, self.port, self.run_as = bindir, workdir, port, run_as
        self.proc: subprocess.Popen[bytes] | None = None
        self._names = itertools.count(1)

    def url(self, database: str = DATABASE) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def _run(self, exe: str, *args: str) -> None:
        done = subprocess.run(
            [str(self.bindir / exe), *args],
            cwd=self.workdir,
            capture_output=True,
            text=True,
            check=False,
            **self.run_as,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{exe} failed ({done.returncode}): {done.stderr.strip()}")

    def start(self, timeout_s: float = 30) -> None:
        data = self.workdir / "data"
        # --no-sync: nothing here needs to survive a crash, and fsync is most of initdb's time.
        self._run(
            "initdb", "--no-sync", "-D", str(data), "-U", SUPERUSER, "-A", "trust",
            "-E", "UTF8", "--locale=C",
        )  # fmt: skip
        log = (self.workdir / "postgres.log").open("wb")
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.workdir),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
        }
        args = [arg for k, v in settings.items() for arg in ("-c", f"{k}={v}")]
        self.proc = subprocess.Popen(
            [str(self.bindir / "postgres"), "-D", str(data), *args],
            cwd=self.workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
            **self.run_as,
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        while not self._accepts_connections():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = (self.workdir / "postgres.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"postgres did not start:\n{tail}")
            time.sleep(0.05)
        self.sql(f"CREATE DATABASE {DATABASE}")

    def _accepts_connections(self) -> bool:
        ready = subprocess.run(
            [str(self.bindir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)],
            check=False,
        )
        return ready.returncode == 0

    def sql(self, statement: str) -> None:
        """Run one statement as the superuser on the maintenance database."""
        self._run(
            "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(self.port),
            "-U", SUPERUSER, "-d", "postgres", "-c", statement,
        )  # fmt: skip

    def create_database(self) -> str:
        """A new empty database (a copy of template1, so cheap); returns its name."""
        name = f"test_{os.getpid()}_{next(self._names)}"
        self.sql(f"CREATE DATABASE {name}")
        return name

    def drop_database(self, name: str) -> None:
        # FORCE: a test's leftover pool connection must not keep its database (and disk) alive.
        self.sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def stop(self) -> None:
        """Fast shutdown of the postmaster by its PID (SIGINT: clients are disconnected)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _die_with_parent() -> None:
    """In the child: if pytest dies without its teardown, the kernel stops the server too
    (SIGQUIT: immediate shutdown), so no cluster outlives the run."""
    pr_set_pdeathsig = 1
    ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGQUIT)


def run_as_unprivileged(workdir: Path) -> dict[str, Any]:
    """Popen arguments that drop root to the `postgres` system user; nothing when not root."""
    if os.geteuid() != 0:
        return {}
    try:
        user = pwd.getpwnam("postgres")
    except KeyError:
        raise RuntimeError(
            f"running as root, and there is no `postgres` user to run the server as: {INSTALL_HINT}"
        ) from None
    os.chown(workdir, user.pw_uid, user.pw_gid)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": user.pw_dir, "LC_ALL": "C"}
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": [], "env": env}


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PgServer]:
    bindir = find_bindir()
    # Under /tmp itself, not pytest's tmp_path: pytest makes its tree root-only (0700), and the
    # server runs as another user.
    workdir = Path(tempfile.mkdtemp(prefix="newsbrief-pg-"))
    server = PgServer(bindir, workdir, free_port(), run_as_unprivileged(workdir))
    try:
        started = time.perf_counter()
        server.start()
        print(f"\npostgres ready in {time.perf_counter() - started:.2f} s on port {server.port}")
        yield server
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PgServer) -> str:
    """postgresql://newsbrief@127.0.0.1:PORT/newsbrief_test, shared by the whole session."""
    return postgres_server.url()


@pytest.fixture
def fresh_postgres_url(postgres_server: PgServer) -> Iterator[str]:
    """A new empty database for this test alone, dropped after it."""
    name = postgres_server.create_database()
    try:
        yield postgres_server.url(name)
    finally:
        postgres_server.drop_database(name)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "postgres_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)
