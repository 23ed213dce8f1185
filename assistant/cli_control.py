"""`assistant send`, `status` and `reload`: the running assistant asked over its control
socket (assistant/control.py), or told on stderr why it cannot be."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from assistant import control, service
from assistant.cli_config import checks_config_readable
from assistant.instance import daemon_pid, daemon_socket
from assistant.paths import data_root

RESTART = (
    "`systemctl --user restart assistant` for the service, else Ctrl-C where it runs and "
    "`assistant run`"
)
"""How to restart the running assistant, so that it runs the version installed since."""


@checks_config_readable
def cmd_send(args: argparse.Namespace) -> int:
    """Exit 0 only when every action succeeded; `ERR ...` goes to stderr with exit 1."""
    try:
        answer = control.send_command(args.command, daemon_socket(data_root()))
    except ConnectionError as error:
        print(error, file=sys.stderr)
        return 1
    if answer.startswith("OK "):
        print(answer)
        return 0
    print(answer, file=sys.stderr)
    return 1


@checks_config_readable
def cmd_status(args: argparse.Namespace) -> int:
    """The running daemon's pid, version, start, configuration file, last reload, skills,
    sources and link counters, and a satellite's or hub's role, site, peers, counters and
    broker; exit 1 when no daemon answers."""
    answer = _ask_daemon(
        control.request_status,
        "STATUS",
        "has no status",
        f"restart it to run this one ({RESTART})",
    )
    if answer is None:
        return 1
    if not answer.startswith("OK "):
        print(answer, file=sys.stderr)
        return 1
    _print_lines(answer, sys.stdout)
    return 0


@checks_config_readable
def cmd_reload(args: argparse.Namespace) -> int:
    """Have the running daemon reload its configuration and print the outcome: exit 0 when it
    took effect, CONFIG_ERROR_STATUS when the file has problems (the running configuration
    stays), 1 when no daemon answers or it cannot reload."""
    pid = daemon_pid(data_root())
    answer = _ask_daemon(
        control.request_reload,
        "RELOAD",
        "cannot be asked to reload",
        "reload it with `systemctl --user reload assistant` for the service, else "
        + (f"`kill -HUP {pid}`" if pid else "`kill -HUP` its pid (`pgrep -af assistant`)")
        + f", or restart it to run this version ({RESTART})",
    )
    if answer is None:
        return 1
    ok = answer.startswith("OK ")
    _print_lines(answer, sys.stdout if ok else sys.stderr)
    if ok:
        return 0
    return service.CONFIG_ERROR_STATUS if answer.startswith("ERR not reloaded") else 1


def _print_lines(answer: str, file: TextIO) -> None:
    """Print the lines of the daemon's `answer` (after its `OK`/`ERR`, joined by tabs), one a
    line."""
    print(*answer.partition(" ")[2].split("\t"), sep="\n", file=file)


def _ask_daemon(ask: Callable[[Path], str], request: str, lacking: str, instead: str) -> str | None:
    """The running daemon's answer to `ask`, or None, said why on stderr, when none answers
    or it is of an earlier version, which `lacking` the `request` (`instead`: what to do)."""
    try:
        answer = ask(daemon_socket(data_root()))
    except ConnectionError as error:
        print(error, file=sys.stderr)
        return None
    if answer.startswith("ERR use:") and request not in answer:
        print(
            f"the running assistant is of an earlier version, which {lacking} ({answer}): "
            f"{instead}",
            file=sys.stderr,
        )
        return None
    return answer


def add_commands(commands: argparse._SubParsersAction, **common: Any) -> None:
    """Add `send`, `status` and `reload` to the assistant's command line (`common`: what every
    command's parser takes, such as --config)."""
    send = commands.add_parser("send", help="make the running assistant act on a command", **common)
    send.add_argument("command", help="a command the configuration maps, e.g. up")
    send.set_defaults(func=cmd_send)

    commands.add_parser(
        "status",
        help="the running assistant's pid, version, start, configuration, last reload, skills, "
        "source and link counters",
        **common,
    ).set_defaults(func=cmd_status)

    commands.add_parser(
        "reload",
        help="make the running assistant reload its configuration, and say what changed or "
        "what to fix",
        **common,
    ).set_defaults(func=cmd_reload)
