"""The log's format on a terminal and under the systemd journal, written to a real stderr."""

import os
import re
import subprocess
import sys
from pathlib import Path

from waiting import read_for

REPO = Path(__file__).resolve().parent.parent
LOG_SOME_LINES = """
import logging
from assistant import logformat

logformat.setup("DEBUG")
log = logging.getLogger("assistant.test")
log.debug("looking")
log.info("started")
log.warning("board is gone")
log.error("not reloaded:\\nfirst problem\\nsecond problem")
try:
    1 / 0
except ZeroDivisionError:
    log.exception("action crashed")
"""


def _stderr_lines(tmp_path: Path, journal_stream_of_stderr: bool) -> list[str]:
    """What LOG_SOME_LINES writes to stderr, a file; JOURNAL_STREAM names that file (as
    systemd names the journal stream it connects) or another one (a shell a service started)."""
    stderr = tmp_path / "stderr"
    with stderr.open("w") as stream:
        stat = os.fstat(stream.fileno())
        named = f"{stat.st_dev}:{stat.st_ino}" if journal_stream_of_stderr else "8:1234"
        subprocess.run(
            [sys.executable, "-c", LOG_SOME_LINES],
            env={**os.environ, "JOURNAL_STREAM": named},
            cwd=REPO,
            stderr=stream,
            check=True,
        )
    return stderr.read_text().splitlines()


def test_under_the_journal_a_line_is_a_record_with_its_syslog_priority(tmp_path):
    lines = _stderr_lines(tmp_path, journal_stream_of_stderr=True)
    assert lines[:4] == [
        "<7>DEBUG assistant.test: looking",
        "<6>INFO assistant.test: started",
        "<4>WARNING assistant.test: board is gone",
        "<3>ERROR assistant.test: not reloaded: ⏎ first problem ⏎ second problem",
    ]
    assert lines[4].startswith(
        "<3>ERROR assistant.test: action crashed ⏎ Traceback (most recent call last): ⏎ "
    )
    assert lines[4].endswith(" ⏎ ZeroDivisionError: division by zero")
    assert len(lines) == 5


def test_a_file_that_inherited_journal_stream_gets_dated_timestamps_and_tracebacks(tmp_path):
    """Not the journal: a line a record as on a terminal, with its date, since a file (the
    `nohup.out` of a run that lasts for days) is read on another day."""
    lines = _stderr_lines(tmp_path, journal_stream_of_stderr=False)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d DEBUG   assistant.test: looking", lines[0])
    assert "    Traceback (most recent call last):" in lines
    assert lines[-1] == "    ZeroDivisionError: division by zero"


def test_a_terminal_gets_the_time_of_each_line(tmp_path):
    """On a terminal, watched as the lines come, the time alone."""
    terminal, its_end = os.openpty()
    try:
        subprocess.run(
            [sys.executable, "-c", LOG_SOME_LINES],
            env={key: value for key, value in os.environ.items() if key != "JOURNAL_STREAM"},
            cwd=REPO,
            stderr=its_end,
            check=True,
        )
        os.close(its_end)
        its_end = None
        shown = read_for(terminal, 10, lambda data: b"division by zero" in data)
    finally:
        if its_end is not None:
            os.close(its_end)
        os.close(terminal)
    first = shown.decode().splitlines()[0]
    assert re.fullmatch(r"\d\d:\d\d:\d\d DEBUG   assistant.test: looking", first)


LOG_A_TIMERS_INTERNALS = """
import logging
from assistant import logformat

scheduler = logging.getLogger("apscheduler.scheduler")
logformat.setup("INFO")
scheduler.info("Added job at INFO")
scheduler.warning("Run time of job was missed at INFO")
logging.getLogger("assistant.skill.timers").info("timers still running at INFO")
logformat.set_level("DEBUG")  # a reload
scheduler.info("Added job at DEBUG")
logformat.set_level("ERROR")
scheduler.warning("Run time of job was missed at ERROR")
scheduler.error("Error getting due jobs at ERROR")
"""


def test_apschedulers_internals_are_logged_only_at_debug(tmp_path):
    """Its lines about each timer added, run and removed were half of a day's log."""
    done = subprocess.run(
        [sys.executable, "-c", LOG_A_TIMERS_INTERNALS],
        env={key: value for key, value in os.environ.items() if key != "JOURNAL_STREAM"},
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert [line.split(": ", 1)[1] for line in done.stderr.splitlines()] == [
        "Run time of job was missed at INFO",
        "timers still running at INFO",
        "Added job at DEBUG",
        "Error getting due jobs at ERROR",
    ]


LOG_A_STEERING_REPLY = """
import logging
from assistant import logformat

logformat.setup("INFO")
logging.getLogger("assistant.speech").info(
    "reply: %s", "Lights on\\x1b]0;owned\\x07\\r\\x1b[2KINFO all fine\\x9b"
)
"""
STEERING_SHOWN = r"reply: Lights on\x1b]0;owned\x07\x0d\x1b[2KINFO all fine\x9b"


def test_a_reply_from_the_broker_cannot_steer_the_terminal_or_blob_the_journal(tmp_path):
    """Any client allowed on a site's reply topic chooses the text the satellite logs: its
    escape sequences and carriage returns are shown escaped, line breaks and tabs as they are."""
    stderr = tmp_path / "stderr"
    for journal in (False, True):
        with stderr.open("w") as stream:
            stat = os.fstat(stream.fileno())
            subprocess.run(
                [sys.executable, "-c", LOG_A_STEERING_REPLY],
                env={
                    **os.environ,
                    "JOURNAL_STREAM": f"{stat.st_dev}:{stat.st_ino}" if journal else "8:1",
                },
                cwd=REPO,
                stderr=stream,
                check=True,
            )
        [line] = stderr.read_text().splitlines()
        assert line.endswith(STEERING_SHOWN)
        assert line.isprintable()


LOG_A_REPLY_OF_TWO_LINES = """
import logging
from assistant import logformat

logformat.setup("INFO")
logging.getLogger("assistant.speech").info(
    "reply: %s", "Lights on\\n2026-11-27 09:00:00 WARNING assistant.link: board unplugged"
)
logging.getLogger("assistant.config").error("not reloaded:\\nfirst problem\\nsecond problem")
"""


def test_a_line_break_in_a_reply_cannot_pass_for_a_record_of_its_own(tmp_path):
    """In a file or on a terminal a record's further lines are indented, so a reply's text (any
    client allowed on a site's reply topic chooses it) cannot start a line that reads as the
    log's own; a record of several lines keeps every line."""
    stderr = tmp_path / "stderr"
    with stderr.open("w") as stream:
        subprocess.run(
            [sys.executable, "-c", LOG_A_REPLY_OF_TWO_LINES],
            env={**os.environ, "JOURNAL_STREAM": "8:1"},
            cwd=REPO,
            stderr=stream,
            check=True,
        )
    lines = stderr.read_text().splitlines()
    record = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (INFO|ERROR) +assistant\.")
    assert [bool(record.match(line)) for line in lines] == [True, False, True, False, False]
    assert lines[1] == "    2026-11-27 09:00:00 WARNING assistant.link: board unplugged"
    assert lines[3:] == ["    first problem", "    second problem"]
