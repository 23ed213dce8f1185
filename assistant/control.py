"""A local control socket, so `assistant send up` reaches the running daemon.

The wire format is one line each way. The client sends `COMMAND <name>` (any case: commands
are lower-case, so `STOP` is `stop`); the daemon answers
`OK <replies>` when every action the command ran succeeded (or a satellite forwarded it to the
hub), else `ERR <why>`: the command is not mapped, was ignored (min_score, cooldown), or an
action failed (`failed: <reason>`, `failed: <skill>.<action> crashed with <exception> ...`
for a skill's bug, after the replies of the actions before it; the actions after it are `not
run`, as are those of a `when:` list whose first action handed the command to `do:`, whose
replies come first). Replies are joined with "; ", in the order of the command's actions.
`STATUS` is answered `OK pid: <pid>`, `version: <version>`, `running since: <time>`,
`configuration: <file>`, `last reload: <outcome>` (with each problem of a failed one),
`skills: <each skill's health>`, `skill <name>: <a line of its status>`, ..., `source: <sources
in use, with their firmware and model>`, `<the link's counters>`, then on a satellite or hub
`role: <role>`, `site: <site>`, `<its peers and counters>`, `broker: <state>`, `messages ignored:
<by kind>`; those parts are joined by tabs, each as its maker said it (`assistant status`).
`RELOAD` reloads the configuration, as SIGHUP does, and is answered once that is done: `OK
reloaded <file>: <what changed>`, then `after a restart: <what waits for one>` and the file's
warnings, or `ERR not reloaded ...`, then each problem (`<file>:<line>: ...`); those lines are
joined by tabs (`assistant reload`).

A client has REQUEST_SECONDS to send its request line (the answer may take as long as the
command's actions, up to 30 s) and as long to take the answer; one that does not is answered
`ERR no request ...` and closed. At most MAX_CLIENTS connections are handled at once; one more
is answered `ERR busy ...` and closed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import socketserver
import struct
import threading
import time
from collections.abc import Callable
from concurrent.futures import wait
from dataclasses import dataclass
from pathlib import Path

from assistant import protocol, service
from assistant.clocks import elapsed
from assistant.config_commands import ActionCall
from assistant.dispatcher import ActionOutcome, as_run
from assistant.paths import runtime_dir
from assistant.plugin import CommandEvent, SkillError
from assistant.private_folder import not_private
from assistant.ratelimit import WarningLimiter
from assistant.skill_runner import Abandoned, Cancelled, SkillNotRunning

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


REQUEST_SECONDS = 5.0
"""Seconds a client has to send its request line, and later to take its answer."""
RELOAD_SECONDS = 120.0
"""Longest wait for a reload's outcome: it stops and starts skills, each within its
`skill_timeout`."""
REQUEST_BYTES = 200
"""Longest request line read; the rest of a longer one is ignored."""
MAX_CLIENTS = 16
"""Connections handled at once: each holds a thread until it is answered."""

STOP_IT_FIRST = "stop it first (`systemctl --user stop assistant`, or Ctrl-C where it runs)"
PRIVATE_FOLDER_FIX = (
    "set XDG_RUNTIME_DIR to a folder only you can write in (a login session's /run/user/<uid> "
    "is one)"
)


class ForeignSocket(ConnectionError):
    """The control socket is served by another user's process, not by this user's assistant:
    someone else made its folder (a shared /tmp) and listens there."""


class UnsafeDirectory(RuntimeError):
    """The runtime folder is not this user's alone: another could replace the control socket or
    the virtual board's link."""


def socket_path() -> Path:
    return runtime_dir() / "assistant.sock"


def private_directory(directory: Path) -> None:
    """Make `directory` (mode 0700) when missing; UnsafeDirectory unless it (and, if it is a
    symbolic link, the link) belongs to this user and neither group nor others may write in it,
    as in a shared /tmp where another user made `assistant-<uid>` first."""
    why = not_private(directory)
    if why is not None:
        raise UnsafeDirectory(
            f"the runtime folder {directory} is not yours alone ({why}), so another user could "
            "take over `assistant send` or the virtual board's link; "
            f"{PRIVATE_FOLDER_FIX}, or remove {directory} if it is not yours"
        )


class ControlServer:
    """Accepts `COMMAND <name>` lines and answers with the replies of the actions it ran, and
    `STATUS` with what `status` says."""

    def __init__(
        self,
        path: Path,
        handle: Callable[[CommandEvent], list[ActionOutcome] | str | Forwarded],
        site: str = "default",
        status: Callable[[], str] | None = None,
        reload: Callable[[], str] | None = None,
    ):
        """`handle` runs a command: the outcomes of its actions, why none ran, or Forwarded when
        a satellite sent it on to the hub; `reload` reloads the configuration and gives the
        answer to RELOAD."""
        self.path = path

        def answer(request: str) -> str:
            words = request.split()
            if words == ["STATUS"]:
                return f"OK {status()}" if status else "ERR this assistant keeps no status"
            if words == ["RELOAD"]:
                return reload() if reload else "ERR this assistant cannot reload"
            if len(words) != 2 or words[0] != "COMMAND":
                return "ERR use: COMMAND <name>, STATUS or RELOAD"
            command = protocol.command_name(words[1])
            if not protocol.LABEL.fullmatch(command):  # it would not fit an MQTT topic
                return (
                    f"ERR {words[1]!r} is not a command name: letters a to z, digits and _, "
                    "at most 16"
                )
            event = CommandEvent(command, 1.0, "control socket", site, elapsed())
            outcome = handle(event)
            if isinstance(outcome, Forwarded):
                return f"OK {outcome}"
            if isinstance(outcome, str):
                return f"ERR {outcome}"
            wait(outcome, timeout=30)
            outcome = as_run(outcome)
            ok = not any(map(_failed, outcome))
            return ("OK " if ok else "ERR ") + "; ".join(map(_describe, outcome))

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                connection: socket.socket = self.request
                request = _read_request(connection)
                if request is None:
                    self.server.warnings.warning(
                        log,
                        "control-socket",
                        "a control-socket client sent no request within %g s; closed it",
                        REQUEST_SECONDS,
                    )
                    reply = f"ERR no request within {REQUEST_SECONDS:g} s"
                elif not request:  # closed without a byte (another assistant's probe)
                    return
                else:
                    reply = answer(request)
                connection.settimeout(REQUEST_SECONDS)
                try:
                    connection.sendall((reply + "\n").encode())
                except (BrokenPipeError, ConnectionResetError, TimeoutError):
                    log.info(
                        "the sender of %r left before the answer: %s",
                        request and request.strip(),
                        reply,
                    )

        private_directory(path.parent)
        if _answers(path):
            raise AlreadyRunning(
                f"another assistant is running (its control socket {path} answers); "
                + STOP_IT_FIRST
            )
        self.server = _listening_at(path, Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.server.warnings.flush(everything=True)
        self.path.unlink(missing_ok=True)


def _listening_at(path: Path, handler: type[socketserver.BaseRequestHandler]) -> _Server:
    """A server listening at `path`, which it takes only once it listens, with mode 0600
    (whatever the umask: only this user may connect), in place of a socket left by an assistant
    that did not stop cleanly: a client that finds the socket there can connect (`assistant
    send` right after the start, a script that waits for the socket)."""
    making = path.with_name(f".{os.getpid()}.sock")  # no longer than `path`'s own name
    making.unlink(missing_ok=True)  # left by a process of the same id that did not get further
    server = _Server(str(making), handler)
    try:
        making.chmod(0o600)
        making.replace(path)
    except OSError:
        server.server_close()
        making.unlink(missing_ok=True)
        raise
    return server


class _Server(socketserver.ThreadingUnixStreamServer):
    """A thread a connection, at most MAX_CLIENTS at once: one more is told it is busy. The
    warnings about clients, which any local process of the user can cause at will, are limited
    per minute (`warnings`), and those left out summed up once their minute has ended."""

    daemon_threads = True

    def __init__(self, path: str, handler: type[socketserver.BaseRequestHandler]):
        self.slots = threading.BoundedSemaphore(MAX_CLIENTS)
        self.warnings = WarningLimiter()
        super().__init__(path, handler)

    def process_request(self, request: socket.socket, client_address: object) -> None:
        if self.slots.acquire(blocking=False):
            super().process_request(request, client_address)
            return
        self.warnings.warning(
            log,
            "control-socket",
            "%d control-socket clients already connected; refused one more",
            MAX_CLIENTS,
        )
        request.setblocking(False)  # the accepting thread must never wait on a client
        with contextlib.suppress(OSError):  # it left already
            request.send(
                f"ERR busy: {MAX_CLIENTS} requests are being handled; try again\n".encode()
            )
        self.shutdown_request(request)

    def service_actions(self) -> None:
        """Run by `serve_forever` after each request and every 0.5 s while idle: a minute of
        warnings is summed up when it ends, not at the next warning, which may never come."""
        self.warnings.flush()

    def process_request_thread(self, request: socket.socket, client_address: object) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


def _read_request(connection: socket.socket) -> str | None:
    """The request line (at most REQUEST_BYTES, with its end of line when it came: an empty
    line is a request too, answered as one; empty when the client closed without sending a
    byte), or None when it did not come within REQUEST_SECONDS in all."""
    deadline = time.monotonic() + REQUEST_SECONDS
    received = b""
    while b"\n" not in received and len(received) < REQUEST_BYTES:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        connection.settimeout(remaining)
        try:
            chunk = connection.recv(REQUEST_BYTES - len(received))
        except TimeoutError:
            return None
        if not chunk:
            break
        received += chunk
    line, end, _ = received.partition(b"\n")
    return (line + end).decode("ascii", "replace")


def _served_by(client: socket.socket) -> int:
    """The user id of the process listening at the other end of `client` (SO_PEERCRED)."""
    credentials = client.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", credentials)[1]


def _answers(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


def _failed(outcome: ActionOutcome) -> bool:
    """Still running, or raised; an action not run (after a failure, or in a `when:` list
    whose first action handed the command to `do:`) is no failure of its own."""
    return not outcome.done() or (not outcome.cancelled() and outcome.exception() is not None)


def _describe(outcome: ActionOutcome) -> str:
    if not outcome.done():
        return "still running"
    if outcome.cancelled():
        return "not run"
    error = outcome.exception()
    if error is not None:
        return f"failed: {_why(error, outcome.call)}"
    return str(outcome.result() or "done")


def _why(error: BaseException, call: ActionCall) -> str:
    """Why `call` failed: a skill's own message, or the assistant's (not running, timed out,
    cancelled), as they are; any other exception is a skill's bug, named as such with the
    action that raised it."""
    if isinstance(error, (SkillError, SkillNotRunning, Abandoned, Cancelled)):
        return str(error) or type(error).__name__
    message = f": {error}" if str(error) else ""
    crashed = f"{call} crashed with {type(error).__name__}{message}"
    return f"{crashed} (the log has the traceback)"


def send_command(command: str, path: Path, timeout: float = 35.0) -> str:
    """Ask the daemon listening on `path` to act on `command`; returns its answer (`OK ...`
    or `ERR ...`, see the module's docstring)."""
    return ask(f"COMMAND {command}", path, timeout)


def request_status(path: Path, timeout: float = 5.0) -> str:
    """The answer of the daemon listening on `path` to `STATUS` (see the module's docstring)."""
    return ask("STATUS", path, timeout)


def request_reload(path: Path, timeout: float = RELOAD_SECONDS) -> str:
    """The answer of the daemon listening on `path` to `RELOAD`, once the reload is done (see
    the module's docstring)."""
    return ask("RELOAD", path, timeout)


def ask(request: str, path: Path, timeout: float = 35.0) -> str:
    """Send one request line to the daemon listening on `path` and return its answer line."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(timeout)
        try:
            client.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError):
            raise ConnectionError(
                f"no assistant is running (no socket at {path}); {service.how_to_start()}"
            ) from None
        except BlockingIOError:  # its queue of connections not yet taken is full
            raise ConnectionError(
                f"the assistant at {path} takes no more connections for now; try again"
            ) from None
        owner = _served_by(client)
        if owner != os.getuid():  # checked before anything is sent: the request is the user's
            raise ForeignSocket(
                f"{path} is served by another user's process (uid {owner}), not by your "
                f"assistant, so nothing was sent to it; {PRIVATE_FOLDER_FIX}"
            )
        try:
            # a busy daemon may answer and close before the request arrives: read that answer
            with contextlib.suppress(BrokenPipeError):
                # as typed: a word not in UTF-8 reaches Python as surrogates
                client.sendall(f"{request}\n".encode(errors="surrogateescape"))
            answer = client.makefile().readline().strip()
        except TimeoutError:
            raise ConnectionError(
                f"the assistant at {path} did not answer within {timeout:g} s: it may be "
                "stopped (Ctrl-Z in its terminal: `fg` there resumes it) or stuck (its log "
                "says what it is doing)"
            ) from None
    return answer or "ERR the assistant closed the connection without an answer"
