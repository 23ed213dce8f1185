"""The D-Bus bus the media skill finds the players on, and why it cannot reach it, in words.

SESSION is the desktop session bus, found as libdbus and sd-bus find it: at
DBUS_SESSION_BUS_ADDRESS, else at $XDG_RUNTIME_DIR/bus, where systemd-based desktops keep the
user's bus. That standard place is also tried when the address in the environment no longer
answers (an assistant started with nohup from a session that ended, its bus gone), so that a bus
started since at the standard place is found. It is used only when it is a socket owned by
this user, as libdbus checks, so that no other user's socket is taken for the session bus.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from urllib.parse import quote

from jeepney.io.blocking import DBusConnection, open_dbus_connection

SESSION = "SESSION"
"""The `bus` setting that means the desktop session bus."""


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
    try:
        found = path.lstat()
    except OSError:
        return None
    if found.st_uid != os.getuid() or not stat.S_ISSOCK(found.st_mode):
        return None
    return f"unix:path={quote(str(path), safe='/-_.')}"  # escaped as D-Bus addresses are


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
    """Where the session bus may be, in the order tried: DBUS_SESSION_BUS_ADDRESS, then the
    standard place. Unreachable when neither is there."""
    configured = os.environ.get("DBUS_SESSION_BUS_ADDRESS")
    addresses = list(dict.fromkeys(a for a in (configured, standard_session_bus()) if a))
    if not addresses:
        raise Unreachable(
            "no D-Bus session bus: DBUS_SESSION_BUS_ADDRESS is not set, nor is one at "
            "$XDG_RUNTIME_DIR/bus"
        )
    return addresses


def _in_words(error: BaseException) -> str:
    """Why a connection failed, without the errno: "it went away", "permission denied"."""
    if isinstance(error, (ConnectionResetError, BrokenPipeError)):
        return "it went away"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror[:1].lower() + error.strerror[1:]
    return str(error)
