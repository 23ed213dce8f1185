"""`source:` resolved to the source to open, and `auto` following the board while it runs: a
board whenever one is plugged in, else a fallback (the microphone, else the virtual board until
the microphone can be used). Opening and closing the sources is the daemon's
(assistant/daemon.py); this decides which, and when to switch."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from assistant.config import Config
from assistant.microphone import microphone_problem

if TYPE_CHECKING:
    from assistant.daemon import RunningSource

log = logging.getLogger("assistant")

BOARD_LOOK_SECONDS = 1.0
"""How often `source: auto` looks for a board by its USB id while it listens with a fallback,
and checks that the board it uses is still plugged in."""
MICROPHONE_LOOK_SECONDS = 5.0
"""How often `source: auto` looks for a usable microphone while it listens with the virtual
board (each look at a microphone not found restarts PortAudio, unless a stream is open)."""
BOARD_GONE_SECONDS = 5.0
"""How long `auto` waits for an unplugged board to come back before it falls back again (a board
that resets, or is being flashed, is back sooner)."""


class SourceFollower:
    """Which source `source:` opens, and, for `auto` with no port named, the thread that
    switches between the board and the fallbacks."""

    def __init__(
        self,
        config: Config,
        find: Callable[[], str | None],
        switch: Callable[[RunningSource, str], RunningSource],
    ):
        """`find` returns the path of a board plugged in (found by its USB id), or None;
        `switch` closes a running source and opens the one a resolved `source:` names. The
        settings read here (`source`, `device`, `microphone`) take effect at a restart only."""
        self.source = config.source
        self.port = config.sections["device"]["port"]
        self.microphone = config.sections["microphone"]["device"]
        self.find = find
        self._switch = switch
        self._thread: threading.Thread | None = None
        self._microphone_problem: str | None = None
        """Why `auto` could not use the microphone when it last looked (None: it could)."""

    @property
    def follows(self) -> bool:
        """Whether the board is followed: `source: auto` with no port named (`device.port`,
        `--port`); a port named is waited for as `source: serial` is."""
        return self.source == "auto" and self.port == "auto"

    def source_to_open(self) -> str:
        """`source:`, with `auto` resolved: a board (one found, or a port named in `device:`),
        else the fallback."""
        if self.source != "auto":
            return self.source
        if self.port != "auto" or self.find():
            return "serial"
        fallback = self._fallback()
        if fallback == "microphone":
            log.info(
                "no board found: listening with the desktop microphone until one is plugged in"
            )
        else:
            log.info(
                "no board found: using the virtual board until a board or a microphone is "
                "plugged in"
            )
        return fallback

    def start(self, running: RunningSource, stopping: threading.Event) -> None:
        """Follow the board from `running`, the source opened first, on a thread of its own
        until `stopping` is set."""
        self._thread = threading.Thread(
            target=self._follow, args=(running, stopping), name="board watch", daemon=True
        )
        self._thread.start()

    def join(self, timeout: float) -> None:
        """Wait for the thread to end, once `stopping` is set (nothing when none started)."""
        if self._thread:
            self._thread.join(timeout=timeout)

    def _follow(self, running: RunningSource, stopping: threading.Event) -> None:
        """Switch from the fallback to a board when one is plugged in, from the virtual board to
        a microphone when one can be used (looked for every MICROPHONE_LOOK_SECONDS), and back
        to a fallback when the board has been unplugged for BOARD_GONE_SECONDS."""
        gone_since: float | None = None
        microphone_looked = time.monotonic()
        while not stopping.wait(BOARD_LOOK_SECONDS):
            if running.kind != "serial":
                path = self.find()
                if path:
                    log.info(
                        "board found on %s: using it instead of the %s",
                        path,
                        running.session.source_name,
                    )
                    running = self._switch(running, "serial")
                elif (
                    running.kind == "emulator"
                    and time.monotonic() - microphone_looked >= MICROPHONE_LOOK_SECONDS
                ):
                    microphone_looked = time.monotonic()
                    if self._fallback() == "microphone":
                        log.info(
                            "microphone %r found: using it instead of the virtual board until a "
                            "board is plugged in",
                            self.microphone,
                        )
                        running = self._switch(running, "microphone")
            elif running.source.connected.is_set() or self.find():
                gone_since = None
            elif gone_since is None:
                gone_since = time.monotonic()
            elif time.monotonic() - gone_since >= BOARD_GONE_SECONDS:
                gone = time.monotonic() - gone_since
                running = self._switch(running, self._fallback())
                microphone_looked = time.monotonic()
                log.warning(
                    "the board has been unplugged for %.0f s: listening with the %s until one "
                    "is plugged in",
                    gone,
                    running.session.source_name,
                )
                gone_since = None

    def _fallback(self) -> str:
        """What `auto` listens with when no board is plugged in: the microphone if it can be
        used (`microphone_problem`), else the virtual board. Why the microphone cannot be used
        is logged when it is first found and again whenever it changes, not at every look."""
        problem = microphone_problem(self.microphone)
        if problem and problem != self._microphone_problem:
            log.info(
                "`source: auto` cannot use the microphone (looking again every %g s): %s",
                MICROPHONE_LOOK_SECONDS,
                problem,
            )
        self._microphone_problem = problem
        return "emulator" if problem else "microphone"
