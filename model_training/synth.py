"""Keyword clips and running speech from offline text-to-speech (espeak-ng).

Clips are written in the Speech Commands layout (`<word>/<speaker>_nohash_<n>.wav`, 16 kHz mono,
one second, word centred); each espeak-ng voice+variant is one "speaker", so the hash split keeps
voices apart. Sentences without any command word go to `_speech_/` at full length: running speech
is the hardest negative for a spotter, and the recipe cuts random one-second windows from them.
"""

from __future__ import annotations

import inspect
import io
import json
import shutil
import subprocess
import wave
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

from model_training.dataset import write_wav
from model_training.json_files import read_object
from model_training.progress import Progress
from model_training.settings import (
    CLIP_SAMPLES,
    COMMANDS,
    UNKNOWN_FOLDER,
    check_commands,
)

SPEECH_FOLDER = "_speech_"
# Written by `synthesize` when it has finished: the options it ran with.
MARKER = "synth.json"
VOICES = ("en", "en-us", "en-gb-x-rp", "en-gb-scotland", "en-gb-x-gbclan", "en-029", "en-us-nyc")
VARIANTS = (
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5",
    "klatt", "klatt2", "klatt3", "croak", "Andy", "Annie", "Lee", "max",
)  # fmt: skip
# Words that are not commands (so a model learns "unknown" from voices it hears for commands too).
UNKNOWN_WORDS = (
    "yes", "no", "left", "right", "one", "two", "three", "four", "five", "six", "seven",
    "eight", "nine", "zero", "bed", "bird", "cat", "dog", "happy", "house", "tree", "wow",
    "learn", "follow", "forward", "backward", "visual", "cup", "goal", "top", "shop", "town",
    "open", "hello", "okay", "done", "oven", "under", "sun", "light", "music", "so",
    "know", "toe", "of", "cop", "drop", "dawn", "own",
)  # fmt: skip
SENTENCE_WORDS = (
    "the", "a", "I", "you", "we", "they", "it", "is", "was", "will", "can", "could", "have",
    "think", "know", "want", "like", "need", "make", "see", "time", "day", "night", "morning",
    "weather", "coffee", "music", "light", "kitchen", "window", "table", "phone", "book",
    "friend", "really", "maybe", "today", "tomorrow", "later", "because", "and", "but", "then",
    "very", "nice", "cold", "warm", "please", "thanks", "where", "when", "why", "what",
    "little", "more", "some", "long", "again", "home", "work", "dinner", "people", "water",
)  # fmt: skip


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def speak(text: str, voice: str, pitch: int, speed: int, rate: int = 16000) -> np.ndarray:
    """espeak-ng's output as float32 audio at `rate` (16 kHz)."""
    if not espeak_available():
        raise RuntimeError("espeak-ng not found: install it (apt-get install espeak-ng)")
    command = ["espeak-ng", "-v", voice, "-p", str(pitch), "-s", str(speed), "--stdout", text]
    result = subprocess.run(command, capture_output=True, check=True)
    with wave.open(io.BytesIO(result.stdout)) as handle:
        handle_rate = handle.getframerate()
        pcm = np.frombuffer(handle.readframes(handle.getnframes()), dtype="<i2")
    audio = pcm.astype(np.float32) / 32768.0
    return resample_poly(audio, rate, handle_rate).astype(np.float32)


def trim(audio: np.ndarray, threshold: float = 0.02) -> np.ndarray:
    """Cut leading and trailing near-silence: the samples before the first and after the last
    above `threshold` of the peak.

    espeak-ng's output is clean, so a sample threshold 34 dB down keeps the word's faint
    onset and tail whole, to the sample, before it is centred; `examples.voiced_span` (a clip's
    voiced core, 10 dB down in 10 ms frames) would cut them off. Changing it changes the
    synthesized clips."""
    loud = np.flatnonzero(np.abs(audio) > threshold * max(np.abs(audio).max(), 1e-9))
    return audio[loud[0] : loud[-1] + 1] if loud.size else audio


def centre(audio: np.ndarray, samples: int = CLIP_SAMPLES) -> np.ndarray:
    """Place a word in the middle of a one-second clip (cut to fit when longer)."""
    audio = audio[:samples]
    start = (samples - len(audio)) // 2
    clip = np.zeros(samples, dtype=np.float32)
    clip[start : start + len(audio)] = audio
    return clip


def speaker_name(voice: str, variant: str, pitch: int, speed: int) -> str:
    return f"tts{voice.replace('-', '')}{variant.lower()}p{pitch}s{speed}"


def synthesize_words(
    words: Sequence[str],
    out_dir: str | Path,
    per_word: int,
    seed: int = 0,
    folder_of: Callable[[str], str] = lambda word: word,
    tick: Callable[[], None] = lambda: None,
) -> list[Path]:
    """`per_word` clips of each word, each with a random voice, variant, pitch and speed."""
    rng = np.random.default_rng(seed)
    written = []
    for word in words:
        for n in range(per_word):
            voice = str(rng.choice(VOICES))
            variant = str(rng.choice(VARIANTS))
            pitch = int(rng.integers(20, 81))
            speed = int(rng.integers(110, 221))
            audio = trim(speak(word, f"{voice}+{variant}", pitch, speed))
            audio = audio / max(np.abs(audio).max(), 1e-9) * rng.uniform(0.2, 0.8)
            folder = folder_of(word)
            prefix = f"{word}_" if folder != word else ""
            name = f"{prefix}{speaker_name(voice, variant, pitch, speed)}_nohash_{n}.wav"
            path = Path(out_dir) / folder / name
            write_wav(path, centre(audio))
            written.append(path)
            tick()
    return written


def synthesize_sentences(
    out_dir: str | Path,
    count: int,
    seed: int = 0,
    forbidden: Sequence[str] = COMMANDS,
    tick: Callable[[], None] = lambda: None,
) -> list[Path]:
    """Running speech without any of the `forbidden` words, in `_speech_/` at full length."""
    rng = np.random.default_rng(seed + 1)
    vocabulary = [w for w in SENTENCE_WORDS if w not in set(forbidden)]
    written = []
    for n in range(count):
        voice = f"{rng.choice(VOICES)}+{rng.choice(VARIANTS)}"
        pitch, speed = int(rng.integers(20, 81)), int(rng.integers(120, 211))
        text = " ".join(str(w) for w in rng.choice(vocabulary, size=int(rng.integers(5, 12))))
        audio = trim(speak(text, voice, pitch, speed))
        audio = audio / max(np.abs(audio).max(), 1e-9) * rng.uniform(0.2, 0.8)
        speaker = speaker_name(*voice.split("+"), pitch, speed)
        path = Path(out_dir) / SPEECH_FOLDER / f"sentence_{speaker}_nohash_{n}.wav"
        write_wav(path, audio)
        written.append(path)
        tick()
    return written


def synthesize(
    out_dir: str | Path,
    commands: Sequence[str] = COMMANDS,
    per_command: int = 120,
    unknown_words: Sequence[str] = UNKNOWN_WORDS,
    per_unknown_word: int = 8,
    sentences: int = 300,
    seed: int = 0,
) -> int:
    """Commands, other words (in `_unknown_/`) and sentences; returns the number of files.
    The counts are bounded by the command line: `per_command` 1 or more, the others 0 or more.

    When done, `out_dir/synth.json` records the options (see `is_complete`).
    """
    check_commands(commands)
    marker = Path(out_dir) / MARKER
    marker.unlink(missing_ok=True)
    others = [w for w in dict.fromkeys(unknown_words) if w not in set(commands)]
    total = len(commands) * per_command + len(others) * per_unknown_word + sentences
    progress = Progress("synth", total)
    done = [0]

    def tick() -> None:
        done[0] += 1
        progress(done[0])

    written = synthesize_words(commands, out_dir, per_command, seed, tick=tick)
    written += synthesize_words(
        others, out_dir, per_unknown_word, seed + 2, folder_of=lambda w: UNKNOWN_FOLDER, tick=tick
    )
    written += synthesize_sentences(out_dir, sentences, seed, forbidden=commands, tick=tick)
    options = _options(commands, per_command, unknown_words, per_unknown_word, sentences, seed)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({**options, "clips": len(written)}, indent=2))
    return len(written)


def _options(*args, **kwargs) -> dict:
    """`synthesize`'s options (its defaults filled in) as JSON values, without the folder."""
    bound = inspect.signature(synthesize).bind(None, *args, **kwargs)
    bound.apply_defaults()
    options = {name: value for name, value in bound.arguments.items() if name != "out_dir"}
    return json.loads(json.dumps(options))


def is_complete(out_dir: str | Path, **options) -> bool:
    """Whether `synthesize(out_dir, **options)` has finished in `out_dir` (its marker matches;
    a marker that is missing or damaged, cut short say, is no finished synth)."""
    try:
        recorded = read_object(Path(out_dir) / MARKER, "synth marker", "synthesize again")
    except ValueError:
        return False
    recorded.pop("clips", None)
    return recorded == _options(**options)
