"""Real servers for job tests: a private redis-server, RQ and ``sentinel`` subprocesses.

Every process started here is stopped by its owner's ``stop()``; fixtures call it in a
``finally`` so a failing test never leaves a server or a worker behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path

REDIS_SERVER = "/usr/bin/redis-server"
ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(
    predicate: Callable[[], object], timeout: float, what: str, step: float = 0.05
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(step)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


class RedisServer:
    """A throw-away redis-server on a free port, no persistence; can be killed and restarted."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self.ping, 10, f"redis-server on port {self.port}")

    def ping(self) -> bool:
        from redis import Redis

        try:
            with Redis.from_url(self.url, socket_connect_timeout=0.5) as conn:
                return bool(conn.ping())
        except Exception:
            return False

    def kill(self) -> None:
        """SIGKILL, like a crash: nothing is flushed."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    stop = kill


class Process:
    """A subprocess in its own session, with every descendant killed by ``kill()``."""

    def __init__(self, args: list[str], env: Mapping[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115  (closed in stop())
        self.proc = subprocess.Popen(
            args,
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        """SIGKILL the process and its children: work dies mid-way without any cleanup.

        RQ's work horse runs in a session of its own (``setsid``), so it is found as a
        child process, not through the worker's process group.
        """
        for pid in [*descendants(self.proc.pid), self.proc.pid]:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def kill_children(self) -> list[int]:
        """SIGKILL only the children (an RQ worker's work horse); returns their pids."""
        pids = descendants(self.proc.pid)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        return pids

    def terminate(self, timeout: float) -> int:
        """SIGTERM (what systemd sends on stop); returns the exit code."""
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def running(self) -> bool:
        return self.proc.poll() is None

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        try:
            self.kill()
        finally:
            self._log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


class Worker(Process):
    """An ``rq worker`` subprocess (the worker and its work horse)."""

    def __init__(
        self,
        queues: list[str],
        redis_url: str,
        env: Mapping[str, str],
        log_path: Path,
        burst: bool = False,
    ) -> None:
        args = [str(VENV_BIN / "rq"), "worker", *queues, "--url", redis_url, "--path", str(ROOT)]
        if burst:
            args.append("--burst")
        super().__init__(args, env, log_path)


class Sentinel(Process):
    """A ``sentinel …`` command subprocess, e.g. ``sentinel worker`` or ``sentinel cron``."""

    def __init__(self, args: list[str], env: Mapping[str, str], log_path: Path) -> None:
        super().__init__([str(VENV_BIN / "sentinel"), *args], env, log_path)


class ProcessGroup:
    """Processes a bench starts (servers, workers), a private Redis, a scratch folder; all
    stopped and removed by ``close()`` (call it from a ``finally``)."""

    def __init__(self, prefix: str = "sentinel-bench-") -> None:
        self.procs: list[subprocess.Popen[bytes]] = []
        self.tmp = Path(tempfile.mkdtemp(prefix=prefix))
        self.redis: RedisServer | None = None

    def start(
        self, args: list[str], env: dict[str, str] | None = None, log: str | None = None
    ) -> subprocess.Popen[bytes]:
        out = open(self.tmp / log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115
        proc = subprocess.Popen(
            args,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def close(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=5)
        if self.redis is not None:
            self.redis.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)


def recreate_database(url: str, *, create: bool = True) -> None:
    """Drop the PostgreSQL database named by ``url`` (closing its sessions) and, with
    ``create``, create it empty again (the benches' scratch databases)."""
    import psycopg

    server_url, name = url.rsplit("/", 1)
    with psycopg.connect(server_url + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if create:
            conn.execute(f'CREATE DATABASE "{name}"')
