"""Which timers count their time on this boot's clocks, kept beside them in the timers' file.

A timer is stored as a moment on the wall clock, which NTP may step (a machine with no
battery-backed clock boots with a wrong one). While the assistant runs, the clock watch moves
the timers with each step. Across a restart within one boot, the boot clock (CLOCK_BOOTTIME)
tells what the wall clock did meanwhile: each timer's anchor is the wall clock's offset from
the boot clock its moment is on, and a restart moves the timer by how much that offset changed.
The boot clock starts again at each boot, so a timer from an earlier boot has no anchor: its
moment on the wall clock is all there is, and no step moves it."""

from __future__ import annotations

import sqlite3
import uuid
from contextlib import closing
from pathlib import Path

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
_THIS_PROCESS = uuid.uuid4().hex


def current_boot() -> str:
    """The kernel's id of this boot; where there is none, one of this process (so that no
    anchor is taken for this boot's after a restart)."""
    try:
        return BOOT_ID.read_text().strip()
    except OSError:
        return _THIS_PROCESS


class Anchors:
    """The table `clock_anchors` of the timers' file: job id, boot, offset (wall minus boot
    clock, seconds). A version that knows no anchors leaves the table alone."""

    def __init__(self, path: Path, boot: str):
        self.path = path
        self.boot = boot

    def _connect(self) -> closing[sqlite3.Connection]:
        return closing(sqlite3.connect(self.path))

    def this_boot(self) -> dict[str, float]:
        """Make the table if missing, forget the anchors of other boots, and return this
        boot's, by job id. Those of jobs gone since (rung, stopped) stay until the next boot,
        unread: a job set again under the same id is anchored again."""
        with self._connect() as connection, connection:
            connection.execute(
                "CREATE TABLE IF NOT EXISTS clock_anchors "
                "(id TEXT PRIMARY KEY, boot TEXT NOT NULL, offset REAL NOT NULL)"
            )
            connection.execute("DELETE FROM clock_anchors WHERE boot != ?", (self.boot,))
            rows = connection.execute("SELECT id, offset FROM clock_anchors").fetchall()
        return dict(rows)

    def record(self, job_id: str, offset: float) -> None:
        """Anchor a job just set (or moved at a start) on this boot at `offset`."""
        with self._connect() as connection, connection:
            connection.execute(
                "INSERT OR REPLACE INTO clock_anchors VALUES (?, ?, ?)",
                (job_id, self.boot, offset),
            )

    def moved(self, by: float) -> None:
        """The jobs anchored on this boot were moved with a step of `by` seconds."""
        with self._connect() as connection, connection:
            connection.execute(
                "UPDATE clock_anchors SET offset = offset + ? WHERE boot = ?", (by, self.boot)
            )
