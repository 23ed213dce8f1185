"""The Vosk model for follow-up phrases: `assistant models download` fetches the small
English model into the user data directory, checks it against the publisher's model list
(size and MD5) and unpacks it.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import urllib.request
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from assistant.download import (
    DownloadError,
    UnsafeArchiveError,
    extract,
    fetch,
    text_progress,
)
from assistant.file_lookup import missing
from assistant.paths import data_root

MODEL_NAME = "vosk-model-small-en-us-0.15"
MODEL_LIST_URL = "https://alphacephei.com/vosk/models/model-list.json"
REQUIRED_FILES = ("am/final.mdl", "conf/model.conf")
PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
"""A model name is a folder name in the models folder: no path, not hidden, not an option."""


def models_dir() -> Path:
    """Where downloaded models live: <data dir>/models."""
    return data_root() / "models"


def default_model_path() -> Path:
    return models_dir() / MODEL_NAME


def check_model(path: Path) -> str | None:
    """Why `path` is not a usable Vosk model folder, or None."""
    if folder := missing(path, folder=True):
        return f"no Vosk model at {path}{folder.aside}; {_model_fix(path)}"
    files = {name: missing(path / name) for name in REQUIRED_FILES}
    for name, file in files.items():
        if file and file.reason:
            return (
                f"the Vosk model at {path} cannot be read ({path / name}: {file.reason}); "
                f"let the assistant's user read it, or {_model_fix(path)}"
            )
    absent = [name for name, file in files.items() if file]
    if absent:
        return f"{path} is not a Vosk model (missing {', '.join(absent)})"
    return None


def _model_fix(path: Path) -> str:
    """What to do about an unusable model folder at `path`, the default one or one configured."""
    if path == default_model_path():
        return "run `assistant models download` (or set phrase.model)"
    return (
        "set phrase.model to a Vosk model's folder, or empty for the one "
        "`assistant models download` installs"
    )


@dataclass(frozen=True)
class ModelEntry:
    name: str
    url: str
    md5: str
    size: int


def check_model_name(name: str) -> None:
    """DownloadError unless `name` is a plain folder name such as MODEL_NAME: the model is
    unpacked to <models folder>/<name>, and a folder there of that name is replaced."""
    if not PLAIN_NAME.fullmatch(name):
        raise DownloadError(
            f"{name[:80]!r} is not a plain folder name: a model name (e.g. {MODEL_NAME}, as the "
            "model list at https://alphacephei.com/vosk/models gives it) has letters, digits, "
            "'.', '_' and '-', and starts with a letter or digit; nothing was downloaded"
        )


def find_model(name: str, list_url: str = MODEL_LIST_URL, timeout: float = 30.0) -> ModelEntry:
    """The publisher's entry for model `name` (URL, MD5 and size)."""
    try:
        with urllib.request.urlopen(list_url, timeout=timeout) as response:
            models = json.load(response)
    except (OSError, ValueError, HTTPException) as error:
        raise DownloadError(f"cannot read the Vosk model list at {list_url}: {error}") from None
    for entry in models:
        if entry.get("name") == name:
            found = ModelEntry(name, entry["url"], entry["md5"], int(entry["size"]))
            scheme = urlsplit(found.url).scheme
            if scheme not in ("https", urlsplit(list_url).scheme):  # not file:, not plain http
                raise DownloadError(
                    f"{list_url} gives {found.url} for {name!r}: not an https address; "
                    "nothing was downloaded"
                )
            return found
    raise DownloadError(f"{list_url} lists no model named {name!r}")


def download_model(
    name: str = MODEL_NAME,
    target_dir: Path | None = None,
    list_url: str = MODEL_LIST_URL,
    show_progress: bool = True,
) -> Path:
    """Download, verify and unpack model `name` into `target_dir`; return the model folder.
    An interrupted download resumes when run again."""
    check_model_name(name)
    target = Path(target_dir) if target_dir else models_dir()
    entry = find_model(name, list_url)
    progress = text_progress(label=f"{name}: ") if show_progress else None
    archive = fetch(entry.url, target / f"{name}.zip", md5=entry.md5, progress=progress)
    if archive.stat().st_size != entry.size:
        archive.unlink()
        raise DownloadError(
            f"{entry.url}: got {archive.stat().st_size} bytes, the model list says {entry.size}"
        )
    staging = target / f".{name}.unpacking"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        extract(archive, staging)
    except (ValueError, UnsafeArchiveError) as error:  # unreadable, or a member would escape
        shutil.rmtree(staging, ignore_errors=True)
        raise DownloadError(str(error)) from None
    unpacked = staging / name if (staging / name).is_dir() else staging
    problem = check_model(unpacked)
    if problem:
        shutil.rmtree(staging)
        raise DownloadError(f"{entry.url}: the archive holds no usable model ({problem})")
    final = target / name
    shutil.rmtree(final, ignore_errors=True)
    unpacked.rename(final)
    shutil.rmtree(staging, ignore_errors=True)
    archive.unlink()
    return final


def add_commands(commands: argparse._SubParsersAction, **common: Any) -> None:
    """Add `models download` to the assistant's command line (`common`: what every command's
    parser takes, such as --config)."""
    models = commands.add_parser("models", help="speech models for follow-up phrases", **common)
    actions = models.add_subparsers(dest="models_command", required=True)
    download = actions.add_parser(
        "download", help=f"download the Vosk model ({MODEL_NAME})", **common
    )
    download.add_argument("--name", default=MODEL_NAME, help="model name in the model list")
    download.add_argument("--dir", type=Path, default=None, help="where to put it")
    download.add_argument("--list-url", default=MODEL_LIST_URL, help=argparse.SUPPRESS)
    download.set_defaults(func=cmd_download)


def cmd_download(args: argparse.Namespace) -> int:
    try:
        path = download_model(args.name, args.dir, args.list_url)
    except DownloadError as error:
        print(error, file=sys.stderr)
        return 1
    print(f"model ready: {path}")
    if args.name != MODEL_NAME or args.dir is not None:
        print(f"use it with `phrase: {{model: {path}}}` in config.yaml")
    return 0
