"""The resampler that makes a device's own rate (or a WAV file's) 16 kHz: streaming, read as
fixed 16 kHz blocks, and true to the signal."""

from __future__ import annotations

import numpy as np
import soxr
from test_listener import RecordedMicrophone

from assistant.device_input import DeviceInput
from assistant.resample import Resampler, resampled

ODD_SIZES = (1, 7, 331, 4799, 13, 2000, 4801, 97)


def _noisy_tone(rate: int, seconds: float = 2.0) -> np.ndarray:
    rng = np.random.default_rng(5)
    t = np.arange(int(rate * seconds)) / rate
    audio = 9000 * np.sin(2 * np.pi * 440 * t) + rng.normal(0, 2000, len(t))
    return np.clip(audio, -32768, 32767).astype(np.int16)


def _tone(rate: int, frequency: float, seconds: float) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return np.round(12000 * np.sin(2 * np.pi * frequency * t)).astype(np.int16)


def _in_pieces(audio: np.ndarray, sizes: tuple[int, ...]) -> list[np.ndarray]:
    pieces, start, turn = [], 0, 0
    while start < len(audio):
        size = sizes[turn % len(sizes)]
        pieces.append(audio[start : start + size])
        start, turn = start + size, turn + 1
    return pieces


def test_streaming_over_odd_sized_blocks_equals_resampling_at_once():
    for rate in (48000, 44100):
        audio = _noisy_tone(rate)
        resampler = Resampler(rate)
        pieces = _in_pieces(audio, ODD_SIZES)
        out = [resampler.feed(piece) for piece in pieces[:-1]]
        streamed = np.concatenate([*out, resampler.feed(pieces[-1], last=True)])
        whole = soxr.resample(audio, rate, 16000)  # soxr's one-shot call, all of it at once
        assert len(streamed) == len(whole) == round(len(audio) * 16000 / rate)
        for ours in (streamed, resampled(audio, rate)):
            assert np.abs(ours.astype(int) - whole.astype(int)).max() <= 2  # int16 rounding


def test_a_1_khz_tone_at_48_khz_is_a_1_khz_tone_at_16_khz():
    out = resampled(_tone(48000, 1000, 1.0), 48000)
    assert out.dtype == np.int16
    assert len(out) == 16000
    spectrum = np.abs(np.fft.rfft(out[1000:-1000] * np.hanning(14000)))
    frequencies = np.fft.rfftfreq(14000, 1 / 16000)
    assert abs(frequencies[np.argmax(spectrum)] - 1000) < 16000 / 14000
    elsewhere = np.abs(frequencies - 1000) > 50
    assert spectrum[elsewhere].max() < spectrum.max() / 10000  # 80 dB below the tone
    expected = _tone(16000, 1000, 1.0)
    middle = slice(1000, -1000)  # away from the filter's edges
    assert np.abs(out[middle].astype(int) - expected[middle]).max() <= 2  # of 12000


def test_a_device_at_48_khz_is_read_in_the_listener_s_fixed_16_khz_blocks():
    audio = _noisy_tone(48000, 3.0)
    device = RecordedMicrophone(audio, overflow_on_reads=(4,))  # as a device at 48 kHz
    blocks, overflows = [], []
    with DeviceInput(device, Resampler(48000)) as stream:
        assert device.open
        for frames in (1600, 1600, 160, 1600, 1600, 1600):
            block, overflowed = stream.read(frames)
            assert block.shape == (frames, 1) and block.dtype == np.int16
            blocks.append(block.reshape(-1))
            overflows.append(overflowed)
    assert not device.open
    assert any(overflows) and not all(overflows)
    # the blocks joined are the stream resampled whole: no click where two blocks meet
    heard = np.concatenate(blocks)
    whole = soxr.resample(audio, 48000, 16000)[: len(heard)]
    assert np.abs(heard.astype(int) - whole.astype(int)).max() <= 2
    # it read no more of the device than the blocks needed, and the filter's delay
    assert device.position <= (len(heard) + 16000 // 50) * 3 + 480
