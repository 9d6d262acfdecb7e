"""Background processes with pid files: start detached, find again, stop by pid only."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path


class StackError(RuntimeError):
    """A part of the stack failed; the message says which and where its log is."""


class Proc:
    def __init__(self, name: str, run_dir: Path, log_dir: Path) -> None:
        self.name = name
        self.pidfile = run_dir / f"{name}.pid"
        self.log = log_dir / f"{name}.log"

    def pid(self) -> int | None:
        """The pid if our process still runs (checked against its recorded start time)."""
        try:
            pid_text, started = self.pidfile.read_text().split()
            pid = int(pid_text)
        except (FileNotFoundError, ValueError):
            return None
        if _start_time(pid) != started:
            return None  # gone, or the pid was reused by another process
        return pid

    def start(self, argv: list[str], env: dict[str, str], cwd: Path) -> int:
        self.pidfile.parent.mkdir(parents=True, exist_ok=True)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, env=env, cwd=cwd,
                                    start_new_session=True)
        self.pidfile.write_text(f"{proc.pid} {_start_time(proc.pid)}")
        return proc.pid

    def stop(self, timeout: float = 20.0, sig: int = signal.SIGTERM) -> bool:
        """End our process (SIGTERM, then SIGKILL after `timeout`); False if none ran."""
        pid = self.pid()
        if pid is None:
            self.pidfile.unlink(missing_ok=True)
            return False
        os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.pid() is not None:
            _reap(pid)
            time.sleep(0.1)
        if self.pid() is not None:
            os.kill(pid, signal.SIGKILL)
            while self.pid() is not None:
                _reap(pid)
                time.sleep(0.05)
        self.pidfile.unlink(missing_ok=True)
        return True

    def kill9(self) -> None:
        """Crash it, as a fault test would."""
        self.stop(timeout=0.0, sig=signal.SIGKILL)

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


def _start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":
        _reap(pid)
        return None
    return fields[19]  # starttime, in clock ticks since boot


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def port_freed(port: int, timeout: float = 10.0) -> bool:
    """Whether `port` stops accepting connections within `timeout`: a process just
    killed may still be closing its listening socket when the next one starts."""
    deadline = time.monotonic() + timeout
    while port_open(port):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def wait_until(what: str, check: Callable[[], bool], timeout: float, proc: Proc) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.pid() is None:
            raise StackError(f"{what} exited during start; see {proc.log}:\n{proc.tail()}")
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(0.3)
    raise StackError(f"{what} not ready after {timeout:.0f}s; see {proc.log}:\n{proc.tail()}")
