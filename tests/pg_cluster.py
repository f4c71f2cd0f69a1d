"""A throwaway PostgreSQL cluster for tests that need a real server.

``postgres_url`` (session-scoped) runs ``initdb`` into a fresh temporary directory,
starts the server with ``pg_ctl -w`` listening only on a Unix socket in that directory
(no TCP), creates one database and yields a SQLAlchemy URL for it; afterwards the server
is stopped and the directory deleted, also when start-up or a test failed. The system
service is never touched.

PostgreSQL refuses to run as root: as root, initdb and pg_ctl run as the ``postgres``
system user (created by Debian's ``postgresql`` package) in a directory chowned to it;
otherwise they run as the invoking user. Missing binaries FAIL the tests with a hint to
run ``make deps`` (``make test`` does), they never skip.

Use it from a test module with ``from pg_cluster import postgres_url  # noqa: F401`` (and
``# noqa: F811`` where a function takes it as an argument).
"""

from __future__ import annotations

import glob
import os
import random
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

DB_NAME = "spyproof_test"
SUPERUSER = "postgres"


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries, or the throwaway cluster did not start."""


def find_bindir() -> Path:
    """The newest ``/usr/lib/postgresql/<major>/bin`` (Debian), else ``initdb`` on PATH."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit()
        else 0,
    )
    if candidates:
        return Path(candidates[-1]).parent
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    raise PostgresUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl) not found: run `make deps` "
        "(or `apt-get install -y postgresql`)"
    )


def _as_owner(cmd: list[str]) -> list[str]:
    """Run ``cmd`` as the cluster owner: ``postgres`` when we are root, else ourselves."""
    if os.geteuid() == 0:
        return ["runuser", "-u", SUPERUSER, "--", *cmd]
    return cmd


def _run(cmd: list[str], cwd: Path, what: str, timeout: float = 120) -> None:
    env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
    for var in ("PGDATA", "PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGPASSWORD"):
        env.pop(var, None)
    proc = subprocess.run(
        _as_owner(cmd), cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    if proc.returncode != 0:
        raise PostgresUnavailable(
            f"{what} failed (exit {proc.returncode}): {(proc.stderr or proc.stdout).strip()}"
        )


class Cluster:
    """One running throwaway cluster; ``url(db)`` is a SQLAlchemy psycopg URL."""

    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.data = root / "data"
        self.socket_dir = root
        self.log = root / "server.log"
        self.port = port

    def url(self, db: str = DB_NAME) -> str:
        return (
            f"postgresql+psycopg://{SUPERUSER}@/{db}?host={self.socket_dir}&port={self.port}"
        )

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(
            host=str(self.socket_dir), port=self.port, user=SUPERUSER, dbname="postgres",
            autocommit=True,
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"


def _kill_postmaster(data: Path) -> None:
    """Last resort when ``pg_ctl stop`` failed: SIGQUIT (immediate shutdown), then KILL."""
    try:
        pid = int((data / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return
    for sig in (signal.SIGQUIT, signal.SIGKILL):
        with suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
        for _ in range(50):
            try:
                os.kill(pid, 0)
            except (ProcessLookupError, PermissionError):
                return
            time.sleep(0.1)


@contextmanager
def running_cluster() -> Iterator[Cluster]:
    """Create, start and (always) stop and delete a throwaway cluster."""
    bindir = find_bindir()
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        raise PostgresUnavailable("running as root needs `runuser` (util-linux) for PostgreSQL")
    # /tmp, not $TMPDIR: the postgres user must reach it, and the socket path must stay
    # within the 107-byte limit of a Unix socket address
    root = Path(tempfile.mkdtemp(prefix="spyproof-pg-", dir="/tmp" if os.path.isdir("/tmp")
                                 else None))
    started = False
    try:
        if os.geteuid() == 0:
            import pwd

            try:
                owner = pwd.getpwnam(SUPERUSER)
            except KeyError as exc:
                raise PostgresUnavailable(
                    f"no '{SUPERUSER}' system user to run PostgreSQL as: run `make deps`"
                ) from exc
            os.chown(root, owner.pw_uid, owner.pw_gid)
        cluster = Cluster(root, random.randint(20000, 60000))
        _run(
            [str(bindir / "initdb"), "-D", str(cluster.data), "-U", SUPERUSER, "-A", "trust",
             "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"],
            root, "initdb",
        )
        options = (
            f"-p {cluster.port} -c listen_addresses='' "
            f"-c unix_socket_directories='{cluster.socket_dir}' "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=20 -c shared_buffers=16MB"
        )
        started = True  # from here on a half-started server is stopped in `finally`
        try:
            _run(
                [str(bindir / "pg_ctl"), "-D", str(cluster.data), "-l", str(cluster.log),
                 "-w", "-t", "60", "-o", options, "start"],
                root, "pg_ctl start",
            )
        except PostgresUnavailable as exc:
            raise PostgresUnavailable(f"{exc}\nserver log:\n{cluster.log_tail()}") from exc
        cluster.create_database(DB_NAME)
        yield cluster
    finally:
        if started:
            try:
                _run(
                    [str(bindir / "pg_ctl"), "-D", str(root / "data"), "-m", "immediate",
                     "-w", "-t", "30", "stop"],
                    root, "pg_ctl stop", timeout=60,
                )
            except (PostgresUnavailable, subprocess.TimeoutExpired):
                _kill_postmaster(root / "data")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """``postgresql+psycopg://postgres@/spyproof_test?host=<socket dir>&port=<port>`` on a
    throwaway cluster running for the whole session (see the module docstring)."""
    error = None
    try:
        with running_cluster() as cluster:
            yield cluster.url()
    except PostgresUnavailable as exc:  # raised before the yield: nothing to tear down
        error = str(exc)
    if error is not None:
        pytest.fail(error, pytrace=False)  # fail, never skip: `make test` runs `make deps`
