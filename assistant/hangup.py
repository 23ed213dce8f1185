"""SIGHUP held from the first moment of the `assistant` command.

SIGHUP's default action ends the process, and systemd counts that as a clean exit, so a reload
asked for while the daemon starts (`systemctl --user reload` right after a start) would leave it
stopped. The entry point holds SIGHUP before its heavy imports; `assistant run` applies a held
one as a reload once it runs, and every other command gets the default action back. A SIGHUP
that comes because the terminal `assistant run` was started in has closed is no reload: the
daemon stops, as on Ctrl-C, rather than go on listening with nobody to see it (`hung_up`).
Started with SIGHUP ignored (`nohup`), `run` and `emulate` outlive their terminal
(`outlives_terminal`).
"""

from __future__ import annotations

import contextlib
import os
import signal

_requested = False
_ignored_at_start: bool | None = None
"""Whether SIGHUP was ignored when the command started (`nohup`: outlive the terminal)."""


def _remember(signum: int, frame: object) -> None:
    global _requested
    _requested = True


def hold() -> None:
    """From now on a SIGHUP is remembered (see `take`) instead of ending the process."""
    global _ignored_at_start
    if _ignored_at_start is None:
        _ignored_at_start = signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
    signal.signal(signal.SIGHUP, _remember)


def take() -> bool:
    """Whether a SIGHUP came since the last call."""
    global _requested
    requested, _requested = _requested, False
    return requested


def release() -> None:
    """SIGHUP's default action again (a command that is not the daemon ends on it, unless it
    was started with SIGHUP ignored); one that came while it was held is delivered now."""
    signal.signal(signal.SIGHUP, signal.SIG_IGN if outlives_terminal() else signal.SIG_DFL)
    if take():
        os.kill(os.getpid(), signal.SIGHUP)


def outlives_terminal() -> bool:
    """Whether SIGHUP was ignored when the command started (`nohup`): the closing of the
    terminal it was started from does not end it."""
    return bool(_ignored_at_start)


def terminal() -> int | None:
    """A descriptor of the controlling terminal the command was started from, for `hung_up`;
    None without one (a service) or when SIGHUP was ignored at the start (`nohup`)."""
    if outlives_terminal():
        return None
    with contextlib.suppress(OSError):
        return os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    return None


def hung_up(terminal: int | None) -> bool:
    """Whether `terminal` (from `terminal()`) has closed: its hangup then sent the SIGHUP."""
    if terminal is None:
        return False
    try:
        os.tcgetpgrp(terminal)
    except OSError:  # EIO once the terminal has hung up
        return True
    return False
