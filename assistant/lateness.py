"""How late the assistant reads what a source made. A port keeps the lines the assistant does not
read (stopped by Ctrl-Z, or starved of CPU) until it reads them again, and a sound system keeps
the audio; the board's heartbeats, stamped with its uptime, tell such a backlog from lines just
sent (docs/protocol.md, Lines read late), and the audio's own length tells it from audio just
recorded (`AudioLateness`, docs/desktop-listening.md)."""

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

    def late(self, received: float) -> float:
        """The least delay of reading at host time `received` a line sent with the last
        heartbeat (0 when unknown: no heartbeat since the HELLO, or lines lost since the last)."""
        return 0.0 if self._sent is None else max(0.0, received - self._sent)

    def detection(self, received: float) -> float:
        """The least delay of reading a detection at host time `received` (0 when unknown: no
        heartbeat since the HELLO, or lines lost since the last)."""
        if self._period is None:
            return 0.0
        return max(0.0, self.late(received) - self._period)


class AudioLateness:
    """How late the blocks of an audio stream are handed over: the wall clock against the audio
    clock. Audio is recorded in real time, so a block handed over on time ends (the audio's
    length so far) after the stream's start plus its latency; a block ending earlier than the
    time it is read waited somewhere: in PortAudio's buffer, an ALSA plugin's or the sound
    server's queue, while the assistant was stopped (Ctrl-Z) or short of CPU. The same estimate
    as a board's heartbeats (ReadLateness, the audio's length for the board's uptime), fed with
    every block.

    Why this and not the timestamps PortAudio has: a blocking read gives none (only a stream
    callback is given `inputBufferAdcTime`), several host APIs leave them at 0 (the stream time
    on ALSA through the PulseAudio plugin, the recording time under DirectSound and MME), and
    the input overflow flag says audio was lost, not that what comes next is old (a queue that
    overflows may keep its oldest audio). The audio's own length needs nothing of the host API,
    and sees a backlog wherever it was kept.

    Lost audio (an overflow) puts the audio clock behind for good, which would make every later
    block seem late. The estimate starts again from a block known to be new: one whose read had
    to wait because the stream had fewer frames than asked for when the read began, so its last
    frame was recorded after that moment. When the estimate says such a block is later than its
    read took, the estimate is wrong (audio was lost) and starts again there; a block read from a
    backlog never starts it again, however late."""

    def __init__(self) -> None:
        self._clock = ReadLateness()

    def block(self, audio_ms: int, received: float, waited: float | None) -> float:
        """How late (s) the block ending at `audio_ms` of the stream's audio was handed over,
        read at `received` (time.monotonic()); `waited`: how long its read took since the
        stream was found to have fewer frames than asked for (None: it had them all, or could
        not tell)."""
        self._clock.heartbeat(audio_ms & protocol.MAX_SEQ, received)
        late = self._clock.late(received)
        if waited is not None and late > waited:
            self._clock = ReadLateness()
            self._clock.heartbeat(audio_ms & protocol.MAX_SEQ, received)
            return 0.0
        return late
