"""A real ``redis-server`` run by the tests as a child process, on a unix socket only.

The server listens on no TCP port (``--port 0``), keeps nothing on disk (``--save ''``,
``--appendonly no``) and lives in its own temporary directory, so tests neither race for
ports nor reach anything off the machine. ``RedisProcess`` can be stopped and started again
on the same socket, for the tests of a Redis that restarts (losing its data) or goes away.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ["INSTALL_HINT", "RedisProcess", "listening_tcp_ports", "ping"]

#: How to get ``redis-server`` on Debian or Ubuntu.
INSTALL_HINT = "apt-get install redis-server"
#: How long a starting server may take to answer PING.
START_TIMEOUT_S = 5.0
#: How long a stopping server may take to exit after SIGTERM before it is killed.
STOP_TIMEOUT_S = 5.0
_POLL_S = 0.01


def ping(socket_path: str | os.PathLike[str], timeout: float = 1.0) -> bool:
    """Send one RESP ``PING`` over the unix socket and return whether ``+PONG`` came back.

    Args:
        socket_path: The server's unix socket.
        timeout: Seconds for the connection and the answer.

    Returns:
        True when the server answered PONG.
    """
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(os.fspath(socket_path))
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _socket_inodes(pid: int) -> set[str]:
    inodes: set[str] = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    for fd in fd_dir.iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    return inodes


def listening_tcp_ports(pid: int) -> list[int]:
    """Return the TCP ports (IPv4 and IPv6) that process ``pid`` listens on (Linux ``/proc``).

    Args:
        pid: The process to inspect.

    Returns:
        The listening ports, possibly empty.
    """
    inodes = _socket_inodes(pid)
    ports: list[int] = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if state == "0A" and inode in inodes:  # 0A: TCP_LISTEN
                    ports.append(int(local.rsplit(":", 1)[1], 16))
    return ports


class RedisProcess:
    """One ``redis-server`` child process on a unix socket in its own temporary directory.

    Args:
        executable: Path of ``redis-server``.
    """

    def __init__(self, executable: str) -> None:
        self.executable = executable
        # mkdtemp under the system temp dir keeps the socket path far below the 108-byte
        # limit of sun_path, which pytest's deep tmp_path directories can come close to.
        self.directory = Path(tempfile.mkdtemp(prefix="mmredis-"))
        self.socket_path = self.directory / "redis.sock"
        self._log_path = self.directory / "redis.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The ``unix://`` URL of the server (valid across restarts)."""
        return f"unix://{self.socket_path}"

    @property
    def pid(self) -> int:
        """The running server's process id.

        Raises:
            RuntimeError: The server is not running.
        """
        if self._process is None:
            raise RuntimeError("redis-server is not running")
        return self._process.pid

    @property
    def running(self) -> bool:
        """Whether the child process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the server (empty: nothing persists) and wait until it answers PING.

        Raises:
            RuntimeError: Already running, or no PONG within ``START_TIMEOUT_S`` (the
                message carries the server's log).
        """
        if self.running:
            raise RuntimeError("redis-server is already running")
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        args = [
            self.executable,
            "--port",
            "0",
            "--unixsocket",
            str(self.socket_path),
            "--unixsocketperm",
            "700",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.directory),
        ]
        with self._log_path.open("ab") as log:
            self._process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not ping(self.socket_path, timeout=0.5):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                log_text = self._log_path.read_text(errors="replace")
                raise RuntimeError(f"redis-server did not answer PING; its log:\n{log_text}")
            time.sleep(_POLL_S)  # a start-up wait, not a test of timing

    def stop(self) -> None:
        """Stop the server: SIGTERM, up to ``STOP_TIMEOUT_S`` to exit, then SIGKILL."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def restart(self) -> None:
        """Stop and start again on the same socket; like a restart without persistence,
        every key is gone."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop the server and remove its directory."""
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)
