"""The desktop microphone source: sounddevice's real API where this machine allows it (it has no
sound card), and a recorded microphone that plays real speech for the rest."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tiny_kws_model
from alsa_microphone import DEVICE, Listening, environment, plug_in, records, saying_on
from held_event import AnnouncedLock
from local_midnight import midnight_since
from runtime_skills import INSTALLED
from waiting import wait_until

from assistant import protocol
from assistant.config import load_config
from assistant.daemon import Assistant
from assistant.listener import LOAD_SECONDS, ListenerSettings, MicrophoneSource
from assistant.microphone import (
    SAMPLE_RATE,
    MicrophoneError,
    device_argument,
    microphone_problem,
    open_microphone,
    refresh_devices,
)
from assistant.phrase import microphone_chunks
from assistant.ratelimit import WARNINGS_PER_MINUTE
from assistant.sources import DeviceSession


@pytest.fixture(scope="module")
def spoken_on() -> np.ndarray:
    return saying_on(SAMPLE_RATE)


class RecordedMicrophone:
    """Stands in for sounddevice.InputStream (there is no microphone here): plays `audio` (mono,
    or (frames, channels)) through the same blocking `read(frames) -> (int16 array (frames,
    channels), overflowed)`, then silence."""

    def __init__(self, audio: np.ndarray, overflow_on_reads: tuple[int, ...] = ()):
        self.audio = audio
        self.position = 0
        self.reads = 0
        self.overflow_on_reads = overflow_on_reads
        self.open = False

    def __enter__(self):
        self.open = True
        return self

    def __exit__(self, *exc):
        self.open = False

    def read(self, frames: int):
        assert self.open, "read from a stream that is not started"
        chunk = self.audio[self.position : self.position + frames]
        chunk = chunk.reshape(len(chunk), 1 if self.audio.ndim == 1 else self.audio.shape[1])
        chunk = np.pad(chunk, ((0, frames - len(chunk)), (0, 0)))
        self.position += frames
        self.reads += 1
        if self.position > len(self.audio):
            time.sleep(0.002)  # past the recording: silence, at a gentle pace
        return chunk, self.reads in self.overflow_on_reads


class LiveMicrophone(RecordedMicrophone):
    """A recorded microphone read as a live one: its audio is recorded in real time from the
    moment the stream starts, a read waits for what is not recorded yet (`read_available` says
    how much is), and the audio not read is kept meanwhile: all of it (as a sound server's
    queue can), or `keeps` seconds, the oldest, the rest lost and the next read flagged as
    overflowed. `stalls`: the assistant is stopped (Ctrl-Z, or short of CPU) in read N for that
    many seconds, so that the audio recorded meanwhile comes as a burst of old blocks. `rate`:
    the frames recorded a second."""

    def __init__(
        self,
        audio: np.ndarray,
        stalls: dict[int, float],
        keeps: float | None = None,
        rate: int = SAMPLE_RATE,
    ):
        super().__init__(audio)
        self.stalls = dict(stalls)
        self.keeps = keeps
        self.rate = rate
        self.started = 0.0
        self.lost = 0
        """Frames of the recording lost (recorded while the stream held `keeps` already)."""

    def __enter__(self):
        self.started = time.monotonic()
        return super().__enter__()

    @property
    def read_available(self) -> int:
        recorded = int((time.monotonic() - self.started) * self.rate) - self.lost
        return max(0, recorded - self.position)

    def read(self, frames: int):
        time.sleep(self.stalls.pop(self.reads + 1, 0.0))
        overflowed = self._overflow()
        recorded = self.started + (self.lost + self.position + frames) / self.rate
        time.sleep(max(0.0, recorded - time.monotonic()))
        chunk, flagged = super().read(frames)
        return chunk, flagged or overflowed

    def _overflow(self) -> bool:
        """Lose what was recorded beyond the `keeps` seconds the stream holds."""
        if self.keeps is None:
            return False
        held = self.position + int(self.keeps * self.rate)
        excess = self.read_available - int(self.keeps * self.rate)
        if excess <= 0:
            return False
        self.audio = np.concatenate([self.audio[:held], self.audio[held + excess :]])
        self.lost += excess
        return True


class AnsweringMicrophone(RecordedMicrophone):
    """A recorded microphone, which can be opened only once at a time (as an ALSA hw device),
    at which someone says `answer` once `asked()` is true (checked before each read), as one
    answers the assistant's question."""

    def __init__(self, audio: np.ndarray, answer: np.ndarray):
        super().__init__(audio)
        self.answer: np.ndarray | None = answer
        self.asked = lambda: False
        self.opened = 0

    def __enter__(self):
        assert not self.open, "device busy: the microphone was opened a second time"
        self.opened += 1
        return super().__enter__()

    def read(self, frames: int):
        if self.answer is not None and self.asked():
            self.audio, self.position, self.answer = self.answer, 0, None
        return super().read(frames)


def _answering(settings: ListenerSettings, answer: np.ndarray):
    """A source on an AnsweringMicrophone asked once the source lends its audio."""
    microphone = AnsweringMicrophone(np.zeros(SAMPLE_RATE, np.int16), answer)
    source = MicrophoneSource(settings, lambda device, block: microphone)
    microphone.asked = lambda: "lent to a follow-up phrase" in source.description
    return source, microphone


def _run_until(source: MicrophoneSource, done, timeout: float = 20.0, also=None) -> list:
    """Run the source in a thread until done(messages) or timeout; returns what it delivered
    (each message also goes to `also`, when given)."""
    messages: list = []

    def deliver(message: protocol.Message) -> None:
        messages.append(message)
        if also is not None:
            also(message)

    stopping = threading.Event()
    thread = threading.Thread(target=source.run, args=(deliver, stopping), daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not done(messages) and time.monotonic() < deadline:
        time.sleep(0.01)
    stopping.set()
    thread.join(timeout=5)
    assert not thread.is_alive(), "the source did not stop when asked"
    return messages


@contextlib.contextmanager
def _listening(source: MicrophoneSource) -> Iterator[list]:
    """The messages `source` delivers, running on a thread of its own, from its HELLO (its
    stream is open) until the end of the block."""
    messages: list = []
    stopping = threading.Event()
    thread = threading.Thread(target=source.run, args=(messages.append, stopping), daemon=True)
    thread.start()
    try:
        assert wait_until(lambda: messages)
        yield messages
    finally:
        stopping.set()
        thread.join(timeout=5)


def _settings(model: Path, **overrides) -> ListenerSettings:
    values = {"model": str(model), "retry_seconds": 0.05, "max_retry_seconds": 0.2}
    return ListenerSettings.from_values({**values, **overrides})


def _has_detection(messages) -> bool:
    return any(isinstance(m, protocol.Detection) for m in messages)


def test_speech_at_the_microphone_becomes_board_lines(tiny_model, spoken_on):
    microphone = RecordedMicrophone(spoken_on)
    source = MicrophoneSource(_settings(tiny_model), lambda device, block: microphone)
    messages = _run_until(source, _has_detection)
    assert isinstance(messages[0], protocol.Hello)
    assert messages[0].labels == ("on", "off", "up", "down", "go", "stop")
    assert [m.seq for m in messages] == list(range(len(messages)))
    detection = next(m for m in messages if isinstance(m, protocol.Detection))
    assert detection.label == "on"
    assert 2000 < detection.ms < 3500
    assert any(isinstance(m, protocol.Heartbeat) and m.ms == 1000 for m in messages)


def test_the_model_cards_thresholds_apply_unless_the_configuration_overrides_them(
    tmp_path, tiny_model, spoken_on, caplog
):
    """The recording's "on" reaches 0.5 early and 0.9 later: heard at once at the card's 0.5,
    later at the 0.9 of microphone.thresholds. The log says which thresholds are the
    configuration's; a command in neither gets 0.8."""
    model = tiny_kws_model.with_card_thresholds(tiny_model, tmp_path, {"on": 0.5, "stop": 0.6})
    model_id = hashlib.sha256(model.read_bytes()).hexdigest()[:8]
    heard = []
    with caplog.at_level(logging.INFO, logger="assistant.listener"):
        for overrides in ({}, {"on": 0.9}):
            source = MicrophoneSource(
                _settings(model, thresholds=overrides),
                lambda device, block: RecordedMicrophone(spoken_on),
            )
            messages = _run_until(source, _has_detection)
            heard += [m for m in messages if isinstance(m, protocol.Detection)]
    assert [m.label for m in heard] == ["on", "on"]
    assert 0.5 <= heard[0].score < 0.8 <= 0.9 <= heard[1].score
    assert heard[0].ms < heard[1].ms
    assert (
        f"microphone: model {model_id}, thresholds on:0.500, off:0.800, up:0.800, down:0.800, "
        "go:0.800, stop:0.600\n" in caplog.text
    )
    assert (
        f"microphone: model {model_id}, thresholds on:0.900 (config), off:0.800, up:0.800, "
        "down:0.800, go:0.800, stop:0.600\n" in caplog.text
    )


def test_a_model_named_from_the_configurations_folder_listens_from_any_folder(
    tmp_path, monkeypatch, spoken_on
):
    from assistant.model_files import DEFAULT_MODEL, model_card_path

    (tmp_path / "A" / "sub").mkdir(parents=True)
    shutil.copy(DEFAULT_MODEL, tmp_path / "A" / "sub" / "m.tflite")
    shutil.copy(model_card_path(DEFAULT_MODEL), tmp_path / "A" / "sub" / "m.json")
    (tmp_path / "A" / "config.yaml").write_text("microphone:\n  model: sub/m.tflite\n")
    (tmp_path / "B").mkdir()
    monkeypatch.chdir(tmp_path / "B")  # as a service runs in the home folder
    config = load_config(tmp_path / "A" / "config.yaml", INSTALLED)
    microphone = RecordedMicrophone(spoken_on)
    source = MicrophoneSource.from_config(config)
    source.open_stream = lambda device, block: microphone
    messages = _run_until(
        source, lambda got: any(isinstance(m, protocol.Heartbeat) and m.ms >= 3000 for m in got)
    )
    hello = messages[0]
    assert isinstance(hello, protocol.Hello)
    assert hello.model == hashlib.sha256(DEFAULT_MODEL.read_bytes()).hexdigest()[:8]
    heard = [m.ms for m in messages if isinstance(m, protocol.Heartbeat)]
    assert heard[-1] >= 3000  # the recording went through the model


def test_the_daemon_session_turns_the_detection_into_a_command(tiny_model, spoken_on):
    commands = []
    session = DeviceSession("microphone", "kitchen", commands.append)
    microphone = RecordedMicrophone(spoken_on)
    source = MicrophoneSource(_settings(tiny_model), lambda device, block: microphone)
    _run_until(source, lambda _: bool(commands), also=session.deliver)
    assert [c.command for c in commands] == ["on"]
    assert commands[0].site == "kitchen"
    assert session.stats.lost == 0


def test_an_overflowing_input_is_reported_and_listening_goes_on(tiny_model, spoken_on, caplog):
    microphone = RecordedMicrophone(spoken_on, overflow_on_reads=(3, 4))
    source = MicrophoneSource(_settings(tiny_model), lambda device, block: microphone)
    with caplog.at_level(logging.WARNING, logger="assistant.listener"):
        messages = _run_until(source, _has_detection)
    assert source.overflows == 2
    assert "overflowed (2 times so far)" in caplog.text
    assert _has_detection(messages)


@pytest.mark.parametrize(
    ("keeps", "said_in_the_stall"),
    [(None, "kept"), (2.0, "kept"), (0.3, "lost")],
    ids=["queue-keeps-all", "queue-keeps-2s-and-overflows", "device-overflows"],
)
def test_a_command_in_audio_handed_over_late_is_dropped_and_the_next_is_heard(
    tiny_model, spoken_on, caplog, keeps, said_in_the_stall
):
    """The assistant stops for 4 s (Ctrl-Z, a starved CPU) 1.5 s into the audio, just before
    "on" is said: the stream hands the audio recorded meanwhile over at once afterwards, "on"
    heard about 3 s after it was said, more than max_delay (1 s). It is dropped and counted,
    not run; the "on" said after the stall is heard. A stream that lost that audio instead (an
    overflow) does not make the audio after it seem late."""
    microphone = LiveMicrophone(np.concatenate([spoken_on, spoken_on]), {16: 4.0}, keeps)
    source = MicrophoneSource(_settings(tiny_model, max_delay=1.0), lambda dev, block: microphone)
    with caplog.at_level(logging.WARNING, logger="assistant.listener"):
        messages = _run_until(source, _has_detection, timeout=30)
    detections = [m for m in messages if isinstance(m, protocol.Detection)]
    assert [d.label for d in detections] == ["on"]
    said_again = (len(spoken_on) + 2 * SAMPLE_RATE - microphone.lost) * 1000 // SAMPLE_RATE
    assert said_again < detections[0].ms < said_again + 1500  # the second "on", not the first
    if said_in_the_stall == "kept":
        assert source.late == 1
        assert re.search(
            r"commands heard late 1 \(the last at \d\d:\d\d:\d\d\)", source.description
        )
        assert re.search(
            r"microphone: dropped 'on': heard in audio handed over [23]\.\d s after it was "
            r"recorded, longer than microphone\.max_delay",
            caplog.text,
        )
    else:
        assert microphone.lost > 3 * SAMPLE_RATE
        assert source.late == 0
        assert source.overflows >= 1
    assert [m.seq for m in messages] == list(range(len(messages)))  # no line lost to a drop


def test_a_microphone_that_fails_to_open_is_retried(tiny_model, spoken_on, caplog):
    attempts = []

    def flaky(device: str, block: int):
        attempts.append(device)
        if len(attempts) < 3:
            raise MicrophoneError(f"microphone {device!r} cannot record 16000 Hz mono")
        return RecordedMicrophone(spoken_on)

    source = MicrophoneSource(_settings(tiny_model, device="USB mic"), flaky)
    with caplog.at_level(logging.WARNING, logger="assistant.listener"):
        messages = _run_until(source, _has_detection)
    assert attempts == ["USB mic"] * 3
    assert source.failures == 2
    assert "cannot record 16000 Hz mono; trying again" in caplog.text
    assert isinstance(messages[0], protocol.Hello)


class UnpluggedMicrophone(RecordedMicrophone):
    """A recorded microphone unplugged after `reads` reads: the next one fails, as PortAudio's
    read of a device gone does."""

    def __init__(self, audio: np.ndarray, reads: int):
        super().__init__(audio)
        self.last = reads

    def read(self, frames: int):
        if self.reads == self.last:
            raise RuntimeError("Error reading stream [PaErrorCode -9999]")
        return super().read(frames)


def test_a_reopened_microphone_keeps_its_model_until_the_file_changes(tmp_path, tiny_model, caplog):
    """The model is loaded once however often the microphone is opened again (replugged),
    and again once its file has changed on disk (a new export over it), which then runs."""
    from assistant.model_files import DEFAULT_MODEL, model_card_path

    model = tmp_path / "kws.tflite"
    shutil.copy(tiny_model, model)
    shutil.copy(model_card_path(tiny_model), model_card_path(model))
    opened: list[str] = []

    def replugged(device: str, block: int) -> UnpluggedMicrophone:
        opened.append(device)
        if len(opened) == 2:  # exported over it while listening: runs from the next opening
            shutil.copy(DEFAULT_MODEL, model)
            shutil.copy(model_card_path(DEFAULT_MODEL), model_card_path(model))
        return UnpluggedMicrophone(np.zeros(SAMPLE_RATE, np.int16), reads=2)

    models: dict[int, object] = {}
    source = MicrophoneSource(
        _settings(model),
        replugged,
        monitor=lambda _, pipeline: models.setdefault(len(opened), pipeline.scores.model),
    )
    with caplog.at_level(logging.INFO, logger="assistant.listener"):
        hellos = [
            m.model
            for m in _run_until(source, lambda _: len(models) >= 4)
            if isinstance(m, protocol.Hello)
        ]
    tiny, new = (hashlib.sha256(f.read_bytes()).hexdigest()[:8] for f in (tiny_model, model))
    assert hellos[:4] == [tiny, tiny, new, new]
    logged = re.findall(r"microphone: model (\w+), thresholds on:(\S+)", caplog.text)
    assert logged[:2] == [(tiny, "0.800,"), (new, "0.840,")]  # once each, with its card's
    assert models[1] is models[2] and models[3] is models[4]
    assert models[2] is not models[3]


def test_without_a_sound_card_the_real_microphone_is_reported_and_retried(tiny_model, caplog):
    if microphone_problem() is None:
        pytest.skip("this machine has a microphone")
    source = MicrophoneSource(_settings(tiny_model))
    with caplog.at_level(logging.WARNING, logger="assistant.listener"):
        messages = _run_until(source, lambda _: source.failures >= 2, timeout=10)
    assert messages == []
    assert source.failures >= 2
    assert "the default microphone cannot be opened: PortAudio has no default input" in caplog.text
    assert "set microphone.device in config.yaml to one that `assistant devices` lists" in (
        caplog.text
    )


def test_an_unknown_device_name_is_reported_with_the_fix():
    with pytest.raises(MicrophoneError, match=r"not found.*assistant devices.*microphone\.device"):
        open_microphone("no such microphone", 1600)


def test_a_name_two_devices_hold_is_reported_with_their_numbers_and_the_fix(alsa_home):
    import sounddevice

    plug_in(alsa_home, np.zeros(SAMPLE_RATE, np.int16), ("deskmic_left", "deskmic_right"))
    with pytest.raises(MicrophoneError, match=r"microphone 'deskmic' is ambiguous") as raised:
        open_microphone("deskmic", 1600)
    for name in ("deskmic_left", "deskmic_right"):
        assert f"[{sounddevice.query_devices(name)['index']}] {name}, ALSA" in str(raised.value)
    assert "set microphone.device in config.yaml to the number of one, or to a longer" in str(
        raised.value
    )


def test_portaudio_is_not_restarted_while_a_stream_is_open(alsa_home):
    """A look for a microphone not plugged in restarts PortAudio, which would end the follow-up
    phrase's stream open meanwhile."""
    plug_in(alsa_home, np.zeros(SAMPLE_RATE, np.int16))
    assert microphone_problem(DEVICE) is None  # listed
    chunks = microphone_chunks(DEVICE, 0.5)
    assert next(chunks)  # the stream is open
    assert microphone_problem("no such microphone")
    assert list(chunks)  # and still reads
    assert refresh_devices()  # closed: PortAudio may look again


def test_log_lines_of_other_threads_wait_while_portaudio_restarts(capfd):
    """sounddevice points fd 2 at /dev/null while PortAudio starts."""
    logger = logging.getLogger("test.chatter")
    stopping = threading.Event()
    written: list[int] = []

    def chatter() -> None:
        while not stopping.is_set():
            logger.warning("line %d", len(written))
            written.append(len(written))

    with open(2, "w", buffering=1, closefd=False) as stderr:  # fd 2 itself
        handler = logging.StreamHandler(stderr)
        logging.getLogger().addHandler(handler)
        thread = threading.Thread(target=chatter)
        thread.start()
        try:
            for _ in range(20):
                assert refresh_devices()
        finally:
            stopping.set()
            thread.join()
            logging.getLogger().removeHandler(handler)
    lines = [line for line in capfd.readouterr().err.splitlines() if line.startswith("line ")]
    assert lines == [f"line {number}" for number in written]


def test_no_thread_looks_at_the_devices_while_portaudio_restarts(alsa_home, monkeypatch):
    """A restart frees PortAudio's device list: a look on another thread meanwhile (`auto`'s
    every 5 s, a follow-up phrase's) read freed memory, or was told PortAudio had not started."""
    import sounddevice

    plug_in(alsa_home, np.zeros(SAMPLE_RATE, np.int16))
    lock = AnnouncedLock("looking")
    monkeypatch.setattr("assistant.microphone._portaudio", lock)
    real_terminate, real_initialize = sounddevice._terminate, sounddevice._initialize
    real_query = sounddevice.query_devices
    down, stopped, go = threading.Event(), threading.Event(), threading.Event()
    looked_while_down: list[bool] = []

    def terminate() -> None:  # PortAudio stopped, held there until `go`
        real_terminate()
        down.set()
        stopped.set()
        go.wait(10)

    def initialize() -> None:
        real_initialize()
        down.clear()

    def query(*args, **kwargs):
        looked_while_down.append(down.is_set())
        return real_query(*args, **kwargs)

    monkeypatch.setattr(sounddevice, "_terminate", terminate)
    monkeypatch.setattr(sounddevice, "_initialize", initialize)
    monkeypatch.setattr(sounddevice, "query_devices", query)
    problems: list[str | None] = []
    restarting = threading.Thread(target=refresh_devices, name="restarting")
    looking = threading.Thread(
        target=lambda: problems.append(microphone_problem(DEVICE)), name="looking"
    )
    restarting.start()
    try:
        assert stopped.wait(10)
        looking.start()
        assert wait_until(lambda: lock.asked.is_set() or any(looked_while_down))
    finally:
        go.set()
        restarting.join(10)
    looking.join(10)
    assert looked_while_down and not any(looked_while_down)
    assert problems == [None]


def test_portaudio_that_could_not_restart_starts_at_the_next_look(alsa_home):
    """A broken ~/.asoundrc (being edited, say) stops PortAudio from starting again; once it is
    mended the microphone is found, without restarting the assistant."""
    (alsa_home / ".asoundrc").write_text("pcm.broken { type plug\n")
    problem = microphone_problem(DEVICE)
    assert problem and problem.startswith("PortAudio cannot start (Error initializing PortAudio")
    assert "check the ALSA configuration (~/.asoundrc, /etc/asound.conf)" in problem
    plug_in(alsa_home, np.zeros(SAMPLE_RATE, np.int16))
    assert microphone_problem(DEVICE) is None


def test_a_portaudio_that_cannot_start_at_all_is_reported_with_the_fix(tmp_path):
    """Importing sounddevice starts PortAudio: with a broken ~/.asoundrc `assistant run`
    (`source: auto`) died of its traceback."""
    (tmp_path / ".asoundrc").write_text("pcm.broken { type plug\n")
    looks = (
        "from assistant.microphone import load_before_threads, microphone_problem\n"
        "load_before_threads('auto')\n"
        "print(microphone_problem())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", looks], env=environment(tmp_path), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("PortAudio cannot start (Error initializing PortAudio")
    assert "check the ALSA configuration (~/.asoundrc" in done.stdout


def test_a_missing_model_is_reported_and_the_source_waits(tmp_path, caplog):
    source = MicrophoneSource(_settings(tmp_path / "missing.tflite"))
    with caplog.at_level(logging.ERROR, logger="assistant.listener"):
        messages = _run_until(source, lambda _: "cannot start" in caplog.text, timeout=5)
    assert messages == []
    assert f"{tmp_path / 'missing.tflite'}: no such model file" in caplog.text


def test_device_names_mean_the_same_to_every_microphone_user():
    assert device_argument("") is device_argument("default") is None
    assert device_argument("2") == 2
    assert device_argument("USB mic") == "USB mic"
    assert "not found" in microphone_problem("no such microphone")


def test_settings_come_from_the_microphone_section():
    settings = ListenerSettings.from_values({"device": "2", "thresholds": {"up": 0.9}})
    assert settings.device == "2"
    assert settings.thresholds == {"up": 0.9}
    assert settings.block_ms == 100
    with pytest.raises(ValueError, match="unknown setting 'rate'"):
        ListenerSettings.from_values({"rate": 44100})


def test_a_device_that_records_neither_16_khz_nor_its_own_rate_is_reported_with_the_fix(
    alsa_home, monkeypatch
):
    import sounddevice

    plug_in(alsa_home, np.zeros(SAMPLE_RATE, np.int16))

    def refuse(**settings):  # every rate refused, as PortAudio reports it
        raise sounddevice.PortAudioError("Error opening InputStream: Invalid sample rate [-9997]")

    monkeypatch.setattr(sounddevice, "check_input_settings", refuse)
    with pytest.raises(MicrophoneError, match=r"cannot record 16000 Hz mono.*microphone\.device"):
        open_microphone(DEVICE, 1600)


def test_a_microphone_plugged_in_after_the_start_is_found_and_heard(
    tmp_path, tiny_model, spoken_on
):
    """A USB microphone plugged in (or back in) while the source retries: PortAudio lists the
    devices of its start only, so the source must make it look again."""
    listening = Listening(tmp_path, tiny_model)
    try:
        assert wait_until(lambda: listening.saw(f"microphone '{DEVICE}' "), timeout=20), (
            listening.lines
        )
        plug_in(tmp_path, spoken_on)
        assert wait_until(lambda: listening.saw("DET "), timeout=30), listening.lines
    finally:
        listening.close()
    assert listening.saw("HELLO ")
    assert next(line for line in listening.lines if line.startswith("DET ")).startswith("DET seq=")
    assert " label=on " in next(line for line in listening.lines if line.startswith("DET "))


def _heard_saying_on(home: Path, model: Path, conversion: str) -> None:
    """The stand-in plugged in at `home`, which says "on" two seconds in, is one `source: auto`
    takes, and it is heard end to end through PortAudio, in a process of its own, converted
    as the log line `conversion` says."""
    usable = f"from assistant.microphone import microphone_problem as p; print(p({DEVICE!r}))"
    found = subprocess.run(
        [sys.executable, "-c", usable], env=environment(home), capture_output=True, text=True
    )
    assert found.stdout.strip() == "None", found  # `source: auto` takes it
    listening = Listening(home, model)
    try:
        assert wait_until(lambda: listening.saw("DET "), timeout=30), listening.lines
    finally:
        listening.close()
    assert listening.saw(f"microphone '{DEVICE}' records {conversion}"), listening.lines
    first = next(line for line in listening.lines if line.startswith("DET "))
    detection = protocol.parse_line(first)
    assert detection.label == "on"
    assert 2000 < detection.ms < 3500  # the word's time, as in the same speech at 16 kHz mono
    assert not listening.saw("microphone input overflowed")


def test_a_microphone_that_records_only_48_khz_is_resampled_and_heard(tmp_path, tiny_model):
    """A device opened directly that records 48 kHz only (as most USB microphones): it is
    opened at its own rate and heard resampled to 16 kHz."""
    plug_in(tmp_path, saying_on(48000), rate=48000)
    assert not records(tmp_path, SAMPLE_RATE), "the stand-in must refuse 16 kHz"
    assert records(tmp_path, 48000)
    _heard_saying_on(tmp_path, tiny_model, "48000 Hz, not 16000: resampling it to 16000 Hz")


def test_a_stereo_microphone_speaking_in_its_right_channel_is_mixed_to_mono_and_heard(
    tmp_path, tiny_model, spoken_on
):
    """A device opened directly that records a stereo pair only (as many built-in microphones,
    `hw:0,0`): PortAudio asked for mono keeps the left channel, which is silent here; both are
    read and mixed to mono."""
    plug_in(tmp_path, np.stack([np.zeros_like(spoken_on), spoken_on], axis=1))
    assert not records(tmp_path, SAMPLE_RATE), "the stand-in must refuse mono"
    assert records(tmp_path, SAMPLE_RATE, channels=2)
    _heard_saying_on(tmp_path, tiny_model, "2 channels, not 1: mixing them to mono (their mean)")


def test_without_soxr_a_device_to_resample_says_to_install_the_listen_extra(alsa_home, monkeypatch):
    """An install from before python-soxr was in the [listen] extra."""
    plug_in(alsa_home, np.zeros(48000, np.int16), rate=48000)
    monkeypatch.setitem(sys.modules, "soxr", None)  # `import soxr` fails, as when not installed
    monkeypatch.delitem(sys.modules, "assistant.resample", raising=False)
    fix = r"install the \[listen\] extra: pip install 'desk-kws-assistant\[listen\]'"
    said = rf"microphone '{DEVICE}' records 48000 Hz, not 16000, and resampling it needs "
    said += rf"python-soxr .*; {fix}"
    assert re.fullmatch(said, microphone_problem(DEVICE))  # `source: auto` says why, not takes it
    with pytest.raises(MicrophoneError, match=said):
        open_microphone(DEVICE, 1600)
    assert refresh_devices(), "no stream may be left open"


def test_a_lasting_overflow_is_counted_and_its_warnings_limited(tiny_model, spoken_on, caplog):
    microphone = RecordedMicrophone(spoken_on, overflow_on_reads=tuple(range(1, 41)))
    source = MicrophoneSource(_settings(tiny_model), lambda device, block: microphone)
    with caplog.at_level(logging.WARNING, logger="assistant.listener"):
        _run_until(source, lambda _: source.overflows >= 40)
    overflowed = [r for r in caplog.records if "overflowed" in r.getMessage()]
    assert len(overflowed) == WARNINGS_PER_MINUTE
    assert f"{40 - WARNINGS_PER_MINUTE} more microphone overflow warning(s)" in caplog.text
    assert "overflows 40" in source.description


def test_the_status_says_what_the_microphone_is_doing(tiny_model, spoken_on):
    def missing(device: str, block: int):
        raise MicrophoneError(f"microphone {device!r} not found")

    source = MicrophoneSource(_settings(tiny_model, device="USB mic"), missing)
    assert source.description == "device 'USB mic': starting; overflows 0, failures 0"
    _run_until(source, lambda _: source.failures >= 2)
    assert re.fullmatch(
        r"device 'USB mic': not listening: microphone 'USB mic' not found; trying again at "
        r"\d\d:\d\d:\d\d; overflows 0, failures \d+",
        source.description,
    )
    microphone = RecordedMicrophone(spoken_on, overflow_on_reads=(2,))
    source = MicrophoneSource(_settings(tiny_model), lambda device, block: microphone)
    _run_until(source, _has_detection)
    assert re.fullmatch(
        r"default device: listening since \d\d:\d\d:\d\d; overflows 1 \(the last at "
        r"\d\d:\d\d:\d\d\), failures 0",
        source.description,
    )
    with midnight_since(time.time()) as yesterday:  # asked for the next day: its date too
        assert re.fullmatch(
            rf"default device: listening since {yesterday} 23:\d\d:\d\d; overflows 1 \(the "
            rf"last at {yesterday} 23:\d\d:\d\d\), failures 0",
            source.description,
        )


def test_the_status_says_how_much_of_real_time_hearing_the_audio_takes(tiny_model, spoken_on):
    """How close the source is to falling behind on a slow machine (past 100%, audio is lost),
    once LOAD_SECONDS of audio have been heard."""
    microphone = RecordedMicrophone(spoken_on)
    source = MicrophoneSource(_settings(tiny_model), lambda device, block: microphone)
    _run_until(source, lambda _: source.processing is not None)
    assert microphone.reads >= LOAD_SECONDS * 10  # 100 ms reads
    assert re.fullmatch(
        r"default device: listening since \d\d:\d\d:\d\d; overflows 0, failures 0, "
        r"processing \d+% of real time",
        source.description,
    )


def test_audio_lent_to_a_follow_up_phrase_is_not_spotted(tiny_model, spoken_on):
    """A command word said while the source lends its audio reaches the borrower, not the
    spotter."""
    source, microphone = _answering(_settings(tiny_model), spoken_on)
    with _listening(source) as messages:
        lent = b"".join(source.borrow(len(spoken_on) / SAMPLE_RATE))
        lent_until = max(m.ms for m in messages if isinstance(m, protocol.Heartbeat))
        assert wait_until(
            lambda: any(
                isinstance(m, protocol.Heartbeat) and m.ms >= lent_until + 3000
                for m in list(messages)
            ),
            timeout=20,
        )
    # all the speech (the window may start a block before it: the block read as it was asked)
    assert np.array_equal(np.trim_zeros(np.frombuffer(lent, np.int16)), np.trim_zeros(spoken_on))
    assert not _has_detection(messages)
    assert microphone.opened == 1
    assert "lent" not in source.description


def test_a_borrower_slower_than_real_time_leaves_the_spotter_deaf_for_its_window_only(
    tiny_model, spoken_on
):
    """A follow-up phrase that takes its audio slower than it comes (Vosk on a slow machine)
    borrows its window, no more: a command said after the window is heard."""
    window = np.zeros(SAMPLE_RATE // 5, np.int16)
    source, _ = _answering(_settings(tiny_model), np.concatenate([window, spoken_on]))
    with _listening(source) as messages:
        lent = source.borrow(len(window) / SAMPLE_RATE)
        first = next(lent)  # and then it takes no more for a while
        assert wait_until(lambda: _has_detection(list(messages)), timeout=20)
        assert "lent" not in source.description
        taken = np.frombuffer(first + b"".join(lent), np.int16)  # its window waited for it
        assert len(window) <= len(taken) < len(window) + SAMPLE_RATE // 10


def test_lent_audio_ends_when_the_stream_closes(tiny_model, spoken_on):
    source, _ = _answering(_settings(tiny_model), spoken_on)
    stopping = threading.Event()
    thread = threading.Thread(target=source.run, args=(lambda m: None, stopping), daemon=True)
    thread.start()
    assert wait_until(lambda: "listening since" in source.description)
    lent = source.borrow(3600.0)
    next(lent)
    rest = threading.Thread(target=lambda: list(lent), daemon=True)
    rest.start()
    stopping.set()
    rest.join(timeout=10)
    assert not rest.is_alive(), "the borrower still waits for audio from a closed stream"
    thread.join(timeout=5)


def test_a_source_not_listening_lends_nothing(tiny_model):
    def missing(device: str, block: int):
        raise MicrophoneError(f"microphone {device!r} not found")

    source = MicrophoneSource(_settings(tiny_model), missing)
    with pytest.raises(MicrophoneError, match="microphone source is not listening now"):
        source.borrow(1.0)


def test_the_follow_up_phrase_hears_the_running_microphone_source(
    tmp_path, tiny_model, korean_model_path
):
    """With the microphone as the source, the phrase takes its audio from the source's one
    stream: a device that can be opened only once is not opened a second time."""
    from test_phrase import KOREAN_GRAMMAR, microphone_speech

    answer = np.frombuffer(microphone_speech("감사합니다", tmp_path), np.int16)
    path = tmp_path / "config.yaml"
    path.write_text(
        f"source: microphone\nmicrophone: {{model: {tiny_model}}}\n"
        f"phrase: {{model: {korean_model_path}, device: no such microphone}}\n"
    )
    assistant = Assistant(load_config(path, INSTALLED), INSTALLED, tmp_path, print)
    source, microphone = _answering(_settings(tiny_model), answer)
    running = assistant.add_source(source, "microphone")
    try:
        assert running.session.greeted.wait(5)
        heard = assistant.host.listen_for_phrase(KOREAN_GRAMMAR, 4.0, lambda: False)
        assert "lent" not in source.description  # the phrase heard, the spotter hears again
    finally:
        assistant.stop()
    assert heard == "감사합니다"
    assert microphone.opened == 1
