"""`python -m assistant` and the `assistant` command."""

import sys

from assistant import hangup


def main() -> int:
    """SIGHUP is held before the command's modules load (see assistant.hangup)."""
    hangup.hold()
    from assistant.cli import main as run_command

    return run_command()


if __name__ == "__main__":
    sys.exit(main())
