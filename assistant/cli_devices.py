"""`assistant devices`: the serial ports and microphones, and which ones the assistant uses; with
--listen, the configured microphone's check (assistant/microphone_check.py)."""

from __future__ import annotations

import argparse
import math
from typing import Any

from assistant import logformat, ports
from assistant.cli_config import load, problems_status
from assistant.config import ConfigError


def cmd_devices(args: argparse.Namespace) -> int:
    """The serial ports and the microphones, or with --listen the microphone check; exit 1
    when there is neither a serial port nor a microphone the assistant can use."""
    try:
        _, _, config = load(args)
    except ConfigError as error:
        return problems_status(error)
    if args.listen is not None:
        from assistant.microphone_check import check_microphone

        return check_microphone(config, args.listen or None)
    from assistant.audio_inputs import input_lines

    found = ports.candidates()
    print("serial ports:")
    if not found:
        print(
            "none at all: plug the board in (and see firmware/README.md in the source repository)"
        )
    # names are the devices' own (a USB product string, a sound card's): printed as the log
    # prints text from outside, so no escape sequence in one can steer the terminal
    for candidate in found:
        mark = "use " if candidate.picked else "skip"
        line = f"{mark}  {candidate.device:<20} {candidate.reason}  [{candidate.description}]"
        print(logformat.printable(line))
    lines, usable = input_lines(config.sections["microphone"]["device"])
    print(*map(logformat.printable, lines), sep="\n")
    return 0 if found or usable else 1


LONGEST_LISTEN = 86_400
"""The longest --listen, a day, in seconds: a wait of centuries overflows the system's clock,
and 0 listens until Ctrl-C."""


def _seconds(text: str) -> float:
    """A number of seconds from 0 to LONGEST_LISTEN, for argparse."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not 0 <= seconds <= LONGEST_LISTEN:
        raise argparse.ArgumentTypeError(
            f"a number of seconds from 0 to {LONGEST_LISTEN} (0: until Ctrl-C), not {text!r}"
        )
    return seconds


def add_command(commands: argparse._SubParsersAction, **common: Any) -> None:
    """Add `devices` to the assistant's command line (`common`: what every command's parser
    takes, such as --config)."""
    devices = commands.add_parser(
        "devices", help="list serial ports and microphones, and which ones are used", **common
    )
    devices.add_argument(
        "--listen",
        nargs="?",
        type=_seconds,
        const=0,
        metavar="SECONDS",
        help="check the configured microphone instead: its level, the best-scored command and "
        "the commands heard, for SECONDS (default: until Ctrl-C)",
    )
    devices.set_defaults(func=cmd_devices)
