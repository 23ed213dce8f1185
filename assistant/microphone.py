"""The desktop microphone through sounddevice: loading it, naming a device, opening it."""

from __future__ import annotations

import contextlib
import logging
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import TypeVar

SAMPLE_RATE = 16000

T = TypeVar("T")

_portaudio = threading.Lock()
"""Held while PortAudio restarts and while a stream opens, so that neither happens during the
other."""
_streams: weakref.WeakSet = weakref.WeakSet()
"""The streams `open_stream` opened: PortAudio is not restarted while one of them is open."""


class MicrophoneError(RuntimeError):
    """The microphone cannot be used now; the message says why and what to do."""


def load_sounddevice():
    """The sounddevice module; MicrophoneError saying what to install when it cannot load."""
    try:
        import sounddevice
    except (ImportError, OSError) as error:
        raise MicrophoneError(
            f"sounddevice cannot load ({error}); install the [listen] extra and PortAudio "
            "(apt-get install libportaudio2)"
        ) from error
    return sounddevice


def load_before_threads(source: str) -> None:
    """Load sounddevice now when `source` may use the microphone. Loading it starts PortAudio
    with fd 2 pointed at /dev/null for a moment: a line another thread logs then is lost, so
    `assistant run` calls this before the skills start."""
    if source in ("auto", "microphone"):
        with contextlib.suppress(MicrophoneError):  # the source says why when it opens
            load_sounddevice()


def device_argument(device: str) -> int | str | None:
    """A configured device as sounddevice takes it: "" or "default" is the system's default
    input, a number is a device index, anything else a name (or part of one)."""
    if device in ("", "default"):
        return None
    return int(device) if device.isdigit() else device


def open_stream(create: Callable[[], T]) -> T:
    """The sounddevice stream `create()` opens, kept from a PortAudio restart until it closes."""
    with _portaudio:
        stream = create()
        _streams.add(stream)
    return stream


def refresh_devices() -> bool:
    """Make PortAudio list the devices plugged in now; False (nothing done) while a stream from
    `open_stream` is open. PortAudio enumerates the devices once, when it starts, so a microphone
    plugged in (or back in) after that is found only once it starts again, which would stop
    every open stream."""
    sd = load_sounddevice()
    with _portaudio:
        if any(not stream.closed for stream in _streams):
            return False
        with _log_lines_held():
            sd._terminate()
            sd._initialize()
    return True


@contextlib.contextmanager
def _log_lines_held() -> Iterator[None]:
    """Other threads' log lines wait meanwhile: sounddevice points fd 2 at /dev/null while
    PortAudio starts, and a line written then would be lost."""
    handlers = list(logging.getLogger().handlers)
    for handler in handlers:
        handler.acquire()
    try:
        yield
    finally:
        for handler in handlers:
            handler.release()


def microphone_available(device: str = "default") -> bool:
    """True if sounddevice finds `device` (among the devices plugged in now) and it can record
    16 kHz mono 16-bit."""
    try:
        sd = load_sounddevice()
        _with_fresh_devices(lambda: _check(sd, device_argument(device)))
    except Exception:  # any PortAudio failure means no usable microphone
        return False
    return True


def _check(sd, chosen: int | str | None) -> None:
    sd.check_input_settings(device=chosen, channels=1, dtype="int16", samplerate=SAMPLE_RATE)


def _with_fresh_devices(attempt: Callable[[], T]) -> T:
    """`attempt()`, and once more with PortAudio's device list refreshed if it fails (the device
    may have been plugged in, or unplugged and back in, since PortAudio started), unless a
    stream is open."""
    try:
        return attempt()
    except Exception:  # PortAudio's errors, or ValueError for a device it does not list
        if not refresh_devices():
            raise
    return attempt()


def open_microphone(device: str, block: int):
    """A started-on-enter sounddevice InputStream at 16 kHz mono int16; MicrophoneError with the
    reason and the fix when it cannot be opened."""
    sd = load_sounddevice()
    chosen = device_argument(device)
    name = "the default microphone" if chosen is None else f"microphone {device!r}"

    def attempt():
        _check(sd, chosen)
        return open_stream(
            lambda: sd.InputStream(
                samplerate=SAMPLE_RATE, channels=1, dtype="int16", blocksize=block, device=chosen
            )
        )

    try:
        return _with_fresh_devices(attempt)
    except ValueError as error:
        matches = _ambiguous_matches(error)
        if matches:
            raise MicrophoneError(
                f"{name} is ambiguous: it matches {len(matches)} devices ({'; '.join(matches)}); "
                "set microphone.device in config.yaml to the number of one, or to a longer part "
                "of its name"
            ) from error
        raise MicrophoneError(
            f"{name} not found ({error}); list the devices with `python -m sounddevice` and set "
            "microphone.device in config.yaml"
        ) from error
    except sd.PortAudioError as error:
        text = str(error)
        if "sample rate" in text.lower():
            raise MicrophoneError(
                f"{name} cannot record {SAMPLE_RATE} Hz mono ({text}); choose another device "
                "with microphone.device in config.yaml"
            ) from error
        raise MicrophoneError(
            f"{name} cannot be opened ({text}); plug one in, or check `python -m sounddevice`"
        ) from error


def _ambiguous_matches(error: ValueError) -> list[str]:
    """The devices a name matched when sounddevice refused it for matching several ("[3] USB
    mic, ALSA", its number first); empty for any other error."""
    lines = str(error).splitlines()
    return lines[1:] if lines and lines[0].startswith("Multiple ") else []
