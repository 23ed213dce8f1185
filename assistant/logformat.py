"""The log's format: a timestamp a line on a terminal (with the date in a file, such as the
`nohup.out` of a run that lasts for days); under the systemd journal, one entry a record, with
its syslog priority."""

from __future__ import annotations

import logging
import os
import re
import sys
from typing import TextIO

from assistant.clocks import DAY_AND_TIME, TIME_OF_DAY, localtime

JOURNAL_FORMAT = "%(levelname)s %(name)s: %(message)s"
TERMINAL_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
LINE_BREAK = " ⏎ "
"""What stands for a line break under the journal, which makes an entry of every line."""
QUIET_LIBRARIES = ("apscheduler",)
"""Libraries whose INFO lines are their internals (APScheduler: every timer added, run and
removed, two lines every few seconds while one rings, at times in UTC): they log warnings and
errors only, unless the level is DEBUG."""


def syslog_priority(level: int) -> int:
    """The sd-daemon prefix's number for a logging level: 3 error, 4 warning, 6 info, 7 debug
    (2 for critical)."""
    for threshold, priority in (
        (logging.CRITICAL, 2),
        (logging.ERROR, 3),
        (logging.WARNING, 4),
        (logging.INFO, 6),
    ):
        if level >= threshold:
            return priority
    return 7


STEERING = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
"""Control characters but line break and tab: an escape sequence, or a carriage return that
writes over the line, in a text from outside (a reply sent through the broker) would steer the
terminal that shows the log, and journalctl shows an entry with them as a blob."""


def printable(text: str) -> str:
    """`text` with each STEERING character written as its escape (`\\x1b`)."""
    return STEERING.sub(lambda found: f"\\x{ord(found.group()):02x}", text)


class PrintableFormatter(logging.Formatter):
    """Each record with its STEERING characters escaped (`printable`), its time in the time
    zone the machine is set to as it is written (clocks.localtime)."""

    converter = staticmethod(localtime)

    def format(self, record: logging.LogRecord) -> str:
        return printable(super().format(record))


CONTINUATION = "    "
"""What starts each line of a record after its first on a terminal or in a file: a line break
in a text from outside cannot start a line that passes for a record of its own."""


class TerminalFormatter(PrintableFormatter):
    """A record's lines after its first (a traceback, a list of configuration problems, a line
    break in a reply) indented by CONTINUATION, as journalctl shows an entry of several lines."""

    def format(self, record: logging.LogRecord) -> str:
        return super().format(record).replace("\n", "\n" + CONTINUATION)


class JournalFormatter(PrintableFormatter):
    """`<N>` first, so journald files the line at that priority (`journalctl -p warning`), and
    the record on one line, so a traceback or a list of configuration problems stays one entry."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record).replace("\n", LINE_BREAK)
        return f"<{syslog_priority(record.levelno)}>{text}"


def under_journal() -> bool:
    """Whether stderr is the journal stream systemd connected: JOURNAL_STREAM names its device
    and inode. A shell started by a service (some desktop terminals) inherits the variable, not
    the stream."""
    try:
        device, inode = (int(number) for number in os.environ["JOURNAL_STREAM"].split(":"))
        stderr = os.fstat(2)
    except (KeyError, ValueError, OSError):
        return False
    return (stderr.st_dev, stderr.st_ino) == (device, inode)


def setup(level: str = "INFO", stream: TextIO | None = None) -> None:
    """Log to `stream` (default: stderr) at `level`, in the journal's format when stderr is the
    journal, each line with the time it was written, and its date unless the stream is a
    terminal (one watches)."""
    if stream is None and under_journal():
        formatter: logging.Formatter = JournalFormatter(JOURNAL_FORMAT)
    else:
        shown = TIME_OF_DAY if (stream or sys.stderr).isatty() else DAY_AND_TIME
        formatter = TerminalFormatter(TERMINAL_FORMAT, datefmt=shown)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    logging.basicConfig(handlers=[handler], force=True)
    set_level(level)


def set_level(level: str) -> None:
    """Log at `level` (at start, and at each reload): the QUIET_LIBRARIES at WARNING or above,
    unless it is DEBUG."""
    logging.getLogger().setLevel(level)
    quiet = logging.getLevelName(level)
    if quiet > logging.DEBUG:
        quiet = max(quiet, logging.WARNING)
    for library in QUIET_LIBRARIES:
        logging.getLogger(library).setLevel(quiet)
