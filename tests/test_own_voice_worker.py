"""The daemon's own-voice analysis in a worker process of its own: the real spawned process,
real espeak-ng and the committed model."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from functools import partial
from pathlib import Path

import pytest
from test_own_voice import COMMITTED_MODEL, DEFAULT_MICROPHONE
from waiting import wait_until

from assistant import own_voice_worker
from assistant.espeak import espeak_to_file
from assistant.own_voice import OwnVoice
from assistant.speech import Speaker, speech_settings


def workers() -> list[int]:
    """The process ids of this process's spawned children (the analysis workers)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            command = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if parent == os.getpid() and b"spawn_main" in command:
            found.append(int(stat.parent.name))
    return found


def in_a_worker(microphone: dict = DEFAULT_MICROPHONE, unavailable: str | None = None) -> OwnVoice:
    """An analyser of replies as the default speech settings say them, in a worker process."""
    return OwnVoice(
        microphone,
        partial(espeak_to_file, speech_settings(None)),
        logging.getLogger("test"),
        unavailable,
        separate_process=True,
    )


def started(analyser: OwnVoice) -> int:
    """The process id of `analyser`'s worker, started by the analysis of "Stop"."""
    assert analyser.commands_in("Stop") == {"stop"}
    [worker] = workers()
    return worker


def test_the_daemon_analyses_replies_in_a_worker_process_without_tensorflow() -> None:
    speaker = Speaker({"enabled": False}, analyse_with=DEFAULT_MICROPHONE)
    assert workers() == []  # started at the first reply, not before
    try:
        assert speaker.own_voice.commands_in("Stop") == {"stop"}
        assert speaker.own_voice.model_id == COMMITTED_MODEL
        [worker] = workers()
        libraries = Path(f"/proc/{worker}/maps").read_text()
        assert "tflite_micro" in libraries  # the model is run there
        assert "site-packages/tensorflow/" not in libraries
        assert speaker.own_voice.commands_in("Go") == {"go"}
        assert workers() == [worker]  # one, reused
    finally:
        speaker.close()
    assert workers() == []


def test_a_worker_that_dies_is_said_once_the_reply_counts_as_any_and_a_new_one_follows(
    caplog: pytest.LogCaptureFixture,
) -> None:
    analyser = in_a_worker()
    try:
        first = started(analyser)
        os.kill(first, signal.SIGKILL)
        assert analyser.commands_in("Go") is None
        assert workers() == []
        assert "the analysis process ended (signal 9)" in caplog.text
        assert analyser.commands_in("Go") == {"go"}  # a new worker, not the answer kept
        [second] = workers()
        assert second != first
        os.kill(second, signal.SIGKILL)
        assert analyser.commands_in("Off") is None
        assert caplog.text.count("the analysis process ended") == 1
        assert analyser.commands_in("Stop") == {"stop"}  # kept: no worker needed
        assert workers() == []
    finally:
        analyser.close(5)


def test_a_worker_that_hangs_is_ended_and_a_new_one_follows(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    analyser = in_a_worker()
    try:
        first = started(analyser)
        os.kill(first, signal.SIGSTOP)
        monkeypatch.setattr(own_voice_worker, "ANSWER_TIMEOUT", 1.0)
        assert analyser.commands_in("Go") is None
        assert "the analysis process did not answer within 1 s" in caplog.text
        assert workers() == []  # the hung one was ended
        monkeypatch.undo()
        assert analyser.commands_in("Go") == {"go"}
    finally:
        analyser.close(5)
    assert workers() == []


@pytest.mark.parametrize(
    ("microphone", "unavailable", "why", "count"),
    [
        ({"model": "/nonexistent/kws.tflite"}, None, "the model cannot be loaded: ", 1),
        ({}, "the speech engine is not espeak-ng", "the speech engine is not espeak-ng", 0),
    ],
)
def test_what_the_worker_cannot_analyse_is_said_once_and_counts_as_any_command(
    caplog: pytest.LogCaptureFixture, microphone, unavailable, why, count
) -> None:
    analyser = in_a_worker(microphone, unavailable)
    try:
        assert analyser.commands_in("Tea is done") is None
        assert analyser.commands_in("Timer silenced") is None
        assert caplog.text.count(why) == 1
        assert len(workers()) == count  # none for another engine; one, kept, for the model
    finally:
        analyser.close(5)
    assert workers() == []


def test_closing_during_an_analysis_waits_its_timeout_and_the_worker_ends_after() -> None:
    analyser = in_a_worker()
    worker = started(analyser)
    os.kill(worker, signal.SIGSTOP)  # a slow analysis
    found: list[frozenset[str] | None] = []
    analysing = threading.Thread(target=lambda: found.append(analyser.commands_in("Go")))
    analysing.start()
    assert wait_until(analyser._worker._busy.locked)  # the analysis has begun
    closing = time.monotonic()
    analyser.close(0.5)
    assert time.monotonic() - closing > 0.4  # it waited (load only makes a wait longer)
    assert (workers(), found) == ([worker], [])  # and gave up: the analysis still hangs
    os.kill(worker, signal.SIGCONT)
    analysing.join(10)
    assert found == [{"go"}]  # answered, then ended
    assert workers() == []
    assert analyser.commands_in("Off") is None  # closed: no new worker
    assert workers() == []


def test_the_worker_ends_with_a_daemon_that_was_killed() -> None:
    code = (
        "import logging, sys, time; from functools import partial; "
        "from test_own_voice import DEFAULT_MICROPHONE; from test_own_voice_worker import workers; "
        "from assistant.own_voice import OwnVoice; "
        "from assistant.espeak import espeak_to_file; "
        "from assistant.speech import speech_settings; "
        "analyser = OwnVoice(DEFAULT_MICROPHONE, partial(espeak_to_file, speech_settings(None)), "
        "logging.getLogger(), separate_process=True); "
        "print(sorted(analyser.commands_in('Stop')), *workers(), flush=True); time.sleep(60)"
    )
    tests = str(Path(__file__).parent)
    daemon = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([tests, *sys.path])},
    )
    try:
        found, worker = daemon.stdout.readline().split()
        assert found == "['stop']"
    finally:
        daemon.kill()
        daemon.wait()
    deadline = time.monotonic() + 10
    while running(int(worker)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not running(int(worker))


def running(pid: int) -> bool:
    """Whether process `pid` runs (neither gone nor a zombie left to its new parent)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
