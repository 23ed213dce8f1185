"""The desktop microphone through sounddevice: loading it, naming a device, opening it."""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import TypeVar

SAMPLE_RATE = 16000

T = TypeVar("T")

log = logging.getLogger("assistant.microphone")

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
    mono 16-bit, at 16 kHz or at its own rate."""
    try:
        sd = load_sounddevice()
        _with_fresh_devices(lambda: _input_rate(sd, device_argument(device)))
    except Exception:  # any PortAudio failure means no usable microphone
        return False
    return True


def _check(sd, chosen: int | str | None, rate: int) -> None:
    sd.check_input_settings(device=chosen, channels=1, dtype="int16", samplerate=rate)


def _input_rate(sd, chosen: int | str | None) -> int:
    """The rate to record `chosen` at: 16 kHz when it can, else its own default rate (many
    devices opened directly record only 44.1 or 48 kHz), which is then resampled. The error
    of 16 kHz when it records neither."""
    try:
        _check(sd, chosen, SAMPLE_RATE)
        return SAMPLE_RATE
    except sd.PortAudioError as refused:
        try:
            rate = round(sd.query_devices(chosen, kind="input")["default_samplerate"])
            if rate != SAMPLE_RATE:
                _check(sd, chosen, rate)
                return rate
        except sd.PortAudioError:
            pass
        raise refused


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


def open_microphone(device: str, block: int, setting: str = "microphone.device"):
    """A started-on-enter sounddevice InputStream read as 16 kHz mono int16 in `block`-frame
    reads: the device records 16 kHz itself, or its own rate resampled (logged once, at info);
    MicrophoneError with the reason and the fix (`setting` names the device) when it cannot be
    opened."""
    sd = load_sounddevice()
    chosen = device_argument(device)
    name = "the default microphone" if chosen is None else f"microphone {device!r}"

    def attempt():
        rate = _input_rate(sd, chosen)
        frames = math.ceil(block * rate / SAMPLE_RATE)
        stream = open_stream(
            lambda: sd.InputStream(
                samplerate=rate, channels=1, dtype="int16", blocksize=frames, device=chosen
            )
        )
        return stream, rate

    try:
        stream, rate = _with_fresh_devices(attempt)
    except ValueError as error:
        matches = _ambiguous_matches(error)
        if matches:
            raise MicrophoneError(
                f"{name} is ambiguous: it matches {len(matches)} devices ({'; '.join(matches)}); "
                f"set {setting} in config.yaml to the number of one, or to a longer part of its "
                "name"
            ) from error
        raise MicrophoneError(
            f"{name} not found ({error}); list the devices with `python -m sounddevice` and set "
            f"{setting} in config.yaml"
        ) from error
    except sd.PortAudioError as error:
        text = str(error)
        if "sample rate" in text.lower():
            raise MicrophoneError(
                f"{name} cannot record {SAMPLE_RATE} Hz mono, nor at its own rate ({text}); "
                f"choose another device with {setting} in config.yaml"
            ) from error
        raise MicrophoneError(
            f"{name} cannot be opened ({text}); plug one in, or check `python -m sounddevice`"
        ) from error
    if rate == SAMPLE_RATE:
        return stream
    from assistant.resample import ResampledInput  # python-soxr, of the [listen] extra

    log.info(
        "%s records %d Hz, not %d: resampling it to %d Hz", name, rate, SAMPLE_RATE, SAMPLE_RATE
    )
    return ResampledInput(stream, rate)


def _ambiguous_matches(error: ValueError) -> list[str]:
    """The devices a name matched when sounddevice refused it for matching several ("[3] USB
    mic, ALSA", its number first); empty for any other error."""
    lines = str(error).splitlines()
    return lines[1:] if lines and lines[0].startswith("Multiple ") else []
