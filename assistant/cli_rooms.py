"""`assistant rooms forget`: this machine's retained messages cleared from the broker
(assistant/rooms/forget.py), while the assistant does not run."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from assistant import control, logformat, service
from assistant.cli_config import load, problems_status
from assistant.config import ConfigError
from assistant.instance import InstanceLock
from assistant.paths import data_root


def cmd_rooms_forget(args: argparse.Namespace) -> int:
    """Clear this machine's retained messages from the broker (assistant.rooms.forget), holding
    the instance lock: refused while the assistant runs, which would announce them again."""
    logformat.setup("WARNING")  # the broker's refusal, or why it cannot be reached
    try:
        path, _, config = load(args)
    except ConfigError as error:
        return problems_status(error, heading="")
    try:
        lock = InstanceLock(data_root(), control.socket_path())
    except control.AlreadyRunning as error:
        print(error, file=sys.stderr)
        return service.ALREADY_RUNNING_STATUS
    from assistant.rooms.forget import forget  # the MQTT client, loaded only here

    try:
        return forget(config, path, data_root() / "rooms")
    finally:
        lock.release()


def add_command(commands: argparse._SubParsersAction, **common: Any) -> None:
    """Add `rooms forget` to the assistant's command line (`common`: what every command's
    parser takes, such as --config)."""
    rooms = commands.add_parser("rooms", help="this machine's rooms over MQTT", **common)
    rooms_commands = rooms.add_subparsers(dest="rooms_command", required=True)
    rooms_commands.add_parser(
        "forget",
        help="clear this machine's retained status and Home Assistant entities from the broker",
        description="Clear from the broker of the mqtt: section the retained messages this "
        "machine left there (its status, its Home Assistant discovery configs), so Home "
        "Assistant removes its device. Refused while the assistant runs.",
        **common,
    ).set_defaults(func=cmd_rooms_forget)
