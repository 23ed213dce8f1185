"""The serial link to the board: find it, read its lines, survive unplugging."""

from __future__ import annotations

import errno
import logging
import threading
import time
from collections.abc import Callable

import serial

from assistant import protocol
from assistant.clocks import local_time
from assistant.ports import find_board
from assistant.replugs import ReplugLog
from assistant.sources import LinkStats

log = logging.getLogger("assistant.link")

READ_TIMEOUT = 0.05
BACKOFF_FIRST = 0.2
BACKOFF_MAX = 5.0
PTY_NAMES = "/dev/pts/"
"""Where pseudo-terminals get their names (reused as soon as one closes)."""
HELLO_WAIT = 0.5
"""Seconds to wait for the board's HELLO after opening the port before asking for one, and
between asks: a board does not see a close and reopen within one of its loop passes."""


class LineSplitter:
    """Splits a byte stream into lines; a line longer than the protocol allows is dropped whole
    (counted once) instead of growing the buffer."""

    def __init__(self, stats: LinkStats):
        self.stats = stats
        self._buffer = bytearray()
        self._skipping = False

    def feed(self, data: bytes) -> list[bytes]:
        """The complete lines in `data` (with what came before it), without their `\n`."""
        *complete, rest = data.split(b"\n")
        lines = []
        for piece in complete:
            line = bytes(self._buffer) + piece
            self._buffer.clear()
            if self._skipping:  # the end of a line already counted as too long
                self._skipping = False
                continue
            if len(line.rstrip(b"\r")) > protocol.MAX_LINE_BYTES:
                self.stats.count_malformed("too_long")
                continue
            lines.append(line)
        if not self._skipping:
            self._buffer += rest
            if len(self._buffer) > protocol.MAX_LINE_BYTES + 1:
                self.stats.count_malformed("too_long")
                self._buffer.clear()
                self._skipping = True
        return lines


class Greeting:
    """One connection's wait for the board's HELLO (docs/protocol.md, Opening the port): asks
    for it until it comes, and warns once if lines keep coming without it for `patience` s."""

    def __init__(self, port: str, ask: Callable[[], None], patience: float, now: float):
        self.port = port
        self.ask = ask
        self.patience = patience
        self.greeted = False
        self.ignored = 0
        """Lines of this connection that came before its greeting, for the warning only: the
        count `assistant status` shows, over all connections, is LinkStats.stale_by."""
        self._opened = self._asked = now
        self._warned = False

    def take(self, message: protocol.Message) -> bool:
        """True if `message` greets this connection: a HELLO, or the ERR of a board whose setup
        failed. Until one does, the board's lines are left over from an earlier session."""
        self.greeted = (
            isinstance(message, protocol.Hello) or protocol.failed_setup(message) is not None
        )
        self.ignored += not self.greeted
        return self.greeted

    def poll(self, now: float) -> None:
        """Ask for a HELLO when HELLO_WAIT has passed without one since opening or the last ask."""
        if self.greeted:
            return
        if now - self._asked >= HELLO_WAIT:
            if self._asked == self._opened:
                log.info("no HELLO from the board on %s since opening: asking for one", self.port)
            self._asked = now
            self.ask()
        if not self._warned and self.ignored and now - self._opened >= self.patience:
            self._warned = True
            log.warning(
                "the board on %s has sent no HELLO in %.1f s although asked, so its lines are "
                "ignored (%d so far): is its firmware older than this assistant? Flash it "
                "(firmware/README.md in the source repository)",
                self.port,
                now - self._opened,
                self.ignored,
            )


NOT_THERE = frozenset({errno.ENOENT, errno.ENODEV, errno.ENXIO})
"""Errors of opening a port that mean no board is there (yet)."""
DENIED = (
    "Your user may not open serial ports: add it to the dialout group "
    '(sudo usermod -aG dialout "$USER"), then log out and in again '
    "(firmware/README.md in the source repository)"
)
BUSY = (
    "Another program holds the port: close the serial monitor (Arduino IDE, screen, another "
    "assistant); ModemManager takes a new board for a few seconds (firmware/README.md, "
    "Troubleshooting, in the source repository)"
)
FIXES = {errno.EACCES: DENIED, errno.EPERM: DENIED, errno.EBUSY: BUSY, errno.EAGAIN: BUSY}
"""The likely fix for an error of opening a port (EAGAIN: pyserial's exclusive lock is taken)."""


class OpenTrouble:
    """Why the port does not open, said once per distinct error until it opens: a board that is
    not there at INFO, any other error as a WARNING with the likely fix."""

    def __init__(self) -> None:
        self._said: set[str] = set()
        self._warned_at: float | None = None

    def failed(self, path: str | None, error: Exception | None) -> None:
        """Opening `path` raised `error` (no path and no error: no board was found)."""
        code = getattr(error, "errno", None)
        key = "absent" if error is None or code in NOT_THERE else str(error)
        if key in self._said:
            return
        self._said.add(key)
        if key == "absent":
            log.info("waiting for the board (%s)", path or "none plugged in")
            return
        self._warned_at = self._warned_at or time.monotonic()
        fix = FIXES.get(code)
        log.warning(
            "cannot open the board on %s: %s%s; retrying until it opens",
            path,
            error,
            f". {fix}" if fix else "",
        )

    def opened(self, path: str) -> None:
        """`path` opened: says so if an error was warned about, and forgets the errors."""
        if self._warned_at is not None:
            log.info(
                "%s opened at last, after %.1f s of trying",
                path,
                time.monotonic() - self._warned_at,
            )
        self._said.clear()
        self._warned_at = None

    def gone(self) -> None:
        """The board opened last just went, as the log says (or sums up): its absence needs no
        line of its own."""
        self._said.add("absent")


class SerialSource:
    """An EventSource reading a board on a serial port (`auto`: found by USB id)."""

    def __init__(
        self,
        port: str = "auto",
        baudrate: int = 115200,
        heartbeat_timeout: float = 3.0,
        stats: LinkStats | None = None,
        find: Callable[[], str | None] = find_board,
        own_pty: bool = False,
        replugs: ReplugLog | None = None,
    ):
        """`own_pty`: the port is a pseudo-terminal this process made and keeps until the source
        stops (the daemon's own virtual board), so its name cannot pass to another terminal.
        `replugs`: how the board's going and coming back are logged."""
        self.port = port
        self.own_pty = own_pty
        self.baudrate = baudrate
        self.heartbeat_timeout = heartbeat_timeout
        self.stats = stats or LinkStats()
        self.find = find
        self.replugs = replugs or ReplugLog()
        self.connected = threading.Event()
        self._path = port
        """The port opened last (the one named, or the one `auto` found)."""
        self._opened = False
        self._gone_at: float | None = None
        """When the board was unplugged (time.time()), while it has not come back."""
        self._silent_since: float | None = None
        """When the board connected last sent a line (time.time()), while it sends none."""
        self._serial: serial.Serial | None = None
        self._write_lock = threading.Lock()

    @property
    def description(self) -> str:
        """The board's port and, while it cannot be heard, why (`assistant status`)."""
        gone_at, silent_since = self._gone_at, self._silent_since  # once: the link thread sets them
        if self._opened and gone_at is None:  # also once stopped: the board was there
            silent = "" if silent_since is None else f", silent since {local_time(silent_since)}"
            return f"board on {self._path}{silent}"
        where = "a board" if self._path == "auto" else f"the board on {self._path}"
        gone = "" if gone_at is None else f", unplugged at {local_time(gone_at)}"
        return f"waiting for {where}{gone}"

    @property
    def hearing_problem(self) -> str | None:
        """Why the board cannot hear its user now, as said to them (None: it can)."""
        if not self.connected.is_set():
            return "the board is unplugged"
        if self._silent_since is not None:
            return "the board has gone silent"
        return None

    def request(self, request: protocol.Request) -> None:
        """Send a request to the board (its reply arrives as a message)."""
        with self._write_lock:
            if self._serial is None:
                raise ConnectionError("the board is not connected")
            self._serial.write((protocol.encode_request(request) + "\n").encode("ascii"))

    def run(self, deliver: Callable[[protocol.Message], None], stopping: threading.Event) -> None:
        """Open the port (`auto`: the board found by USB id), deliver the board's messages, and
        open it again when the board goes (with backoff while it does not open), until
        `stopping` is set."""
        delay = BACKOFF_FIRST
        trouble = OpenTrouble()
        if self.port.startswith(PTY_NAMES) and not self.own_pty:
            log.warning(
                "%s is a pseudo-terminal's own name, which the system gives to the next terminal "
                "opened once this one closes, and the assistant would then open that terminal as "
                "the board: connect to the link `assistant emulate` prints instead",
                self.port,
            )
        try:
            while not stopping.is_set():
                path = self.find() if self.port == "auto" else self.port
                connection = self._open(path, trouble)
                if connection is None:
                    self.replugs.away(path or self._path)
                    stopping.wait(delay)
                    delay = min(delay * 2, BACKOFF_MAX)
                    continue
                trouble.opened(path)
                said = self.replugs.back(path)
                delay = BACKOFF_FIRST
                self._path, self._opened, self._gone_at, self._silent_since = path, True, None, None
                try:
                    self._serve(connection, deliver, stopping, ask_info=said)
                except (serial.SerialException, OSError) as error:
                    self._gone_at = time.time()
                    self.stats.reconnects += 1
                    self.replugs.gone(path, error)
                    trouble.gone()
                finally:
                    self.connected.clear()
                    with self._write_lock:
                        self._serial = None
                    connection.close()
        finally:
            self.replugs.flush(everything=True)

    def _open(self, path: str | None, trouble: OpenTrouble) -> serial.Serial | None:
        if not path:
            trouble.failed(None, None)
            return None
        try:
            return serial.Serial(path, self.baudrate, timeout=READ_TIMEOUT, exclusive=True)
        except (serial.SerialException, OSError, ValueError) as error:
            log.debug("cannot open %s: %s", path, error)  # at every retry
            trouble.failed(path, error)
            return None

    def _serve(
        self,
        connection: serial.Serial,
        deliver: Callable[[protocol.Message], None],
        stopping: threading.Event,
        ask_info: bool,
    ) -> None:
        """Deliver the board's messages until it goes (raising) or `stopping` is set. `ask_info`:
        ask the board's INFO once it greets, for the log (not on a reconnection left unlogged)."""
        with self._write_lock:
            self._serial = connection
        self.connected.set()
        splitter = LineSplitter(self.stats)
        last_data = time.monotonic()
        greeting = Greeting(
            connection.port,
            lambda: self.request(protocol.Request("hello")),
            self.heartbeat_timeout,
            last_data,
        )
        while not stopping.is_set():
            data = connection.read(connection.in_waiting or 1)
            now = time.monotonic()
            if data:
                if self._silent_since is not None:
                    log.info("board is talking again")
                    self._silent_since = None
                last_data = now
                for line in splitter.feed(data):
                    self._handle_line(line, deliver, greeting, ask_info)
            else:
                self.stats.warnings.flush()
                self.replugs.flush()
                if self._silent_since is None and now - last_data > self.heartbeat_timeout:
                    self._silent_since = time.time() - (now - last_data)
                    log.warning(
                        "board is silent: no line for %.1f s (is the firmware running?)",
                        now - last_data,
                    )
            greeting.poll(now)  # after the lines just read: one of them may be the HELLO

    def _handle_line(
        self,
        line: bytes,
        deliver: Callable[[protocol.Message], None],
        greeting: Greeting,
        ask_info: bool,
    ) -> None:
        try:
            message = protocol.parse_line(line)
        except protocol.ProtocolError as error:
            self.stats.count_malformed(error.code)
            self.stats.warnings.warning(
                log, "malformed-line", "skipped a malformed line (%s): %r", error, line[:60]
            )
            return
        if not greeting.greeted:
            if not greeting.take(message):
                self.stats.count_stale("before_hello")
                return
            if isinstance(message, protocol.Hello) and ask_info:
                self.request(protocol.Request("info"))
        deliver(message)
