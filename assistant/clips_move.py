"""`assistant clips move DEST`: the clips kept of the microphone (assistant/clips.py) taken out
of the clips folder into a training folder, `DEST/<command>/`, each as the next free
`<speaker>_nohash_<n>.wav` there (assistant/numbered.py): never in place of a clip, however
often the clips folder's numbering starts again. Near misses stay until sorted."""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from assistant.clips import CLIPS_FOLDER, NEAR_MISSES_FOLDER
from assistant.numbered import ctrl_c_held, move_numbered_unless_gone
from assistant.paths import data_root

INTERRUPTED_STATUS = 130
"""The exit status of a command stopped by Ctrl-C, as a shell's."""
CLIP_NAME = re.compile(r"(.+_nohash_)\d+\.wav")
"""A clip's name in the Speech Commands layout; its group is the stem kept when renumbered."""


class Refused(Exception):
    """A destination no clip is moved to; the message says why and what to do."""


def clip_folders(clips: Path) -> list[Path]:
    """The folders of `clips` whose clips are moved: each command's and `_unknown_/`, not the
    near misses' (unsorted) nor a symbolic link."""
    return sorted(
        folder
        for folder in clips.iterdir()
        if folder.is_dir() and not folder.is_symlink() and folder.name != NEAR_MISSES_FOLDER
    )


def clip_stem(path: Path) -> str | None:
    """The stem (`<speaker>_nohash_`) of `path` when it is a clip: a file (not a link) named as
    one; else None."""
    match = CLIP_NAME.fullmatch(path.name)
    return match[1] if match and path.is_file() and not path.is_symlink() else None


def named_clips(folder: Path) -> Iterator[tuple[Path, str]]:
    """The clips of `folder` (`clip_stem`), each with its stem."""
    for path in folder.glob("*.wav"):
        if (stem := clip_stem(path)) is not None:
            yield path, stem


def near_miss_folders(clips: Path) -> list[Path]:
    """The folders of the near misses of the clips folder `clips`, one a command; none when
    its `_near_misses/` is missing or a link."""
    near_misses = clips / NEAR_MISSES_FOLDER
    if not near_misses.is_dir() or near_misses.is_symlink():
        return []
    return clip_folders(near_misses)


def near_misses_left(clips: Path) -> int:
    """How many near misses of the clips folder `clips` are left to sort."""
    return sum(1 for folder in near_miss_folders(clips) for _ in named_clips(folder))


def prepare(destination: Path, names: list[str], clips: Path) -> None:
    """Make `destination/<name>/` for each of `names`, or Refused: a destination (or one of its
    folders) that is a symbolic link or a file, inside the clips folder, or not writable."""
    if destination.resolve().is_relative_to(clips.resolve()):
        raise Refused(f"{destination} is inside the clips folder {clips}: give a folder outside it")
    for folder in (destination, *(destination / name for name in names)):
        if folder.is_symlink():
            raise Refused(f"{folder} is a symbolic link: give a real folder, or remove the link")
        if folder.exists() and not folder.is_dir():
            raise Refused(f"{folder} is a file, not a folder: give a folder (a new one is made)")
        try:
            folder.mkdir(mode=0o700, exist_ok=True)
        except OSError as error:
            why = f"cannot make {folder} ({error}): give a folder you can write in"
            raise Refused(why) from None
        if not _writable(folder):
            raise Refused(f"cannot write in {folder}: make it writable, or give another folder")


def _writable(folder: Path) -> bool:
    """Whether this user may make files in `folder`."""
    return os.access(folder, os.W_OK | os.X_OK)


def move_clips(clips: Path, destination: Path, say: Callable[[str], None]) -> list[str]:
    """Move each clip of `clip_folders(clips)` to the same folder of `destination`, one at a
    time, saying each once it is moved; what was left and why. A clip the assistant removes
    meanwhile (its bound) is passed over."""
    folders = clip_folders(clips)
    prepare(destination, [folder.name for folder in folders], clips)
    odd: list[str] = []
    next_free: dict[tuple[Path, str], int] = {}
    for folder in folders:
        for source in sorted(folder.glob("*.wav"), key=_by_number):
            stem = clip_stem(source)
            if stem is None:
                odd.append(f"{folder.name}/{source.name}")
                continue
            target = destination / folder.name
            key = (target, stem)
            with ctrl_c_held():  # a clip moved is said
                path = move_numbered_unless_gone(source, target, stem, next_free.get(key, 0))
                if path is None:
                    continue
                next_free[key] = int(path.stem.removeprefix(stem)) + 1
                say(f"moved {folder.name}/{source.name} to {path}")
    return [*_near_misses_note(clips), *_odd_left(odd)]


def _by_number(path: Path) -> tuple[str, int, str]:
    """Clips in the order they were kept: by speaker, then number; other files after."""
    stem, _, number = path.stem.rpartition("_nohash_")
    return (stem, int(number), "") if number.isdigit() else ("\uffff", 0, path.name)


def _near_misses_note(clips: Path) -> list[str]:
    """The near misses left, unsorted, in the clips folder."""
    count = near_misses_left(clips)
    return (
        [
            f"{count} near miss(es) in {clips / NEAR_MISSES_FOLDER}: sort them with "
            "`assistant clips sort`, then run `assistant clips move` again"
        ]
        if count
        else []
    )


def _odd_left(odd: list[str]) -> list[str]:
    """The files left for not being clips: links, or not named as a clip."""
    return (
        [f"{len(odd)} file(s) not a clip <speaker>_nohash_<n>.wav, or a link: {', '.join(odd)}"]
        if odd
        else []
    )


def cmd_move(args: argparse.Namespace) -> int:
    """Exit 0 once every clip is moved (or none was there), 1 when refused or stopped by an
    error, 130 when stopped by Ctrl-C (the clips moved before are said, the others are where
    they were)."""
    clips = data_root() / CLIPS_FOLDER
    if not clips.is_dir():
        print(f"nothing to move: no clips folder {clips} (microphone.keep_clips keeps them there)")
        return 0
    moved = 0

    def say(line: str) -> None:
        nonlocal moved
        moved += 1
        print(line, flush=True)

    try:
        left = move_clips(clips, args.destination, say)
    except Refused as error:
        print(f"{error}; nothing was moved", file=sys.stderr)
        return 1
    except OSError as error:
        print(
            f"stopped after {moved} clip(s): {error}; the others are still in {clips}, "
            "run it again once that is fixed",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        print(
            f"stopped after {moved} clip(s) (Ctrl-C); the others are still in {clips}, "
            "run it again to move them"
        )
        return INTERRUPTED_STATUS
    print(f"moved {moved} clip(s) from {clips} into {args.destination}")
    for line in left:
        print(f"left: {line}")
    return 0


def add_commands(commands: argparse._SubParsersAction, **common: Any) -> argparse._SubParsersAction:
    """Add `clips move` to the assistant's command line (`common`: what every command's parser
    takes, such as --config); the `clips` command's subcommands, for the others to join."""
    clips = commands.add_parser("clips", help="the clips kept to train the model with", **common)
    actions = clips.add_subparsers(dest="clips_command", required=True)
    move = actions.add_parser(
        "move",
        help="move the clips kept into a training folder, each under a free name",
        description="Move each clip of clips/<command>/ (and _unknown_/) of the data directory "
        "into DEST/<command>/, as the next free <speaker>_nohash_<n>.wav there, never in place "
        "of a file; the near misses stay in clips/_near_misses/ until sorted.",
        **common,
    )
    move.add_argument("destination", type=Path, metavar="DEST", help="the training folder")
    move.set_defaults(func=cmd_move)
    return actions
