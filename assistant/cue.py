"""The earcons: the listening cue of a follow-up phrase (`phrase.cue`), what this machine plays
just before it listens, so that the user knows to speak now, and the acknowledgement of an
accepted command (`speech.acknowledge`). The cue's `tone` is a short rising pair of notes,
`words` the skill's short question ("How long?"), `none` nothing; the acknowledgement's `tone`
one short note. The speaker plays them (assistant/speech.py `Speaker.play_cue`,
`Speaker.acknowledge`) in turn with the replies, and a falling pair in place of a reply the
speech engine cannot say (`UNSPOKEN_NOTES`)."""

from __future__ import annotations

import numpy as np

from assistant.wav import wav_bytes

CUES = ("tone", "words", "none")
"""The values of `phrase.cue`."""
DEFAULT_PROMPT = "Yes?"
"""What `words` says for a skill that asks no question of its own."""
ACKNOWLEDGEMENTS = ("none", "tone")
"""The values of `speech.acknowledge`."""
TONE_NOTES = (660.0, 990.0)
"""The listening tone's notes in Hz, one after the other: rising, as a question."""
ACKNOWLEDGE_NOTES = (880.0,)
"""The acknowledgement's note: one, so that it is not taken for the listening tone."""
UNSPOKEN_NOTES = (440.0, 330.0)
"""Played where a reply cannot be said (the speech engine did not start, or failed on it): a
falling pair, lower than the other tones, so that it is taken for neither; the command was
heard, but its answer cannot be spoken."""
NOTE_SECONDS = 0.09
FADE_SECONDS = 0.01
"""Each note fades in and out over this long, so that it starts and ends without a click."""
TONE_RATE = 22050
"""Samples a second: the rate espeak-ng's replies are played at."""


def tone_wav(volume: float, notes: tuple[float, ...] = TONE_NOTES) -> bytes:
    """`notes` (Hz) played one after the other, NOTE_SECONDS each, as a 16-bit mono WAV file,
    its peak at `volume` (0 to 1) of full scale."""
    count = round(NOTE_SECONDS * TONE_RATE)
    times = np.arange(count) / TONE_RATE
    fade = np.minimum(1.0, np.minimum(times, times[::-1]) / FADE_SECONDS)
    waves = [np.sin(2 * np.pi * note * times) * fade for note in notes]
    samples = np.round(np.concatenate(waves) * volume * 32767).astype("<i2")
    return wav_bytes(samples, TONE_RATE)
