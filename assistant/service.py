"""Running the assistant as a systemd user service (logs go to the journal)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from assistant.paths import config_home

UNIT_NAME = "assistant.service"
README = Path(__file__).resolve().parent.parent / "README.md"
"""The unit's documentation: in a clone of the repository, not in an installed wheel."""
CONFIG_ERROR_STATUS = 2
"""Exit status of `assistant run` when the configuration has problems: the unit does not
restart it (a restart would fail the same way, every RestartSec, forever)."""
ALREADY_RUNNING_STATUS = 3
"""Exit status of `assistant run` when another assistant runs (on the same data directory or
control socket): not restarted either, it would be refused again until that one stops."""
UNSAFE_RUNTIME_STATUS = 4
"""Exit status of `assistant run` when its runtime folder is not the user's alone: not
restarted, the folder stays so until someone changes it."""


HARDENING = """\
# Private files; no new privileges; only the system calls and sockets a desktop service needs
# (serial ports, sound, D-Bus, MQTT). Options that need user namespaces in a user manager
# (ProtectSystem=, PrivateTmp=, ...) are left out: they fail where those are disabled.
UMask=0077
NoNewPrivileges=yes
LockPersonality=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
RestrictNamespaces=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallErrorNumber=EPERM"""
"""The unit's sandboxing: what a systemd user manager applies by itself (seccomp, umask)."""


def unit_path() -> Path:
    """The user unit's file, where the user manager looks for it: in $XDG_CONFIG_HOME."""
    return config_home() / "systemd" / "user" / UNIT_NAME


def systemd_quoted(word: str, variables: bool = True) -> str:
    """One argument of an ExecStart= line (`variables` False: one assignment of an
    Environment= line, where systemd expands no $), quoted when systemd would otherwise change
    it."""
    escaped = word.replace("%", "%%")
    if variables:
        escaped = escaped.replace("$", "$$")
    if not re.search(r'[\s"\'\\]', word):
        return escaped
    return '"' + escaped.replace("\\", "\\\\").replace('"', '\\"') + '"'


def module_command() -> list[str]:
    """`python -m assistant` for the unit when it was run that way, with the
    working directory (home, for a user unit) kept off the import path, so a stray
    `assistant.py` or `yaml.py` there is never imported: -P (Python 3.11+); before it -I, which
    also ignores the PYTHON* variables (so -u keeps the output unbuffered) and the user's
    site-packages."""
    safe_path = ["-P"] if sys.version_info >= (3, 11) else ["-I", "-u"]
    return [sys.executable, *safe_path, "-m", "assistant"]


def this_installation() -> list[str]:
    """The command of the assistant that runs now, for the unit: the `assistant` script this
    process was started as, else `python -m assistant` on this interpreter; never the first
    `assistant` on PATH, which may be another installation's."""
    script = Path(sys.argv[0])
    if script.name == "assistant" and script.is_file():
        return [os.path.abspath(script)]
    return module_command()


def environment() -> str:
    """The unit's Environment= lines: output unbuffered (each log line reaches the journal at
    once), and the PYTHONPATH this command runs with, its folders made absolute: `install`
    checked the configuration with the code and plugins found there, so the unit runs those."""
    lines = ["Environment=PYTHONUNBUFFERED=1"]
    if path := os.environ.get("PYTHONPATH"):
        folders = os.pathsep.join(os.path.abspath(f or os.curdir) for f in path.split(os.pathsep))
        lines.append("Environment=" + systemd_quoted(f"PYTHONPATH={folders}", variables=False))
    return "\n".join(lines)


def unit_text(executable: str | None = None, config: str | None = None) -> str:
    """The unit file: restart on failure (not on a configuration error, nor when another
    assistant runs, nor when the runtime folder is unsafe), reload with SIGHUP, stop with
    SIGTERM. `config` is made absolute: the service does not start in the directory it was
    installed from."""
    words = [executable] if executable else this_installation()
    words.append("run")
    if config:
        words += ["--config", str(Path(config).resolve())]
    command = " ".join(map(systemd_quoted, words))
    documentation = f"Documentation=file://{README}\n" if README.is_file() else ""
    return f"""[Unit]
Description=Hands-free voice assistant (keyword-spotting board)
{documentation}After=sound.target

[Service]
Type=simple
ExecStart={command}
SyslogIdentifier=assistant
ExecReload=/bin/kill -HUP $MAINPID
KillSignal=SIGTERM
Restart=on-failure
RestartSec=5
RestartPreventExitStatus={CONFIG_ERROR_STATUS} {ALREADY_RUNNING_STATUS} {UNSAFE_RUNTIME_STATUS}
{environment()}
{HARDENING}

[Install]
WantedBy=default.target
"""


def installed_config() -> str | None:
    """The --config of the installed unit, which `service install` run again without one (after
    an upgrade, say) keeps; None when no unit is installed, or it runs without --config. A
    relative path (as units of earlier versions kept it) is the file the service read: taken
    from the home folder, the folder a user manager runs its services in."""
    try:
        lines = unit_path().read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith("ExecStart="):
            try:
                words = shlex.split(line.removeprefix("ExecStart="))
            except ValueError:  # edited by hand beyond what systemd_quoted writes
                return None
            if "--config" in words[:-1]:
                config = words[words.index("--config") + 1]
                return str(Path.home() / config.replace("%%", "%").replace("$$", "$"))
    return None


ASK_SECONDS = 5.0
"""How long `how_to_start` waits for the user manager: a hung one must not hold up the message
of `send`, `status` or `reload` it is part of."""


def how_to_start() -> str:
    """How this user starts the assistant: the installed service, else `assistant run` (which
    beside the service's unit would start a second assistant, refused, or one that dies with
    its terminal). Where no user manager answers, which the service cannot start without: what
    brings one, and `assistant run` meanwhile."""
    if not unit_path().exists() or not shutil.which("systemctl"):
        return "start it with `assistant run`"
    start = f"start it with `systemctl --user start {UNIT_NAME}`"
    try:
        asked = _systemctl("is-active", "--quiet", UNIT_NAME, timeout=ASK_SECONDS)
    except subprocess.TimeoutExpired:
        return (
            f"the service is installed, but its user manager did not answer within "
            f"{ASK_SECONDS:g} s: {start} once it does, or meanwhile run `assistant run`"
        )
    if NO_USER_MANAGER.match(asked.stderr):
        return (
            f"the service is installed but cannot start: {failure(asked)}; then {start}, or "
            "meanwhile run `assistant run` (it stops with its terminal)"
        )
    return f"the service is installed: {start}; why it stopped: `journalctl --user -u {UNIT_NAME}`"


def _require_systemctl() -> None:
    """RuntimeError when systemctl is not installed."""
    if not shutil.which("systemctl"):
        raise RuntimeError("systemctl is not installed: this system does not run systemd")


def _systemctl(*args: str, timeout: float | None = None) -> subprocess.CompletedProcess:
    _require_systemctl()
    return subprocess.run(
        ["systemctl", "--user", *args], capture_output=True, text=True, timeout=timeout
    )


ENABLE_LINGER = 'sudo loginctl enable-linger "$USER"'
"""What keeps a user's systemd manager running while the user is not logged in (and starts it)."""

NO_USER_MANAGER = re.compile(r"Failed to connect to (\w+ scope )?bus")
"""How systemctl --user says that no user manager answers: `Failed to connect to bus: ...`
(`Failed to connect to user scope bus via local transport: ...` since systemd 254)."""


def failure(answer: subprocess.CompletedProcess) -> str:
    """What systemctl said when it failed, for a message; when no systemd user manager
    answered it, also why and what to do."""
    said = answer.stderr.strip() or f"exit status {answer.returncode}"
    if not NO_USER_MANAGER.match(said):
        return said
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if not runtime:
        return (
            f"no systemd user manager answers ({said}): XDG_RUNTIME_DIR is not set, as in a "
            "shell started by su, sudo, cron or a container rather than by a login; run it in a "
            "session you logged in to (a desktop, console or ssh login), or with "
            f"XDG_RUNTIME_DIR=/run/user/{os.getuid()} if your user manager runs without one "
            f"(lingering: `{ENABLE_LINGER}`)"
        )
    return (
        f"no systemd user manager answers ({said}): none runs for you at XDG_RUNTIME_DIR="
        f"{runtime} (your last session ended and lingering is off, or a container without "
        "systemd); log in to a session (a desktop, console or ssh login), or run "
        f"`{ENABLE_LINGER}`, which starts yours now and at each boot"
    )


NOT_LINGERING = (
    "it runs while you are logged in and stops when you log out: to keep it running (and start "
    f"it at boot), run `{ENABLE_LINGER}`"
)


def lingering() -> bool | None:
    """Whether systemd keeps this user's manager, and so the service, running while the user is
    not logged in (`loginctl enable-linger`); None when logind cannot tell."""
    if not shutil.which("loginctl"):
        return None
    asked = ["loginctl", "show-user", str(os.getuid()), "--property=Linger", "--value"]
    answer = subprocess.run(asked, capture_output=True, text=True)
    return None if answer.returncode != 0 else answer.stdout.strip() == "yes"


def install(config: str | None = None) -> str:
    """Write the unit, enable it, and start it, or restart it when it runs (so the running
    daemon takes the new command line, configuration and code); returns what happened, for
    the user. RuntimeError when that failed (the message says how far it got)."""
    path = unit_path()
    _require_systemctl()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(unit_text(config=config))
    result = _systemctl("daemon-reload")
    if result.returncode != 0:
        raise RuntimeError(
            f"wrote {path}, but nothing was enabled or started: {failure(result)}; then run "
            f"`systemctl --user enable --now {UNIT_NAME}`"
        )
    running = _systemctl("is-active", "--quiet", UNIT_NAME).returncode == 0
    for step in ("enable", "restart"):
        done = _systemctl(step, UNIT_NAME)
        if done.returncode != 0:
            raise RuntimeError(f"wrote {path}, but systemctl --user {step} failed: {failure(done)}")
    started = "restarted the running service with it" if running else "started it"
    done = f"installed {path} and {started}; logs: journalctl --user -u {UNIT_NAME} -f"
    return done if lingering() is not False else f"{done}\n{NOT_LINGERING}"


def uninstall() -> str:
    """Stop and disable the unit, then remove its file; RuntimeError, with the file kept,
    when systemd did not disable it (a removed file would leave the enabled link and a
    running service behind)."""
    path = unit_path()
    if not path.exists():
        return f"nothing to remove: {path} does not exist"
    disabled = _systemctl("disable", "--now", UNIT_NAME)
    if disabled.returncode != 0:
        raise RuntimeError(
            f"kept {path}: systemctl --user disable --now {UNIT_NAME} failed: "
            f"{failure(disabled)}; then run `assistant service uninstall` again (where no user "
            "manager ever runs, delete the file by hand)"
        )
    path.unlink()
    _systemctl("daemon-reload")
    return f"stopped, disabled and removed {path}"


def status() -> subprocess.CompletedProcess:
    """`systemctl --user status` of the unit, with its exit status (0 running, 3 not running,
    others: systemd could not tell); RuntimeError when the unit is not installed, or no user
    manager answers."""
    path = unit_path()
    if not path.exists():
        raise RuntimeError(
            f"not installed ({path} does not exist): run `assistant service install`"
        )
    shown = _systemctl("status", "--no-pager", UNIT_NAME)
    if NO_USER_MANAGER.match(shown.stderr):
        raise RuntimeError(
            f"cannot tell whether {UNIT_NAME} runs: {failure(shown)}; then run `assistant "
            "service status` again"
        )
    return shown
