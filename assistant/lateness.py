"""How late the assistant reads a board's lines. A port keeps the lines the assistant does not
read (stopped by Ctrl-Z, or starved of CPU) until it reads them again; the board's heartbeats,
stamped with its uptime, tell such a backlog from lines just sent (docs/protocol.md, Lines read
late)."""

from __future__ import annotations

from assistant import protocol

RISE = 0.001
"""How much the board's clock may fall behind the host's, in seconds a second of board time:
far more than a crystal drifts (tens of millionths), far less than a backlog delays."""


class ReadLateness:
    """The heartbeats of one board since its HELLO, and the least each detection's reading can
    have been delayed by. The host time a heartbeat was sent is estimated as its uptime plus the
    smallest offset (received - uptime) seen, let rise by RISE: a lower bound, so a line
    read on time never seems late. A detection comes within a heartbeat period after the
    heartbeat before it, so it was read at least (received - that heartbeat's sending - period)
    late."""

    def __init__(self) -> None:
        self._offset: float | None = None
        """Host time minus board time (s) of the least delayed heartbeat, risen since."""
        self._board = 0.0
        """Board time (s, unwrapped) of the last heartbeat."""
        self._last_ms = 0
        self._sent: float | None = None
        """Host time the last heartbeat was sent, while no line was lost since it."""
        self._period: float | None = None
        """Board seconds between the last two heartbeats."""

    def heartbeat(self, ms: int, received: float) -> None:
        """A heartbeat of board uptime `ms` was read at host time `received`."""
        if self._offset is None:
            self._board, self._offset = 0.0, received
        else:
            step = ((ms - self._last_ms) & protocol.MAX_SEQ) / 1000
            self._board += step
            self._period = step
            self._offset = min(self._offset + RISE * step, received - self._board)
        self._last_ms = ms
        self._sent = self._offset + self._board

    def lost(self) -> None:
        """Lines were lost (or the count went back): the last heartbeat bounds nothing now."""
        self._sent = None

    def detection(self, received: float) -> float:
        """The least delay of reading a detection at host time `received` (0 when unknown: no
        heartbeat since the HELLO, or lines lost since the last)."""
        if self._sent is None or self._period is None:
            return 0.0
        return max(0.0, received - self._sent - self._period)
