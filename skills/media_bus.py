"""The D-Bus bus the media skill finds the players on, and why it cannot reach it, in words.

SESSION is the desktop session bus, found as libdbus and sd-bus find it: at
DBUS_SESSION_BUS_ADDRESS, else at $XDG_RUNTIME_DIR/bus, where systemd-based desktops keep the
user's bus, else at an address dbus-launch wrote to ~/.dbus/session-bus/<machine-id>-<display>
(as scripts and cron jobs find a session started by dbus-launch, startx or a remote desktop).
Those places are also tried when the address in the environment no longer answers (an
assistant started with nohup from a session that ended, its bus gone), so that a bus started
since is found. A place is used only when it is a socket owned by this user, as libdbus checks
at $XDG_RUNTIME_DIR/bus, so that no other user's socket is taken for the session bus.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, unquote

from jeepney.io.blocking import DBusConnection, open_dbus_connection

SESSION = "SESSION"
"""The `bus` setting that means the desktop session bus."""
LAUNCHED = Path(".dbus", "session-bus")
"""Where dbus-launch writes the address of the session bus it starts, under the home folder."""
MACHINE_IDS = (Path("/var/lib/dbus/machine-id"), Path("/etc/machine-id"))
"""Where the machine's D-Bus id is, in the order libdbus reads them."""


class Unreachable(Exception):
    """No bus could be reached; the message says why, in words."""


def bus_name(setting: str) -> str:
    """What `setting` names, for messages: the D-Bus session bus, or the bus at ADDRESS."""
    return "the D-Bus session bus" if setting == SESSION else f"the D-Bus bus at {setting}"


def standard_session_bus() -> str | None:
    """The address of $XDG_RUNTIME_DIR/bus when a socket owned by this user is there, else None."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if not runtime:
        return None
    path = Path(runtime) / "bus"
    if not _owned(path, stat.S_ISSOCK):
        return None
    return f"unix:path={quote(str(path), safe='/-_.')}"  # escaped as D-Bus addresses are


def launched_session_buses() -> list[str]:
    """The addresses dbus-launch wrote for this machine to ~/.dbus/session-bus/<machine-id>-
    <display> files of this user (that of $DISPLAY first, then the newest first), as
    DBUS_SESSION_BUS_ADDRESS=... lines, each kept only when it names a socket owned by this user
    (unix:path=...; an abstract socket, of dbus before 1.14, shows no owner)."""
    machine = _machine_id()
    if not machine:
        return []
    display = os.environ.get("DISPLAY", "").rpartition(":")[2].split(".")[0]
    try:
        files = [
            f for f in (Path.home() / LAUNCHED).glob(f"{machine}-*") if _owned(f, stat.S_ISREG)
        ]
        files.sort(key=lambda f: (f.name != f"{machine}-{display}", -f.stat().st_mtime))
    except (OSError, RuntimeError):  # RuntimeError: no home folder
        return []
    return [address for file in files for address in _launched_addresses(file)]


def _launched_addresses(file: Path) -> list[str]:
    """The addresses on a socket owned by this user in a file dbus-launch wrote."""
    try:
        lines = file.read_text().splitlines()
    except (OSError, UnicodeDecodeError):
        return []
    found = []
    for line in lines:
        key, _, value = line.partition("=")
        if key != "DBUS_SESSION_BUS_ADDRESS":
            continue
        for address in value.strip().split(";"):  # alternatives, the first that answers used
            transport, _, keys = address.partition(":")
            path = dict(pair.partition("=")[::2] for pair in keys.split(",")).get("path")
            if transport == "unix" and path and _owned(Path(unquote(path)), stat.S_ISSOCK):
                found.append(address)
    return found


def _machine_id() -> str:
    """The machine's D-Bus id, as dbus-launch names its files by ("": none found)."""
    for path in MACHINE_IDS:
        try:
            return path.read_text().strip()
        except (OSError, UnicodeDecodeError):
            continue
    return ""


def _owned(path: Path, kind: Callable[[int], bool]) -> bool:
    """Whether `path` is of `kind` (stat.S_ISSOCK, say) and owned by this user; a link is not
    followed, so that no one else's file is taken for this user's."""
    try:
        found = path.lstat()
    except OSError:
        return False
    return found.st_uid == os.getuid() and kind(found.st_mode)


def connect(setting: str) -> tuple[DBusConnection, str]:
    """A connection to the bus `setting` names (SESSION, or a D-Bus address), and the address
    it was made to. Unreachable when there is none, saying why."""
    addresses = _session_addresses() if setting == SESSION else [setting]
    what = "D-Bus session bus" if setting == SESSION else "D-Bus bus"
    reasons = []
    for address in addresses:
        try:
            return open_dbus_connection(address), address
        except (ConnectionRefusedError, FileNotFoundError):
            reasons.append(f"no {what} runs at {address}")
        except (OSError, ValueError, RuntimeError) as error:  # RuntimeError: unknown transport
            reasons.append(f"cannot reach the {what} at {address}: {_in_words(error)}")
    raise Unreachable(", and ".join(reasons))


def _session_addresses() -> list[str]:
    """Where the session bus may be, in the order tried: DBUS_SESSION_BUS_ADDRESS, the
    standard place, then those dbus-launch wrote. Unreachable when none is there."""
    configured = os.environ.get("DBUS_SESSION_BUS_ADDRESS")
    candidates = (configured, standard_session_bus(), *launched_session_buses())
    addresses = list(dict.fromkeys(a for a in candidates if a))
    if not addresses:
        raise Unreachable(
            "no D-Bus session bus: DBUS_SESSION_BUS_ADDRESS is not set, nor is one at "
            f"$XDG_RUNTIME_DIR/bus or in ~/{LAUNCHED}"
        )
    return addresses


def _in_words(error: BaseException) -> str:
    """Why a connection failed, without the errno: "it went away", "permission denied"."""
    if isinstance(error, (ConnectionResetError, BrokenPipeError)):
        return "it went away"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror[:1].lower() + error.strerror[1:]
    return str(error)
