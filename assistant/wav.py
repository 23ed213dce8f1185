"""WAV files read as the board hears them: 16-bit mono samples at its rate, or a clear error
naming the file, what it holds and the sox command that converts it. The emulator's `--wav`
(through assistant/pipeline.py), the own-voice analysis, the training data and the benchmarks
all read their recordings here; the cue tones, the clips kept of detections and the training
data's clips are written with `wav_bytes`."""

from __future__ import annotations

import io
import wave
from pathlib import Path

import numpy as np

WAV_ERRORS = (OSError, wave.Error, EOFError, RuntimeError)
"""What Python's wave raises for a file that is no readable WAV (a bare RuntimeError for a chunk
that runs past the end of the file)."""


def unreadable_wav(path: str | Path, error: Exception) -> str:
    """Why `path` could not be read, from one of WAV_ERRORS."""
    return f"{path}: not a readable PCM WAV file ({str(error) or 'a chunk runs past its end'})"


def wav_layout(channels: int, width: int, rate: int) -> str:
    """A WAV file's sample layout in words: `1 channel(s), 16-bit, 44100 Hz`."""
    return f"{channels} channel(s), {8 * width}-bit, {rate} Hz"


def convert_command(name: str, sample_rate: int = 16000) -> str:
    """The sox command that makes a WAV file `name` what the board hears."""
    return f"sox {name} -r {sample_rate} -b 16 -c 1 out.wav"


def read_wav_int16(
    path: str | Path, sample_rate: int = 16000, resample: bool = False
) -> np.ndarray:
    """A 16-bit mono WAV file's samples at `sample_rate`; with `resample`, a file at another
    rate is resampled to it (assistant/resample.py); a clear error for any other format."""
    path = Path(path)
    try:
        with wave.open(str(path)) as handle:
            layout = (handle.getnchannels(), handle.getsampwidth(), handle.getframerate())
            data = handle.readframes(handle.getnframes())
    except WAV_ERRORS as error:
        raise ValueError(unreadable_wav(path, error)) from error
    channels, width, rate = layout
    if (channels, width) != (1, 2) or (rate != sample_rate and not resample) or rate <= 0:
        raise ValueError(
            f"{path}: {wav_layout(*layout)}; the board hears {sample_rate} Hz 16-bit mono "
            f"(convert: {convert_command(path.name, sample_rate)})"
        )
    samples = np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2").astype(np.int16)  # cut short
    if rate == sample_rate:
        return samples
    from assistant.resample import resampled

    return resampled(samples, rate, sample_rate)


def wav_bytes(samples: np.ndarray, sample_rate: int) -> bytes:
    """16-bit mono `samples` as the bytes of a WAV file at `sample_rate`."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(np.asarray(samples, dtype="<i2").tobytes())
    return buffer.getvalue()
