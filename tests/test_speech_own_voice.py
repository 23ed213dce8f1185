"""A reply is said at once, its own-voice analysis made meanwhile: real pyttsx3 + espeak-ng on
conftest's stand-in sound card, the analysis (real espeak-ng and the committed model) held by a
stand-in for the espeak-ng program that waits while a file is there."""

from __future__ import annotations

import shutil
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_own_voice import COMMITTED_MODEL, DEFAULT_MICROPHONE
from waiting import wait_until
from wav import played_files

from assistant import speech
from assistant.speech import Speaker

ESPEAK_NG = """#!/bin/sh
# Notes each synthesis in ../synthesized, waits while ../slow exists, then runs espeak-ng.
echo "$@" >> "{folder}/synthesized"
i=0
while [ -e "{folder}/slow" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
exec "{espeak}" "$@"
"""


@pytest.fixture
def slow_synthesis(audio_output: Path) -> Iterator[Path]:
    """The file `slow`: while it is there, the own-voice analysis cannot synthesize a reply
    (pyttsx3 says replies through the espeak-ng library, not the program, so they are not held).
    `synthesized` beside it gets a line for each synthesis."""
    folder = audio_output.parent
    program = folder / "bin" / "espeak-ng"
    program.write_text(ESPEAK_NG.format(folder=folder, espeak=shutil.which("espeak-ng")))
    program.chmod(program.stat().st_mode | stat.S_IEXEC)
    slow = folder / "slow"
    slow.touch()
    yield slow
    slow.unlink(missing_ok=True)


def own_voice_of(speaker: Speaker, command: str) -> bool:
    """Whether `command` from a board running the committed model is taken for the speaker's
    own voice."""
    return speaker.may_be_own_voice(command, "board", COMMITTED_MODEL)


def synthesized(slow: Path) -> list[str]:
    said = slow.parent / "synthesized"
    return (
        [line.rsplit("-- ", 1)[1] for line in said.read_text().splitlines()]
        if said.exists()
        else []
    )


def test_a_new_reply_is_said_before_its_analysis_ends_and_counts_as_any_command_until_then(
    audio_output: Path, slow_synthesis: Path
) -> None:
    hang = audio_output.parent / "hang"
    hang.touch()  # the stand-in sound card holds the reply: it is being said
    speaker = Speaker({}, analyse_with=DEFAULT_MICROPHONE)
    try:
        speaker.say("Stop")
        assert wait_until(lambda: played_files(audio_output)), "not said at once"
        assert wait_until(lambda: synthesized(slow_synthesis) == ["Stop"], timeout=15)
        assert own_voice_of(speaker, "stop")
        assert own_voice_of(speaker, "off")  # not analysed yet: any command is ignored
        slow_synthesis.unlink()
        assert wait_until(lambda: not own_voice_of(speaker, "off"), timeout=30)
        assert own_voice_of(speaker, "stop")  # still said: only what it could be heard as
        hang.unlink()
        assert speaker.wait_idle(30)
        slow_synthesis.touch()  # said before: known at once, no synthesis to wait for
        hang.touch()
        speaker.say("Stop")
        assert wait_until(lambda: len(played_files(audio_output)) == 2, timeout=15)
        assert own_voice_of(speaker, "stop")
        assert not own_voice_of(speaker, "off")
        assert synthesized(slow_synthesis) == ["Stop"]
    finally:
        hang.unlink(missing_ok=True)
        slow_synthesis.unlink(missing_ok=True)
        speaker.close()


def test_a_reply_that_ended_before_its_analysis_takes_the_analysis_when_it_comes(
    audio_output: Path, slow_synthesis: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second after a reply (its echo) gets the analysis too, made after the reply ended
    (the second made longer here, so that a slow machine still answers within it)."""
    monkeypatch.setattr(speech, "OWN_VOICE_SECONDS", 30.0)
    speaker = Speaker({}, analyse_with=DEFAULT_MICROPHONE)
    try:
        speaker.say("Go")
        assert speaker.wait_idle(5), "the reply waited for its analysis"
        assert wait_until(lambda: synthesized(slow_synthesis) == ["Go"], timeout=15)
        assert own_voice_of(speaker, "off")
        slow_synthesis.unlink()
        assert wait_until(lambda: not own_voice_of(speaker, "off"), timeout=30)
        assert own_voice_of(speaker, "go")
        assert speaker.speaking_lately()
    finally:
        speaker.close()


def test_close_drops_the_analyses_not_started_and_its_thread_ends(
    audio_output: Path, slow_synthesis: Path
) -> None:
    before = set(threading.enumerate())
    speaker = Speaker({"timeout": 1}, analyse_with=DEFAULT_MICROPHONE)
    started = [thread for thread in threading.enumerate() if thread not in before]
    analysis = next(thread for thread in started if thread.name == "own-voice analysis")
    speaker.say("Stop")
    speaker.say("Go")
    assert speaker.wait_idle(5)  # both said, the first one's analysis held
    assert wait_until(lambda: synthesized(slow_synthesis) == ["Stop"], timeout=15)
    speaker.close()
    slow_synthesis.unlink()
    analysis.join(30)
    assert not analysis.is_alive()
    assert synthesized(slow_synthesis) == ["Stop"]  # "Go" was never analysed
