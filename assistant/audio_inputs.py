"""The audio devices PortAudio lists, as `assistant devices` shows them: each one's name as
`microphone.device` takes it, its input channels and default rate, whether `microphone.device`
picks it and whether it is the system's default input, and why it cannot be used, all by the
daemon's own device code (assistant/microphone.py). PortAudio looks for the devices once, as
the listing starts, and every device is judged against that one list."""

from __future__ import annotations

from dataclasses import dataclass

from assistant.microphone import (
    MicrophoneError,
    input_number,
    load_sounddevice,
    microphone_problem,
    refresh_devices,
)

NO_INPUT = "no input channels (an output, or an input PortAudio could not open when it started)"


@dataclass(frozen=True)
class AudioInput:
    number: int
    name: str
    """What `microphone.device` takes to pick it: its name, else its number (when the name
    picks another device, or several)."""
    channels: int
    rate: int
    picked: bool
    """`microphone.device` picks it."""
    default: bool
    """It is the system's default input."""
    problem: str | None
    """Why the assistant cannot listen to it, with the fix; None when it can."""


def _number(device: str) -> int | None:
    """The number of the input `device` names (in the list of `audio_inputs`); None when it
    names none."""
    try:
        return input_number(device, refresh=False)
    except MicrophoneError:
        return None


def _setting_value(number: int, name: str) -> str:
    """What `microphone.device` takes for device `number`, called `name`."""
    return name if _number(name) == number else str(number)


def audio_inputs(device: str) -> list[AudioInput]:
    """Every device PortAudio lists once it has looked for them again, with `device` (a
    `microphone.device`) judged against them; MicrophoneError with the fix when sounddevice
    cannot load, or PortAudio cannot start."""
    sd = load_sounddevice()
    refresh_devices()
    picked, default = _number(device), _number("default")
    listed = []
    for info in sd.query_devices():
        number, channels = info["index"], info["max_input_channels"]
        value = _setting_value(number, info["name"]) if channels else info["name"]
        problem = microphone_problem(value, refresh=False) if channels else NO_INPUT
        listed.append(
            AudioInput(
                number,
                value,
                channels,
                round(info["default_samplerate"]),
                number == picked,
                number == default,
                problem,
            )
        )
    return listed


def input_lines(device: str) -> tuple[list[str], bool]:
    """`assistant devices`' lines about the microphones (a heading, then `use` or `skip`, the
    number, the name `microphone.device` takes, channels and rate, and what is special about
    it or why it cannot be used), and whether `device` picks one that can be used."""
    heading = f"microphones (microphone.device: {device or 'default'}):"
    try:
        inputs = audio_inputs(device)
    except MicrophoneError as error:
        return [heading, f"none listed: {error}"], False
    if not inputs:
        return [heading, "none: PortAudio lists no audio device (`python -m sounddevice`)"], False
    width = max(len(found.name) for found in inputs)
    lines = [heading]
    for found in inputs:
        notes = [f"{found.channels} input channels, default rate {found.rate} Hz"]
        if found.picked:
            notes.append("microphone.device picks it")
        if found.default:
            notes.append("the system default")
        if found.problem:
            notes.append(f"cannot be used: {found.problem}")
        mark = "use " if found.picked and not found.problem else "skip"
        lines.append(f"{mark}  {found.number:>3}  {found.name:<{width}}  {'; '.join(notes)}")
    if not any(found.picked for found in inputs):
        lines.append(f"microphone.device picks none: {microphone_problem(device, refresh=False)}")
    usable = any(found.picked and not found.problem for found in inputs)
    return lines, usable
