"""The desktop microphone as an event source: the board's keyword spotting on this computer.

`MicrophoneSource` reads 16 kHz mono int16 audio with sounddevice (a device that records only
its own rate is resampled: assistant/resample.py), runs it through the board's pipeline
(assistant/pipeline.py) and delivers the lines a board would send: HELLO, then DET and HB with
growing sequence numbers. A missing microphone, a device that cannot be opened or an
overflowing input is reported clearly (overflows at a limited rate) and the source keeps trying
(with backoff); the daemon keeps running. A command heard in audio handed over longer than
`max_delay` after it was recorded (the assistant was stopped, or short of CPU, and the sound
system kept the audio) is dropped and counted (assistant/lateness.py AudioLateness). With
`keep_clips`, a clip of each command heard is kept in the data directory (assistant/clips.py),
and with `keep_near_misses` a clip of each near miss (assistant/near_misses.py).
`description` says what it does now. `borrow` lends the next seconds of its audio to a follow-up
phrase, so one stream serves both (assistant/audio_loans.py).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from assistant import protocol
from assistant.audio_loans import AudioLoans
from assistant.clips import CLIPS_FOLDER, ClipKeeper
from assistant.clocks import local_time
from assistant.features import STRIDE_MS
from assistant.lateness import AudioLateness
from assistant.microphone import SAMPLE_RATE, MicrophoneError, open_microphone
from assistant.microphone_settings import ListenerSettings, thresholds_text
from assistant.model_files import ModelFile
from assistant.model_runner import ModelError
from assistant.pipeline import BoardOutput, KeywordPipeline
from assistant.ratelimit import WarningLimiter
from assistant.recognizer import Recognition

if TYPE_CHECKING:
    from assistant.config import Config

log = logging.getLogger("assistant.listener")

LOAD_SECONDS = 10
"""The audio over which `assistant status` measures how long hearing it takes."""

LATE_WARNING = (
    "microphone: dropped %s: heard in audio handed over %.1f s after it was recorded, longer "
    "than microphone.max_delay (the assistant was stopped, as by Ctrl-Z, or short of CPU, and "
    "the sound system kept the audio meanwhile)"
)


class MicrophoneSource:
    """An EventSource: the desktop microphone heard through the board's pipeline."""

    def __init__(
        self,
        settings: ListenerSettings | None = None,
        open_stream: Callable[[str, int], Any] = open_microphone,
        monitor: Callable[[np.ndarray, KeywordPipeline], None] | None = None,
        data_dir: Path | None = None,
    ):
        """`open_stream(device, block)` returns a context manager with sounddevice's
        `read(frames) -> (data, overflowed)`; the default opens the real microphone.
        `monitor(samples, pipeline)`, when given, is called with each block read (16 kHz mono
        int16) once the pipeline has heard it and its lines are delivered. `data_dir`: where
        `keep_clips` keeps its clips (in its `clips` folder); None keeps none."""
        self.settings = settings or ListenerSettings.from_values({})
        self.open_stream = open_stream
        self.monitor = monitor
        s = self.settings
        self.clips = (
            ClipKeeper(
                data_dir / CLIPS_FOLDER,
                s.keep_clips,
                s.average_window_ms + s.block_ms + s.inference_every * STRIDE_MS,
                near_misses=bool(s.keep_near_misses),
            )
            if data_dir is not None and s.keep_clips
            else None
        )
        """Keeps a clip of each command heard (`keep_clips`) and near miss
        (`keep_near_misses`), None when off. Its audio reaches back far enough for a near
        miss, reported up to a window and an inference after the inference that scored it
        best."""
        self.overflows = 0
        self.last_overflow: float | None = None
        """When the input last overflowed (time.time()), None before the first time."""
        self.failures = 0
        self.late = 0
        """Commands dropped for being heard in audio handed over later than max_delay."""
        self.last_late: float | None = None
        """When the last of them was dropped (time.time()), None before the first."""
        self.processing: float | None = None
        """How long hearing the audio took, as a share of the audio's length, over the last
        LOAD_SECONDS of audio the stream gave (None before): past 1, audio is lost."""
        self.state: tuple[str, float | None] = ("starting", None)
        """What the source does now, for `assistant status`, and the moment (time.time()) its
        words end with, shown when the status is asked for."""
        self.warnings = WarningLimiter()
        self._model = ModelFile(self.settings.model_path)
        """The model, kept loaded from one opening of the microphone to the next."""
        self.loans = AudioLoans()
        """The audio lent to follow-up phrases."""
        self._announced = ""
        """The model and thresholds logged last (`_announce`)."""

    @property
    def description(self) -> str:
        """The device, what the source does now, and its counters (`assistant status`)."""
        device = self.settings.device
        name = "default device" if device in ("", "default") else f"device {device!r}"
        lent = "; its audio lent to a follow-up phrase" if self.loans.lending else ""
        doing, at = self.state
        state = doing if at is None else f"{doing} {local_time(at)}"
        overflows = str(self.overflows)
        if self.last_overflow is not None:
            overflows += f" (the last at {local_time(self.last_overflow)})"
        late = ""
        if self.last_late is not None:
            late = f", commands heard late {self.late} (the last at {local_time(self.last_late)})"
        processing = self.processing
        load = "" if processing is None else f", processing {processing:.0%} of real time"
        clips = "" if self.clips is None else f", {self.clips.description}"
        return (
            f"{name}: {state}{lent}; overflows {overflows}{late}, failures {self.failures}"
            f"{load}{clips}"
        )

    @property
    def hearing_problem(self) -> str | None:
        """Why the microphone cannot hear its user now, as said to them (None: it can)."""
        return None if self.loans.reading else "the microphone is not working"

    def borrow(self, seconds: float) -> Iterator[bytes]:
        """The next `seconds` of the audio read, for a follow-up phrase (`AudioLoans.borrow`)."""
        return self.loans.borrow(seconds)

    @classmethod
    def from_config(cls, config: Config, data_dir: Path | None = None) -> MicrophoneSource:
        """The source of the `microphone:` section, keeping clips in `data_dir` (None: none)."""
        settings = ListenerSettings.from_values(config.sections.get("microphone", {}))
        return cls(settings, data_dir=data_dir)

    def _pipeline(self) -> KeywordPipeline:
        """A fresh pipeline, as a board that has just started, with the model loaded before
        unless its files have changed since."""
        s = self.settings
        bar = s.keep_near_misses if self.clips is not None else 0.0
        return KeywordPipeline(self._model, s.recognizer_settings(), s.inference_every, bar)

    def run(self, deliver: Callable[[protocol.Message], None], stopping: threading.Event) -> None:
        try:
            self._run(deliver, stopping)
        finally:
            if self.clips is not None:
                self.clips.close()

    def _run(self, deliver: Callable[[protocol.Message], None], stopping: threading.Event) -> None:
        delay = self.settings.retry_seconds
        while not stopping.is_set():
            try:
                pipeline = self._pipeline()
            except (ModelError, ValueError) as error:
                log.error("desktop listening cannot start: %s", error)
                self.state = (f"not listening: {error}", None)
                stopping.wait()
                return
            self._announce(pipeline)
            if self.clips is not None:
                self.clips.commands = pipeline.commands
            try:
                with self.open_stream(self.settings.device, self._block) as stream:
                    delay = self.settings.retry_seconds
                    self.loans.stream_open(True)
                    self._listen(stream, pipeline, deliver, stopping)
            except Exception as error:  # MicrophoneError, or a PortAudio failure while reading
                self.failures += 1
                reason = (
                    str(error)
                    if isinstance(error, MicrophoneError)
                    else f"the microphone stopped ({type(error).__name__}: {error})"
                )
                self.state = (f"not listening: {reason}; trying again at", time.time() + delay)
                log.warning("%s; trying again in %.0f s", reason, delay)
            finally:
                self.loans.stream_open(False)
                self.warnings.flush(everything=True)
            if stopping.wait(delay):
                break
            delay = min(delay * 2, self.settings.max_retry_seconds)

    def _announce(self, pipeline: KeywordPipeline) -> None:
        """Log the model and each command's threshold, saying which are microphone.thresholds'
        (the others its card's, else the default), unless they are those logged before."""
        thresholds = thresholds_text(pipeline.recognizer.thresholds, self.settings.thresholds)
        said = f"model {pipeline.model_id}, thresholds {thresholds}"
        if said != self._announced:
            log.info("microphone: %s", said)
            self._announced = said

    @property
    def _block(self) -> int:
        return max(1, SAMPLE_RATE * self.settings.block_ms // 1000)

    def _listen(
        self,
        stream: Any,
        pipeline: KeywordPipeline,
        deliver: Callable[[protocol.Message], None],
        stopping: threading.Event,
    ) -> None:
        """Hear the opened stream until stopping, starting with a HELLO as a board that has just
        started (a fresh pipeline: its clock starts at 0)."""
        output = BoardOutput(pipeline.model_id, pipeline.commands, self.settings.heartbeat_ms)
        deliver(output.hello())
        self.state = ("listening since", time.time())
        self.processing = None
        lateness = AudioLateness()
        if self.clips is not None:
            self.clips.listening()
        heard_samples = 0
        load = _Load()
        while not stopping.is_set():
            asked = time.monotonic()
            waits = _must_wait(stream, self._block)
            data, overflowed = stream.read(self._block)
            received = time.monotonic()
            self.warnings.flush()
            if overflowed:
                self._count_overflow()
            samples = np.asarray(data, dtype=np.int16).reshape(-1)
            heard_samples += len(samples)
            audio_ms = heard_samples * 1000 // SAMPLE_RATE
            late = lateness.block(audio_ms, received, received - asked if waits else None)
            heard = self._hear(pipeline, self.loans.spotted(samples))
            if heard and late > self.settings.max_delay:
                self._count_late(heard, late)
                heard = []
            for message in output.advance(audio_ms, heard):
                deliver(message)
            if self.monitor:
                self.monitor(samples, pipeline)
            measured = load.measure(time.monotonic() - received, len(samples))
            if measured is not None:
                self.processing = measured

    def _hear(self, pipeline: KeywordPipeline, samples: np.ndarray) -> list[Recognition]:
        """The commands the pipeline hears in `samples`, with a clip of each kept (`clips`), and
        of each near miss."""
        if self.clips is None:
            return pipeline.feed(samples)
        self.clips.hear(samples)
        heard = pipeline.hear(samples)
        for recognition, peak_ms in heard.commands:
            self.clips.heard(recognition.label, peak_ms)
        for miss in heard.near_misses:
            self.clips.heard(miss.label, miss.peak_ms, miss)
        return [recognition for recognition, _ in heard.commands]

    def _count_overflow(self) -> None:
        """Count and warn about an overflow of the input: audio was lost."""
        self.overflows += 1
        self.last_overflow = time.time()
        self.warnings.warning(
            log,
            "microphone overflow",
            "microphone input overflowed (%d times so far): audio was lost because "
            "this computer fell behind",
            self.overflows,
        )

    def _count_late(self, heard: list[Recognition], late: float) -> None:
        """Count and warn about the commands `heard` in audio handed over `late` seconds after
        it was recorded, more than max_delay, which are dropped. The audio still went
        through the spotter, as any audio does (its state goes on, as after an overflow), so
        the suppression time after a word dropped is kept as after any other."""
        self.late += len(heard)
        self.last_late = time.time()
        labels = ", ".join(repr(recognition.label) for recognition in heard)
        self.warnings.warning(log, "late audio", LATE_WARNING, labels, late)


class _Load:
    """How long hearing the audio takes, as a share of the audio's length, measured anew over
    each LOAD_SECONDS of audio."""

    def __init__(self) -> None:
        self.busy = 0.0
        """Seconds spent hearing the audio counted so far."""
        self.samples = 0
        """The samples counted so far."""

    def measure(self, busy: float, samples: int) -> float | None:
        """Count `busy` seconds spent hearing `samples`; the share once LOAD_SECONDS of audio
        is counted (and counting starts again), else None."""
        self.busy += busy
        self.samples += samples
        if self.samples < LOAD_SECONDS * SAMPLE_RATE:
            return None
        share = self.busy * SAMPLE_RATE / self.samples
        self.busy, self.samples = 0.0, 0
        return share


def _must_wait(stream: Any, frames: int) -> bool:
    """Whether reading `frames` from `stream` must wait for audio not recorded yet: it has fewer
    (sounddevice's `read_available`); False when it cannot tell."""
    try:
        return stream.read_available < frames
    except Exception:  # no read_available, or PortAudio cannot tell (sounddevice.PortAudioError)
        return False
