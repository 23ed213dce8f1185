"""Reading WAV files in tests: samples as float32 in [-1, 1] and simple measures."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from assistant.espeak import espeak_to_file
from assistant.speech import speech_settings


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """Mono 16-bit PCM samples scaled to [-1, 1], and the sample rate."""
    with wave.open(str(path)) as source:
        assert source.getsampwidth() == 2, f"{path}: expected 16-bit PCM"
        assert source.getnchannels() == 1, f"{path}: expected mono"
        frames = source.readframes(source.getnframes())
        rate = source.getframerate()
    return np.frombuffer(frames, np.int16).astype(np.float32) / 32768, rate


def duration_and_rms(path: Path) -> tuple[float, float]:
    samples, rate = read_wav(path)
    rms = float(np.sqrt(np.mean(samples**2))) if samples.size else 0.0
    return samples.size / rate, rms


def played_files(folder: Path) -> list[Path]:
    """The WAVs played, once the speaker is idle: it waits for pyttsx3 to say an utterance
    has finished, which it says once the player it runs has ended, so none comes later."""
    return sorted(folder.glob("reply-*.wav"))


def same_speech(played: Path, text: str, folder: Path) -> bool:
    """Whether `played` is `text` said at the default speech settings: as long as espeak-ng
    takes to say it (within a tenth), and not silent."""
    expected = espeak_to_file(speech_settings(None), text, folder / "expected.wav")
    (length, rms), (wanted, _) = duration_and_rms(played), duration_and_rms(expected)
    return abs(length - wanted) < 0.1 * wanted and rms > 0.01
