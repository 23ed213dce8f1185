"""`assistant service install`, `uninstall` and `status`: the assistant as a systemd user
service (assistant/service.py); a unit whose configuration does not load is not installed."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from assistant import service
from assistant.cli_config import load, problems_status
from assistant.config import ConfigError


def cmd_service(args: argparse.Namespace) -> int:
    if args.action == "install":
        kept = None if args.config else service.installed_config()
        if kept:
            args.config = kept
            print(
                f"keeping --config {args.config} of the installed unit (give --config to change "
                "it, or uninstall first to run without it)",
                file=sys.stderr,
            )
        try:
            load(args)  # what `config check` checks: a unit that cannot start is not installed
        except ConfigError as error:
            return problems_status(error, "The configuration has problems, nothing was installed:")
        if args.print:
            print(service.unit_text(config=args.config), end="")
            return 0
    try:
        if args.action == "install":
            print(service.install(args.config))
        elif args.action == "uninstall":
            print(service.uninstall())
        else:
            shown = service.status()
            print(shown.stdout, end="")
            print(shown.stderr, end="", file=sys.stderr)
            return shown.returncode
    except RuntimeError as error:
        print(error, file=sys.stderr)
        return 1
    return 0


def add_command(commands: argparse._SubParsersAction, **common: Any) -> None:
    """Add `service install`, `uninstall` and `status` to the assistant's command line
    (`common`: what every command's parser takes, such as --config)."""
    svc = commands.add_parser(
        "service",
        help="run as a systemd user service",
        **common,
        description="Run the assistant as a systemd user service; its log goes to the journal "
        "(journalctl --user -u assistant).",
    )
    svc_commands = svc.add_subparsers(dest="action", required=True)
    install = svc_commands.add_parser(
        "install",
        help="check the configuration, write the unit, enable and (re)start it",
        description="Check the configuration like `config check`, then write "
        f"{service.UNIT_NAME} (running `assistant run` with this --config), enable it, and "
        "start it, or restart it when it runs.",
        **common,
    )
    install.add_argument("--print", action="store_true", help="print the unit; install nothing")
    svc_commands.add_parser("uninstall", help="stop, disable and remove the unit", **common)
    svc_commands.add_parser(
        "status", help="systemctl --user status of the unit, and its exit status", **common
    )
    svc.set_defaults(func=cmd_service)
