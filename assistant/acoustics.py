"""What a microphone hears of a sound played in a room: a quiet room (faint noise around the
sound) and a simulated one (a speaker's band, echoes, the microphone's noise). The own-voice
analysis (assistant/own_voice.py) hears each reply through both; bench/bench_own_voice.py draws
many more rooms to measure it. Also the measures of audio's energy that the rest shares: `rms`
and `frame_energy`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

QUIET_SECONDS = 1.0
"""Faint noise before and after the sound, as the room around it."""
NOISE_DB = 30.0
"""How far below the sound's RMS level a quiet room's noise is: a room is never digitally
silent, and the frontend's noise estimate starts from what it hears before the sound."""
NOISE_SEED = 0
"""The quiet room's noise is the same each time, so a sound is always heard alike."""


def rms(audio: np.ndarray) -> float:
    """The root mean square of `audio` (0 when empty)."""
    return float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if audio.size else 0.0


def frame_energy(audio: np.ndarray, frame: int) -> np.ndarray:
    """The mean square of each whole `frame` samples of float `audio` (a part frame at the end
    left out), in its float type: the energy by which training finds a word in a clip and the
    recorder a word in a take."""
    frames = audio[: len(audio) // frame * frame].reshape(-1, frame)
    return (frames**2).mean(axis=1)


def in_a_quiet_room(
    sound: np.ndarray, rate: int, noise_db: float = NOISE_DB, seed: int = NOISE_SEED
) -> np.ndarray:
    """`sound` (samples at `rate`) with QUIET_SECONDS before and after it, and noise `noise_db`
    below its level over all of it (`seed`: which noise), as int16."""
    quiet = np.zeros(round(QUIET_SECONDS * rate))
    room = np.concatenate([quiet, sound, quiet])
    room += np.random.default_rng(seed).normal(0, rms(sound) * 10 ** (-noise_db / 20), room.size)
    return np.clip(np.round(room), -32768, 32767).astype(np.int16)


@dataclass(frozen=True)
class Room:
    """A simulated room: a sound played by a band-limited speaker, echoed (an impulse response
    of decaying noise after the direct sound) and heard with the microphone's noise."""

    rt60: float
    """Seconds the echoes take to fall by 60 dB."""
    direct_db: float
    """The direct sound over the echoes (direct-to-reverberant ratio): about +10 from right
    beside the speakers, -10 across a reverberant room."""
    low_hz: float
    high_hz: float
    """The speaker's band: a second-order roll-off below low_hz, a fourth-order one above
    high_hz."""
    snr_db: float
    """The sound, as the microphone hears it, over the microphone's noise (white)."""
    delay_ms: float
    """Before the sound reaches the microphone: where the frontend's slices fall on it."""
    seed: int
    """Of the echoes' noise; the microphone's noise is seed + 1."""

    def impulse_response(self, rate: int) -> np.ndarray:
        """The delay, the direct sound (1), then noise falling by 60 dB in rt60, its energy
        direct_db below the direct sound's."""
        t = np.arange(1, round(self.rt60 * rate)) / rate
        echoes = np.random.default_rng(self.seed).normal(0, 1, t.size) * 10 ** (-3 * t / self.rt60)
        echoes *= 10 ** (-self.direct_db / 20) / np.sqrt(np.sum(np.square(echoes)))
        return np.concatenate([np.zeros(round(self.delay_ms * rate / 1000)), [1.0], echoes])

    def heard(self, sound: np.ndarray, rate: int) -> np.ndarray:
        """`sound` (int16 at `rate`) played in the room, as loud as it is, then in a quiet room
        (`in_a_quiet_room`) with the microphone's noise snr_db below it."""
        response = self.impulse_response(rate)
        length = sound.size + response.size - 1
        size = 1 << (length - 1).bit_length()
        hz = np.fft.rfftfreq(size, 1 / rate)
        band = (hz / self.low_hz) ** 2 / np.sqrt(1 + (hz / self.low_hz) ** 4)
        band /= np.sqrt(1 + (hz / self.high_hz) ** 8)
        spectrum = np.fft.rfft(sound, size) * np.fft.rfft(response, size) * band
        played = np.fft.irfft(spectrum, size)[:length]
        played *= rms(sound) / max(rms(played), 1e-9)
        return in_a_quiet_room(played, rate, self.snr_db, self.seed + 1)

    def __str__(self) -> str:
        return (
            f"RT60 {self.rt60:.2f} s, direct sound {self.direct_db:+.0f} dB over the echoes, "
            f"speaker {self.low_hz:.0f}-{self.high_hz:.0f} Hz, SNR {self.snr_db:.0f} dB, delay "
            f"{self.delay_ms:.0f} ms"
        )
