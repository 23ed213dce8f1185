"""A local control socket, so `assistant send up` reaches the running daemon.

The wire format is one line each way. The client sends `COMMAND <name>`; the daemon answers
`OK <replies>` when every action the command ran succeeded (or a satellite forwarded it to the
hub), else `ERR <why>`: the command is not mapped, was ignored (min_score, cooldown), or an
action failed (`failed: <reason>`, after the replies of the actions before it; the actions
after it are `not run`). Replies are joined with "; ", in the order of the command's actions.
`STATUS` is answered `OK pid: <pid>; configuration: <file>; last reload: <outcome>; source:
<sources in use>; <the link's counters>` (`assistant status`).
"""

from __future__ import annotations

import logging
import os
import socket
import socketserver
import stat
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, wait
from dataclasses import dataclass
from pathlib import Path

from assistant import protocol
from assistant.plugin import CommandEvent

log = logging.getLogger("assistant.control")


@dataclass(frozen=True)
class Forwarded:
    """A command a satellite sent on to the hub, which runs it and speaks the replies in the
    satellite's room."""

    hub_online: bool

    def __str__(self) -> str:
        if self.hub_online:
            return "forwarded to the hub, which runs it and answers in this room"
        return "queued: the hub is offline; it runs when the hub is back (within mqtt.max_delay)"


class AlreadyRunning(RuntimeError):
    """Another assistant runs: it answers on the control socket, or holds the instance lock."""


STOP_IT_FIRST = "stop it first (`systemctl --user stop assistant`, or Ctrl-C where it runs)"


class UnsafeDirectory(RuntimeError):
    """The control socket's folder is not this user's alone: another could replace the socket."""


def socket_path() -> Path:
    runtime = os.environ.get("XDG_RUNTIME_DIR") or f"/tmp/assistant-{os.getuid()}"
    return Path(runtime) / "assistant.sock"


def private_directory(directory: Path) -> None:
    """Make `directory` (mode 0700) when missing; UnsafeDirectory unless it (and, if it is a
    symbolic link, the link) belongs to this user and neither group nor others may write in it,
    as in a shared /tmp where another user made `assistant-<uid>` first."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    link, target = directory.lstat(), directory.stat()
    owners = {link.st_uid, target.st_uid}
    if owners != {os.getuid()} or not stat.S_ISDIR(target.st_mode) or target.st_mode & 0o022:
        raise UnsafeDirectory(
            f"the control socket's folder {directory} is not yours alone (owner uid "
            f"{', '.join(map(str, sorted(owners)))}, mode {stat.filemode(target.st_mode)}), so "
            "another user could take over `assistant send`; set XDG_RUNTIME_DIR to a folder "
            "only you can write in (a login session's /run/user/<uid> is one), or remove "
            f"{directory} if it is not yours"
        )


class ControlServer:
    """Accepts `COMMAND <name>` lines and answers with the replies of the actions it ran, and
    `STATUS` with what `status` says."""

    def __init__(
        self,
        path: Path,
        handle: Callable[[CommandEvent], list[Future] | str | Forwarded],
        site: str = "default",
        status: Callable[[], str] | None = None,
    ):
        """`handle` runs a command: the futures of its actions, why none ran, or Forwarded when
        a satellite sent it on to the hub."""
        self.path = path
        handle_command, site_name = handle, site

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                words = self.rfile.readline(200).decode("ascii", "replace").split()
                if not words:  # closed without a request (another assistant's probe)
                    return
                if words == ["STATUS"]:
                    answer = f"OK {status()}" if status else "ERR this assistant keeps no status"
                    self.wfile.write((answer + "\n").encode())
                    return
                if len(words) != 2 or words[0] != "COMMAND":
                    self.wfile.write(b"ERR use: COMMAND <name>, or STATUS\n")
                    return
                if not protocol.LABEL.fullmatch(words[1]):  # it would not fit an MQTT topic
                    self.wfile.write(
                        f"ERR {words[1]!r} is not a command name: lower-case letters, digits "
                        "and _, at most 16\n".encode()
                    )
                    return
                event = CommandEvent(words[1], 1.0, "control socket", site_name, time.monotonic())
                outcome = handle_command(event)
                if isinstance(outcome, Forwarded):
                    answer = f"OK {outcome}"
                elif isinstance(outcome, str):
                    answer = f"ERR {outcome}"
                else:
                    wait(outcome, timeout=30)
                    ok = all(map(_succeeded, outcome))
                    answer = ("OK " if ok else "ERR ") + "; ".join(map(_describe, outcome))
                try:
                    self.wfile.write((answer + "\n").encode())
                except (BrokenPipeError, ConnectionResetError):
                    log.info("the sender of %r left before the answer: %s", words[1], answer)

        private_directory(path.parent)
        if _answers(path):
            raise AlreadyRunning(
                f"another assistant is running (its control socket {path} answers); "
                + STOP_IT_FIRST
            )
        path.unlink(missing_ok=True)  # left by an assistant that did not stop cleanly
        self.server = socketserver.ThreadingUnixStreamServer(str(path), Handler)
        path.chmod(0o600)  # whatever the umask: only this user may connect
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.path.unlink(missing_ok=True)


def _answers(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


def _succeeded(future: Future) -> bool:
    return future.done() and not future.cancelled() and future.exception() is None


def _describe(future: Future) -> str:
    if not future.done():
        return "still running"
    if future.cancelled():
        return "not run"
    error = future.exception()
    if error is not None:
        return f"failed: {str(error) or type(error).__name__}"
    return str(future.result() or "done")


def send_command(command: str, path: Path, timeout: float = 35.0) -> str:
    """Ask the daemon listening on `path` to act on `command`; returns its answer (`OK ...`
    or `ERR ...`, see the module's docstring)."""
    return ask(f"COMMAND {command}", path, timeout)


def request_status(path: Path, timeout: float = 5.0) -> str:
    """The answer of the daemon listening on `path` to `STATUS` (see the module's docstring)."""
    return ask("STATUS", path, timeout)


def ask(request: str, path: Path, timeout: float = 35.0) -> str:
    """Send one request line to the daemon listening on `path` and return its answer line."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(timeout)
        try:
            client.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError):
            raise ConnectionError(
                f"no assistant is running (no socket at {path}); start it with `assistant run`"
            ) from None
        client.sendall(f"{request}\n".encode())
        answer = client.makefile().readline().strip()
    return answer or "ERR the assistant closed the connection without an answer"
