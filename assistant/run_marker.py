"""Whether the previous run ended cleanly: a file in the data directory, made when a run starts
serving and removed when it stops cleanly (Ctrl-C, SIGTERM, its terminal closed). A run that was
killed or crashed leaves it, and the next one, started by hand or by the service, finds it and
tells the user it is back (`speech.notices`). Only the instance holding the instance lock
touches it, so one refused because another runs never does."""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger("assistant")

MARKER_NAME = "assistant.running"
BACK = "I am back after an unexpected stop"
"""Said once the assistant hears again after a run that did not end cleanly."""


class RunMarker:
    """The marker of the run in `data_dir` (which the instance lock has made)."""

    def __init__(self, data_dir: Path):
        self.path = data_dir / MARKER_NAME

    def begin(self) -> bool:
        """Mark this run as under way; whether the previous run did not end cleanly (its marker
        was still there). A marker that cannot be written is logged, and this run's end then
        goes unnoticed."""
        unclean = self.path.exists()
        try:
            self.path.write_text(f"{os.getpid()}\n")
        except OSError as error:
            log.warning(
                "cannot mark the run in %s (%s): a crash will not be told", self.path, error
            )
        return unclean

    def end(self) -> None:
        """This run ends cleanly: the next start says nothing of it."""
        try:
            self.path.unlink(missing_ok=True)
        except OSError as error:
            log.warning(
                "cannot remove %s (%s): the next start will say it is back", self.path, error
            )
