"""Running the assistant as a systemd user service (logs go to the journal)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from assistant.paths import config_home

UNIT_NAME = "assistant.service"
CONFIG_ERROR_STATUS = 2
"""Exit status of `assistant run` when the configuration has problems: the unit does not
restart it (a restart would fail the same way, every RestartSec, forever)."""


def unit_dir() -> Path:
    return config_home() / "systemd" / "user"


def systemd_quoted(word: str) -> str:
    """One argument of an ExecStart= line, quoted when systemd would otherwise change it."""
    escaped = word.replace("%", "%%").replace("$", "$$")
    if not re.search(r'[\s"\'\\]', word):
        return escaped
    return '"' + escaped.replace("\\", "\\\\").replace('"', '\\"') + '"'


def unit_text(executable: str | None = None, config: str | None = None) -> str:
    """The unit file: restart on failure (not on a configuration error), reload with SIGHUP,
    stop with SIGTERM. `config` is made absolute: the service does not start in the directory
    it was installed from."""
    program = executable or shutil.which("assistant")
    words = [program] if program else [sys.executable, "-m", "assistant"]
    words.append("run")
    if config:
        words += ["--config", str(Path(config).resolve())]
    command = " ".join(map(systemd_quoted, words))
    return f"""[Unit]
Description=Hands-free voice assistant (keyword-spotting board)
Documentation=file://{Path(__file__).resolve().parent.parent / "README.md"}
After=sound.target network-online.target

[Service]
Type=simple
ExecStart={command}
ExecReload=/bin/kill -HUP $MAINPID
KillSignal=SIGTERM
Restart=on-failure
RestartSec=5
RestartPreventExitStatus={CONFIG_ERROR_STATUS}
Environment=PYTHONUNBUFFERED=1

[Install]
WantedBy=default.target
"""


def _systemctl(*args: str) -> subprocess.CompletedProcess:
    if not shutil.which("systemctl"):
        raise RuntimeError("systemctl is not installed: this system does not run systemd")
    return subprocess.run(["systemctl", "--user", *args], capture_output=True, text=True)


def install(config: str | None = None) -> str:
    """Write the unit, enable and start it; returns what happened, for the user. RuntimeError
    when it could not be enabled (the message says whether the unit was written)."""
    path = unit_dir() / UNIT_NAME
    if not shutil.which("systemctl"):
        raise RuntimeError("systemctl is not installed: this system does not run systemd")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(unit_text(config=config))
    result = _systemctl("daemon-reload")
    if result.returncode != 0:
        raise RuntimeError(
            f"wrote {path}, but the systemd user manager did not answer "
            f"({result.stderr.strip()}), so nothing was enabled or started; log in to a systemd "
            f"session and run: systemctl --user enable --now {UNIT_NAME}"
        )
    enabled = _systemctl("enable", "--now", UNIT_NAME)
    if enabled.returncode != 0:
        raise RuntimeError(
            f"wrote {path}, but systemctl --user enable failed: {enabled.stderr.strip()}"
        )
    return f"installed {path} and started it; logs: journalctl --user -u {UNIT_NAME} -f"


def uninstall() -> str:
    path = unit_dir() / UNIT_NAME
    if not path.exists():
        return f"nothing to remove: {path} does not exist"
    disabled = _systemctl("disable", "--now", UNIT_NAME)
    path.unlink()
    _systemctl("daemon-reload")
    if disabled.returncode != 0:
        return f"removed {path} (systemctl said: {disabled.stderr.strip()})"
    return f"stopped, disabled and removed {path}"


def status() -> str:
    path = unit_dir() / UNIT_NAME
    if not path.exists():
        return f"not installed ({path} does not exist): run `assistant service install`"
    result = _systemctl("status", "--no-pager", UNIT_NAME)
    return result.stdout.strip() or result.stderr.strip()
