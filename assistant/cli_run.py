"""`assistant run`: the assistant in the foreground, as the service runs it, until SIGTERM,
Ctrl-C or its terminal closes; SIGHUP reloads its configuration (see assistant.hangup). It
holds the instance lock and the run marker, and serves `send`, `status` and `reload` on the
control socket."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant import control, hangup, logformat, microphone, run_marker, service, stop_signals
from assistant.cli_config import load, problems_status
from assistant.config import ROLES, SOURCES, ConfigError, config_path
from assistant.emulator_input import type_commands
from assistant.instance import InstanceLock
from assistant.paths import data_root
from assistant.settings import path_value
from assistant.version import version_text

if TYPE_CHECKING:
    from assistant.daemon import Assistant
    from assistant.reloads import Reload

log = logging.getLogger("assistant")

RUN_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
"""What stops `assistant run` (a service's stop, Ctrl-C); SIGHUP reloads (see assistant.hangup)."""
NOTHING_STARTED = "The configuration has problems, nothing was started:"
"""What `run` says before a configuration's problems."""
HANGUP_CHECK_SECONDS = 0.5
"""How often `run` looks for a SIGHUP (its handler may run just after the wakeup) and whether
the assistant was stopped from within, even if nothing woke it."""


def cmd_run(args: argparse.Namespace) -> int:
    """Hold SIGHUP (a reload while it starts is applied once it runs) and take the instance
    lock before anything else; the exit statuses the unit does not restart mean a problem a
    restart would meet again."""
    hangup.hold()
    terminal = hangup.terminal()
    logformat.setup()
    log.info(  # where each run begins in the journal, and what runs
        "assistant %s starting (pid %d, configuration %s)",
        version_text(),
        os.getpid(),
        config_path(args.config),
    )
    try:
        lock = InstanceLock(data_root(), control.socket_path())
    except control.AlreadyRunning as error:
        log.error("%s", error)
        return service.ALREADY_RUNNING_STATUS
    except OSError as error:
        lock = None
        log.warning(
            "cannot take the instance lock in %s (%s): a second assistant on this data "
            "directory would not be refused",
            data_root(),
            error,
        )
    try:  # only the lock's holder marks the run: the marker is the running instance's
        return _serve(args, terminal, run_marker.RunMarker(data_root()) if lock else None)
    finally:
        if lock:
            lock.release()


def _serve(
    args: argparse.Namespace, terminal: int | None, marker: run_marker.RunMarker | None
) -> int:
    """Run until stopped: SIGTERM, Ctrl-C, or `terminal` (the controlling terminal, None
    without one) closed; any other SIGHUP reloads the configuration. `marker` (None: none is
    kept) is made once the assistant starts and removed when it stops so: a run killed or
    crashed leaves it, and the next one says it is back."""
    from assistant.daemon import Assistant

    try:
        _, installed, config = load(args)
    except ConfigError as error:
        return problems_status(error, NOTHING_STARTED, log.error)
    overrides = {name: getattr(args, name) for name in ("source", "role") if getattr(args, name)}
    if args.port:
        overrides["port"] = path_value(args.port, Path.cwd())
        overrides.setdefault("source", "serial")
    logformat.setup(config.log_level)
    try:
        assistant = Assistant(config, installed, overrides=overrides)
    except ValueError as error:
        return problems_status(error, NOTHING_STARTED, log.error)
    with stop_signals.StopSignals(RUN_STOP_SIGNALS) as stops:  # one from now on ends the wait
        try:
            server = control.ControlServer(
                control.socket_path(),
                assistant.run_sent_command,
                assistant.config.site,
                status=assistant.status,
                reload=lambda: _reload(assistant, args.config).answer(),
            )
        except control.AlreadyRunning as error:
            log.error("%s", error)
            return service.ALREADY_RUNNING_STATUS
        except control.UnsafeDirectory as error:
            log.error("%s", error)
            return service.UNSAFE_RUNTIME_STATUS
        microphone.load_before_threads(assistant.config.source)
        back = marker.begin() if marker else False
        if back:
            log.warning("the previous run did not stop cleanly (it was killed or crashed)")
        assistant.start()
        server.start()
        assistant.open_default_sources(back)
        if assistant.virtual_board and sys.stdin.isatty():
            [session] = [r.session for r in assistant.sources if r.kind == "emulator"]
            threading.Thread(
                target=type_commands, args=(assistant.virtual_board, session.greeted), daemon=True
            ).start()
        # SIGHUP's handler wakes it too; `stopping` set from within also ends the run
        while not stops.wait(HANGUP_CHECK_SECONDS) and not assistant.stopping.is_set():
            if hangup.take():
                if hangup.hung_up(terminal):
                    log.info("the terminal closed")
                    break
                _reload(assistant, args.config)
    log.info("stopping")
    server.stop()
    assistant.stop()
    if marker:
        marker.end()
    return 0


def _reload(assistant: Assistant, explicit: str | None) -> Reload:
    """SIGHUP or `assistant reload`: load the configuration again, from the file `config
    check` would name now (without --config, a user file made or removed since is taken into
    account)."""
    now = config_path(explicit)
    if now != assistant.loaded.file:
        log.warning("the configuration file changes: %s, no longer %s", now, assistant.loaded.file)
    return assistant.reload(now)


def _port(text: str) -> str:
    """--port for argparse: an empty one (`--port "$PORT"` with PORT unset) is refused, not
    taken as none given."""
    if not text.strip():
        raise argparse.ArgumentTypeError("a serial port's path, such as /dev/ttyACM0, not empty")
    return text


def add_command(commands: argparse._SubParsersAction, **common: Any) -> None:
    """Add `run` to the assistant's command line (`common`: what every command's parser takes,
    such as --config)."""
    run = commands.add_parser("run", help="run the assistant", **common)
    run.add_argument("--source", choices=SOURCES, help="where commands come from")
    run.add_argument("--role", choices=ROLES, help="single machine, or rooms over MQTT")
    run.add_argument(
        "--port",
        type=_port,
        help="the board's serial port (instead of device.port); implies --source serial",
    )
    run.set_defaults(func=cmd_run)
