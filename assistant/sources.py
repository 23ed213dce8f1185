"""What every source of commands shares: the EventSource protocol (a board on serial and the
virtual board: assistant/link.py; the desktop microphone: assistant/listener.py), the link's
counters, and the session that turns a source's protocol messages into commands for the
dispatcher."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from assistant import emulator, protocol
from assistant.clocks import elapsed
from assistant.lateness import ReadLateness
from assistant.plugin import CommandEvent
from assistant.ratelimit import WarningLimiter, counted

log = logging.getLogger("assistant.source")

MAX_KEPT_REPLIES = 16
SOURCE_NAMES = {"serial": "board", "microphone": "microphone", "emulator": "virtual board"}
"""What the log and `assistant status` call the source of each resolved `source:` (and a
satellite's detections their `source`)."""


class EventSource(Protocol):
    """A source of commands, run by the daemon on a thread of its own."""

    description: str
    """Its port or device, and what it does now (`assistant status`)."""
    hearing_problem: str | None
    """Why the source cannot hear its user now, as said to them (None: it can)."""

    def run(self, deliver: Callable[[protocol.Message], None], stopping: threading.Event) -> None:
        """Block until `stopping` is set, delivering protocol messages exactly as a board would:
        a Hello first, then Detection and Heartbeat messages with growing seq numbers."""


@dataclass
class LinkStats:
    """The link's counters (`assistant status`), and the limiter of the warnings that can repeat
    as fast as lines arrive."""

    lines: int = 0
    malformed: int = 0
    lost: int = 0
    """Lines the board sent that never arrived (gaps in sequence numbers)."""
    detections: int = 0
    refused: int = 0
    """Detections dropped because the board speaks another protocol version."""
    reconnects: int = 0
    stale: int = 0
    """Lines dropped for being old: `before_hello`, those that came before the board's HELLO on
    a newly opened port (left over from an earlier host's session); `read_late`, detections read
    longer than device.max_delay after the board sent them (the assistant was not reading)."""
    stale_by: dict[str, int] = field(default_factory=dict)
    by_error: dict[str, int] = field(default_factory=dict)
    warnings: WarningLimiter = field(default_factory=WarningLimiter, repr=False, compare=False)

    def count_malformed(self, code: str) -> None:
        self.malformed += 1
        self.by_error[code] = self.by_error.get(code, 0) + 1

    def count_stale(self, kind: str) -> None:
        self.stale += 1
        self.stale_by[kind] = self.stale_by.get(kind, 0) + 1

    def summary(self) -> str:
        """The counters in one line, malformed lines by error token, stale ones by reason."""
        return (
            f"lines {self.lines}, detections {self.detections}, "
            f"malformed {counted(self.malformed, self.by_error)}, lost {self.lost}, "
            f"refused {self.refused}, stale {counted(self.stale, self.stale_by)}, "
            f"reconnects {self.reconnects}"
        )


class DeviceSession:
    """Follows one source's messages: the board's HELLO, sequence gaps, how late its lines are
    read, and replies to requests. `deliver` is what a source calls; each detection heard on
    time becomes a CommandEvent for `on_command`.
    """

    def __init__(
        self,
        source_name: str,
        site: str,
        on_command: Callable[[CommandEvent], None],
        stats: LinkStats | None = None,
        clock: Callable[[], float] = elapsed,
        max_delay: float | None = None,
        expected_model: str | None = None,
    ):
        """`max_delay`: a detection read longer than this after the board sent it is dropped
        (None: the source's lines cannot wait unread, as the microphone's). `expected_model`: the
        id of the configuration's model (`microphone.model`); a board greeting with another
        than it or the virtual board's is warned about (None: no check)."""
        self.source_name = source_name
        self.site = site
        self.on_command = on_command
        self.stats = stats or LinkStats()
        self.clock = clock
        self.max_delay = max_delay
        self.expected_model = expected_model
        self.lateness = ReadLateness()
        self.hello: protocol.Hello | None = None
        self.greeted = threading.Event()
        """Set once the board's HELLO arrived: from then on its detections are heard."""
        self.refusing = False
        """The board's HELLO named a protocol version this assistant does not speak."""
        self.last_seq: int | None = None
        self.replies: deque[protocol.Message] = deque(maxlen=MAX_KEPT_REPLIES)
        """Replies to requests, until `wait_for_reply` takes them (the oldest go first when
        full)."""
        self._replies_changed = threading.Condition()

    def deliver(self, message: protocol.Message) -> None:
        """Take one message of the source, in the order it sent them."""
        received = self.clock()
        self.stats.lines += 1
        self.stats.warnings.flush()
        if isinstance(message, protocol.Hello):
            self._greet(message)
        elif self.last_seq is not None:
            self._count_gap(message.seq)
        self.last_seq = message.seq
        if isinstance(message, protocol.Heartbeat):
            self.lateness.heartbeat(message.ms, received)
        elif isinstance(message, protocol.Detection):
            self._detected(message, received)
        elif isinstance(message, (protocol.Pong, protocol.Info, protocol.Ok, protocol.Error)):
            self._keep_reply(message)

    def _count_gap(self, seq: int) -> None:
        """Count (and warn about) the lines lost between the last message and this one, `seq`."""
        lost = protocol.lost_between(self.last_seq, seq)
        if lost != 0:
            self.lateness.lost()
        if lost is None:
            self.stats.warnings.warning(
                log,
                "lost-line",
                "%s: seq went back from %d to %d without a HELLO: the board restarted its "
                "count and its HELLO did not reach the assistant (garbled, or read by another "
                "program using the port); counting on from %d. If it happens again, check "
                "that no other program (a serial monitor) has the port open",
                self.source_name,
                self.last_seq,
                seq,
                seq,
            )
        elif lost:
            self.stats.lost += lost
            self.stats.warnings.warning(
                log, "lost-line", "%s: %d line(s) lost before seq %d", self.source_name, lost, seq
            )

    def _detected(self, detection: protocol.Detection, received: float) -> None:
        """Hand `detection` to `on_command`, unless the board speaks another protocol version
        (refused) or it was read too late (stale)."""
        if self.refusing:
            self.stats.refused += 1
        elif self._read_late(detection, received):
            self.stats.count_stale("read_late")
        else:
            self.stats.detections += 1
            self.on_command(
                CommandEvent(
                    command=detection.label,
                    score=detection.score,
                    source=self.source_name,
                    site=self.site,
                    received=received,
                    device_ms=detection.ms,
                    seq=detection.seq,
                    heard=True,
                )
            )

    def _keep_reply(
        self, message: protocol.Pong | protocol.Info | protocol.Ok | protocol.Error
    ) -> None:
        """Log what an INFO or a failed setup says, and keep the reply for `wait_for_reply`."""
        if isinstance(message, protocol.Info) and message.fields:
            log.info(
                "%s: %s",
                self.source_name,
                ", ".join(f"{key} {value}" for key, value in message.fields.items()),
            )
        stage = protocol.failed_setup(message)
        if stage is not None:
            log.error(
                "%s could not start: its %s setup failed "
                "(firmware/README.md, Troubleshooting, in the source repository)",
                self.source_name,
                stage,
            )
        with self._replies_changed:
            self.replies.append(message)
            self._replies_changed.notify_all()

    def _read_late(self, detection: protocol.Detection, received: float) -> bool:
        """True (and warned about) if `detection` was read longer than max_delay after the
        board sent it."""
        late = self.lateness.detection(received)
        if self.max_delay is None or late <= self.max_delay:
            return False
        self.stats.warnings.warning(
            log,
            "stale-detection",
            "%s: dropped %r: read at least %.1f s after the board sent it, longer than "
            "device.max_delay (the assistant was not reading the port: stopped, as by Ctrl-Z, "
            "or short of CPU)",
            self.source_name,
            detection.label,
            late,
        )
        return True

    def _greet(self, hello: protocol.Hello) -> None:
        self.lateness = ReadLateness()
        self.refusing = hello.proto != protocol.PROTOCOL_VERSION
        if self.refusing:
            log.error(
                "%s speaks protocol %d, this assistant speaks %d: its detections are ignored "
                "until you update the %s",
                self.source_name,
                hello.proto,
                protocol.PROTOCOL_VERSION,
                "firmware" if hello.proto < protocol.PROTOCOL_VERSION else "assistant",
            )
        if hello != self.hello:
            log.info(
                "%s: board firmware %s, model %s, commands %s",
                self.source_name,
                hello.fw,
                hello.model,
                ", ".join(hello.labels),
            )
            self._check_model(hello)
        self.hello = hello
        self.greeted.set()

    def _check_model(self, hello: protocol.Hello) -> None:
        """Warn when the board runs another model than the configuration's, as a board still
        on the firmware of an earlier version does."""
        if self.expected_model in (None, hello.model) or hello.model == emulator.MODEL_ID:
            return
        log.warning(
            "%s runs model %s (firmware %s), not %s, the model of microphone.model that the "
            "commands and thresholds of the configuration are checked against: flash the "
            "firmware of this version of the assistant (firmware/README.md in the source "
            "repository), or give microphone.model the model the board runs",
            self.source_name,
            hello.model,
            hello.fw,
            self.expected_model,
        )

    def wait_for_reply(self, kind: type, timeout: float) -> protocol.Message | None:
        """The next reply of type `kind` (consumed), waiting up to `timeout` seconds. The daemon
        asks the board's INFO for the log only and waits for no reply: this is how a caller
        driving the link itself (the tests) sees what the board answered."""
        deadline = time.monotonic() + timeout
        with self._replies_changed:
            while True:
                for reply in self.replies:
                    if isinstance(reply, kind):
                        self.replies.remove(reply)
                        return reply
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._replies_changed.wait(remaining)
