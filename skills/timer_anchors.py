"""Which timers count their time on this boot's clocks, kept beside them in the timers' file.

A timer is stored as a moment on the wall clock, which NTP may step (a machine with no
battery-backed clock boots with a wrong one). While the assistant runs, the clock watch moves
the timers with each step. Across a restart within one boot, the boot clock (CLOCK_BOOTTIME)
tells what the wall clock did meanwhile: each timer's anchor is the wall clock's offset from
the boot clock its moment is on, and a restart moves the timer by how much that offset changed.
The boot clock starts again at each boot, so a timer anchored on an earlier boot has no anchor
on this one: its moment on the wall clock is all there is, and no step moves it. A timer with
no anchor at all was set by a version before anchors (0.2.0): the skill anchors it at start on
this boot's clocks, the best there is to know (right unless the clock was stepped between its
setting and that start)."""

from __future__ import annotations

import sqlite3
import uuid
from contextlib import closing
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Stored:
    """The anchors a start finds: this boot's offsets by job id, and the jobs anchored on an
    earlier boot (set before this boot began). A stored job in neither has no anchor."""

    this_boot: dict[str, float]
    earlier_boots: frozenset[str]

    @property
    def jobs(self) -> set[str]:
        """The jobs with an anchor, on any boot."""
        return set(self.this_boot) | self.earlier_boots


class Anchors:
    """The table `clock_anchors` of the timers' file: job id, boot, offset (wall minus boot
    clock, seconds). A version that knows no anchors leaves the table alone. 0.3.0 deleted
    the anchors of earlier boots at start: a timer set before a reboot that 0.3.0 started on
    since has none, and is taken for one set under 0.2.0."""

    def __init__(self, path: Path, boot: str):
        self.path = path
        self.boot = boot

    def _connect(self) -> closing[sqlite3.Connection]:
        return closing(sqlite3.connect(self.path))

    def stored(self) -> Stored:
        """Make the table if missing, and return the anchors in it."""
        with self._connect() as connection, connection:
            connection.execute(
                "CREATE TABLE IF NOT EXISTS clock_anchors "
                "(id TEXT PRIMARY KEY, boot TEXT NOT NULL, offset REAL NOT NULL)"
            )
            rows = connection.execute("SELECT id, boot, offset FROM clock_anchors").fetchall()
        return Stored(
            {job_id: offset for job_id, boot, offset in rows if boot == self.boot},
            frozenset(job_id for job_id, boot, _ in rows if boot != self.boot),
        )

    def forget(self, jobs: set[str]) -> None:
        """Forget the anchors of `jobs`, gone (rung, stopped)."""
        with self._connect() as connection, connection:
            gone = [(job_id,) for job_id in jobs]
            connection.executemany("DELETE FROM clock_anchors WHERE id = ?", gone)

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
