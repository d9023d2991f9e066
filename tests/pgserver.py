"""A real PostgreSQL server for tests and benchmarks: Debian's binaries, a cluster made
with ``initdb`` in a temporary folder, started with ``pg_ctl`` on a free port.

PostgreSQL refuses to run as root, so under root the cluster belongs to the
``postgres`` system user (the Debian package creates it) and its commands run through
``runuser``. The folder is a fresh ``tempfile.mkdtemp`` (pytest's own temporary
folders are private to root). The server asks for a password (SCRAM), which clients
read from a ``passfile`` written beside the cluster, never from a URL.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PostgresServer", "find_bindir", "postgres_server"]

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "ensure-postgresql.sh"
USER = "liveeval"
PASSWORD = "s3cret-for-tests"


def find_bindir() -> Path | None:
    """The newest PostgreSQL server binaries, installed by the script when missing (root)."""
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
            return candidate
    if not SCRIPT.exists():
        return None
    done = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return None
    path = Path(done.stdout.strip().splitlines()[-1])
    return path if (path / "initdb").exists() else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PostgresServer:
    bindir: Path
    root: Path
    port: int

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def passfile(self) -> Path:
        return self.root / "pgpass"

    def url(self, database: str = "postgres") -> str:
        """A location without the password; ``passfile`` names the file that holds it."""
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}?passfile={self.passfile}"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(self.bindir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, capture_output=True, text=True, check=check, timeout=120)

    def init(self) -> None:
        pwfile = self.root / "pwfile"
        pwfile.write_text(PASSWORD + "\n")
        self.passfile.write_text(f"127.0.0.1:*:*:{USER}:{PASSWORD}\n")
        os.chmod(self.passfile, 0o600)
        if os.geteuid() == 0:
            entry = pwd.getpwnam("postgres")
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
            os.chown(pwfile, entry.pw_uid, entry.pw_gid)
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            USER,
            "--auth=scram-sha-256",
            f"--pwfile={pwfile}",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        )
        pwfile.unlink()

    durable: bool = False

    def start(self, timeout: float = 60.0) -> None:
        # Tests run without fsync (a temporary cluster); a benchmark keeps it on.
        safety = "" if self.durable else "-c fsync=off -c full_page_writes=off "
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.root} "
            f"-c max_connections=200 -c shared_buffers=128MB {safety}-c log_min_messages=fatal"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.root / "server.log"),
            "-w",
            "-t",
            str(int(timeout)),
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def create_database(self, name: str) -> str:
        """A new, empty database; its location (without the password)."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def log(self) -> str:
        path = self.root / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""


@contextlib.contextmanager
def postgres_server(durable: bool = False) -> Iterator[PostgresServer]:
    """A started server (``durable``: with fsync, as in production); stopped and its
    folder removed at the end."""
    bindir = find_bindir()
    if bindir is None:
        raise RuntimeError("PostgreSQL server binaries not found (scripts/ensure-postgresql.sh)")
    root = Path(tempfile.mkdtemp(prefix="liveeval-pg-"))
    os.chmod(root, 0o755)
    server = PostgresServer(bindir, root, _free_port(), durable)
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.stop("immediate")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (server.data / "postmaster.pid").exists():
            time.sleep(0.1)
        shutil.rmtree(root, ignore_errors=True)
