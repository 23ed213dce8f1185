"""The desktop microphone through sounddevice: loading it, naming a device, opening it."""

from __future__ import annotations

import contextlib

SAMPLE_RATE = 16000


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


def microphone_available(device: str = "default") -> bool:
    """True if sounddevice finds `device` and it can record 16 kHz mono 16-bit."""
    try:
        sd = load_sounddevice()
        sd.check_input_settings(
            device=device_argument(device), channels=1, dtype="int16", samplerate=SAMPLE_RATE
        )
    except Exception:  # any PortAudio failure means no usable microphone
        return False
    return True


def open_microphone(device: str, block: int):
    """A started-on-enter sounddevice InputStream at 16 kHz mono int16; MicrophoneError with the
    reason and the fix when it cannot be opened."""
    sd = load_sounddevice()
    chosen = device_argument(device)
    name = "the default microphone" if chosen is None else f"microphone {device!r}"
    try:
        sd.check_input_settings(device=chosen, channels=1, dtype="int16", samplerate=SAMPLE_RATE)
        return sd.InputStream(
            samplerate=SAMPLE_RATE, channels=1, dtype="int16", blocksize=block, device=chosen
        )
    except ValueError as error:
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
