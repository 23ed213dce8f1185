"""A copy of the real Vosk model whose loading is held up until the test lets it finish: one of
its files (the i-vector extractor) is a named pipe, which Vosk's load blocks on reading until
`release` writes the real file into it, as a slow or loaded machine holds it up."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

HELD_FILE = "ivector/final.ie"


class HeldModel:
    """The model at `path` (links to `model`'s files, HELD_FILE a named pipe)."""

    def __init__(self, model: Path, folder: Path):
        self.path = folder / "held-model"
        shutil.copytree(model, self.path, copy_function=os.symlink)
        (self.path / HELD_FILE).unlink()
        os.mkfifo(self.path / HELD_FILE)
        self._real = model / HELD_FILE
        self._writer: threading.Thread | None = None

    def release(self, timeout: float = 60) -> None:
        """Let the load finish: the real file written into the pipe once Vosk reads it."""
        if self._writer is None:
            self._writer = threading.Thread(target=self._write, daemon=True)
            self._writer.start()
        self._writer.join(timeout)

    def _write(self) -> None:
        with open(self.path / HELD_FILE, "wb") as pipe:
            pipe.write(self._real.read_bytes())
