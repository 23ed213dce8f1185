"""A real ALSA capture device that plays a recording, for PortAudio to list and open like a
microphone (there is no sound card here). A mono device is a `file` PCM whose `infile` is the
audio, behind a `plug` PCM that converts the format and channels the reader asks for but not the
rate (its rate converter is one that does not exist), so the device records its one rate only,
as a device opened directly does. A device of several channels records that many only, as a
built-in microphone opened directly (`hw:0,0`, a stereo pair) does: a plug would convert them,
so a `multi` PCM fixes the channels instead, a `file` PCM above it plays the interleaved audio,
and a `copy` PCM on top gives PortAudio the interleaved access it reads well (on the file PCM
itself PortAudio's reads come out of order). ALSA reads it all from `$HOME/.asoundrc`."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

DEVICE = "deskmic"
"""The name PortAudio lists the stand-in under."""

LISTEN = Path(__file__).with_name("listen_with_microphone.py")
TAKE_WINDOW = 2 * 16000
"""`record`'s default window (samples)."""
DROPPED = 16000 // 5
"""What the stand-in has ready before each take (its buffer: two 100 ms blocks), dropped by
`record` as audio heard while the prompt waited."""


def plug_in(
    home: Path, audio: np.ndarray, devices: tuple[str, ...] = (DEVICE,), rate: int = 16000
) -> None:
    """Make the `devices` appear for processes whose HOME is `home`: each plays int16 `audio`
    (mono, or (frames, channels): the channels it records, no fewer nor more) at `rate`, the
    one rate it records, then silence."""
    raw = home / "microphone.raw"
    raw.write_bytes(np.asarray(audio, dtype="<i2").tobytes())
    channels = 1 if np.ndim(audio) == 1 else np.shape(audio)[1]
    definition = _definition if channels == 1 else _channels_definition
    (home / ".asoundrc").write_text(
        "".join(definition(device, raw, rate, channels) for device in devices)
    )


def takes_audio(
    slots: Sequence[np.ndarray | None], noise: float = 0.001, window: int = TAKE_WINDOW
) -> tuple[np.ndarray, list[int]]:
    """The stand-in's int16 audio for one `record` take per slot (float audio centred in the
    take's `window`, or None: the room alone), over the room's noise (`noise` RMS of full
    scale, -60 dBFS by default), and where each word's centre is in it."""
    from model_training.frontend import to_int16

    rng = np.random.default_rng(0)
    parts, centres, length = [], [], 0
    for word in slots:
        take = np.zeros(DROPPED + window, np.float32)
        if word is not None:
            start = DROPPED + (window - len(word)) // 2
            take[start : start + len(word)] = word
            centres.append(length + start + len(word) // 2)
        parts.append(take)
        length += len(take)
    audio = np.concatenate(parts)
    return to_int16(audio + rng.normal(0, noise, len(audio))), centres


def _definition(device: str, raw: Path, rate: int, channels: int) -> str:
    """The ALSA configuration of one mono device playing `raw`, recording only at `rate`."""
    return f"""
pcm.{device}_file {{
    type file
    slave.pcm "null"
    file "/dev/null"
    infile "{raw}"
    format "raw"
}}
pcm.{device} {{
    type plug
    slave {{ pcm "{device}_file"; rate {rate}; format S16_LE; channels 1 }}
    rate_converter "none"
}}
"""


def _channels_definition(device: str, raw: Path, rate: int, channels: int) -> str:
    """The ALSA configuration of one device playing `raw` (interleaved), recording only
    `channels` channels at `rate`."""
    bindings = " ".join(f"bindings.{n} {{ slave a; channel {n} }}" for n in range(channels))
    return f"""
pcm.{device}_rate {{
    type plug
    slave {{ pcm "null"; rate {rate}; format S16_LE; channels {channels} }}
    rate_converter "none"
}}
pcm.{device}_channels {{
    type multi
    slaves.a {{ pcm "{device}_rate"; channels {channels} }}
    {bindings}
}}
pcm.{device}_file {{
    type file
    slave.pcm "{device}_channels"
    file "/dev/null"
    infile "{raw}"
    format "raw"
}}
pcm.{device} {{
    type copy
    slave.pcm "{device}_file"
}}
"""


def saying_on(rate: int) -> np.ndarray:
    """espeak-ng saying "on" rendered at `rate`, between two seconds of silence (the test is
    skipped without espeak-ng)."""
    import pytest

    from model_training.frontend import to_int16
    from model_training.synth import espeak_available, speak

    if not espeak_available():
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    silence = np.zeros(2 * rate, dtype=np.float32)
    return to_int16(np.concatenate([silence, speak("on", "en", 50, 150, rate) * 0.6, silence]))


def environment(home: Path) -> dict[str, str]:
    """The environment of a process that finds the device plugged in at `home`."""
    return {**os.environ, "HOME": str(home), "PYTHONPATH": str(Path(__file__).parents[1])}


def records(home: Path, rate: int, channels: int = 1) -> bool:
    """Whether ALSA's own arecord can record the device at `rate` in `channels` (a tenth of a
    second)."""
    command = ["arecord", "-q", "-D", DEVICE, "-f", "S16_LE", "-c", str(channels), "-r", str(rate)]
    command += ["-s", str(rate // 10), str(home / "arecord.wav")]
    return subprocess.run(command, env=environment(home), capture_output=True).returncode == 0


class Listening:
    """`listen_with_microphone.py` in its own process (its own PortAudio) with HOME at `home`;
    `lines` are its output so far (protocol lines and log lines)."""

    def __init__(self, home: Path, model: Path, device: str = DEVICE):
        self.process = subprocess.Popen(
            [sys.executable, str(LISTEN), str(model), device],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=environment(home),
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def saw(self, start: str) -> bool:
        return any(line.startswith(start) for line in list(self.lines))

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        self._reader.join(timeout=5)
        self.process.stdout.close()


def plug_in_speaker(home: Path, device: str = "deskspeaker") -> None:
    """Add to the devices plugged in at `home` an output that records nothing (PortAudio lists
    it with no input channels)."""
    with (home / ".asoundrc").open("a") as asoundrc:
        asoundrc.write(f'\npcm.{device} {{\n    type asym\n    playback.pcm "null"\n}}\n')
