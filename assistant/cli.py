"""The `assistant` command."""

from __future__ import annotations

import argparse
import contextlib
import locale
import logging
import math
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from assistant import (
    PACKAGE,
    clips_move,
    control,
    hangup,
    logformat,
    microphone,
    ports,
    run_marker,
    service,
    stop_signals,
    vosk_models,
)
from assistant.config import ROLES, SOURCES, Config, ConfigError, config_path, load_config
from assistant.discovery import api_version_text, discover_skills, usable_skills
from assistant.emulator_input import emulated_board, feed_board, tell, type_commands
from assistant.instance import InstanceLock, daemon_pid, daemon_socket
from assistant.paths import data_root
from assistant.plugin import Setting, Skill
from assistant.settings import path_value
from assistant.version import version_text

if TYPE_CHECKING:
    from assistant.daemon import Assistant
    from assistant.reloads import Reload

log = logging.getLogger("assistant")

RUN_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
"""What stops `assistant run` (a service's stop, Ctrl-C); SIGHUP reloads (see assistant.hangup)."""
HANGUP_CHECK_SECONDS = 0.5
"""How often `run` looks for a SIGHUP (its handler may run just after the wakeup) and whether
the assistant was stopped from within, even if nothing woke it."""


def _load(args: argparse.Namespace) -> tuple[Path, dict[str, type[Skill]], Config]:
    """The configuration file `args` name, the installed skills, and the file loaded."""
    installed, unloadable = usable_skills()
    path = config_path(args.config)
    return path, installed, load_config(path, installed, unloadable)


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
        _, installed, config = _load(args)
    except ConfigError as error:
        log.error("The configuration has problems, nothing was started:\n%s", error)
        return service.CONFIG_ERROR_STATUS
    overrides = {name: getattr(args, name) for name in ("source", "role") if getattr(args, name)}
    if args.port:
        overrides["port"] = path_value(args.port, Path.cwd())
        overrides.setdefault("source", "serial")
    logformat.setup(config.log_level)
    try:
        assistant = Assistant(config, installed, overrides=overrides)
    except ValueError as error:
        log.error("The configuration has problems, nothing was started:\n%s", error)
        return service.CONFIG_ERROR_STATUS
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


def cmd_emulate(args: argparse.Namespace) -> int:
    """A virtual board on a pty, with a link to it (`--link`, else `emulator.default_link()`)
    that goes when the board goes, as a real board's by-id link: Ctrl-C, SIGTERM or a closed
    terminal (SIGHUP; ignored under `nohup`, as `run` outlives it there) remove it before the
    pty closes."""
    from assistant.emulator import default_link

    logformat.setup()
    try:  # the configured model's commands, and its pipeline for --wav
        _, _, config = _load(args)
    except ConfigError as error:
        print(f"The configuration has problems:\n{error}", file=sys.stderr)
        return service.CONFIG_ERROR_STATUS
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
    board, messages = emulated_board(args, config, link)
    with stop_signals.StopSignals(stops) as stopping:  # from now on they raise nothing
        try:
            board.plug_in()
            tell(
                f"virtual board on {board.path} (link: {link})",
                f"connect with: assistant run --source serial --port {link}",
            )
            stopping.run(lambda: feed_board(board, args, messages, script))
        finally:  # the link first: a host reopening it must not find the pty's name, soon another's
            board.remove_link()
            board.close()
    return 0


def _emulate_stop_signals() -> tuple[signal.Signals, ...]:
    """What ends `emulate`: Ctrl-C, `kill`, its terminal closed (SIGHUP), unless it was started
    with SIGHUP ignored (`nohup`), which it then goes on ignoring."""
    stops = (signal.SIGINT, signal.SIGTERM)
    return stops if hangup.outlives_terminal() else (*stops, signal.SIGHUP)


def cmd_devices(args: argparse.Namespace) -> int:
    """The serial ports and the microphones, or with --listen the microphone check; exit 1
    when there is neither a serial port nor a microphone the assistant can use."""
    try:
        _, _, config = _load(args)
    except ConfigError as error:
        print(f"The configuration has problems:\n{error}", file=sys.stderr)
        return service.CONFIG_ERROR_STATUS
    if args.listen is not None:
        from assistant.microphone_check import check_microphone

        return check_microphone(config, args.listen or None)
    from assistant.audio_inputs import input_lines

    found = ports.candidates()
    print("serial ports:")
    if not found:
        print("none at all: plug the board in (and see firmware/README.md)")
    # names are the devices' own (a USB product string, a sound card's): printed as the log
    # prints text from outside, so no escape sequence in one can steer the terminal
    for candidate in found:
        mark = "use " if candidate.picked else "skip"
        line = f"{mark}  {candidate.device:<20} {candidate.reason}  [{candidate.description}]"
        print(logformat.printable(line))
    lines, usable = input_lines(config.sections["microphone"]["device"])
    print(*map(logformat.printable, lines), sep="\n")
    return 0 if found or usable else 1


def cmd_skills(args: argparse.Namespace) -> int:
    installed, broken = discover_skills()
    print(api_version_text())
    for name, skill in sorted(installed.items()):
        print(_with_help(name, skill.description))
        for action in skill.actions().values():
            params = ", ".join(p.name for p in action.params)
            print(
                _with_help(
                    f"  action {action.name}" + (f"({params})" if params else ""), action.help
                )
            )
            for param in action.params:
                print(f"    with {_described(param)}")
        for setting in skill.settings:
            print(f"  setting {_described(setting)}")
    for plugin in broken:
        print(f"BROKEN {plugin.name} ({plugin.target}): {plugin.error}")
    return 1 if broken else 0


def _with_help(name: str, help: str) -> str:
    """`name: help`, or the name alone when the skill or action gave no help text."""
    return f"{name}: {help}" if help else name


def _described(setting: Setting) -> str:
    """A setting or parameter for `assistant skills`: name (type, default, choices, type of
    a dict's values, bounds): help."""
    facts = [setting.type.__name__]
    facts.append("required" if setting.required else f"default {setting.default!r}")
    if setting.choices:
        facts.append("one of " + " | ".join(map(str, setting.choices)))
    if setting.values is not None:
        facts.append(f"values {setting.values.__name__}")
    if setting.path:
        facts.append("a path")
    if setting.minimum is not None:
        facts.append(f"at least {setting.minimum:g}")
    if setting.maximum is not None:
        facts.append(f"at most {setting.maximum:g}")
    return f"{setting.name} ({', '.join(facts)}): {setting.help}"


def cmd_config_check(args: argparse.Namespace) -> int:
    args.config = args.file or args.config
    try:
        path, _, config = _load(args)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return service.CONFIG_ERROR_STATUS
    for note in config.notes:
        print(note)
    print(f"{path}: OK ({_summary(config)})")
    return 0


def _summary(config: Config) -> str:
    """What a good file does, for `config check`: the commands it maps and the skills it runs
    (and switches off); for a satellite, whose commands and skills are the hub's, its site."""
    if config.role == "satellite":
        return f"satellite at site {config.site}: commands and skills are the hub's"
    mapped = f"{len(config.commands)} command{'' if len(config.commands) == 1 else 's'}"
    off = f"; off: {', '.join(config.skills_off)}" if config.skills_off else ""
    return f"{mapped}, skills: {', '.join(config.skills) or 'none'}{off}"


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


RESTART = (
    "`systemctl --user restart assistant` for the service, else Ctrl-C where it runs and "
    "`assistant run`"
)
"""How to restart the running assistant, so that it runs the version installed since."""


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
    print(*answer.removeprefix("OK ").split("; "), sep="\n")
    return 0


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
    print(*answer.partition(" ")[2].split("\t"), sep="\n", file=sys.stdout if ok else sys.stderr)
    if ok:
        return 0
    return service.CONFIG_ERROR_STATUS if answer.startswith("ERR not reloaded") else 1


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


def cmd_rooms_forget(args: argparse.Namespace) -> int:
    """Clear this machine's retained messages from the broker (assistant.rooms.forget), holding
    the instance lock: refused while the assistant runs, which would announce them again."""
    logformat.setup("WARNING")  # the broker's refusal, or why it cannot be reached
    try:
        path, _, config = _load(args)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return service.CONFIG_ERROR_STATUS
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
            _load(args)  # what `config check` checks: a unit that cannot start is not installed
        except ConfigError as error:
            print(
                f"The configuration has problems, nothing was installed:\n{error}", file=sys.stderr
            )
            return service.CONFIG_ERROR_STATUS
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


def _seconds(text: str) -> float:
    """A number of seconds, 0 or more, for argparse."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not seconds >= 0:
        raise argparse.ArgumentTypeError(f"a number of seconds, 0 or more, not {text!r}")
    return seconds


class _PrintVersion(argparse.Action):
    """`--version`: the version on one line, however narrow the terminal (argparse's own
    version action wraps it to the terminal's width)."""

    def __init__(self, option_strings: list[str], dest: str, help: str) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        print(f"{parser.prog} {version_text()} ({PACKAGE})")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    config_help = "configuration file (default: user config, else the default config.yaml)"
    parser = argparse.ArgumentParser(prog="assistant", description=__doc__)
    parser.add_argument(
        "--version", action=_PrintVersion, help="show the version and exit (name it in reports)"
    )
    parser.add_argument("--config", help=config_help)
    after = argparse.ArgumentParser(add_help=False)  # --config after a subcommand, too
    after.add_argument("--config", default=argparse.SUPPRESS, help=config_help)
    common = {"parents": [after]}
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the assistant", **common)
    run.add_argument("--source", choices=SOURCES, help="where commands come from")
    run.add_argument("--role", choices=ROLES, help="single machine, or rooms over MQTT")
    run.add_argument(
        "--port", help="the board's serial port (instead of device.port); implies --source serial"
    )
    run.set_defaults(func=cmd_run)

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
        type=int,
        help="how often the board sends a heartbeat (default: the configuration's "
        "emulator.heartbeat_ms)",
    )
    emulate.set_defaults(func=cmd_emulate)

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
    commands.add_parser("skills", help="list installed skills", **common).set_defaults(
        func=cmd_skills
    )

    config = commands.add_parser("config", help="configuration tools", **common)
    config_commands = config.add_subparsers(dest="config_command", required=True)
    check = config_commands.add_parser("check", help="validate the configuration", **common)
    check.add_argument("file", nargs="?", help="the file to check (default: like --config)")
    check.set_defaults(func=cmd_config_check)

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

    vosk_models.add_commands(commands, **common)
    clips_move.add_commands(commands, **common)
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
    args = build_parser().parse_args(argv)
    use_time_locale()
    if args.func is not cmd_run:
        hangup.release()  # only the daemon reloads; a command in a closed terminal ends
    try:
        return args.func(args)
    except BrokenPipeError:  # `assistant skills | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
