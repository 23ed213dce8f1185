"""`assistant emulate`: a virtual board on a pseudo-terminal (assistant/emulator.py), fed with
the lines typed, a script's or a WAV recording's (assistant/emulator_input.py), for
`assistant run --source serial` to read as it reads a board."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Any

from assistant import control, hangup, logformat, stop_signals
from assistant.cli_config import load, problems_status
from assistant.config import EMULATOR_SETTINGS, ConfigError
from assistant.emulator_input import emulated_board, feed_board, heartbeat_ms, tell
from assistant.settings import validate_settings


def cmd_emulate(args: argparse.Namespace) -> int:
    """A virtual board on a pty, with a link to it (`--link`, else `emulator.default_link()`)
    that goes when the board goes, as a real board's by-id link: Ctrl-C, SIGTERM or a closed
    terminal (SIGHUP; ignored under `nohup`, as `run` outlives it there) remove it before the
    pty closes."""
    from assistant.emulator import LinkError, default_link

    logformat.setup()
    try:  # the configured model's commands, and its pipeline for --wav
        _, _, config = load(args)
    except ConfigError as error:
        return problems_status(error)
    try:  # before the board is there: a host would wait for it in vain
        script = Path(args.script).read_text().splitlines() if args.script else None
    except (OSError, UnicodeDecodeError) as error:
        print(f"cannot read the script {args.script}: {error}", file=sys.stderr)
        return 1
    link = Path(args.link) if args.link else default_link()
    if not args.link:
        try:
            control.private_directory(link.parent)
        except control.UnsafeDirectory as error:
            print(error, file=sys.stderr)
            return 1
    stops = _emulate_stop_signals()
    for stop in stops:
        signal.signal(stop, signal.default_int_handler)  # as Ctrl-C, while a WAV is heard
    period = heartbeat_ms(args, config)
    board, messages = emulated_board(args, config, link, period)
    with stop_signals.StopSignals(stops) as stopping:  # from now on they raise nothing
        try:
            board.plug_in()
            tell(
                f"virtual board on {board.path} (link: {link})",
                f"connect with: assistant run --source serial --port {link}",
            )
            stopping.run(lambda: feed_board(board, args, messages, script, period))
        except LinkError as error:
            print(error, file=sys.stderr)
            return 1
        finally:  # the link first: a host reopening it must not find the pty's name, soon another's
            board.remove_link()
            board.close()
    return 0


def _emulate_stop_signals() -> tuple[signal.Signals, ...]:
    """What ends `emulate`: Ctrl-C, `kill`, its terminal closed (SIGHUP), unless it was started
    with SIGHUP ignored (`nohup`), which it then goes on ignoring."""
    stops = (signal.SIGINT, signal.SIGTERM)
    return stops if hangup.outlives_terminal() else (*stops, signal.SIGHUP)


def _heartbeat_ms(text: str) -> int:
    """--heartbeat-ms for argparse: 0 (no heartbeats), or what emulator.heartbeat_ms takes."""
    if text == "0":
        return 0
    value: int | str = int(text) if text.lstrip("-").isdigit() else text
    values, problems = validate_settings({"heartbeat_ms": value}, EMULATOR_SETTINGS)
    if problems:
        raise argparse.ArgumentTypeError(f"{problems[0].message}; or 0 for no heartbeats")
    return values["heartbeat_ms"]


def add_command(commands: argparse._SubParsersAction, **common: Any) -> None:
    """Add `emulate` to the assistant's command line (`common`: what every command's parser
    takes, such as --config)."""
    emulate = commands.add_parser("emulate", help="a virtual board on a pseudo-terminal", **common)
    emulate.add_argument(
        "--link",
        help="keep this path pointing at the virtual port while it runs (default: "
        "$XDG_RUNTIME_DIR/assistant-virtual-board)",
    )
    emulate.add_argument("--script", help="file of lines: `up`, `up 0.7`, `wait 1.5`, `raw ...`")
    emulate.add_argument(
        "--wav",
        help="hear a 16-bit mono WAV (another rate than 16 kHz is resampled) through the board's "
        "pipeline and send its lines",
    )
    emulate.add_argument(
        "--fast",
        action="store_true",
        help="with --wav: send the lines at once, not in real time (the host then ignores a "
        "command repeated within its cooldown, however far apart in the recording)",
    )
    emulate.add_argument("--stay", action="store_true", help="keep running after the script/WAV")
    emulate.add_argument(
        "--heartbeat-ms",
        type=_heartbeat_ms,
        help="how often the board sends a heartbeat (default: the configuration's "
        "emulator.heartbeat_ms)",
    )
    emulate.set_defaults(func=cmd_emulate)
