"""Index of a folder in the Speech Commands layout and its speaker-disjoint split.

Layout: `<word>/<speaker>_nohash_<n>.wav` (in `_unknown_/` the file names start with the word:
`<word>_<speaker>_nohash_<n>.wav`), `_silence_/` noise clips and `_background_noise_/` long noise
recordings. The split is the data set's own: `validation_list.txt` / `testing_list.txt` when the
folder has them, else the same SHA1 rule on the speaker id that produced those lists. A folder
that is itself one split of the data set (such as a part of the official test set: every speaker
hashes into the same band) is re-split with the same rule on a salted speaker id, so its speakers
still divide into train/validation/test without overlap.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import wave
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from assistant.wav import (
    WAV_ERRORS,
    convert_command,
    read_wav_int16,
    unreadable_wav,
    wav_bytes,
    wav_layout,
)
from model_training.frontend import to_int16
from model_training.settings import (
    CLIP_SAMPLES,
    COMMANDS,
    LABELS,
    NOISE_FOLDER,
    SAMPLE_RATE,
    SILENCE_FOLDER,
    SILENCE_LABEL,
    UNKNOWN_LABEL,
)

SPLITS = ("train", "validation", "test")
CLIP_LAYOUT = (1, 2, SAMPLE_RATE)
"""(channels, sample width in bytes, sample rate) of every clip: 16 kHz 16-bit mono."""
_MAX_WAVS_PER_CLASS = 2**27 - 1
_NOHASH = re.compile(r"_nohash_.*$")
VALIDATION_LIST, TESTING_LIST = "validation_list.txt", "testing_list.txt"
"""A folder's own split: the clips each names (both files present: every other clip is train)."""


@dataclass(frozen=True)
class Clip:
    path: str
    word: str
    label: str
    speaker: str
    split: str
    samples: int
    sample_rate: int


def speaker_of(path: Path) -> str:
    """The speaker id: the last `_`-separated part of the file name before `_nohash_`."""
    return _NOHASH.sub("", path.name).rsplit("_", 1)[-1]


RESPLIT_SALT = "resplit:"


def which_set(
    speaker: str, validation_percent: float, testing_percent: float, salt: str = ""
) -> str:
    """The Speech Commands hash rule: a speaker always lands in the same split (the hash of
    the name's bytes, also of a file name that is not UTF-8)."""
    digest = int(hashlib.sha1(os.fsencode(salt + speaker)).hexdigest(), 16)
    percent = (digest % (_MAX_WAVS_PER_CLASS + 1)) * (100.0 / _MAX_WAVS_PER_CLASS)
    if percent < validation_percent:
        return "validation"
    if percent < validation_percent + testing_percent:
        return "test"
    return "train"


def label_of(word: str, commands: Sequence[str] | None = None) -> str:
    """The label of a folder's clips: the word when it is one of `commands` (default: the
    settings' COMMANDS), `silence` for `_silence_`, else `unknown`."""
    if word in (COMMANDS if commands is None else commands):
        return word
    return SILENCE_LABEL if word == SILENCE_FOLDER else UNKNOWN_LABEL


def _read_list(root: Path, name: str) -> set[str] | None:
    path = root / name
    if not path.exists():
        return None
    return {line.strip() for line in path.read_text().splitlines() if line.strip()}


def wav_info(path: Path) -> tuple[int, tuple[int, int, int]]:
    """(frames, (channels, sample width, sample rate)) from the WAV header; a clear error names
    a broken file."""
    try:
        with wave.open(str(path)) as handle:
            layout = (handle.getnchannels(), handle.getsampwidth(), handle.getframerate())
            return handle.getnframes(), layout
    except WAV_ERRORS as error:
        message = f"{unreadable_wav(path, error)}; remove or re-record it"
        raise ValueError(message) from None


def check_layouts(root: Path, layouts: dict[Path, tuple[int, int, int]], shown: int = 10) -> None:
    """ValueError naming every clip (the first `shown`) that is not 16 kHz 16-bit mono, the
    format the board hears, so that one run finds them all."""
    wrong = [(path, layout) for path, layout in layouts.items() if layout != CLIP_LAYOUT]
    if not wrong:
        return
    lines = [f"  {path.relative_to(root)}: {wav_layout(*layout)}" for path, layout in wrong]
    more = [f"  and {len(wrong) - shown} more"] if len(wrong) > shown else []
    raise ValueError(
        "\n".join(
            [
                f"{root}: {len(wrong)} clip(s) are not 16000 Hz 16-bit mono, what the board hears:",
                *lines[:shown],
                *more,
                f"convert each with sox (`{convert_command('IN.wav')}`) or remove it",
            ]
        )
    )


def index_folder(
    root: str | Path,
    validation_percent: float = 10.0,
    testing_percent: float = 20.0,
    commands: Sequence[str] | None = None,
) -> list[Clip]:
    """Every clip under `root` (background-noise recordings excluded) with its split and its
    label among `commands` (default: the settings' COMMANDS); the clips it does not read are
    named on stderr (`warn_unread`)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder (expected the Speech Commands layout)")
    warn_unread(root)
    validation = _read_list(root, VALIDATION_LIST)
    testing = _read_list(root, TESTING_LIST)
    paths = [p for p in sorted(root.glob("*/*.wav")) if p.parent.name != NOISE_FOLDER]
    if not paths:
        raise ValueError(f"{root}: no <word>/<name>.wav clips found (Speech Commands layout)")
    speech_speakers = {speaker_of(p) for p in paths if p.parent.name != SILENCE_FOLDER}
    salt = ""
    if len({which_set(s, validation_percent, testing_percent) for s in speech_speakers}) == 1:
        salt = RESPLIT_SALT
    clips, layouts = [], {}
    for path in paths:
        word = path.parent.name
        speaker = speaker_of(path)
        relative = f"{word}/{path.name}"
        if validation is not None and testing is not None:
            split = (
                "validation"
                if relative in validation
                else "test"
                if relative in testing
                else "train"
            )
        else:
            split = which_set(speaker, validation_percent, testing_percent, salt)
        frames, layouts[path] = wav_info(path)
        label = label_of(word, commands)
        clips.append(Clip(str(path), word, label, speaker, split, frames, layouts[path][2]))
    check_layouts(root, layouts)
    return clips


def unread_folders(root: str | Path) -> dict[str, int]:
    """The folders two levels down in `root` that hold clips (such as the near misses the
    assistant keeps, `_near_misses/<command>/`), which `index_folder` does not read, with the
    number of clips in each."""
    paths = sorted(Path(root).glob("*/*/*.wav"))
    return dict(Counter(path.parent.relative_to(root).as_posix() for path in paths))


_WARNED_UNREAD: set[Path] = set()
"""The folders `warn_unread` has looked in, in this process (one command run)."""


def warn_unread(root: Path) -> None:
    """Name on stderr the clips `index_folder` does not read in `root` (`unread_folders`), once
    per folder per process: a command run that indexes a folder again says it once."""
    key = root.resolve()
    if key in _WARNED_UNREAD:
        return
    _WARNED_UNREAD.add(key)
    unread = unread_folders(root)
    if not unread:
        return
    folders = ", ".join(f"{count} in {folder}/" for folder, count in unread.items())
    print(
        f"{root}: not read: {sum(unread.values())} clip(s) two folders down ({folders}); move "
        "each to the folder of its word (or _unknown_/) to train on it",
        file=sys.stderr,
    )


def has_own_lists(root: Path) -> bool:
    """Whether `root` gives its own split (both lists), which `index_folder` then follows."""
    return (root / VALIDATION_LIST).exists() and (root / TESTING_LIST).exists()


def splits_of(clips: Iterable[Clip]) -> dict[str, str]:
    """Each speaker's split (its spoken clips'; a speaker split by a folder's own lists is
    named by the splits joined with "and")."""
    found: dict[str, set[str]] = {}
    for clip in clips:
        if clip.word != SILENCE_FOLDER:
            found.setdefault(clip.speaker, set()).add(clip.split)
    return {speaker: " and ".join(sorted(split)) for speaker, split in found.items()}


def noise_files(root: str | Path) -> list[Path]:
    return sorted((Path(root) / NOISE_FOLDER).glob("*.wav"))


def read_wav(path: str | Path) -> np.ndarray:
    """A 16 kHz 16-bit mono WAV as float32 in [-1, 1); a clear error for any other format."""
    return read_wav_int16(path).astype(np.float32) / 32768.0


def write_wav(path: str | Path, audio: np.ndarray, sample_rate: int = 16000) -> None:
    """Float `audio` as a 16-bit mono WAV file (its folder made when missing)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_bytes(wav_bytes(to_int16(audio), sample_rate))


def fit_clip(audio: np.ndarray, samples: int = CLIP_SAMPLES) -> np.ndarray:
    """Pad short clips with zeros at the end and cut long ones, as the data set's loader does."""
    if len(audio) >= samples:
        return audio[:samples]
    return np.pad(audio, (0, samples - len(audio)))


def clips_per_speaker(clips: Iterable[Clip]) -> Counter[str]:
    """Spoken clips per speaker (a `_silence_` clip's file name is no speaker)."""
    return Counter(c.speaker for c in clips if c.word != SILENCE_FOLDER)


def speakers(clips: Iterable[Clip]) -> set[str]:
    """The speakers of the spoken clips."""
    return set(clips_per_speaker(clips))


def summary(clips: list[Clip], labels: Sequence[str] = LABELS) -> dict:
    """Clips per word, per label of `labels` in each split (0 when a label has none), speakers
    per split, durations and sample rates."""
    durations = np.array([c.samples / c.sample_rate for c in clips])
    return {
        "clips": len(clips),
        "per_word": dict(sorted(Counter(c.word for c in clips).items())),
        "per_label_split": {
            split: {
                label: sum(1 for c in clips if c.split == split and c.label == label)
                for label in labels
            }
            for split in SPLITS
        },
        "speakers_per_split": {
            split: len(speakers(c for c in clips if c.split == split)) for split in SPLITS
        },
        "duration_seconds": {
            "min": float(durations.min()),
            "mean": float(durations.mean()),
            "max": float(durations.max()),
            "shorter_than_1s": int((durations < 1.0).sum()),
        },
        "sample_rates": dict(Counter(c.sample_rate for c in clips)),
    }


def save_index(clips: list[Clip], path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps([asdict(c) for c in clips]))
