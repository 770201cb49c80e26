"""Databases and Redis for fault and load tests, on loopback and never the shared ones
when a test must stop or restart them.

- ``scratch_postgres_database``: a database of its own on the machine's PostgreSQL
  (``HEARTH_LOAD_POSTGRES_URL``, default postgresql://postgres@127.0.0.1:5432/postgres),
  created for one test and dropped after it. Nothing is stopped or reconfigured.
- ``PrivatePostgres``: a cluster of its own (Debian's initdb/pg_ctl) in a temporary folder on
  a free port, which a test may restart.
- ``PrivateRedis``: a redis-server subprocess on a free port, which a test may kill.

Without the binaries (or the shared server) a test is skipped with a message on a
developer's machine, and fails in CI (``CI`` set), like the browser tests.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import pytest
from sqlalchemy import create_engine, text

from tests.load.live import free_port, wait_for_port

SHARED_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def missing(message: str):
    """Skip with ``message`` here; fail in CI, where every dependency must be present."""
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _psycopg(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


@contextmanager
def scratch_postgres_database() -> Iterator[str]:
    """CREATE DATABASE hearth_load_<random> on the shared server; DROP it afterwards."""
    admin_url = os.environ.get("HEARTH_LOAD_POSTGRES_URL", SHARED_POSTGRES_URL)
    engine = create_engine(_psycopg(admin_url), isolation_level="AUTOCOMMIT")
    name = f"hearth_load_{secrets.token_hex(6)}"
    try:
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        engine.dispose()
        missing(f"PostgreSQL at {admin_url} is needed (HEARTH_LOAD_POSTGRES_URL): {exc}")
    head, _, _ = admin_url.rpartition("/")
    try:
        yield f"{head}/{name}"
    finally:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


def _postgres_bindir() -> str | None:
    for pg_ctl in sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True):
        bindir = os.path.dirname(pg_ctl)
        if os.access(os.path.join(bindir, "initdb"), os.X_OK):
            return bindir
    found = shutil.which("pg_ctl")
    return os.path.dirname(found) if found and shutil.which("initdb") else None


class PrivatePostgres:
    """A throwaway PostgreSQL cluster on 127.0.0.1:<free port>; ``url`` is its postgres db.

    As root, initdb refuses to run: the cluster then belongs to the ``postgres`` user
    (runuser), in a temporary folder it owns.
    """

    def __init__(self):
        self.bindir = _postgres_bindir()
        if self.bindir is None:
            missing(
                "PostgreSQL's server binaries (initdb, pg_ctl) are needed: "
                "apt-get install postgresql"
            )
        self.port = free_port()
        self.root = tempfile.mkdtemp(prefix="hearth-pg-")
        self.data = os.path.join(self.root, "data")
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                shutil.rmtree(self.root, ignore_errors=True)
                missing("running as root, a 'postgres' user is needed to run initdb as")
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
            runuser = shutil.which("runuser")
            self.prefix = [runuser, "-u", "postgres", "--"] if runuser else []
            if not self.prefix:
                shutil.rmtree(self.root, ignore_errors=True)
                missing("running as root, runuser is needed to run initdb as postgres")
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self.log = os.path.join(self.root, "server.log")

    def _run(self, *args: str, timeout: float = 60) -> None:
        result = subprocess.run(
            [*self.prefix, *args], capture_output=True, timeout=timeout, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{args[0]} failed ({result.returncode}): "
                f"{(result.stdout + result.stderr).decode(errors='replace')[-1500:]}"
            )

    def _pg_ctl(self, *args: str) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-l", self.log,
            "-o", options, "-w", "-t", "30", *args,
        )  # fmt: skip

    def start(self) -> PrivatePostgres:
        self._run(
            os.path.join(self.bindir, "initdb"), "-D", self.data, "-U", "postgres",
            "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C.UTF-8",
        )  # fmt: skip
        self._pg_ctl("start")
        wait_for_port(self.port, timeout=10)
        return self

    def restart(self) -> None:
        self._pg_ctl("-m", "fast", "restart")

    def stop(self) -> None:
        if os.path.isdir(self.data):
            with suppress(RuntimeError, subprocess.TimeoutExpired):
                self._pg_ctl("-m", "immediate", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


class PrivateRedis:
    """``redis-server`` on 127.0.0.1:<free port>, no persistence; start, kill, start again."""

    def __init__(self):
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            missing("redis-server is needed: apt-get install redis-server")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> PrivateRedis:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for_port(self.port, self.process, timeout=10)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def client(self):
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2)


def wait_until(predicate, timeout: float, interval: float = 0.1):
    """Poll ``predicate`` until it returns something true or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)
