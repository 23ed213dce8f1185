"""`assistant clips sort`: each near miss kept (assistant/clips.py) played and sorted with one
key, into the clips folder's `<command>/` or `_unknown_/`, deleted or left; with `--heard` the
clips of the commands heard too, to catch the false accepts. The step between keeping the clips
and `assistant clips move` (assistant/clips_move.py).

The clips are gone through oldest first, by their number (the order they were kept in,
whatever their command), looked for again after each one, so that those the running assistant
keeps meanwhile come too and those its bound removes are passed over. A clip moves as
`clips move` moves one (assistant/numbered.py): never in place of a file, Ctrl-C waiting for a
move under way, so that a clip is always in one place. Into a command's folder it takes the
number the assistant would give a clip heard now (the bound of `keep_clips` counts it there,
and removes the oldest first); into `_unknown_/` its own, when free. Keys are read as
assistant/key_input.py reads them: one at a time from a terminal, else one a line (piped
input), where a command may be given by its name too; a name that is also a key is that key,
said at the start."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from assistant.cli_config import load, problems_status
from assistant.clips import (
    CLIPS_FOLDER,
    NEAR_MISSES_FOLDER,
    UnsafeFolder,
    next_number,
    private_folder,
    speaker_clips,
)
from assistant.clips_move import (
    INTERRUPTED_STATUS,
    clip_folders,
    named_clips,
    near_miss_folders,
    near_misses_left,
)
from assistant.config import ConfigError
from assistant.espeak import SpeechError
from assistant.key_input import key_reader
from assistant.numbered import ctrl_c_held, move_numbered_unless_gone
from assistant.paths import data_root
from assistant.wav_player import missing_player, play_wav

UNKNOWN_FOLDER = "_unknown_"
"""The folder of the clips of other words, which training reads as unknown."""
PLAY_SECONDS = 10.0
"""How long playing a clip (one second) may take before the output counts as hung."""
ACTIONS = {
    "y": "yes, it was {command}",
    "u": f"another word (to {UNKNOWN_FOLDER}/)",
    "r": "replay",
    "s": "skip (leave it)",
    "d": "delete",
    "q": "quit",
}
"""The keys of what is done with a clip, besides a command's key."""
COMMAND_KEYS = [key for key in "1234567890abcefghijklmnoptvwxz" if key not in ACTIONS]
"""The keys of the commands, in the model's order."""
OUTCOMES = ("moved", "deleted", "skipped", "kept", "gone")
"""What becomes of a clip, in the summary's order: `kept` a clip of a command heard that was
the command (left where it is), `gone` one the assistant's bound removed before it was sorted."""


@dataclass(frozen=True)
class Clip:
    """A clip to sort: its file, its command (its folder's name), and whether it is a near
    miss (else a clip of a command heard)."""

    path: Path
    command: str
    near_miss: bool
    stem: str
    """Its name up to the number, `<speaker>_nohash_`."""
    number: int


def clips_to_sort(clips: Path, heard: bool, passed: Collection[Path] = ()) -> list[Clip]:
    """The near misses of `clips` (`near_miss_folders`; with `heard` the clips of its
    commands' folders too, not `_unknown_/`) but those `passed`, oldest first: files (not
    links) named as clips, in folders that are not links."""
    folders = [(folder, True) for folder in near_miss_folders(clips)]
    if heard:
        folders += [
            (folder, False) for folder in clip_folders(clips) if folder.name != UNKNOWN_FOLDER
        ]
    found = [
        Clip(path, folder.name, near_miss, stem, int(path.stem.removeprefix(stem)))
        for folder, near_miss in folders
        for path, stem in named_clips(folder)
        if path not in passed
    ]
    return sorted(found, key=lambda clip: (clip.number, clip.stem, clip.command, clip.near_miss))


def command_keys(commands: Sequence[str]) -> dict[str, str]:
    """Each command's key (`COMMAND_KEYS` in turn; those past them have none), by key."""
    return dict(zip(COMMAND_KEYS, commands, strict=False))


def legend(keys: dict[str, str]) -> str:
    """What each key does."""
    names = ", ".join(f"{key} = {command}" for key, command in keys.items())
    actions = "; ".join(
        f"{key} = {what.format(command='the command named')}" for key, what in ACTIONS.items()
    )
    return f"keys: {actions}; {names} (it was that command)"


def names_taken_by_keys(keys: dict[str, str], commands: Sequence[str]) -> list[str]:
    """What to say of each of `commands` whose name is a key of something else (an action,
    another command): given by name it is that key, so it is answered by its own key alone."""
    own_keys = {command: key for key, command in keys.items()}
    lines = []
    for command in commands:
        if command in ACTIONS:
            meaning = ACTIONS[command].format(command="the command named")
        elif keys.get(command, command) != command:
            meaning = keys[command]
        else:
            continue
        own = own_keys.get(command)
        answer = f"by its key {own} alone" if own else "by no key (move its clips by hand)"
        lines.append(f"the command {command} is answered {answer} ({command} = {meaning})")
    return lines


class Sorter:
    """Sorts the clips of the clips folder `clips` one by one: `read_key(prompt)` gives the
    key pressed (None at the end of input), `say` shows a line, `play` plays a file (None,
    else why it was not; no `play`: nothing can be played here)."""

    def __init__(
        self,
        clips: Path,
        commands: Sequence[str],
        read_key: Callable[[str], str | None],
        say: Callable[[str], None],
        play: Callable[[Path], str | None] | None,
    ):
        self.clips = clips
        self.keys = command_keys(commands)
        self.commands = list(commands)
        self.read_key = read_key
        self.say = say
        self.play = play
        self.done: Counter[str] = Counter()
        """How many clips each of OUTCOMES, and `to a command` those moved into a command's
        folder (counted there by the bound of `keep_clips`)."""

    def sort(self, heard: bool) -> None:
        """Go through the clips to sort (`clips_to_sort`), until none is left or q, or the
        end of input; Ctrl-C (KeyboardInterrupt) stops it, never within a move."""
        for line in (legend(self.keys), *names_taken_by_keys(self.keys, self.commands)):
            self.say(line)
        passed: set[Path] = set()
        while pending := clips_to_sort(self.clips, heard, passed):
            clip = pending[0]
            kind = "near miss of" if clip.near_miss else "heard as"
            self.say(f"{kind} {clip.command}, {len(pending)} to sort: {clip.path}")
            key = self._key(clip)
            if key is None:
                return
            if not clip.path.exists():
                self._gone(clip)
            elif key == "s":
                passed.add(clip.path)
                self.done["skipped"] += 1
                self.say(f"skipped {self._name(clip.path)}")
            elif key == "d":
                clip.path.unlink(missing_ok=True)
                self.done["deleted"] += 1
                self.say(f"deleted {self._name(clip.path)}")
            elif key == "u":
                self._move(clip, UNKNOWN_FOLDER, passed)
            else:
                self._label(clip, clip.command if key == "y" else self.keys.get(key, key), passed)

    def _key(self, clip: Clip) -> str | None:
        """Play `clip` and read keys until one says what to do with it (replaying it on r,
        asking again after one that is no key): None on q or the end of input."""
        self._play(clip.path)
        prompt = f"was it {clip.command}? [y {''.join(self.keys)} u r s d q] "
        while (key := self.read_key(prompt)) not in (None, "q"):
            if key == "r":
                self._play(clip.path, replay=True)
            elif key in ACTIONS or key in self.keys or key in self.commands:
                return key
            else:
                self.say(f"{key!r} is no key here; {legend(self.keys)}")
        return None

    def _label(self, clip: Clip, command: str, passed: set[Path]) -> None:
        """`clip` was `command`: a clip heard as it stays (kept), else it moves to its folder."""
        if command == clip.command and not clip.near_miss:
            passed.add(clip.path)
            self.done["kept"] += 1
            self.say(f"kept {self._name(clip.path)}")
        else:
            self._move(clip, command, passed)

    def _move(self, clip: Clip, folder_name: str, passed: set[Path]) -> None:
        """Move `clip` into `folder_name/` of the clips folder (made private when missing);
        a folder it cannot safely go to is said, and the clip stays."""
        folder = self.clips / folder_name
        try:
            private_folder(self.clips)
            private_folder(folder, linked=False)
        except UnsafeFolder as error:
            self.say(f"not moved: {error}; {error.fix}")
            passed.add(clip.path)
            return
        with ctrl_c_held():  # a clip moved is counted and said
            number = self._number(clip, folder_name)
            path = move_numbered_unless_gone(clip.path, folder, clip.stem, number)
            if path is None:
                self._gone(clip)
                return
            self.done["moved"] += 1
            self.done["to a command"] += folder_name != UNKNOWN_FOLDER
            passed.add(path)
            self.say(f"moved {self._name(clip.path)} to {self._name(path)}")

    def _number(self, clip: Clip, folder_name: str) -> int:
        """The number `clip` takes in `folder_name`: its own in `_unknown_/`; in a command's
        folder, where the bound of `keep_clips` removes the oldest first, the next the
        assistant would give, so that a clip sorted there is as new as one heard now."""
        if folder_name == UNKNOWN_FOLDER:
            return clip.number
        speaker = clip.stem.removesuffix("_nohash_")
        return next_number(speaker_clips(self.clips, speaker))

    def _gone(self, clip: Clip) -> None:
        self.done["gone"] += 1
        self.say(f"gone: {self._name(clip.path)} (the assistant's keep_clips bound removed it)")

    def _play(self, path: Path, replay: bool = False) -> None:
        """Play `path`, saying why it was not played; with nothing to play it on (said once
        before), only a replay asked for is answered."""
        if self.play is None:
            if replay:
                self.say("not played: no audio output here (play the file another way)")
            return
        problem = self.play(path)
        if problem is not None:
            self.say(f"not played: {problem}")

    def _name(self, path: Path) -> str:
        """`path` within the clips folder."""
        return path.relative_to(self.clips).as_posix()

    def summary(self) -> list[str]:
        """What was done, and what is left."""
        left = near_misses_left(self.clips)
        done = ", ".join(f"{outcome} {self.done[outcome]}" for outcome in OUTCOMES)
        lines = [f"{done}; left {left} near miss(es) in {self.clips / NEAR_MISSES_FOLDER}"]
        if self.done["moved"]:
            lines.append(
                "next: `assistant clips move DEST` takes the clips sorted into a training folder"
                + (
                    " (those in clips/<command>/ count toward keep_clips there until then, "
                    "numbered as clips heard now)"
                    if self.done["to a command"]
                    else ""
                )
            )
        return lines


def player() -> Callable[[Path], str | None] | None:
    """What plays a clip on the default output (None, else why it was not played); None when
    nothing can be played here, said once (the user may play each file another way)."""
    missing = missing_player()
    if missing is not None:
        print(f"cannot play the clips here ({missing}): play each file shown another way")
        return None

    def play(path: Path) -> str | None:
        try:
            play_wav(path, PLAY_SECONDS)
        except SpeechError as error:
            return str(error)
        return None

    return play


def cmd_sort(args: argparse.Namespace) -> int:
    """Exit 0 once sorted, stopped with q or at the end of input; 130 on Ctrl-C; 1 when a
    clip cannot be moved or deleted; the configuration's error status when it cannot be read
    (it names the model's commands)."""
    clips = data_root() / CLIPS_FOLDER
    if not clips.is_dir():
        print(f"nothing to sort: no clips folder {clips} (microphone.keep_clips keeps them there)")
        return 0
    if not clips_to_sort(clips, args.heard):
        heard = " nor clips of commands heard" if args.heard else ""
        print(f"nothing to sort: no near misses{heard} in {clips}")
        return 0
    try:
        commands = load(args)[2].model_commands
    except ConfigError as error:
        return problems_status(error)
    status = 0
    with key_reader() as read_key:
        sorter = Sorter(clips, commands, read_key, partial(print, flush=True), player())
        try:
            sorter.sort(args.heard)
        except KeyboardInterrupt:
            print()
            status = INTERRUPTED_STATUS
        except OSError as error:
            print(f"stopped: {error}; the clips not sorted are where they were", file=sys.stderr)
            status = 1
    for line in sorter.summary():
        print(line)
    return status


def add_command(actions: argparse._SubParsersAction, **common: Any) -> None:
    """Add `clips sort` to the `clips` command's `actions` (`common`: what every command's
    parser takes, such as --config)."""
    sort = actions.add_parser(
        "sort",
        help="play each near miss kept and sort it with one key",
        description="Play each near miss of clips/_near_misses/ of the data directory, oldest "
        "first, and ask what it was: y its command, a command's key another command (both "
        "move it to clips/<command>/), u another word (to clips/_unknown_/), r replay, "
        "s skip, d delete, q quit. Keys are read one at a time from a terminal, else one a "
        "line. A clip moved never takes the place of a file.",
        **common,
    )
    sort.add_argument(
        "--heard",
        action="store_true",
        help="also go through the clips of the commands heard, to catch false accepts",
    )
    sort.set_defaults(func=cmd_sort)
