"""The configuration a subcommand of `assistant` runs with (the file --config names, else the
user's, else the default, loaded against the skills installed), and `assistant config check`,
which says whether it loads."""

from __future__ import annotations

import argparse
import functools
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from assistant import service
from assistant.config import (
    DEFAULT_CONFIG,
    Config,
    ConfigError,
    config_path,
    load_config,
    read_config_text,
    user_config_path,
)
from assistant.discovery import usable_skills
from assistant.plugin import Skill

Command = Callable[[argparse.Namespace], int]
"""A subcommand of `assistant`: its exit status for the command line `args`."""


def load(args: argparse.Namespace) -> tuple[Path, dict[str, type[Skill]], Config]:
    """The configuration file `args` name, the installed skills, and the file loaded."""
    installed, unloadable = usable_skills()
    path = config_path(args.config)
    return path, installed, load_config(path, installed, unloadable)


def checks_config_readable(command: Command) -> Command:
    """`command`, one that does not load the configuration (`skills`, and `status`, `send` and
    `reload`, which ask the running assistant), first saying, as the commands that load it do,
    that the file --config names cannot be read (missing, a folder), with their exit status."""

    @functools.wraps(command)
    def checked(args: argparse.Namespace) -> int:
        if args.config:
            try:
                read_config_text(config_path(args.config))
            except ConfigError as error:
                return problems_status(error)
        return command(args)

    return checked


def problems_status(
    error: Exception,
    heading: str = "The configuration has problems:",
    say: Callable[[str], object] | None = None,
) -> int:
    """Say the configuration's problems `error` under `heading` ("": none) with `say` (by
    default on stderr); the exit status that tells them, service.CONFIG_ERROR_STATUS."""
    told = f"{heading}\n{error}" if heading else str(error)
    if say:
        say(told)
    else:
        print(told, file=sys.stderr)
    return service.CONFIG_ERROR_STATUS


def cmd_config_check(args: argparse.Namespace) -> int:
    args.config = args.file or args.config
    try:
        path, _, config = load(args)
    except ConfigError as error:
        return problems_status(error, heading="")
    for note in config.notes:
        print(note)
    print(f"{path}: OK ({_summary(config)})")
    if path == DEFAULT_CONFIG and not args.config:
        print(_how_to_copy(path))
    return 0


def _how_to_copy(default: Path) -> str:
    """What to run to make the user's own configuration from the default one."""
    user = user_config_path()
    return (
        "this is the default configuration; to change it, make your own copy, which the "
        f"assistant then reads instead: mkdir -p {shlex.quote(str(user.parent))} && "
        f"cp {shlex.quote(str(default))} {shlex.quote(str(user))}"
    )


def _summary(config: Config) -> str:
    """What a good file does, for `config check`: the commands it maps and the skills it runs
    (and switches off); for a satellite, whose commands and skills are the hub's, its site."""
    if config.role == "satellite":
        return f"satellite at site {config.site}: commands and skills are the hub's"
    mapped = f"{len(config.commands)} command{'' if len(config.commands) == 1 else 's'}"
    off = f"; off: {', '.join(config.skills_off)}" if config.skills_off else ""
    return f"{mapped}, skills: {', '.join(config.skills) or 'none'}{off}"


def add_command(commands: argparse._SubParsersAction, **common: Any) -> None:
    """Add `config check` to the assistant's command line (`common`: what every command's
    parser takes, such as --config)."""
    config = commands.add_parser("config", help="configuration tools", **common)
    config_commands = config.add_subparsers(dest="config_command", required=True)
    check = config_commands.add_parser("check", help="validate the configuration", **common)
    check.add_argument("file", nargs="?", help="the file to check (default: like --config)")
    check.set_defaults(func=cmd_config_check)
