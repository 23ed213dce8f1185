"""The timers skill's SQLite store: a check that the file can be written and is in a format this
version reads, and an APScheduler job store whose failed writes do not stop the scheduler."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from contextlib import suppress
from datetime import datetime
from pathlib import Path

from apscheduler.job import Job
from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.base import STATE_RUNNING, BaseScheduler
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

STORED_COLUMNS = frozenset({"id", "next_run_time", "job_state"})
"""The columns of each table APScheduler keeps its jobs in."""
SQLITE_CORRUPT, SQLITE_FULL, SQLITE_NOTADB = 11, 13, 26
"""SQLite's primary result codes the store tells apart (the sqlite3 module names them only
from Python 3.11)."""
DAMAGED = frozenset({SQLITE_CORRUPT, SQLITE_NOTADB})
"""The primary codes of a file that is no readable database."""
MESSAGES = {
    "database disk image is malformed": SQLITE_CORRUPT,
    "database or disk is full": SQLITE_FULL,
    "file is not a database": SQLITE_NOTADB,
}
"""SQLite's own text for each of those codes: what tells them apart before Python 3.11, whose
sqlite3 errors carry no `sqlite_errorcode`."""


class ForeignStore(sqlite3.DatabaseError):
    """A table of the store that APScheduler cannot use: another program or version made it."""


def primary_code(error: BaseException) -> int:
    """SQLite's primary result code of `error`; 0 when it is none of SQLite's."""
    code: int | None = getattr(error, "sqlite_errorcode", None)
    if code is None:  # Python 3.10
        return MESSAGES.get(str(error), 0) if isinstance(error, sqlite3.Error) else 0
    return code & 0xFF


def store_problem(path: Path, error: Exception) -> str:
    """One line naming the file, why it cannot be written, and the fix (moving a damaged or
    foreign file aside, room on a full disk, else the right to write)."""
    reason = error.orig if isinstance(error, DBAPIError) and error.orig is not None else error
    code = primary_code(reason)
    if isinstance(reason, ForeignStore) or code in DAMAGED:
        return f"cannot use {path} ({reason}); move it aside (the timers in it are lost)"
    if code == SQLITE_FULL:
        fix = "free some space on its disk"
    else:
        fix = "make it and its folder writable by the user running the assistant"
    return f"cannot write {path} ({reason}); {fix}"


FORMAT = 1
"""The format of the file's jobs, kept in SQLite's user_version: APScheduler 3 jobs pickled with
the functions `skills.timers:_timer_due` and `skills.timers:_ring_again` and the arguments
(data directory, name, site). A version that changes any of them raises FORMAT and converts
older files at start. A file from before the format was recorded (0) is format 1."""


class NewerFormat(Exception):
    """The file was written by a newer version of the skill: reading it would lose its timers
    (APScheduler deletes the jobs it cannot restore)."""


def check_store(path: Path, tables: Iterable[str]) -> None:
    """Raise sqlite3.Error unless SQLite can write the database at `path` (created when
    missing), ForeignStore when one of `tables` is there without the columns APScheduler keeps
    jobs in, NewerFormat when it is in a format after FORMAT; an older format is marked as
    FORMAT (there is nothing to convert yet). The write check is a table made and dropped in
    the transaction that records the format."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        found = connection.execute("PRAGMA user_version").fetchone()[0]
        if found > FORMAT:
            raise NewerFormat(
                f"{path} holds timers in format {found}, written by a newer version of the "
                f"assistant; this one reads format {FORMAT} at most and leaves the file alone: "
                "run the newer version again, or move the file away to start without its timers"
            )
        connection.execute("CREATE TABLE write_check (x)")
        connection.execute("DROP TABLE write_check")
        for table in tables:
            rows = connection.execute("SELECT name FROM pragma_table_info(?)", (table,))
            missing = STORED_COLUMNS - {name for (name,) in rows}
            if missing != STORED_COLUMNS and missing:  # there, but not as APScheduler made it
                raise ForeignStore(
                    f"its table {table} lacks {', '.join(sorted(missing))}: another program "
                    "or version of the assistant made it"
                )
        connection.execute(f"PRAGMA user_version = {FORMAT}")
        connection.execute("COMMIT")
    finally:
        connection.close()


class TimerStore(SQLAlchemyJobStore):
    """An SQLite job store whose failed writes do not stop the scheduler. The scheduler updates
    or removes each job it runs; a change that cannot be stored is kept in memory (and
    `failed` is told), so a timer that rang does not ring again, a ringing timer's next
    announcement comes on time, and the scheduler's thread goes on. The changes kept are
    stored with the next write that succeeds. Adding a job still raises: a new timer that
    cannot be stored would not survive a restart. A scheduler that is no longer running (paused
    to stop) gets no due jobs, even in a round of job processing it began before, and no next
    run time: the last round of its shutdown reads nothing (the store may be unreadable, or
    closed already)."""

    def __init__(self, path: Path, tablename: str, failed: Callable[[SQLAlchemyError], None]):
        super().__init__(url=f"sqlite:///{path}", tablename=tablename)
        self._failed = failed
        self._unsaved: dict[str, Job | None] = {}
        """Changes not stored yet, by job id: the job as it is now, or None when removed.
        The scheduler calls a store under its lock, so no lock of its own is needed."""

    def start(self, scheduler: BaseScheduler, alias: str) -> None:
        super().start(scheduler, alias)
        self._running_for = scheduler
        """The scheduler this store serves, kept from the job stores' public hook."""

    def add_job(self, job: Job) -> None:
        self._store_unsaved()
        super().add_job(job)

    def update_job(self, job: Job) -> None:
        self._change(job.id, job)

    def remove_job(self, job_id: str) -> None:
        if job_id in self._unsaved and self._unsaved[job_id] is None:
            raise JobLookupError(job_id)
        self._change(job_id, None)

    def lookup_job(self, job_id: str) -> Job | None:
        if job_id in self._unsaved:
            return self._unsaved[job_id]
        return super().lookup_job(job_id)

    def get_all_jobs(self) -> list[Job]:
        stored = [job for job in super().get_all_jobs() if job.id not in self._unsaved]
        if not self._unsaved:
            return stored
        kept = [job for job in self._unsaved.values() if job is not None]
        return sorted(stored + kept, key=lambda job: job.next_run_time)  # timers never pause

    def get_due_jobs(self, now: datetime) -> list[Job]:
        if self._running_for.state != STATE_RUNNING:
            return []
        return [job for job in self._scheduled() if job.next_run_time <= now]

    def get_next_run_time(self) -> datetime | None:
        if self._running_for.state != STATE_RUNNING:
            return None
        return min((job.next_run_time for job in self._scheduled()), default=None)

    def _scheduled(self) -> list[Job]:
        """The jobs with a next run time: as in APScheduler's own stores, one with none (paused,
        or a trigger with no run left) is never due."""
        return [job for job in self.get_all_jobs() if job.next_run_time is not None]

    def _change(self, job_id: str, job: Job | None) -> None:
        """Store an update (`job`) or a removal (None), after the changes kept before; keep it
        in memory if it cannot be stored."""
        try:
            self._store_unsaved()
            self._write(job_id, job)
        except SQLAlchemyError as error:
            self._unsaved[job_id] = job
            self._failed(error)

    def _store_unsaved(self) -> None:
        for job_id, job in list(self._unsaved.items()):
            with suppress(JobLookupError):  # no longer stored: nothing left to change
                self._write(job_id, job)
            del self._unsaved[job_id]

    def _write(self, job_id: str, job: Job | None) -> None:
        if job is None:
            super().remove_job(job_id)
        else:
            super().update_job(job)
