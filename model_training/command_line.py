"""Running a subcommand-style command line: one place for how errors reach the user."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable

SEEDS = 2**32
"""How many seeds Keras takes (it seeds numpy's legacy generator): 0 to 2**32 - 1."""


def number(
    least: float = -math.inf, most: float = math.inf, *, above: bool = False
) -> Callable[[str], float]:
    """An argparse type: a finite number from `least` (with `above`: more than it) to `most`."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        low = value > least if above else value >= least
        if not (low and value <= most and math.isfinite(value)):
            lowest = f" more than {least:g}" if above else f" from {least:g}"
            lowest = lowest if math.isfinite(least) else ""
            highest = f" to {most:g}" if math.isfinite(most) else ""
            raise argparse.ArgumentTypeError(f"a finite number{lowest}{highest}, not {text!r}")
        return value

    return parse


def whole(least: int, most: int | None = None) -> Callable[[str], int]:
    """An argparse type: an integer from `least` to `most` (no limit when None)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < least or (most is not None and value > most):
            bounds = f"from {least} to {most}" if most is not None else f"of {least} or more"
            raise argparse.ArgumentTypeError(f"an integer {bounds}, not {text!r}")
        return value

    return parse


seed = whole(0, SEEDS - 1)
"""An argparse type for --seed."""
share = number(0.0, 1.0)
"""An argparse type for a share of a whole: 0 to 1."""
percent = number(0.0, 100.0)
"""An argparse type for a percentage: 0 to 100."""


def folder_name(text: str) -> str:
    """An argparse type: one folder's name (such as a run's), never a path out of its parent."""
    if not text or text in (".", "..") or "/" in text:
        raise argparse.ArgumentTypeError(
            f"a folder's name, without '/' and not '.' or '..', not {text!r}"
        )
    return text


def run(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> int:
    """Parse `argv`, run the chosen step (its exit status, when it returns one); an expected
    failure is one line on stderr, exit 1; Ctrl-C is one line too, exit 130 (as a shell reports
    SIGINT)."""
    args = parser.parse_args(argv)
    try:
        status = args.func(args)
    except (OSError, ValueError, RuntimeError) as error:
        print(f"error: {_message(error)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; steps do not resume: run it again (train starts at epoch 1)",
              file=sys.stderr)  # fmt: skip
        return 130
    return status or 0


def _message(error: Exception) -> str:
    """What went wrong in a line: a system error's path and reason (`PATH: cannot use it (Not
    a directory)`), any other error's own message."""
    if isinstance(error, OSError) and error.filename is not None and error.strerror:
        return f"{error.filename}: cannot use it ({error.strerror})"
    return str(error)
