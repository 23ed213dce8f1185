"""Finding the keyword-spotting board among the serial ports."""

from __future__ import annotations

from dataclasses import dataclass

from serial.tools import list_ports

ARDUINO_VID = 0x2341
NANO_33_BLE_PIDS = {0x805A, 0x005A}
"""USB product ids of the Nano 33 BLE (Sense) running a sketch, and in its bootloader."""


@dataclass(frozen=True)
class Candidate:
    device: str
    description: str
    picked: bool
    reason: str


def _judge(port) -> Candidate:
    ids = f"{port.vid:04x}:{port.pid:04x}" if port.vid is not None else "no USB id"
    if port.vid != ARDUINO_VID:
        return Candidate(port.device, port.description, False, f"not an Arduino ({ids})")
    if port.pid not in NANO_33_BLE_PIDS:
        return Candidate(
            port.device, port.description, True, f"an Arduino, not a Nano 33 BLE ({ids}); tried"
        )
    return Candidate(port.device, port.description, True, f"Arduino Nano 33 BLE ({ids})")


def candidates(ports=None) -> list[Candidate]:
    """Every serial port with whether it would be used and why; best first."""
    judged = [_judge(port) for port in (list_ports.comports() if ports is None else ports)]
    return sorted(judged, key=lambda c: (not c.picked, "not a Nano" in c.reason, c.device))


def find_board(ports=None) -> str | None:
    """The device path of the board, or None when none is plugged in."""
    picked = [c for c in candidates(ports) if c.picked]
    return picked[0].device if picked else None
