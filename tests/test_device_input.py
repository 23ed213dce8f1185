"""A device's own format (a stereo pair, its own rate) read as the pipeline's 16 kHz mono int16
blocks."""

from __future__ import annotations

import time

import numpy as np
import soxr
from test_listener import LiveMicrophone, RecordedMicrophone
from test_resample import _noisy_tone

from assistant.device_input import DeviceInput, mixed
from assistant.resample import Resampler


def test_channels_are_mixed_to_their_mean_rounded_to_the_nearest_halves_up():
    frames = np.array(
        [[1, 2], [-1, -2], [3, 4], [32767, 32767], [-32768, -32768], [32767, -32768], [0, 1]],
        np.int16,
    )
    assert mixed(frames).tolist() == [2, -1, 4, 32767, -32768, 0, 1]
    assert mixed(frames).dtype == np.int16
    three = np.array([[1, 1, 2], [1, 2, 2], [-32768, -32768, -32768]], np.int16)
    assert mixed(three).tolist() == [1, 2, -32768]  # 4/3, 5/3, no overflow of the sum


def test_a_stereo_pair_at_16_khz_is_read_as_its_mean_in_fixed_blocks():
    rng = np.random.default_rng(2)
    audio = rng.integers(-32768, 32768, (8000, 2)).astype(np.int16)
    device = RecordedMicrophone(audio)
    with DeviceInput(device) as stream:
        blocks = [stream.read(frames)[0] for frames in (1600, 7, 1600, 160, 1600)]
    assert all(block.shape[1] == 1 and block.dtype == np.int16 for block in blocks)
    heard = np.concatenate(blocks).reshape(-1)
    assert heard.tolist() == mixed(audio)[: len(heard)].tolist()


def test_a_stereo_pair_at_48_khz_speaking_in_one_channel_is_heard_at_16_khz():
    speech = _noisy_tone(48000, 2.0)
    audio = np.stack([np.zeros_like(speech), speech], axis=1)  # the left channel silent
    device = RecordedMicrophone(audio)
    with DeviceInput(device, Resampler(48000)) as stream:
        heard = np.concatenate([stream.read(1600)[0] for _ in range(15)]).reshape(-1)
    half = ((speech.astype(np.int32) + 1) // 2).astype(np.int16)  # the mean with silence
    whole = soxr.resample(half, 48000, 16000)[: len(heard)]
    assert np.abs(heard.astype(int) - whole.astype(int)).max() <= 2  # int16 rounding
    assert np.abs(heard).max() > 4000


def test_a_read_of_more_than_it_says_is_available_waits_for_the_device():
    """What the microphone source judges how late audio is by (assistant/lateness.py): a read
    of more than `read_available` waits for audio not recorded yet."""
    device = LiveMicrophone(np.zeros((48000 * 2, 2), np.int16), {}, rate=48000)
    with DeviceInput(device, Resampler(48000)) as stream:
        stream.read(1600)
        time.sleep(0.3)  # audio is recorded meanwhile
        recorded = device.position + device.read_available  # 48 kHz frames, up to now
        available = stream.read_available
        # the device's frames at 16 kHz, and what is left of the last read (under 800)
        assert (recorded - device.position) // 3 <= available
        assert available <= device.read_available // 3 + 800
        stream.read(available + 800)
        # it read the 800 frames (2400 at 48 kHz) more, recorded after it began: it waited
        assert device.position >= recorded + 2400
