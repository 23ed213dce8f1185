"""Running a subcommand-style command line: one place for how errors reach the user."""

from __future__ import annotations

import argparse
import sys


def run(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> int:
    """Parse `argv`, run the chosen step (its exit status, when it returns one); an expected
    failure is one line on stderr, exit 1; Ctrl-C is one line too, exit 130 (as a shell reports
    SIGINT)."""
    args = parser.parse_args(argv)
    try:
        status = args.func(args)
    except (FileNotFoundError, ValueError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; steps do not resume: run it again (train starts at epoch 1)",
              file=sys.stderr)  # fmt: skip
        return 130
    return status or 0
