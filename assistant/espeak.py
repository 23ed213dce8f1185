"""espeak-ng run as a program: the voices it has, for the check of `speech.voice` (by the
configuration check, and before the engine selects one), and a reply synthesized into a WAV file
at the `speech:` section's voice, rate and volume (for the own-voice analysis,
assistant/own_voice.py). The speech engine itself (pyttsx3, which drives espeak-ng as a library)
is assistant/speech_engine.py's."""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from assistant.choices import SHOWN, did_you_mean, nearest
from assistant.plugin import SettingValueError


class SpeechError(RuntimeError):
    """Speech could not be produced (engine missing or failing)."""


def uses_espeak(settings: Mapping[str, Any]) -> bool:
    """Whether the `speech:` section's engine is espeak-ng (pyttsx3's driver on Linux)."""
    return sys.platform.startswith("linux") and settings["engine"] in ("auto", "espeak")


VOICES_HOW = (
    "`espeak-ng --voices` lists the voices: write a File (gmw/en-us), its last part (en-us) or a "
    "VoiceName with spaces for its underscores, with +VARIANT from `espeak-ng --voices=variant` "
    "if you like (en-us+f3)"
)
"""How to name a voice as the engine selects it (espeak-ng's SetVoiceByName, which pyttsx3
calls): what an unknown voice's problem ends with."""
VOICE_LIKENESS = 0.6
"""How like a voice's name (difflib's ratio) a misspelt one must be for it to be offered."""
LISTING_TIMEOUT = 5.0
"""Seconds `espeak-ng --voices` may take (it takes about 10 ms)."""


class UnknownVoice(SpeechError):
    """espeak-ng has no voice (or variant) of the name given."""


@dataclass(frozen=True)
class EspeakVoices:
    """The names espeak-ng selects a voice by, as `espeak-ng --voices` lists them: a voice's
    File, its last part, or its VoiceName (listed with underscores for spaces), in any case.
    A language listed is no name when no voice file has it for name (en-gb, fr-fr), nor is a
    VoiceName's first word alone (english, of English_(America))."""

    names: frozenset[str]
    """Every name a voice is selected by, in lower case."""
    files: tuple[str, ...]
    """The last part of each voice's File, in lower case: the names suggested."""
    instead: Mapping[str, tuple[str, ...]]
    """A likely name that selects no voice (a language, a VoiceName as listed, a VoiceName's
    first word) -> the names of the voices it stands for, those espeak-ng prefers first."""


def check_espeak_voice(voice: str) -> None:
    """Raise UnknownVoice unless espeak-ng has `voice` as the engine selects it (espeak-ng
    itself silently keeps the voice it had, or a variant's): a name of `EspeakVoices`, and
    maybe +VARIANT (a variant's file name, exactly, or a digit for m<digit>). SpeechError when
    espeak-ng cannot list its voices. The lists are read once (about 10 ms), and again when a
    name is not in them (a voice installed since)."""
    espeak = _espeak_ng()
    base, _, variant = voice.partition("+")
    if base.lower() not in _voices(espeak).names:
        _voices.cache_clear()
        voices = _voices(espeak)
        if base.lower() not in voices.names:
            raise UnknownVoice(f"speech.voice: unknown voice {base!r}; {_nearest(base, voices)}")
    variants = _variants(espeak) if variant else ()
    if variant and (f"m{variant}" if variant.isdigit() else variant) not in variants:
        near = nearest(variant, variants, count=SHOWN, cutoff=VOICE_LIKENESS)
        raise UnknownVoice(
            f"speech.voice: unknown variant {variant!r} of {voice!r}; {did_you_mean(near)}"
            "`espeak-ng --voices=variant` lists them (a variant's name is case-sensitive)"
        )


def _nearest(name: str, voices: EspeakVoices) -> str:
    """The names nearest to `name`, and how to find the others."""
    written = name.lower()
    near = [*voices.instead.get(written, ())]
    near += nearest(written, voices.files, count=SHOWN, cutoff=VOICE_LIKENESS)
    return did_you_mean(near) + VOICES_HOW


@functools.lru_cache(maxsize=1)
def _voices(espeak: str) -> EspeakVoices:
    names: set[str] = set()
    files: list[str] = []
    instead: dict[str, list[str]] = {}
    for voice in sorted(_listing(espeak, "--voices"), key=lambda voice: voice.priority):
        last = voice.file.rsplit("/", 1)[-1].lower()
        names.update({voice.file.lower(), last, voice.name.replace("_", " ").lower()})
        files.append(last)
        for likely in (voice.language, voice.name, voice.name.split("_", 1)[0]):
            instead.setdefault(likely.lower(), []).append(last)
    return EspeakVoices(
        frozenset(names),
        tuple(files),
        {key: tuple(dict.fromkeys(its)) for key, its in instead.items() if key not in names},
    )


@functools.lru_cache(maxsize=1)
def _variants(espeak: str) -> tuple[str, ...]:
    return tuple(voice.file.rsplit("/", 1)[-1] for voice in _listing(espeak, "--voices=variant"))


class _Listed(NamedTuple):
    """A voice as `espeak-ng --voices` lists it."""

    priority: int
    """Pty: the lower, the more espeak-ng prefers the voice for its language."""
    language: str
    name: str
    file: str


def _listing(espeak: str, option: str) -> list[_Listed]:
    """Each voice `espeak-ng OPTION` lists."""
    try:
        done = subprocess.run(
            [espeak, option], capture_output=True, text=True, timeout=LISTING_TIMEOUT
        )
    except subprocess.TimeoutExpired:
        raise SpeechError(f"`espeak-ng {option}` took more than {LISTING_TIMEOUT:g} s") from None
    except OSError as error:
        raise SpeechError(f"`espeak-ng {option}` could not run: {error.strerror}") from None
    if done.returncode != 0:
        raise SpeechError(f"`espeak-ng {option}` failed: {done.stderr.strip() or done.returncode}")
    rows = [line.split() for line in done.stdout.splitlines()[1:]]
    rows = [row for row in rows if len(row) >= 5 and row[0].isdigit()]
    return [_Listed(int(row[0]), row[1], row[3], row[4]) for row in rows]


def check_voice(settings: Mapping[str, Any]) -> str | None:
    """The `speech:` section's voice checked as the engine will select it, for the
    configuration check: SettingValueError (at `voice`) when espeak-ng has no such voice; why
    it was not checked when espeak-ng is missing or cannot list its voices (the engine will
    not start then, and says so); None once checked, or with nothing to check (speech off, no
    engine is started; the default voice; another engine than espeak-ng, whose voices are its
    own)."""
    voice = settings["voice"]
    if not (settings["enabled"] and voice and uses_espeak(settings)):
        return None
    try:
        check_espeak_voice(voice)
    except UnknownVoice as error:
        raise SettingValueError(str(error), "voice") from None
    except SpeechError as error:
        return f"speech.voice: {voice!r} could not be checked: {error}; replies need it to be said"
    return None


def _espeak_ng() -> str:
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise SpeechError("espeak-ng is not installed (apt install espeak-ng)")
    return espeak


def espeak_to_file(settings: Mapping[str, Any], text: str, path: Path) -> Path:
    """Synthesize `text` into a WAV file with espeak-ng (the engine behind pyttsx3 on Linux),
    using the voice, rate and volume of `settings` (the `speech:` section, defaults filled in)."""
    espeak = _espeak_ng()
    if settings["voice"]:
        check_espeak_voice(settings["voice"])
    command = [espeak, "-w", str(path), "-s", str(settings["rate"])]
    command += ["-a", str(round(settings["volume"] * 100))]
    if settings["voice"]:
        command += ["-v", settings["voice"]]
    try:
        done = subprocess.run(
            [*command, "--", text], capture_output=True, text=True, timeout=settings["timeout"]
        )
    except subprocess.TimeoutExpired:
        raise SpeechError(f"espeak-ng took more than {settings['timeout']} s") from None
    if done.returncode != 0 or not Path(path).exists():
        raise SpeechError(f"espeak-ng failed: {done.stderr.strip() or done.returncode}")
    return Path(path)
