"""A real ALSA capture device that plays a recording, for PortAudio to list and open like a
microphone (there is no sound card here): a `file` PCM whose `infile` is the audio, behind a
`plug` PCM that converts what the reader asks for. ALSA reads it from `$HOME/.asoundrc`."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np

DEVICE = "deskmic"
"""The name PortAudio lists the stand-in under."""

LISTEN = Path(__file__).with_name("listen_with_microphone.py")


def plug_in(home: Path, audio: np.ndarray, devices: tuple[str, ...] = (DEVICE,)) -> None:
    """Make the `devices` appear for processes whose HOME is `home`: each plays 16 kHz mono int16
    `audio`, then silence."""
    raw = home / "microphone.raw"
    raw.write_bytes(np.asarray(audio, dtype="<i2").tobytes())
    (home / ".asoundrc").write_text("".join(_definition(device, raw) for device in devices))


def _definition(device: str, raw: Path) -> str:
    """The ALSA configuration of one device playing `raw`."""
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
    slave {{ pcm "{device}_file"; rate 16000; format S16_LE; channels 1 }}
}}
"""


class Listening:
    """`listen_with_microphone.py` in its own process (its own PortAudio) with HOME at `home`;
    `lines` are its output so far (protocol lines and log lines)."""

    def __init__(self, home: Path, model: Path, device: str = DEVICE):
        env = {**os.environ, "HOME": str(home), "PYTHONPATH": str(Path(__file__).parents[1])}
        self.process = subprocess.Popen(
            [sys.executable, str(LISTEN), str(model), device],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
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
