"""`assistant devices --listen`: the configured microphone heard through the daemon's own
microphone source and pipeline (assistant/listener.py) for a while, showing its input level,
whether it clips or is quiet, the command the recognizer scores highest, and each command heard
as the daemon logs it (through its own session and dispatcher's choice, running nothing)."""

from __future__ import annotations

import logging
import sys
import threading
from typing import TYPE_CHECKING, TextIO

import numpy as np

from assistant import control, logformat, service
from assistant.instance import InstanceLock
from assistant.levels import Level
from assistant.listener import MicrophoneSource
from assistant.microphone import SAMPLE_RATE, MicrophoneError, load_sounddevice
from assistant.paths import data_root

if TYPE_CHECKING:
    from assistant.config import Config
    from assistant.pipeline import KeywordPipeline

WINDOW = SAMPLE_RATE // 10
"""The audio a level is measured over: the last 100 ms."""
REFUSED = (
    "the microphone is not checked while the assistant runs: it may be listening to it, and a "
    "device opened directly serves one program at a time"
)


class Screen:
    """Standard output: one status line refreshed in place on a terminal (a line each time
    elsewhere), with the lines written to it (the log's) printed above it."""

    def __init__(self, stream: TextIO):
        self.stream = stream
        self.terminal = stream.isatty()
        self._status = ""
        self._lock = threading.Lock()

    def status(self, text: str) -> None:
        with self._lock:
            self._status = text
            self.stream.write(f"\r{text}\x1b[K" if self.terminal else f"{text}\n")
            self.stream.flush()

    def write(self, text: str) -> int:
        """A line of the log, kept above the status line."""
        with self._lock:
            if self.terminal:
                self.stream.write(f"\r\x1b[K{text}{self._status}")
            else:
                self.stream.write(text)
            self.stream.flush()
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return self.terminal

    def end(self) -> None:
        """Leave the status line as it is, the cursor on the next line."""
        if self.terminal and self._status:
            self.stream.write("\n")
            self.stream.flush()


class Meter:
    """The source's monitor: after each block, the level of the last 100 ms and the command
    scored highest (its averaged score, as the recognizer compares it with its threshold)."""

    def __init__(self, screen: Screen):
        self.screen = screen
        self._recent = np.zeros(0, np.int16)

    def __call__(self, samples: np.ndarray, pipeline: KeywordPipeline) -> None:
        self._recent = np.concatenate([self._recent, samples])[-WINDOW:]
        scores = pipeline.recognizer.averages()
        best = "best command: none scored yet"
        if scores:
            label = max(scores, key=scores.__getitem__)
            needed = pipeline.recognizer.thresholds[label]
            best = f"best command: {label} {scores[label]:.2f} (needs {needed:.2f})"
        self.screen.status(f"{Level.of(self._recent)} | {best}")


def check_microphone(config: Config, seconds: float | None, stream: TextIO = sys.stdout) -> int:
    """Listen to the configured microphone for `seconds` (None: until Ctrl-C); refused (exit
    status 3, as `run`) while an assistant runs on this data directory, and none starts
    meanwhile. Exit status 1 when the microphone could not be opened at all."""
    from assistant.dispatcher import Chooser
    from assistant.focus import Focus
    from assistant.sources import DeviceSession

    try:
        load_sounddevice()
    except MicrophoneError as error:
        print(error, file=sys.stderr)
        return 1
    try:
        lock = InstanceLock(data_root(), control.socket_path())
    except control.AlreadyRunning as error:
        print(f"{REFUSED}; {error}", file=sys.stderr)
        return service.ALREADY_RUNNING_STATUS
    screen = Screen(stream)
    logformat.setup("INFO", screen)
    chooser = Chooser(config, Focus(config.focus_seconds))
    session = DeviceSession("microphone", config.site, chooser.choose)
    source = MicrophoneSource.from_config(config)
    source.monitor = Meter(screen)
    stopping = threading.Event()
    listening = threading.Thread(target=source.run, args=(session.deliver, stopping), daemon=True)
    device = source.settings.device or "default"
    span = f"for {seconds:g} s" if seconds else "until Ctrl-C"
    logging.getLogger("assistant").info("checking microphone.device %r %s", device, span)
    listening.start()
    try:
        stopping.wait(seconds)
    except KeyboardInterrupt:
        pass
    finally:
        stopping.set()
        listening.join()
        screen.end()
        lock.release()
    return 0 if session.hello else 1
