"""The listening cue of a follow-up phrase (`phrase.cue`): what this machine plays just before
it listens, so that the user knows to speak now. `tone` is a short rising pair of notes (an
earcon), `words` the skill's short question ("How long?"), `none` nothing. The speaker plays it
(assistant/speech.py `Speaker.play_cue`) in turn with the replies."""

from __future__ import annotations

import io
import wave

import numpy as np

CUES = ("tone", "words", "none")
"""The values of `phrase.cue`."""
DEFAULT_PROMPT = "Yes?"
"""What `words` says for a skill that asks no question of its own."""
TONE_NOTES = (660.0, 990.0)
"""The tone's notes in Hz, one after the other: rising, as a question."""
NOTE_SECONDS = 0.09
FADE_SECONDS = 0.01
"""Each note fades in and out over this long, so that it starts and ends without a click."""
TONE_RATE = 22050
"""Samples a second: the rate espeak-ng's replies are played at."""


def tone_wav(volume: float) -> bytes:
    """The tone as a 16-bit mono WAV file, its peak at `volume` (0 to 1) of full scale."""
    count = round(NOTE_SECONDS * TONE_RATE)
    times = np.arange(count) / TONE_RATE
    fade = np.minimum(1.0, np.minimum(times, times[::-1]) / FADE_SECONDS)
    notes = [np.sin(2 * np.pi * note * times) * fade for note in TONE_NOTES]
    samples = np.round(np.concatenate(notes) * volume * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(TONE_RATE)
        out.writeframes(samples.tobytes())
    return buffer.getvalue()
