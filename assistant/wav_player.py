"""WAV files played on the default audio output with `aplay`, the player pyttsx3's espeak
driver plays each reply with: the speaker's tones, and the clips `assistant clips sort` plays;
and whether this machine can be heard through it at all."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from assistant.espeak import SpeechError

PLAYER = "aplay"
"""The player pyttsx3's espeak driver plays each utterance with (`aplay FILE -q`)."""
APLAY_PROBE = [PLAYER, "-q", "-t", "raw", "-f", "S16_LE", "-r", "22050", "-c", "1", os.devnull]
"""Opens the default output and plays nothing: fails at once when there is no sound card."""


def play_wav(path: Path, timeout: float) -> None:
    """Play a WAV file on the default output as pyttsx3's espeak driver plays an utterance
    (`aplay FILE -q`); SpeechError when it cannot be played within `timeout` seconds."""
    try:
        done = subprocess.run(
            [PLAYER, str(path), "-q"], capture_output=True, text=True, timeout=timeout
        )
    except FileNotFoundError:
        raise SpeechError(f"`{PLAYER}` was not found (install alsa-utils)") from None
    except subprocess.TimeoutExpired:
        raise SpeechError(f"`{PLAYER}` took more than {timeout:g} s (output hung?)") from None
    if done.returncode != 0:
        raise SpeechError(f"`{PLAYER}` failed: {done.stderr.strip() or done.returncode}")


def missing_player() -> str | None:
    """Why `play_wav` cannot be heard on this machine (no player, no sound card, a hung
    output), or None: the default output is tried once, its errors captured."""
    if shutil.which(PLAYER) is None:
        return f"no audio player: `{PLAYER}` was not found (install alsa-utils)"
    try:
        probe = subprocess.run(APLAY_PROBE, capture_output=True, text=True, timeout=5)
    except subprocess.TimeoutExpired:
        return "the audio output did not answer within 5 s (`aplay` hung)"
    if probe.returncode != 0:
        said = probe.stderr.strip().splitlines()
        return "no sound card" + (f" ({said[-1]})" if said else "")
    return None
