"""`microphone.keep_clips`: the clips of the commands heard, kept in the Speech Commands layout,
through the real microphone source and the committed model on spoken words."""

from __future__ import annotations

import json
import logging
import os
import stat
import subprocess
import sys
import threading
import wave
from pathlib import Path

import numpy as np
import pytest
from alsa_microphone import DEVICE, environment, plug_in, saying_on
from assistant_command import assistant
from runtime_skills import INSTALLED
from test_listener import RecordedMicrophone
from test_skill_timers import unwritable
from waiting import wait_until

from assistant import protocol
from assistant.clips import ClipKeeper, RecentAudio, speaker_name
from assistant.config import load_config
from assistant.daemon import Assistant
from assistant.listener import ListenerSettings, MicrophoneSource
from assistant.microphone import SAMPLE_RATE
from assistant.model_files import load_model
from assistant.near_misses import NearMiss
from assistant.pipeline import ScoreStream
from assistant.speakers import speaker_id

REPO = Path(__file__).resolve().parent.parent
COMMANDS = ("go", "on")
"""The commands of the model the keepers below are given."""


@pytest.fixture(scope="module")
def three_ons() -> np.ndarray:
    """espeak-ng saying "on" three times, 4.7 s apart (each between two seconds of silence)."""
    return np.tile(saying_on(SAMPLE_RATE), 3)


def _source(audio: np.ndarray, data_dir: Path | None, **values) -> MicrophoneSource:
    """A source with the committed model on a recorded microphone playing `audio`."""
    settings = ListenerSettings.from_values({"retry_seconds": 0.05, **values})
    microphone = RecordedMicrophone(audio)
    return MicrophoneSource(settings, lambda device, block: microphone, data_dir=data_dir)


def _hear_all(source: MicrophoneSource, audio: np.ndarray) -> list[protocol.Detection]:
    """Run `source` until its microphone has played `audio` and a second of silence; the
    detections it delivered (its clips are written once it returns)."""
    messages: list[protocol.Message] = []
    stopping = threading.Event()
    microphone = source.open_stream("default", 1600)
    thread = threading.Thread(target=source.run, args=(messages.append, stopping))
    thread.start()
    assert wait_until(lambda: microphone.position > len(audio) + SAMPLE_RATE, timeout=30)
    stopping.set()
    thread.join(timeout=10)
    assert not thread.is_alive()
    return [m for m in messages if isinstance(m, protocol.Detection)]


def _read(path: Path) -> np.ndarray:
    with wave.open(str(path)) as clip:
        assert (clip.getnchannels(), clip.getsampwidth(), clip.getframerate()) == (1, 2, 16000)
        return np.frombuffer(clip.readframes(clip.getnframes()), dtype="<i2")


def test_each_command_heard_is_kept_as_a_second_the_model_hears_it_in_again(tmp_path, three_ons):
    """At threshold 0.9 "on" is heard 800 ms after it ends, its start out of the window then:
    the clip is the window the model scored it highest in (the middle one of equals)."""
    source = _source(three_ons, tmp_path, keep_clips=5, thresholds={"on": 0.9})
    detections = _hear_all(source, three_ons)
    assert [d.label for d in detections] == ["on", "on", "on"]
    word = np.count_nonzero(saying_on(SAMPLE_RATE))
    speaker = speaker_name()
    folder = tmp_path / "clips" / "on"
    assert sorted(p.name for p in folder.iterdir()) == [
        f"{speaker}_nohash_{n}.wav" for n in range(3)
    ]
    model, contract = load_model()
    for path in sorted(folder.iterdir()):
        samples = _read(path)
        assert len(samples) == SAMPLE_RATE  # one second, as the training clips
        # the audio heard, ending where an inference's window ends (slices of 320 samples,
        # a 480-sample window): the 990 ms window scored and the 10 ms before it
        ends = range(480, len(three_ons) + 1, 320)
        assert any(np.array_equal(three_ons[end - SAMPLE_RATE : end], samples) for end in ends)
        assert np.count_nonzero(samples) == word  # all of the word, in the silence around it
        (inference,) = ScoreStream(model, contract).feed(samples)  # a fresh frontend, alone
        assert contract.labels[int(np.argmax(inference.scores))] == "on"
    assert source.clips is not None
    assert source.description.endswith(f", clips kept 3 in {tmp_path / 'clips'}")


def test_only_the_newest_clips_are_kept_and_the_ones_moved_out_are_the_users(tmp_path, three_ons):
    speaker = speaker_name()
    unknown = tmp_path / "clips" / "_unknown_"
    unknown.mkdir(parents=True)
    (unknown / f"{speaker}_nohash_6.wav").write_bytes(b"sorted by the user")
    mine = tmp_path / "clips" / "on" / "abc123_nohash_0.wav"  # another speaker's recording
    mine.parent.mkdir()
    mine.write_bytes(b"recorded by the user")
    _hear_all(_source(three_ons, tmp_path, keep_clips=2), three_ons)
    kept = sorted(p.name for p in (tmp_path / "clips" / "on").iterdir())
    assert kept == ["abc123_nohash_0.wav", f"{speaker}_nohash_8.wav", f"{speaker}_nohash_9.wav"]
    assert (unknown / f"{speaker}_nohash_6.wav").read_bytes() == b"sorted by the user"


def test_the_bound_removes_only_this_computers_clips_in_the_commands_folders(tmp_path):
    """A clip moved to a folder of the user's (not starting with `_`), a link in a command's
    folder, and another speaker's take there are neither counted nor removed."""
    clips = tmp_path / "clips"
    for folder in ("go", "mine"):
        (clips / folder).mkdir(parents=True, mode=0o700)
    clips.chmod(0o700)
    moved = clips / "mine" / "me_nohash_0.wav"
    moved.write_bytes(b"moved here by the user")
    take = clips / "go" / "ann_nohash_1.wav"
    take.write_bytes(b"another speaker's take")
    linked = clips / "go" / "me_nohash_1.wav"
    linked.symlink_to(moved)
    keeper = ClipKeeper(clips, 1, 1100, COMMANDS, speaker="me")
    for _ in range(3):
        _keep_one(keeper, "go")
    assert keeper.problem is None
    assert keeper.kept() == [clips / "go" / "me_nohash_4.wav"]
    assert moved.read_bytes() == b"moved here by the user"
    assert take.read_bytes() == b"another speaker's take"
    assert linked.is_symlink()


def test_a_folder_that_cannot_be_written_is_logged_once_and_listening_goes_on(
    tmp_path, three_ons, caplog
):
    (tmp_path / "clips").mkdir()
    source = _source(three_ons, tmp_path, keep_clips=5)
    caplog.set_level(logging.INFO, "assistant.clips")
    with unwritable(tmp_path / "clips"):
        detections = _hear_all(source, three_ons)
    assert [d.label for d in detections] == ["on", "on", "on"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].startswith(
        f"microphone.keep_clips: cannot write the clip of 'on' to {tmp_path / 'clips'} ("
    )
    assert warnings[0].endswith(
        "listening goes on without it: free some space or make the folder writable, or set "
        "keep_clips: 0"
    )
    assert "clips kept 0 in " in source.description
    assert "(the last not written: [Errno " in source.description
    assert not list((tmp_path / "clips").iterdir())
    caplog.clear()
    source.open_stream("default", 1600).position = 0  # heard again, the folder writable again
    _hear_all(source, three_ons)
    assert len(list((tmp_path / "clips" / "on").iterdir())) == 3
    assert "clips are written again" in caplog.text
    assert source.description.endswith("clips kept 3 in " + str(tmp_path / "clips"))


def test_no_clip_is_kept_by_default(tmp_path, three_ons):
    source = _source(three_ons, tmp_path)
    assert len(_hear_all(source, three_ons)) == 3
    assert source.clips is None
    assert not (tmp_path / "clips").exists()
    assert "clips" not in source.description


def test_the_assistant_keeps_the_clips_of_its_microphone_in_its_data_folder_and_says_so(
    alsa_home, three_ons
):
    """The daemon's own microphone source, on a real ALSA device playing the words."""
    plug_in(alsa_home, three_ons)
    path = alsa_home / "config.yaml"
    path.write_text(f"source: microphone\nmicrophone: {{device: {DEVICE}, keep_clips: 10}}\n")
    assistant = Assistant(load_config(path, INSTALLED), INSTALLED, alsa_home / "data", print)
    assistant.start()
    assistant.open_default_sources()
    try:
        folder = alsa_home / "data" / "clips"
        assert wait_until(lambda: len(list(folder.glob("on/*.wav"))) == 3, timeout=30)
        assert f", clips kept 3 in {folder}, firmware desktop-1" in assistant.status()
    finally:
        assistant.stop()


def test_status_shows_where_the_clips_are_on_the_microphone_sources_one_line(alsa_home, three_ons):
    """`assistant status` as a user runs it: the source's description holds a "; " of its own,
    shown as it is, and its line still ends with the clips folder."""
    plug_in(alsa_home, three_ons)
    path = alsa_home / "config.yaml"
    path.write_text(f"source: microphone\nmicrophone: {{device: {DEVICE}, keep_clips: 10}}\n")
    env = {**environment(alsa_home), "XDG_RUNTIME_DIR": str(alsa_home / "run")}
    env["XDG_DATA_HOME"] = str(alsa_home / "data")
    daemon = subprocess.Popen(
        [sys.executable, "-m", "assistant", "run", "--config", str(path)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    folder = alsa_home / "data" / "assistant" / "clips"
    try:
        assert wait_until(lambda: len(list(folder.glob("on/*.wav"))) == 3, timeout=60)
        lines = assistant(env, "status").stdout.splitlines()
    finally:
        daemon.terminate()
        daemon.wait(timeout=15)
    (source,) = [line for line in lines if line.startswith("source: ")]
    assert source.startswith("source: microphone (device 'deskmic': listening since ")
    assert "; overflows 0, failures 0, processing " in source
    assert source.endswith(f", clips kept 3 in {folder}, firmware desktop-1, model b079c5f0)")


def index_run(clips: Path) -> subprocess.CompletedProcess:
    """`python -m model_training index` on the folder `clips`, its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "model_training", "index", str(clips)],
        capture_output=True,
        text=True,
        cwd=REPO,
    )


def indexed(clips: Path) -> dict:
    """What `python -m model_training index` finds in the folder `clips`."""
    run = index_run(clips)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def test_model_training_indexes_the_clips_folder_once_sorted(tmp_path, three_ons):
    """A false accept moved to `_unknown_/` trains as unknown, the others as their command."""
    _hear_all(_source(three_ons, tmp_path, keep_clips=5), three_ons)
    clips = tmp_path / "clips"
    (clips / "_unknown_").mkdir()
    first = clips / "on" / f"{speaker_name()}_nohash_0.wav"
    first.rename(clips / "_unknown_" / first.name)
    index = indexed(clips)
    assert index["per_word"] == {"_unknown_": 1, "on": 2}
    labels = [split for split in index["per_label_split"].values() if any(split.values())]
    assert labels == [{**dict.fromkeys(labels[0], 0), "unknown": 1, "on": 2}]  # one speaker
    assert index["duration_seconds"]["shorter_than_1s"] == 0


def test_speaker_names_are_host_names_the_data_set_can_split():
    assert speaker_name("Desk_PC.example.org") == "deskpc"
    assert speaker_name("___") == "me"


def test_a_computer_is_the_speaker_that_record_names_alike():
    """The clips of the computer lab-2 and the takes `record --speaker lab-2` makes are one
    speaker, so `index` puts them in one split."""
    assert speaker_name("lab-2.example.org") == speaker_id("lab-2") == "lab2"


def _keep_one(keeper: ClipKeeper, label: str, near_miss: bool = False) -> None:
    keeper.hear(np.ones(SAMPLE_RATE, dtype=np.int16))
    keeper.heard(label, 1000, NearMiss(label, 0.6, 1000, 0.8) if near_miss else None)
    keeper.close()


def test_clips_are_readable_by_the_user_alone(tmp_path):
    umask = os.umask(0o022)
    try:
        _keep_one(ClipKeeper(tmp_path / "clips", 5, 1100, COMMANDS, speaker="me"), "go")
    finally:
        os.umask(umask)
    clip = tmp_path / "clips" / "go" / "me_nohash_0.wav"
    assert stat.S_IMODE(clip.stat().st_mode) == 0o600
    assert stat.S_IMODE(clip.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(clip.parent.parent.stat().st_mode) == 0o700


@pytest.mark.parametrize("shared", ["clips", "clips/go"])
def test_a_clips_folder_others_may_write_in_is_refused(tmp_path, caplog, shared):
    """Another user could read the clips there, or plant links that the writing or the bound
    would follow."""
    (tmp_path / shared).mkdir(parents=True)
    (tmp_path / shared).chmod(0o777)
    keeper = ClipKeeper(tmp_path / "clips", 5, 1100, COMMANDS, speaker="me")
    _keep_one(keeper, "go")
    assert not list((tmp_path / "clips").glob("*/*.wav"))
    assert keeper.problem == (
        f"{tmp_path / shared} is not yours alone (owner uid {os.getuid()}, mode drwxrwxrwx): "
        "another user could read the clips or have the assistant write or remove files elsewhere"
    )
    assert (
        caplog.records[-1]
        .getMessage()
        .endswith(
            f"listening goes on without it: make it yours and writable by you alone (`chmod 700 "
            f"{tmp_path / shared}`), or remove it, or set keep_clips: 0"
        )
    )


def test_no_clip_is_written_or_removed_through_a_link(tmp_path):
    """A command's folder that is a link (to a training folder, say) is not written in, and the
    bound removes none of the files there, though they have the speaker's names."""
    elsewhere = tmp_path / "dataset" / "on"
    elsewhere.mkdir(parents=True)
    for n in range(2):
        (elsewhere / f"me_nohash_{n}.wav").write_bytes(b"a take of the user's")
    clips = tmp_path / "clips"
    clips.mkdir(mode=0o700)
    (clips / "on").symlink_to(elsewhere)
    keeper = ClipKeeper(clips, 1, 1100, COMMANDS, speaker="me")
    _keep_one(keeper, "on")
    assert (
        keeper.problem
        == f"{clips / 'on'} is a symbolic link, and clips are written to real folders only"
    )
    _keep_one(keeper, "go")
    assert keeper.problem is None
    assert keeper.kept() == [clips / "go" / "me_nohash_2.wav"]
    assert sorted(p.name for p in elsewhere.iterdir()) == ["me_nohash_0.wav", "me_nohash_1.wav"]


def test_a_link_planted_at_a_clips_partial_name_is_not_followed(tmp_path):
    victim = tmp_path / "notes.txt"
    victim.write_text("the user's notes")
    folder = tmp_path / "clips" / "go"
    folder.mkdir(parents=True, mode=0o700)
    (tmp_path / "clips").chmod(0o700)
    (folder / ".me_nohash_0.wav.part").symlink_to(victim)
    _keep_one(ClipKeeper(tmp_path / "clips", 5, 1100, COMMANDS, speaker="me"), "go")
    assert victim.read_text() == "the user's notes"
    clip = folder / "me_nohash_0.wav"
    assert not clip.is_symlink()
    assert len(_read(clip)) == SAMPLE_RATE


def test_recent_audio_finds_a_window_by_its_wrapped_time():
    recent = RecentAudio(3 * SAMPLE_RATE)
    recent.add(np.arange(5 * SAMPLE_RATE, dtype=np.int64).astype(np.int16))
    end = recent.window_end(4000)
    assert end == 4 * SAMPLE_RATE
    clip = recent.ending(end, SAMPLE_RATE)
    assert np.array_equal(clip, np.arange(3 * SAMPLE_RATE, 4 * SAMPLE_RATE).astype(np.int16))
    assert np.array_equal(recent.ending(2 * SAMPLE_RATE + 10, 20)[:10], np.zeros(10))
    recent.heard += (2**32) * 16  # 49.7 days later, times have wrapped once
    assert recent.window_end(4000) == 4 * SAMPLE_RATE + (2**32) * 16


def test_recent_audio_keeps_what_was_heard_whatever_the_blocks():
    """Blocks of any length, longer than the ring too: each window is the audio heard then, or
    silence where it is older than the ring or before the first sample."""
    rng = np.random.default_rng(7)
    recent, heard = RecentAudio(1000), np.zeros(0, np.int16)
    for length in (0, 1, 999, 1000, 1001, 2500, 7, 320, 993, 1):
        block = rng.integers(-32768, 32768, length, dtype=np.int16)
        recent.add(block)
        heard = np.concatenate([heard, block])
        for end, count in ((len(heard), 1000), (len(heard) - 3, 40), (len(heard), 1500)):
            kept = heard[max(end - count, len(heard) - 1000, 0) : max(end, 0)]
            expected = np.concatenate([np.zeros(count - len(kept), np.int16), kept])
            assert np.array_equal(recent.ending(end, count), expected)


def test_a_keeper_writes_the_clips_waiting_when_closed(tmp_path):
    keeper = ClipKeeper(tmp_path / "clips", 1, 1100, COMMANDS, speaker="me")
    keeper.hear(np.ones(SAMPLE_RATE, dtype=np.int16))
    keeper.heard("go", 1000)
    keeper.close()
    assert keeper.kept() == [tmp_path / "clips" / "go" / "me_nohash_0.wav"]


def test_the_clips_folder_is_looked_through_once_per_clip(tmp_path, monkeypatch):
    """Numbering a clip and bounding the clips share one look through the folder, which
    grows with `keep_clips`; the bound still keeps the newest alone."""
    clips = tmp_path / "clips"
    keeper = ClipKeeper(clips, 2, 1100, COMMANDS, speaker="me")
    _keep_one(keeper, "go")
    looks = []
    scandir = os.scandir

    def counted(path=None):
        looks.append(Path(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", counted)
    for label in ("on", "go", "on"):
        _keep_one(keeper, label)
    assert looks.count(clips) == 3
    monkeypatch.undo()
    assert keeper.kept() == [clips / "go" / "me_nohash_2.wav", clips / "on" / "me_nohash_3.wav"]
    assert stat.S_IMODE((clips / "on" / "me_nohash_3.wav").stat().st_mode) == 0o600
