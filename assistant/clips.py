"""Clips of the commands the desktop microphone hears, kept to improve the model
(`microphone.keep_clips`).

For each command heard, the second of audio the model scored it highest in (the window of the
inference of its average with the command's highest score, 990 ms, and the 10 ms before it) is
written as a 16 kHz 16-bit mono WAV file to `<data>/clips/<command>/<speaker>_nohash_<n>.wav`,
the Speech Commands layout that model_training's `index` and `--real` read: `<speaker>` is this
computer's name (as model_training's `record` names a speaker), `<n>` counts on. The files are
readable by the user alone, in folders only the user may write in (others are refused, as is a
command's folder that is a link). Only the newest `keep_clips` clips are kept, and the bound
removes this computer's clips only, in the model's commands' folders only: a clip moved to any
other folder (`_unknown_/`, one of the user's) is the user's. With `keep_near_misses`, each
near miss (assistant/near_misses.py) is kept alike, in `_near_misses/<command>/`, which
training does not read, and the newest `keep_clips` of them too; the clips and the near misses
are numbered on together.
The audio thread keeps the last seconds heard and copies a second per command; a thread of its
own writes the files, and a folder it cannot write to is logged once while listening goes on.
"""

from __future__ import annotations

import logging
import re
import socket
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from assistant.microphone import SAMPLE_RATE
from assistant.near_misses import NearMiss
from assistant.numbered import write_numbered
from assistant.private_folder import not_private
from assistant.protocol import MAX_SEQ
from assistant.speakers import speaker_id
from assistant.wav import wav_bytes

log = logging.getLogger("assistant.clips")

CLIPS_FOLDER = "clips"
"""The clips' folder in the data directory."""
NEAR_MISSES_FOLDER = "_near_misses"
"""The near misses' folder in the clips' folder (training reads no clip two folders down)."""
CLIP_SAMPLES = SAMPLE_RATE
"""A clip is one second, as every clip of the training data."""
SAMPLES_PER_MS = SAMPLE_RATE // 1000
TIME_WRAP_SAMPLES = (MAX_SEQ + 1) * SAMPLES_PER_MS
"""Audio times wrap as the board's clock (2**32 ms): so many samples."""

WRITE_FIX = "free some space or make the folder writable"


def speaker_name(host: str | None = None) -> str:
    """This computer's name (`host`, else its host name) as a Speech Commands speaker: the
    speaker id (assistant/speakers.py) of its first part, else "me"."""
    return speaker_id((host if host is not None else socket.gethostname()).split(".")[0]) or "me"


class UnsafeFolder(OSError):
    """A folder of the clips that other users could write in, or a link: no clip is written
    there. `fix` says what to do."""

    def __init__(self, problem: str, fix: str):
        super().__init__(problem)
        self.fix = fix


def private_folder(folder: Path, linked: bool = True) -> None:
    """Make `folder` (mode 0700) when missing; UnsafeFolder unless it is this user's alone
    (assistant/private_folder.py) and, unless `linked`, a folder rather than a link to one (the
    bound removes no clips through a link)."""
    if not linked and folder.is_symlink():
        raise UnsafeFolder(
            f"{folder} is a symbolic link, and clips are written to real folders only",
            f"replace {folder} with a folder",
        )
    why = not_private(folder)
    if why is not None:
        raise UnsafeFolder(
            f"{folder} is not yours alone ({why}): another user could read the clips or have "
            "the assistant write or remove files elsewhere",
            f"make it yours and writable by you alone (`chmod 700 {folder}`), or remove it",
        )


class RecentAudio:
    """The last `capacity` samples heard, and how many were heard in all: a ring, sample `i`
    (counted from the first heard) at `i % capacity`, so a block costs its own length."""

    def __init__(self, capacity: int):
        self._samples = np.zeros(capacity, dtype=np.int16)
        self.heard = 0

    def add(self, samples: np.ndarray) -> None:
        capacity = len(self._samples)
        newest = samples[max(len(samples) - capacity, 0) :]
        start = (self.heard + len(samples) - len(newest)) % capacity
        first = min(len(newest), capacity - start)
        self._samples[start : start + first] = newest[:first]
        self._samples[: len(newest) - first] = newest[first:]
        self.heard += len(samples)

    def ending(self, end: int, count: int) -> np.ndarray:
        """A copy of the `count` samples before sample `end` (counted from the first heard, at
        most `heard`); silence for those before the first heard or no longer kept."""
        start = max(end - count, self.heard - len(self._samples), 0)
        clip = np.zeros(count, dtype=np.int16)
        if end > start:
            clip[count - (end - start) :] = self._samples[
                np.arange(start, end) % len(self._samples)
            ]
        return clip

    def window_end(self, time_ms: int) -> int:
        """The sample an audio time (wrapped at 2**32 ms, as inference times) ends at: the
        latest at or before the last heard."""
        return self.heard - (self.heard - time_ms * SAMPLES_PER_MS) % TIME_WRAP_SAMPLES


def speaker_clips(folder: Path, speaker: str) -> list[tuple[int, Path]]:
    """Every clip and near miss of `speaker` under the clips folder `folder`, wherever moved (in
    a folder of it or of its near misses' folder), by number."""
    found = []
    name = re.compile(rf"{re.escape(speaker)}_nohash_(\d+)\.wav")
    pattern = f"*/{speaker}_nohash_*.wav"
    for path in (*folder.glob(pattern), *(folder / NEAR_MISSES_FOLDER).glob(pattern)):
        match = name.fullmatch(path.name)
        if match:
            found.append((int(match[1]), path))
    return sorted(found)


def next_number(clips: Iterable[tuple[int, Path]]) -> int:
    """The number of the next clip of a speaker whose clips (`speaker_clips`) are `clips`:
    past all of them."""
    return max((n for n, _ in clips), default=-1) + 1


class ClipKeeper:
    """Writes a clip of each command heard to `folder`, and of each near miss (when
    `near_misses`) under its NEAR_MISSES_FOLDER, keeping the newest `keep` of each."""

    def __init__(
        self,
        folder: Path,
        keep: int,
        history_ms: int,
        commands: Sequence[str] = (),
        speaker: str | None = None,
        near_misses: bool = False,
    ):
        """`history_ms`: how long before the end of the audio heard a clip's window can end
        (the recognizer's averaging window, a block read and, for a near miss, an inference
        step); `commands`: the model's, whose folders the bound counts (set again once the
        model is loaded)."""
        self.folder = folder
        self.keep = keep
        self.near_misses = near_misses
        self.commands = tuple(commands)
        self.speaker = speaker or speaker_name()
        self._capacity = CLIP_SAMPLES + history_ms * SAMPLES_PER_MS
        self.recent = RecentAudio(self._capacity)
        self.problem: str | None = None
        """Why the last clip could not be written (None: it was, or none was tried)."""
        self._writer: ThreadPoolExecutor | None = None

    def listening(self) -> None:
        """A new stream starts: its audio times count from 0."""
        self.recent = RecentAudio(self._capacity)

    def hear(self, samples: np.ndarray) -> None:
        """The audio the spotter hears, block by block."""
        self.recent.add(samples)

    def heard(self, label: str, peak_ms: int, near_miss: NearMiss | None = None) -> None:
        """`label` was heard (or nearly: `near_miss`), scored highest in the window ending at
        `peak_ms`: its clip is written on the writer's thread."""
        clip = self.recent.ending(self.recent.window_end(peak_ms), CLIP_SAMPLES)
        if self._writer is None:
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clips")
        self._writer.submit(self._save, label, clip, near_miss)

    def close(self) -> None:
        """Write the clips still waiting, and end the writer's thread."""
        if self._writer is not None:
            self._writer.shutdown(wait=True)
            self._writer = None

    def kept(self, near_misses: bool = False) -> list[Path]:
        """The clips (or near misses) the bound counts and removes, oldest first: files (not
        links) named as this computer's clips in the folders (not links) of the model's
        commands, in the clips' folder (or its near misses' folder)."""
        return self._counted(
            (path for _, path in speaker_clips(self.folder, self.speaker)), near_misses
        )

    def _base(self, near_miss: bool) -> Path:
        """The folder of the commands' folders of the clips, or of the near misses."""
        return self.folder / NEAR_MISSES_FOLDER if near_miss else self.folder

    def _counted(self, clips: Iterable[Path], near_misses: bool) -> list[Path]:
        """Those of `clips` (this speaker's, by number) that the bound of the clips (or of
        the near misses, in their folder unless it is a link) counts."""
        base = self._base(near_misses)
        if near_misses and base.is_symlink():
            return []
        return [
            path
            for path in clips
            if path.parent.parent == base
            and path.parent.name in self.commands
            and not path.parent.is_symlink()
            and not path.is_symlink()
            and path.is_file()
        ]

    @property
    def description(self) -> str:
        """For `assistant status`: how many clips (and near misses) are kept, where, and a
        failure to write."""
        near = f" and near misses {len(self.kept(True))}" if self.near_misses else ""
        text = f"clips kept {len(self.kept())}{near} in {self.folder}"
        return text if self.problem is None else f"{text} (the last not written: {self.problem})"

    def _save(self, label: str, clip: np.ndarray, near_miss: NearMiss | None) -> None:
        try:
            found = self._write(label, clip, near_miss is not None)
            for old in self._counted(found, near_miss is not None)[: -self.keep]:
                old.unlink(missing_ok=True)
        except OSError as error:
            if self.problem is None:
                log.warning(
                    "microphone.keep_clips: cannot write the clip of %r%s to %s (%s); listening "
                    "goes on without it: %s, or set keep_clips: 0",
                    label,
                    " (a near miss)" if near_miss else "",
                    self.folder,
                    error,
                    error.fix if isinstance(error, UnsafeFolder) else WRITE_FIX,
                )
            self.problem = str(error)
            return
        if self.problem is not None:
            log.info("microphone.keep_clips: clips are written again (%s)", found[-1])
        self.problem = None
        if near_miss is not None:
            log.info(
                "microphone: near miss of %r (%.2f, under its threshold %.2f) kept as %s",
                label,
                near_miss.score,
                near_miss.threshold,
                found[-1],
            )

    def _write(self, label: str, clip: np.ndarray, near_miss: bool) -> list[Path]:
        """Write the clip as the next number of this speaker (past those of the clips moved
        elsewhere too), whole or not at all, readable by this user alone, in folders of this
        user's alone. This speaker's clips by number, the one written last: the folder is
        looked through once per clip, for its number and the bound alike."""
        private_folder(self.folder)
        base = self._base(near_miss)
        if near_miss:
            private_folder(base, linked=False)
        private_folder(base / label, linked=False)
        found = speaker_clips(self.folder, self.speaker)
        written = write_numbered(
            base / label,
            f"{self.speaker}_nohash_",
            wav_bytes(clip, SAMPLE_RATE),
            first=next_number(found),
        )
        return [*(path for _, path in found), written]
