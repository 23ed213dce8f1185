"""The `assistant` command."""

from __future__ import annotations

import argparse
import contextlib
import locale
import os
import sys

from assistant import (
    PACKAGE,
    cli_config,
    cli_control,
    cli_devices,
    cli_emulate,
    cli_rooms,
    cli_run,
    cli_service,
    cli_skills,
    clips_move,
    clips_sort,
    hangup,
    vosk_models,
)
from assistant.version import version_text


class _PrintVersion(argparse.Action):
    """`--version`: the version on one line, however narrow the terminal (argparse's own
    version action wraps it to the terminal's width)."""

    def __init__(self, option_strings: list[str], dest: str, help: str) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        print(f"{parser.prog} {version_text()} ({PACKAGE})")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    """The command line of every subcommand, each added by the module that runs it."""
    config_help = (
        "configuration file (default: ~/.config/assistant/config.yaml if there, else the "
        "default config.yaml)"
    )
    parser = argparse.ArgumentParser(
        prog="assistant",
        description="Hands-free voice commands: the commands on, off, up, down, go and stop, "
        "spotted by a board (or the desktop microphone, or a virtual board), run skills: "
        "timers, media, lights, spoken replies. `assistant COMMAND --help` describes each "
        "command; so does docs/commands.md, in the source repository.",
    )
    parser.add_argument(
        "--version", action=_PrintVersion, help="show the version and exit (name it in reports)"
    )
    parser.add_argument("--config", metavar="FILE", help=config_help)
    after = argparse.ArgumentParser(add_help=False)  # --config after a subcommand, too
    after.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS, help=config_help)
    common = {"parents": [after]}
    commands = parser.add_subparsers(dest="command", required=True)

    for add_command in (
        cli_run.add_command,
        cli_emulate.add_command,
        cli_devices.add_command,
        cli_skills.add_command,
        cli_config.add_command,
        cli_control.add_commands,
        cli_service.add_command,
        cli_rooms.add_command,
        vosk_models.add_commands,
    ):
        add_command(commands, **common)
    clips = clips_move.add_commands(commands, **common)
    clips_sort.add_command(clips, **common)
    _name_choices(parser)
    return parser


def _name_choices(parser: argparse.ArgumentParser) -> None:
    """A missing subcommand, at any depth, is reported by its choices (`required: {check}`),
    not by the internal name its value is stored under."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            action.metavar = "{" + ",".join(action.choices) + "}"
            for subparser in action.choices.values():
                _name_choices(subparser)


def use_time_locale() -> None:
    """Take LC_TIME from the environment (Python leaves it at C), so that times of day are said
    on the user's 12- or 24-hour clock (assistant.spoken.twelve_hour_clock); one the system does
    not have leaves C, a 24-hour clock."""
    with contextlib.suppress(locale.Error):
        locale.setlocale(locale.LC_TIME, "")


def main(argv: list[str] | None = None) -> int:
    """Run the subcommand `argv` (the command line's, by default) names; its exit status."""
    args = build_parser().parse_args(argv)
    use_time_locale()
    if args.func is not cli_run.cmd_run:
        hangup.release()  # only the daemon reloads; a command in a closed terminal ends
    try:
        return args.func(args)
    except BrokenPipeError:  # `assistant skills | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
