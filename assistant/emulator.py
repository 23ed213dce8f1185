"""The virtual board: a pseudo-terminal that speaks the board's protocol, so the assistant runs
and is tested without hardware. Unplugging it closes the terminal, as pulling the USB cable."""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import logging
import os
import select
import signal
import threading
import time
import tty
from collections.abc import Mapping, Sequence
from pathlib import Path

from assistant import protocol
from assistant.paths import runtime_dir
from assistant.recognizer import Recognizer, command_labels

log = logging.getLogger("assistant.emulator")

FIRMWARE_VERSION = "emulator-1"
MODEL_ID = "emulated"
LINK_NAME = "assistant-virtual-board"
STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
STOP = b"x"
"""Written to the serving thread's wake pipe: stop. Any other byte: the heartbeats changed."""
HOST_LOOK_SECONDS = 0.05
"""How often a board whose port no host has open looks for one opening it: a pty's master
reports a hangup until then, so it cannot be waited on. With a host, the board sleeps until a
request or a heartbeat is due."""


class LinkError(OSError):
    """The link to the virtual board's port cannot be made where it was asked for."""


def default_link() -> Path:
    """The link `assistant emulate` keeps pointing at its port while it runs, as udev's by-id
    link for a real board: a host given it finds no port once the board is gone, never the pty
    name the kernel gives to the next terminal opened."""
    return runtime_dir() / LINK_NAME


class VirtualBoard:
    """A board on a pty. `detect()` sends detections; requests get protocol replies."""

    def __init__(
        self,
        labels: Sequence[str] | None = None,
        heartbeat_ms: int = 1000,
        model: str = MODEL_ID,
        link: str | os.PathLike | None = None,
        firmware: str = FIRMWARE_VERSION,
        greets_on_open: bool = True,
        thresholds: Mapping[str, float] | None = None,
    ):
        """`labels`: the commands it detects (default: those of the committed model); `link`: a
        stable path kept pointing at the current pty (as udev's by-id links); `thresholds`: what
        `INFO` reports for each command, as a board built with the model of `labels` starts
        with: its card's (those of the committed model's card when `labels` is not given), the
        recognizer's default for a command it leaves out; ValueError, as the recognizer's, for
        a threshold of another command or not from 0 to 1.

        `greets_on_open` False makes it miss the host's opening of the port, as the firmware does
        when a host closes and reopens it within one loop pass: no HELLO until the host asks."""
        if not labels:
            from assistant.model_files import load_contract

            committed = load_contract()
            labels = command_labels(committed.labels)
            thresholds = {**committed.thresholds, **(thresholds or {})}
        self.labels = tuple(labels)
        self.link = link
        self.heartbeat_ms = heartbeat_ms
        self.model = model
        self.firmware = firmware
        self.thresholds = Recognizer(self.labels, thresholds or {}).thresholds
        self.sent_lines = 0
        self.dropped_lines = 0
        self._seq = 0
        self._started = time.monotonic()
        self._lock = threading.Lock()
        self._master: int | None = None
        self.host_connected = threading.Event()
        self.host_listening = threading.Event()
        """The host has sent a request since it opened the port, so its opening is over (a
        host's open may flush what arrived before it: pyserial's does, last) and it gets every
        line sent from now on; set once the reply is sent, so a line sent after it follows the
        reply (to a HELLO request, the HELLO that starts the host's count)."""
        self.greets_on_open = greets_on_open
        self.path = ""
        self._server: threading.Thread | None = None
        self._wake = -1
        """The write end of the pipe that wakes the serving thread: to stop it, or to take up
        heartbeats changed by `start_heartbeats`."""

    # --- the terminal ---------------------------------------------------------------------

    def plug_in(self) -> str:
        """Open a new pty (the board appears); returns the port's path. Like the firmware, the
        board says hello whenever a host opens the port (unless `greets_on_open` is False)."""
        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        self.path = os.ttyname(slave)
        os.close(slave)  # only the host holds the port open, so its opening can be seen
        self._master = master
        self._host_gone()
        if self.link is not None:
            self._point_link()
        woken, self._wake = os.pipe()
        self._server = threading.Thread(target=self._serve, args=(master, woken), daemon=True)
        self._server.start()
        log.info("virtual board on %s", self.path)
        return self.path

    def unplug(self) -> None:
        """Close the pty, as pulling the cable: the host's reads fail."""
        if self._server is not None:
            os.write(self._wake, STOP)
            self._server.join()
            os.close(self._wake)
            self._server = None
        with self._lock:  # a write under way goes to this terminal, not to a reused fd
            if self._master is not None:
                os.close(self._master)
            self._master = None
            self._host_gone()

    close = unplug

    def _point_link(self) -> None:
        """Point `link` at the port, replacing the link there (to an earlier port); LinkError
        when it cannot be made there."""
        temporary = Path(f"{self.link}.new")
        try:
            temporary.unlink(missing_ok=True)  # left by an emulator that did not get further
            os.symlink(self.path, temporary)
            os.replace(temporary, self.link)
        except OSError as error:
            with contextlib.suppress(OSError):
                temporary.unlink(missing_ok=True)
            raise LinkError(
                f"cannot make the link {self.link} to the virtual board: {error.strerror}; "
                "give a path in a folder that exists, where no folder has that name"
            ) from None

    def remove_link(self) -> None:
        """Remove `link` if it still points at this board's port: another board may have taken
        it over since."""
        if self.link is None:
            return
        try:
            if os.readlink(self.link) == self.path:
                os.unlink(self.link)
        except OSError:  # gone already, or no longer a link
            pass

    # --- what the board sends ------------------------------------------------------------

    def now_ms(self) -> int:
        return int((time.monotonic() - self._started) * 1000) & protocol.MAX_SEQ

    def send(self, message: protocol.Message, restart_count: bool = False) -> None:
        """Send `message` with the board's next sequence number (its own seq is replaced)."""
        with self._lock:
            self._send_locked(message, restart_count)

    def _send_locked(self, message: protocol.Message, restart_count: bool) -> None:
        if restart_count:
            self._seq = 0
        message = dataclasses.replace(message, seq=self._seq)
        self._seq = protocol.next_seq(self._seq)
        self._write_locked((protocol.encode(message) + "\n").encode("ascii"))

    def hello(self) -> protocol.Hello:
        """The HELLO this board sends (its seq is replaced when sent)."""
        return protocol.Hello(0, protocol.PROTOCOL_VERSION, self.firmware, self.model, self.labels)

    def detect(self, label: str, score: float = 0.95) -> None:
        if label not in self.labels:
            raise ValueError(
                f"the board does not know {label!r}; it knows {', '.join(self.labels)}"
            )
        if not 0.0 <= score <= 1.0:
            raise ValueError(f"a score is from 0 to 1, not {score:g}")
        self.send(protocol.Detection(0, label, round(score, 3), self.now_ms()))

    def replay(self, messages: Sequence[protocol.Message], realtime: bool = True) -> int:
        """Send recorded lines (numbered in turn like every line of this board), paced by their
        board times when `realtime`; returns the board time (ms) of the last (0: none)."""
        start = time.monotonic()
        board_ms = 0
        for message in messages:
            board_ms = getattr(message, "ms", board_ms)
            if realtime and board_ms / 1000 > time.monotonic() - start:
                time.sleep(board_ms / 1000 - (time.monotonic() - start))
            self.send(message)
        return board_ms

    def start_heartbeats(self, every_ms: int, uptime_ms: int) -> None:
        """Send a heartbeat every `every_ms` from now on (0: none), the board's uptime going on
        from `uptime_ms` now: as a board that went on listening after the lines it replayed, the
        last of them sent at that uptime. A host tells how late it reads from the steps of the
        uptime between heartbeats (assistant/lateness.py): each is the time between them."""
        self._started = time.monotonic() - uptime_ms / 1000
        self.heartbeat_ms = every_ms
        if self._server is not None:
            os.write(self._wake, b"h")

    def skip_seq(self, count: int = 1) -> None:
        """Lose `count` lines, as a board whose output was dropped."""
        with self._lock:
            for _ in range(count):
                self._seq = protocol.next_seq(self._seq)

    def write_raw(self, data: bytes) -> None:
        """Write bytes as they are (tests use this for malformed lines). Never blocks: when the
        host does not read, or no host has the port open, the line is dropped as the firmware
        would."""
        with self._lock:
            self._write_locked(data)

    def _write_locked(self, data: bytes) -> None:
        """`write_raw` under the board's lock, which `unplug` closes the terminal under."""
        if self._master is None or not self.host_connected.is_set():
            self.dropped_lines += 1
            return
        try:
            os.write(self._master, data)
            self.sent_lines += 1
        except BlockingIOError:
            self.dropped_lines += 1
        except OSError as error:
            if error.errno not in (errno.EIO, errno.EBADF):
                raise
            self.dropped_lines += 1

    # --- what the board hears ------------------------------------------------------------

    def _serve(self, master: int, woken: int) -> None:
        """Answer the host's requests and send heartbeats until STOP arrives on `woken` (another
        byte: the heartbeats changed, the next is due a period from now).
        Sleeps until there is work: a request, a heartbeat due, or (with no host) the next look
        for one opening the port. The stop signals go to the other threads: Python handles them
        in the main thread, which would not see one the kernel gave this thread while it waits."""
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        with_host, without_host = select.poll(), select.poll()
        for poller in (with_host, without_host):
            poller.register(woken, select.POLLIN)
        with_host.register(master, select.POLLIN)
        requests = protocol.RequestLines()
        next_heartbeat = time.monotonic() + self.heartbeat_ms / 1000
        try:
            while True:
                host = self.host_connected.is_set()
                wait = next_heartbeat - time.monotonic() if self.heartbeat_ms > 0 else None
                if not host:
                    wait = HOST_LOOK_SECONDS if wait is None else min(wait, HOST_LOOK_SECONDS)
                poller = with_host if host else without_host
                ready = poller.poll(None if wait is None else max(0.0, wait) * 1000)
                if any(fd == woken for fd, _ in ready):
                    if STOP in os.read(woken, 64):
                        return
                    next_heartbeat = time.monotonic() + self.heartbeat_ms / 1000
                if self.heartbeat_ms > 0 and time.monotonic() >= next_heartbeat:
                    self.send(protocol.Heartbeat(0, self.now_ms()))
                    # one late heartbeat, not a burst of those missed while held up (Ctrl-Z)
                    next_heartbeat = max(
                        next_heartbeat + self.heartbeat_ms / 1000, time.monotonic()
                    )
                try:
                    data = os.read(master, 256)
                except BlockingIOError:  # a host has the port open and is quiet
                    self._host_present()
                    continue
                except OSError:  # no host has the port open
                    self._host_gone()
                    continue
                self._host_present()
                for line in requests.feed(data):
                    reply = self.answer(line)
                    self.send(reply, restart_count=isinstance(reply, protocol.Hello))
                    self.host_listening.set()
        finally:
            os.close(woken)

    def _host_gone(self) -> None:
        self.host_connected.clear()
        self.host_listening.clear()

    def _host_present(self) -> None:
        """The host has the port open: it gets a HELLO first, before any other line."""
        with self._lock:
            if not self.host_connected.is_set():
                self.host_connected.set()
                if self.greets_on_open:
                    self._send_locked(self.hello(), restart_count=True)

    def answer(self, line: bytes) -> protocol.Message:
        """The reply to one request line, as the firmware gives it."""
        try:
            request = protocol.parse_request(line)
        except protocol.ProtocolError as error:
            return protocol.Error(0, error.code)
        if request.cmd == "hello":  # as a host that opened the port (no output is pending here)
            return self.hello()
        if request.cmd == "ping":
            return protocol.Pong(0, request.id or "")
        if request.cmd == "info":
            thresholds = ",".join(f"{k}:{v:.3f}" for k, v in self.thresholds.items())
            return protocol.Info(
                0, self.firmware, self.model, {"arena": "0", "thresholds": thresholds}
            )
        if request.label not in self.thresholds:
            return protocol.Error(0, "unknown_label")
        self.thresholds[request.label] = request.score or 0.0
        return protocol.Ok(0, "set")
