"""pyttsx3, the engine replies are said with: made with the `speech:` section's driver, voice,
rate and volume, and, with espeak-ng, waited for until espeak-ng's own thread has taken what it
was handed (`settle`), so that no setting is dropped and no utterance cut short."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from assistant.espeak import SpeechError, check_espeak_voice, uses_espeak
from assistant.wav_player import missing_player

ESPEAK_POLL_SECONDS = 0.01
"""How often `settle` looks whether espeak-ng's thread is done (`espeak_busy`)."""


class Engine(Protocol):
    """The part of a pyttsx3 engine the speaker uses."""

    def say(self, text: str) -> None: ...
    def runAndWait(self) -> None: ...
    def isBusy(self) -> bool: ...
    def setProperty(self, name: str, value: Any) -> None: ...
    def connect(self, topic: str, cb: Callable[..., None]) -> Any: ...


def pyttsx3_engine(settings: Mapping[str, Any]) -> Engine:
    """A configured pyttsx3 engine; call it only from the speaking thread. Its voice, rate and
    volume have been taken by the driver when it returns, not queued until the first reply:
    there espeak-ng could drop them (`espeak_busy`), and every reply be said at its defaults."""
    import pyttsx3  # imported here: loading the driver is slow and needs the speech library

    driver = None if settings["engine"] == "auto" else settings["engine"]
    if settings["voice"] and uses_espeak(settings):
        check_espeak_voice(settings["voice"])
    engine = pyttsx3.init(driver)
    if engine.isBusy():  # a new engine queues properties until its first run: run it empty
        settle(settings)  # (its driver has just handed espeak-ng its defaults)
        engine.runAndWait()
    if settings["voice"]:
        try:
            engine.setProperty("voice", settings["voice"])
        except ValueError as error:
            raise SpeechError(f"speech.voice: {settings['voice']!r}: {error}") from None
    engine.setProperty("rate", settings["rate"])
    engine.setProperty("volume", settings["volume"])
    settle(settings)
    return engine


def espeak_busy() -> bool:
    """Whether espeak-ng's own thread is still at work: taking a setting (pyttsx3 hands rate and
    volume over as commands that thread carries out later) or ending an utterance. pyttsx3
    cancels that work when an utterance starts meanwhile, and espeak-ng's cancel drops the
    settings not yet taken (it goes back to those it took last) and cuts the utterance short."""
    from pyttsx3.drivers import _espeak  # loaded by the espeak driver already

    return bool(_espeak.IsPlaying())


def settle(settings: Mapping[str, Any]) -> None:
    """Return once espeak-ng's thread is done (`espeak_busy`), or after `timeout` (a hung
    output); at once with another engine."""
    if not uses_espeak(settings):
        return
    deadline = time.monotonic() + settings["timeout"]
    while espeak_busy() and time.monotonic() < deadline:
        time.sleep(ESPEAK_POLL_SECONDS)


def missing_audio_output(settings: Mapping[str, Any]) -> str | None:
    """Why spoken replies cannot be heard on this machine, or None. pyttsx3's espeak driver
    plays through `aplay`, whose errors go straight to our stderr: the output is tried here
    once (errors captured), so that a machine without one logs one warning, not one per reply."""
    return missing_player() if uses_espeak(settings) else None
