"""Reading the JSON files the steps write (run options, stream ground truths, reports): a file
that is missing or damaged is named with what it should be and how to make it again."""

from __future__ import annotations

import json
from pathlib import Path


def read_object(path: str | Path, what: str, remedy: str) -> dict:
    """The JSON object in the file at `path`; ValueError `PATH: not a readable WHAT (why);
    REMEDY` when it is missing, cannot be read, is not JSON or holds no object."""
    try:
        data = json.loads(Path(path).read_text())
    except OSError as error:
        reason = error.strerror or str(error)
    except ValueError as error:  # not JSON, or not UTF-8
        reason = f"not JSON: {error}"
    else:
        if isinstance(data, dict):
            return data
        reason = f"a JSON {type(data).__name__}, not an object"
    raise ValueError(f"{path}: not a readable {what} ({reason}); {remedy}")
