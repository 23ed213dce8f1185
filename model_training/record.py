"""`python -m model_training record`: a speaker's own takes of words from the microphone, into a
folder in the Speech Commands layout (`<word>/<speaker>_nohash_<n>.wav`, the second centred on
the word), or the room's noise (`_background_noise_/room_<n>.wav`). The takes already there
count, so a session stopped early goes on where it stopped; no file is ever replaced."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from assistant import speakers
from assistant.levels import FLOOR_DBFS, Level
from assistant.microphone import MicrophoneError, open_microphone
from assistant.numbered import write_numbered
from assistant.wav import wav_bytes
from model_training import dataset
from model_training.settings import COMMANDS, NOISE_FOLDER, SAMPLE_RATE, check_commands
from model_training.takes import take_of

BLOCK = SAMPLE_RATE // 10
"""The microphone is read 100 ms at a time."""
MIN_WINDOW = 1.2
"""The shortest recording of a take, in seconds: a clip's second and room around the word."""
MIN_NOISE_SECONDS = 1.0
"""The shortest recording of the room's noise, in seconds: a clip's second."""
DEVICES = "`assistant devices` lists the microphones and whether each can be used"
INTERRUPTED = 130
"""The exit status of a session stopped by Ctrl-C, as a shell reports SIGINT."""


class Microphone(Protocol):
    """A stream read as 16 kHz mono int16 (assistant.microphone.open_microphone's)."""

    @property
    def read_available(self) -> int: ...

    def read(self, frames: int) -> tuple[np.ndarray, bool]: ...


def speaker_id(name: str) -> str:
    """The speaker id `name` has in file names (assistant.speakers.speaker_id: the clips kept
    of the microphone are named alike); ValueError when it has no letters or digits."""
    ident = speakers.speaker_id(name)
    if not ident:
        raise ValueError(
            f"--speaker {name!r} has no letters or digits (a-z, 0-9) to name the speaker in "
            "the file names"
        )
    return ident


def takes_of(folder: Path, speaker: str) -> int:
    """How many takes `speaker` (an id from `speaker_id`) has in `folder`."""
    return sum(1 for _ in folder.glob(f"{speaker}_nohash_*.wav"))


def write_new(folder: Path, stem: str, samples: np.ndarray) -> Path:
    """int16 `samples` as `folder/<stem><n>.wav` with the first n no file has (one another
    recorder has just written included; assistant/numbered.py): no file is replaced, and none
    is left half written. The folder is made when missing; the file's mode is the umask's."""
    folder.mkdir(parents=True, exist_ok=True)
    return write_numbered(folder, stem, wav_bytes(samples, SAMPLE_RATE), mode=0o666)


def listen(stream: Microphone, frames: int) -> np.ndarray:
    """The next `frames` samples the microphone hears; what it heard before (while a prompt
    waited) is dropped first."""
    if stream.read_available:
        stream.read(stream.read_available)
    return stream.read(frames)[0][:, 0]


class Recorder:
    """Takes into `output` from `stream`, `window_seconds` each, prompting with `ask` (input's
    signature) and reporting with `say`; `kept` are the files written so far."""

    def __init__(
        self,
        stream: Microphone,
        output: Path,
        window_seconds: float,
        ask: Callable[[str], str] = input,
        say: Callable[[str], None] = print,
    ):
        self.stream, self.output, self.ask, self.say = stream, output, ask, say
        self.window = round(window_seconds * SAMPLE_RATE)
        self.kept: list[Path] = []
        self.noise_seconds = 0.0
        """How much of the room's noise was kept."""

    def words(self, words: Sequence[str], speaker: str, takes: int) -> None:
        """`takes` takes of each word by `speaker` (an id), less those already there, a round of
        the words at a time (so a session stopped early leaves the words alike)."""
        done = {word: takes_of(self.output / word, speaker) for word in words}
        for word, number in done.items():
            if number:
                self.say(f"{word}: {min(number, takes)} of {takes} recorded already")
        for round_number in range(takes):
            for word in words:
                if done[word] <= round_number:
                    done[word] += 1
                    self.take(word, f"{speaker}_nohash_", f"{done[word]} of {takes}")

    def take(self, word: str, stem: str, progress: str) -> None:
        """One take of `word` kept as `<word>/<stem><n>.wav`, asked for again until one is."""
        while True:
            self.ask(f"say '{word}' ({progress}): press Enter, then say it ")
            take = take_of(listen(self.stream, self.window))
            self.say(f"  {take.level}")
            if take.clip is not None:
                self._kept(write_new(self.output / word, stem, take.clip))
                return
            self.say(f"  refused: {take.problem}; once more")

    def noise(self, seconds: float) -> None:
        """`seconds` of the room's noise into `_background_noise_/` (the part recorded, when at
        least one second, if Ctrl-C stops it)."""
        self.ask(f"the room's noise, {seconds:g} s: press Enter, then keep quiet ")
        wanted = round(seconds * SAMPLE_RATE)
        blocks: list[np.ndarray] = []  # joined once: a minute is 600 blocks
        try:
            blocks.append(listen(self.stream, BLOCK))
            heard = len(blocks[0])
            while heard < wanted:
                blocks.append(self.stream.read(BLOCK)[0][:, 0])
                heard += len(blocks[-1])
        except KeyboardInterrupt:
            audio = np.concatenate(blocks) if blocks else np.zeros(0, np.int16)
            if len(audio) >= SAMPLE_RATE:
                with contextlib.suppress(RuntimeError):
                    self._keep_noise(audio)
            raise
        self._keep_noise(np.concatenate(blocks)[:wanted])

    def _keep_noise(self, audio: np.ndarray) -> None:
        level = Level.of(audio)
        self.say(f"  {level.figures}")  # no verdict for speech: none is wanted
        if level.peak <= FLOOR_DBFS:
            raise RuntimeError(
                "the microphone gave only digital silence: unmute it (or choose another with "
                f"--device; {DEVICES})"
            )
        self._kept(write_new(self.output / NOISE_FOLDER, "room_", audio))
        self.noise_seconds = len(audio) / SAMPLE_RATE

    def _kept(self, path: Path) -> None:
        self.kept.append(path)
        self.say(f"  kept {path.relative_to(self.output)}")

    @property
    def summary(self) -> str:
        """What the session kept: the room's noise (its length and file), else the takes."""
        if self.noise_seconds:
            return f"kept {round(self.noise_seconds, 1):g} s of room noise in {self.kept[-1]}"
        return f"kept {len(self.kept)} take(s) in {self.output}"


SPLIT_USE = {
    "train": "training learns from them",
    "validation": "training does not learn from them: they pick the checkpoint",
    "test": "training does not learn from them: they measure the model",
}


def speaker_splits(output: Path) -> dict[str, str]:
    """Each speaker's split in `output` as `index` makes it (none when it holds no clips)."""
    try:
        return dataset.splits_of(dataset.index_folder(output))
    except (FileNotFoundError, ValueError):
        return {}


def split_note(output: Path, speaker: str, before: dict[str, str]) -> str:
    """Which split `index` (and so training) puts `speaker`'s clips of `output` in, what that
    means for training, and the speakers whose split the new one changed (`before`: each
    speaker's split before the session)."""
    try:
        splits = dataset.splits_of(dataset.index_folder(output))
    except ValueError as error:
        return f"cannot tell the split of {output}: {error}"
    split = splits[speaker]
    own = dataset.has_own_lists(output)
    rule = (
        f"{output}'s own validation and testing lists: a clip they do not name is train"
        if own
        else "the split is by speaker: all of one speaker's clips land in one split"
    )
    lines = [
        f"`index` puts the clips of {speaker} in the {split} split ({rule}), so "
        f"{SPLIT_USE.get(split, 'training learns from those in train only')}"
    ]
    moved = [name for name, was in before.items() if splits.get(name, was) != was]
    lines += [
        f"{name}'s clips moved from {before[name]} to {splits[name]}: a folder whose speakers "
        "all hash into one split is split again with a salted rule"
        for name in moved
    ]
    if "train" not in split and not own:
        lines.append(
            f"if these takes are to train on, give {output} its own split (`touch "
            f"{output / dataset.VALIDATION_LIST} {output / dataset.TESTING_LIST}`: every clip "
            "is then train) and record the takes that measure the model into another folder "
            "(`python -m model_training evaluate --model MODEL --folder THAT --split all`)"
        )
    return "\n".join(lines)


def record(
    output: Path,
    device: str,
    window_seconds: float,
    speaker: str | None,
    words: Sequence[str] = COMMANDS,
    takes: int = 10,
    noise_seconds: float | None = None,
    ask: Callable[[str], str] = input,
    say: Callable[[str], None] = print,
) -> int:
    """A session at the microphone `device` (as `microphone.device` names one): the room's noise
    for `noise_seconds` when given, else `takes` takes of each of `words` by `speaker`. The exit
    status: 0 when done, 130 when stopped by Ctrl-C, 1 when the prompts' input ended first.
    The command line bounds the numbers: `takes` 1 or more, `window_seconds` MIN_WINDOW or
    more, `noise_seconds` MIN_NOISE_SECONDS or more."""
    ident = None if noise_seconds is not None else _checked(speaker, words)
    try:
        stream = open_microphone(device, BLOCK, setting="--device")
    except MicrophoneError as error:
        raise MicrophoneError(f"cannot record: {error}; {DEVICES}") from None
    recorder = Recorder(stream, output, window_seconds, ask, say)
    before = speaker_splits(output)
    try:
        with stream:
            if ident is None:
                recorder.noise(noise_seconds)
            else:
                _introduce(speaker, ident, words, say)
                recorder.words(words, ident, takes)
    except (KeyboardInterrupt, EOFError) as stop:
        kept = recorder.summary if recorder.kept else "kept nothing"
        rest = "" if ident is None else "; the same command again records the rest"
        why = "interrupted" if isinstance(stop, KeyboardInterrupt) else "the input ended"
        say(f"\n{why}: {kept}{rest}")
        return INTERRUPTED if isinstance(stop, KeyboardInterrupt) else 1
    say(f"done: {recorder.summary}")
    if ident is not None:
        say(split_note(output, ident, before))
    return 0


def _introduce(speaker: str, ident: str, words: Sequence[str], say: Callable[[str], None]) -> None:
    """Say what the session's files will mean: the speaker's id, and the words that are not
    commands."""
    if ident != speaker:
        say(f"speaker {speaker!r} is {ident} in the file names")
    others = [word for word in words if word not in COMMANDS]
    if others:
        say(f"{', '.join(others)}: not commands of LABELS, so `index` labels them unknown")


def _checked(speaker: str | None, words: Sequence[str]) -> str:
    """The speaker's id, once the speaker and words of a session of words are found right."""
    if not speaker:
        raise ValueError("--speaker NAME is needed: the speaker's name is in every clip's name")
    try:
        check_commands(words)
    except ValueError as error:
        raise ValueError(f"--words: {error}") from None
    return speaker_id(speaker)
