"""The desktop microphone through sounddevice: loading it, naming a device, opening it."""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from assistant import INSTALL_LISTEN
from assistant.device_input import DeviceInput

if TYPE_CHECKING:
    from assistant.resample import Resampler

SAMPLE_RATE = 16000

T = TypeVar("T")

CONFIGURED = "microphone.device in config.yaml"
"""Where the microphone is chosen (the functions' `setting`), as their errors' fixes name it:
a configuration key, or a command-line option."""
NO_DEFAULT_INPUT = "Error querying device -1"
"""How sounddevice's error begins when PortAudio has no default input device (paNoDevice)."""

log = logging.getLogger("assistant.microphone")

_portaudio = threading.RLock()
"""Held while PortAudio restarts, while a device is looked at and while a stream opens, so that
none of them happens during another: PortAudio is not thread-safe, and a restart frees the
device list a look on another thread would read. Nothing logs while holding it and no log
handler takes it, as `refresh_devices` takes the root handlers' locks under it."""
_streams: weakref.WeakSet = weakref.WeakSet()
"""The streams `open_stream` opened: PortAudio is not restarted while one of them is open."""


class MicrophoneError(RuntimeError):
    """The microphone cannot be used now; the message says why and what to do."""


def load_sounddevice():
    """The sounddevice module; MicrophoneError saying what to install when it cannot load, or
    what to check when PortAudio, which importing it starts, cannot start."""
    try:
        import sounddevice
    except (ImportError, OSError) as error:
        raise MicrophoneError(
            f"sounddevice cannot load ({error}); install the [listen] extra ({INSTALL_LISTEN}) "
            "and PortAudio (apt-get install libportaudio2)"
        ) from error
    except Exception as error:  # sounddevice.PortAudioError: importing it starts PortAudio
        raise _not_started(error) from error
    return sounddevice


def _not_started(error: Exception) -> MicrophoneError:
    """PortAudio's failure to start as the reason and the fix."""
    return MicrophoneError(
        f"PortAudio cannot start ({error}); check the ALSA configuration (~/.asoundrc, "
        "/etc/asound.conf) and `python -m sounddevice`"
    )


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
    every open stream. MicrophoneError with the fix when it cannot start; the next call starts
    it again (it is not stopped a second time)."""
    sd = load_sounddevice()
    with _portaudio:
        if any(not stream.closed for stream in _streams):
            return False
        with _log_lines_held():
            if sd._initialized:
                sd._terminate()
            try:
                sd._initialize()
            except sd.PortAudioError as error:
                raise _not_started(error) from error
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


@dataclass(frozen=True)
class InputFormat:
    """How a device is recorded: its rate and its number of channels."""

    rate: int
    channels: int


def microphone_problem(
    device: str = "default", setting: str = CONFIGURED, refresh: bool = True
) -> str | None:
    """Why `device` (among the devices plugged in now) cannot be used, with the fix (`setting`
    names the device), as opening it would say; None when it can: sounddevice finds it, it
    records 16-bit at 16 kHz or at its own rate (python-soxr then loads), in mono or as a stereo
    pair. Unless `refresh` is False (the caller has just refreshed the list), PortAudio looks
    for the devices again before it says so."""
    try:
        _usable_format(load_sounddevice(), device, setting, refresh)
    except MicrophoneError as error:
        return str(error)
    return None


def input_number(device: str, setting: str = CONFIGURED, refresh: bool = True) -> int:
    """The number PortAudio lists the input `device` names under, the one opening it picks
    ("default": the system's default input); MicrophoneError with the reason and the fix
    (`setting` names the device) when it names none, or several, even once PortAudio has
    looked for the devices again (unless `refresh` is False)."""
    sd = load_sounddevice()
    try:
        with _portaudio:
            found = _with_fresh_devices(
                lambda: sd.query_devices(device_argument(device), kind="input"), refresh
            )
    except (ValueError, sd.PortAudioError) as error:
        raise _explained(error, _name(device), setting) from error
    return found["index"]


def _check(sd, chosen: int | str | None, rate: int, channels: int) -> None:
    sd.check_input_settings(device=chosen, channels=channels, dtype="int16", samplerate=rate)


def _input_format(sd, chosen: int | str | None) -> InputFormat:
    """How to record `chosen`: at 16 kHz when it can, else at its own default rate (many
    devices opened directly record only 44.1 or 48 kHz); in both channels of a device that
    lists two (a stereo pair: PortAudio would open both anyway and keep the first), else in
    mono. The error of 16 kHz when it records at neither rate."""
    device = sd.query_devices(chosen, kind="input")
    channels = 2 if device["max_input_channels"] == 2 else 1
    try:
        _check(sd, chosen, SAMPLE_RATE, channels)
        return InputFormat(SAMPLE_RATE, channels)
    except sd.PortAudioError as refused:
        try:
            rate = round(device["default_samplerate"])
            if rate != SAMPLE_RATE:
                _check(sd, chosen, rate, channels)
                return InputFormat(rate, channels)
        except sd.PortAudioError:
            pass
        raise refused


def _with_fresh_devices(attempt: Callable[[], T], refresh: bool = True) -> T:
    """`attempt()`, and once more with PortAudio's device list refreshed if it fails (the device
    may have been plugged in, or unplugged and back in, since PortAudio started), unless a
    stream is open or not `refresh`."""
    try:
        return attempt()
    except Exception:  # PortAudio's errors, or ValueError for a device it does not list
        if not refresh or not refresh_devices():
            raise
    return attempt()


def _name(device: str) -> str:
    """What messages call `device`."""
    return "the default microphone" if device_argument(device) is None else f"microphone {device!r}"


def _explained(error: Exception, name: str, setting: str) -> MicrophoneError:
    """sounddevice's `error` for device `name` as the reason and the fix (`setting` names the
    device)."""
    text = str(error)
    if isinstance(error, ValueError):
        matches = _ambiguous_matches(error)
        if matches:
            return MicrophoneError(
                f"{name} is ambiguous: it matches {len(matches)} devices ({'; '.join(matches)}); "
                f"set {setting} to the number of one, or to a longer part of its "
                "name"
            )
        return MicrophoneError(
            f"{name} not found ({text}); list the devices with `assistant devices` and set "
            f"{setting}"
        )
    if "sample rate" in text.lower():
        return MicrophoneError(
            f"{name} cannot record {SAMPLE_RATE} Hz mono, nor at its own rate ({text}); "
            f"choose another device with {setting}"
        )
    if text.startswith(NO_DEFAULT_INPUT):
        return MicrophoneError(
            f"{name} cannot be opened: PortAudio has no default input device ({text}); plug "
            f"a microphone in, or set {setting} to one that `assistant devices` lists"
        )
    return MicrophoneError(
        f"{name} cannot be opened ({text}); plug one in, or check `assistant devices`"
    )


def _usable_format(
    sd, device: str, setting: str, refresh: bool = True
) -> tuple[InputFormat, Resampler | None]:
    """The format to record `device` in, and the resampler of its rate (None at 16 kHz);
    MicrophoneError with the reason and the fix when it cannot be made 16 kHz mono, even once
    PortAudio has looked for the devices again (unless `refresh` is False)."""
    try:
        with _portaudio:  # no restart on another thread while looking
            form = _with_fresh_devices(lambda: _input_format(sd, device_argument(device)), refresh)
    except (ValueError, sd.PortAudioError) as error:
        raise _explained(error, _name(device), setting) from error
    if form.rate == SAMPLE_RATE:
        return form, None
    return form, _resampler(_name(device), form.rate)


def _resampler(name: str, rate: int) -> Resampler:
    """A streaming resampler of `rate` to 16 kHz (python-soxr, of the [listen] extra);
    MicrophoneError saying what to install when soxr cannot load."""
    try:
        from assistant.resample import Resampler
    except ImportError as error:
        raise MicrophoneError(
            f"{name} records {rate} Hz, not {SAMPLE_RATE}, and resampling it needs python-soxr "
            f"({error}); install the [listen] extra: {INSTALL_LISTEN}"
        ) from error
    return Resampler(rate)


def open_microphone(device: str, block: int, setting: str = CONFIGURED):
    """A started-on-enter sounddevice InputStream read as 16 kHz mono int16 in `block`-frame
    reads: the device records that itself, or its own rate is resampled and a stereo pair
    mixed to mono (logged once, at info); MicrophoneError with the reason and the fix
    (`setting` names the device) when it cannot be opened."""
    sd = load_sounddevice()
    name = _name(device)
    with _portaudio:  # the device opened is the one looked at: no restart in between
        form, resampler = _usable_format(sd, device, setting)
        frames = math.ceil(block * form.rate / SAMPLE_RATE)
        try:
            stream = open_stream(
                lambda: sd.InputStream(
                    samplerate=form.rate,
                    channels=form.channels,
                    dtype="int16",
                    blocksize=frames,
                    device=device_argument(device),
                )
            )
        except (ValueError, sd.PortAudioError) as error:
            raise _explained(error, name, setting) from error
    if form == InputFormat(SAMPLE_RATE, 1):
        return stream
    said, done = [], []
    if form.channels != 1:
        said.append(f"{form.channels} channels, not 1")
        done.append("mixing them to mono (their mean)")
    if resampler:
        said.append(f"{form.rate} Hz, not {SAMPLE_RATE}")
        done.append(f"resampling it to {SAMPLE_RATE} Hz")
    log.info("%s records %s: %s", name, " and ".join(said), " and ".join(done))
    return DeviceInput(stream, resampler)


def _ambiguous_matches(error: ValueError) -> list[str]:
    """The devices a name matched when sounddevice refused it for matching several ("[3] USB
    mic, ALSA", its number first); empty for any other error."""
    lines = str(error).splitlines()
    return lines[1:] if lines and lines[0].startswith("Multiple ") else []
