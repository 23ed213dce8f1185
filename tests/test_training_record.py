"""`python -m model_training record` on the ALSA stand-in microphone (a real PortAudio device
playing espeak-ng words between stretches of the room's faint noise), run as a user runs it, the
prompts answered on its standard input; and how a take is judged, on real speech."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest
from alsa_microphone import DEVICE, TAKE_WINDOW, environment, plug_in, takes_audio
from assistant_command import REPO
from waiting import read_for

from model_training import dataset
from model_training.__main__ import main
from model_training.dataset import write_wav
from model_training.frontend import to_int16
from model_training.record import speaker_id, takes_of
from model_training.settings import CLIP_SAMPLES, SAMPLE_RATE
from model_training.synth import espeak_available, speak, trim
from model_training.takes import take_of

pytest.importorskip("sounddevice", reason="the [listen] extra is not installed")
pytestmark = pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed")

NOISE = 0.001
"""The room's noise (-60 dBFS RMS)."""


def _word(word: str, peak: float = 0.5) -> np.ndarray:
    """espeak-ng saying `word`, trimmed, peaking at `peak` of full scale (above 1: clipped)."""
    audio = trim(speak(word, "en", 50, 150))
    return audio / np.abs(audio).max() * peak


def _record(home: Path, *args: str, answers: int = 20) -> subprocess.CompletedProcess:
    """`python -m model_training record ARGS` with `answers` Enters on its input."""
    return subprocess.run(
        [sys.executable, "-m", "model_training", "record", "--device", DEVICE, *args],
        input="\n" * answers,
        env=environment(home),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _clip(path: Path) -> np.ndarray:
    """A clip's samples, once its format is found to be the layout's."""
    with wave.open(str(path)) as handle:
        assert (handle.getnchannels(), handle.getsampwidth(), handle.getframerate()) == (
            1,
            2,
            16000,
        )
        assert handle.getnframes() == CLIP_SAMPLES
        return np.frombuffer(handle.readframes(CLIP_SAMPLES), "<i2")


def _offset(clip: np.ndarray, audio: np.ndarray, centre: int) -> int:
    """How far (samples) the clip's middle is from the word's centre, found by where the
    stand-in's samples are in it."""
    start = centre - CLIP_SAMPLES // 2
    for shift in range(-SAMPLE_RATE // 10, SAMPLE_RATE // 10 + 1):
        if np.array_equal(clip, audio[start + shift : start + shift + CLIP_SAMPLES]):
            return shift
    raise AssertionError("the clip is not the stand-in's audio around the word")


def test_takes_are_kept_centred_on_the_word_and_silence_and_clipping_are_asked_again(tmp_path):
    audio, centres = takes_audio([None, _word("go"), _word("off", 1.6), _word("off")], NOISE)
    plug_in(tmp_path, audio)
    out = tmp_path / "my_words"
    result = _record(tmp_path, "--output", str(out), "--speaker", "Zoë", "--words", "go", "off",
                     "--takes", "1")  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    said = result.stdout
    assert "speaker 'Zoë' is zoe in the file names" in said
    assert said.count("say 'go' (1 of 1)") == 2 and said.count("say 'off' (1 of 1)") == 2
    assert "refused: no word heard (the loudest moment is" in said
    assert "refused: clipped (peak 0.0 dBFS): turn the input gain down" in said
    assert "kept go/zoe_nohash_0.wav" in said and "kept off/zoe_nohash_0.wav" in said
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "go/zoe_nohash_0.wav",
        "off/zoe_nohash_0.wav",
    ]
    for path, centre in ((out / "go/zoe_nohash_0.wav", centres[0]),
                         (out / "off/zoe_nohash_0.wav", centres[2])):  # fmt: skip
        assert abs(_offset(_clip(path), audio, centre)) <= SAMPLE_RATE // 100  # within 10 ms
    assert "`index` puts the clips of zoe in the " in said

    index = subprocess.run(
        [sys.executable, "-m", "model_training", "index", str(out)],
        env=environment(tmp_path),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert index.returncode == 0, index.stderr
    summary = json.loads(index.stdout)
    assert summary["per_word"] == {"go": 1, "off": 1}
    assert summary["duration_seconds"]["min"] == summary["duration_seconds"]["max"] == 1.0
    [split] = [name for name, count in summary["speakers_per_split"].items() if count]
    assert summary["per_label_split"][split]["go"] == summary["per_label_split"][split]["off"] == 1
    assert f"in the {split} split" in said


def test_the_session_says_whether_training_learns_from_the_takes_and_whose_split_moved(tmp_path):
    """One speaker alone is all validation (or test) clips: the note says training does not
    learn from them and how to make them train clips; a second speaker can move the first to
    another split, which the note names; with the folder's own (empty) lists, all is train."""
    out = tmp_path / "my_words"

    def session(speaker: str) -> str:
        plug_in(tmp_path, takes_audio([_word("go")], NOISE)[0])
        result = _record(tmp_path, "--output", str(out), "--speaker", speaker, "--words", "go",
                         "--takes", str(takes_of(out / "go", speaker) + 1))  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    said = session("me")
    assert "puts the clips of me in the validation split (the split is by speaker" in said
    assert "so training does not learn from them: they pick the checkpoint" in said
    lists = f"{out / 'validation_list.txt'} {out / 'testing_list.txt'}"
    assert f"if these takes are to train on, give {out} its own split (`touch {lists}`" in said

    said = session("sam")
    assert "puts the clips of sam in the train split" in said
    assert "so training learns from them" in said
    assert "me's clips moved from validation to test" in said
    assert "if these takes are to train on" not in said

    for name in ("validation_list.txt", "testing_list.txt"):
        (out / name).touch()
    said = session("me")
    assert f"puts the clips of me in the train split ({out}'s own validation and testing" in said
    assert "so training learns from them" in said and "moved" not in said
    clips = dataset.index_folder(out)
    assert {clip.split for clip in clips} == {"train"} and len(clips) == 3


def test_a_session_goes_on_where_it_stopped_and_replaces_no_take(tmp_path):
    audio, _ = takes_audio([_word("go")], NOISE)
    plug_in(tmp_path, audio)
    out = tmp_path / "my_words"
    for n in (0, 2):  # a take deleted since (1) leaves a gap
        write_wav(out / "go" / f"me_nohash_{n}.wav", np.full(CLIP_SAMPLES, 0.1 * (n + 1)))
    before = {n: (out / "go" / f"me_nohash_{n}.wav").read_bytes() for n in (0, 2)}
    result = _record(tmp_path, "--output", str(out), "--speaker", "me", "--words", "go",
                     "--takes", "3")  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "go: 2 of 3 recorded already" in result.stdout
    assert "say 'go' (3 of 3)" in result.stdout and "(2 of 3)" not in result.stdout
    assert "kept go/me_nohash_1.wav" in result.stdout
    _clip(out / "go" / "me_nohash_1.wav")
    assert {n: (out / "go" / f"me_nohash_{n}.wav").read_bytes() for n in (0, 2)} == before

    again = _record(tmp_path, "--output", str(out), "--speaker", "me", "--words", "go",
                    "--takes", "3")  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert "say '" not in again.stdout and "done: kept 0 take(s)" in again.stdout
    assert len(list((out / "go").glob("*.wav"))) == 3


def test_ctrl_c_keeps_the_takes_written(tmp_path):
    audio, _ = takes_audio([_word("up"), _word("up")], NOISE)
    plug_in(tmp_path, audio)
    out = tmp_path / "my_words"
    options = ["--output", str(out), "--speaker", "me", "--words", "up", "--takes", "5"]
    process = subprocess.Popen(
        [sys.executable, "-m", "model_training", "record", "--device", DEVICE, *options],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environment(tmp_path),
        cwd=REPO,
        text=True,
    )
    try:
        process.stdin.write("\n")
        process.stdin.flush()
        second_prompt = b"say 'up' (2 of 5)"
        before = read_for(process.stdout.fileno(), 60, lambda data: second_prompt in data)
        assert second_prompt in before, before  # asked once the first take is written
        process.send_signal(signal.SIGINT)
        rest, stderr = process.communicate(timeout=60)
        stdout = before.decode() + rest
    finally:
        process.kill()
    assert process.returncode == 130, stdout + stderr
    assert "say 'up' (2 of 5)" in stdout
    assert f"interrupted: kept 1 take(s) in {out}; the same command again records the rest" in (
        stdout
    )
    assert [p.name for p in (out / "up").iterdir()] == ["me_nohash_0.wav"]
    _clip(out / "up" / "me_nohash_0.wav")


def test_the_room_noise_goes_to_background_noise_next_to_what_is_there(tmp_path):
    rng = np.random.default_rng(1)
    plug_in(tmp_path, to_int16(rng.normal(0, 0.01, 8 * SAMPLE_RATE)))
    out = tmp_path / "my_words"
    for expected in ("room_0.wav", "room_1.wav"):
        result = _record(tmp_path, "--output", str(out), "--noise", "2")
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"kept _background_noise_/{expected}" in result.stdout
        assert result.stdout.rstrip().endswith(
            f"done: kept 2 s of room noise in {out / '_background_noise_' / expected}"
        )
        assert "dBFS, RMS  -40." in result.stdout  # its level, judged by nothing said of speech
        assert "speech" not in result.stdout
        with wave.open(str(out / "_background_noise_" / expected)) as handle:
            assert handle.getnframes() == 2 * SAMPLE_RATE
            assert (handle.getnchannels(), handle.getsampwidth()) == (1, 2)


def test_without_the_microphone_the_problem_and_how_to_list_the_microphones_are_said(tmp_path):
    result = _record(tmp_path, "--output", str(tmp_path / "out"), "--speaker", "me")
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: cannot record: microphone '{DEVICE}' not found")
    assert "set --device;" in result.stderr
    assert "`assistant devices` lists the microphones" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--words", "Lamp"], "--words: 'Lamp' cannot be a command: use 1-16 characters"),
        (["--speaker", "__"], "--speaker '__' has no letters or digits"),
    ],
)
def test_options_that_cannot_make_a_session_are_refused_before_recording(
    tmp_path, capsys, options, message
):
    argv = ["record", "--device", DEVICE, "--output", str(tmp_path), "--speaker", "me", *options]
    assert main(argv) == 1
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--window", "1"], "argument --window: a finite number from 1.2, not '1'"),
        (["--window", "inf"], "argument --window: a finite number from 1.2, not 'inf'"),
        (["--takes", "0"], "argument --takes: an integer of 1 or more, not '0'"),
        (["--noise", "0.5"], "argument --noise: a finite number from 1, not '0.5'"),
        (["--noise", "nan"], "argument --noise: a finite number from 1, not 'nan'"),
    ],
)
def test_numbers_that_cannot_make_a_session_are_refused_before_recording(
    tmp_path, capsys, options, message
):
    argv = ["record", "--device", DEVICE, "--output", str(tmp_path), "--speaker", "me", *options]
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_a_speaker_name_becomes_an_id_the_layout_keeps_whole():
    assert speaker_id("Zoë O'Neil") == "zoeoneil"
    assert speaker_id("anna_1/../x") == "anna1x"  # no _ (the id's end) and no path


def _in_room(*parts: tuple[int, np.ndarray]) -> np.ndarray:
    """Two seconds of the room's noise with each (start, sound) added."""
    audio = np.random.default_rng(2).normal(0, NOISE, TAKE_WINDOW).astype(np.float32)
    for start, sound in parts:
        audio[start : start + len(sound)] += sound
    return to_int16(audio)


def test_a_word_cut_off_by_the_end_of_the_recording_is_refused():
    word = _word("stop")
    take = take_of(_in_room((TAKE_WINDOW - len(word) // 2, word[: len(word) // 2])))
    assert take.clip is None
    assert take.problem.startswith("the word ran past the end of the recording")


def test_a_sound_longer_than_a_second_is_refused():
    hum = 0.3 * np.sin(np.arange(int(1.3 * SAMPLE_RATE)) * 0.2)
    take = take_of(_in_room((SAMPLE_RATE // 4, hum)))
    assert take.problem.startswith("1.3 s of sound, longer than a clip's second")


def test_a_click_apart_from_the_word_is_not_part_of_it():
    """A key's click 300 ms before the word: the clip is centred on the word alone."""
    click = np.full(80, 0.4, np.float32)
    word = _word("down")
    start = SAMPLE_RATE // 2
    audio = _in_room((start - int(0.3 * SAMPLE_RATE), click), (start, word))
    take = take_of(audio)
    assert take.problem is None
    assert abs(_offset(take.clip, audio, start + len(word) // 2)) <= SAMPLE_RATE // 100
