"""One assistant per data directory, whatever its environment.

Every instance takes an exclusive lock on a file in the data directory where skills keep their
state (two daemons would run the timers of one store twice), before it builds anything. The file
records the holder's pid and control socket, so `assistant send` finds a daemon whose
XDG_RUNTIME_DIR (where the socket is) is not the sender's.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

from assistant.control import STOP_IT_FIRST, AlreadyRunning, socket_path

LOCK_NAME = "assistant.lock"


class InstanceLock:
    """The lock, held until `release` (or the end of the process). AlreadyRunning when another
    assistant holds it; OSError when the file cannot be made or opened."""

    def __init__(self, data_dir: Path, socket: Path):
        self.path = data_dir / LOCK_NAME
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)  # timers, rooms: yours alone
        if data_dir.stat().st_mode & 0o077:  # made before, by `models download` with its umask
            data_dir.chmod(0o700)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.fd)
            raise AlreadyRunning(_refusal(self.path)) from None
        os.ftruncate(self.fd, 0)
        os.write(self.fd, json.dumps({"pid": os.getpid(), "socket": str(socket)}).encode())

    def release(self) -> None:
        """Forget the record (the socket is gone) and let the next instance start."""
        os.ftruncate(self.fd, 0)
        os.close(self.fd)


def _holder(path: Path) -> dict:
    """What the holder recorded: pid and socket; empty when nothing (or nothing readable) is."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _refusal(path: Path) -> str:
    holder = _holder(path)
    who = f"pid {holder['pid']}" if "pid" in holder else "its pid is not recorded yet"
    if "socket" in holder:
        who += f", control socket {holder['socket']}"
    return (
        f"another assistant is running on the same data directory ({who}; lock {path}); "
        + STOP_IT_FIRST
    )


def daemon_pid(data_dir: Path) -> int | None:
    """The pid the assistant running on `data_dir` recorded (None: none is recorded)."""
    pid = _holder(data_dir / LOCK_NAME).get("pid")
    return pid if isinstance(pid, int) else None


def daemon_socket(data_dir: Path) -> Path:
    """The control socket of the assistant running on `data_dir`: the one it recorded, if it is
    there, else the one in this environment's XDG_RUNTIME_DIR (`control.socket_path`)."""
    recorded = _holder(data_dir / LOCK_NAME).get("socket")
    return Path(recorded) if recorded and Path(recorded).exists() else socket_path()
