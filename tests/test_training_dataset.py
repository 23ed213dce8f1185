"""Indexing a Speech Commands folder: labels, speakers, the hash split, clear errors."""

import json
import os
import shutil
import wave
from pathlib import Path

import numpy as np
import pytest

from model_training import dataset, synth
from model_training.__main__ import main
from model_training.settings import LABELS


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("speech")
    synth.synthesize_words(["on", "stop"], root, per_word=6, seed=3)
    synth.synthesize_words(["tree"], root, 4, seed=4, folder_of=lambda w: "_unknown_")
    rng = np.random.default_rng(0)
    dataset.write_wav(root / "_background_noise_" / "white.wav", 0.1 * rng.normal(size=32000))
    dataset.write_wav(root / "_silence_" / "0001.wav", 0.01 * rng.normal(size=16000))
    return root


def test_labels_words_and_speakers(tiny_folder):
    clips = dataset.index_folder(tiny_folder)
    assert len(clips) == 6 + 6 + 4 + 1  # background noise is not a clip
    assert {c.label for c in clips} == {"on", "stop", "unknown", "silence"} <= set(LABELS)
    tree = next(c for c in clips if c.word == "_unknown_")
    assert Path(tree.path).name.startswith(f"tree_{tree.speaker}_nohash_")
    assert all(c.samples == 16000 and c.sample_rate == 16000 for c in clips)


def test_split_keeps_each_speaker_in_one_split(tiny_folder):
    clips = dataset.index_folder(tiny_folder, 30, 30)
    split_of = {}
    for clip in clips:
        assert split_of.setdefault(clip.speaker, clip.split) == clip.split


def test_which_set_is_the_speech_commands_rule():
    # Speakers of the data set's own testing_list.txt (v0.02), with its 10% / 10% shares, and
    # speakers the rule puts in the other splits.
    for speaker in ("022cd682", "03401e93", "0b57a6ed"):
        assert dataset.which_set(speaker, 10, 10) == "test"
    for speaker in ("026290a7", "099d52ad"):
        assert dataset.which_set(speaker, 10, 10) == "validation"
    for speaker in ("004ae714", "00b01445"):
        assert dataset.which_set(speaker, 10, 10) == "train"
    speakers = [f"{n:08x}" for n in range(2000)]
    splits = [dataset.which_set(s, 10, 20) for s in speakers]
    share = {name: splits.count(name) / len(splits) for name in dataset.SPLITS}
    assert share["validation"] == pytest.approx(0.10, abs=0.03)
    assert share["test"] == pytest.approx(0.20, abs=0.03)


def test_a_folder_that_is_one_split_is_resplit(tmp_path):
    """Speakers that all hash into one band (a part of the official test set) still split."""
    band = [f"{n:08x}" for n in range(4000) if dataset.which_set(f"{n:08x}", 10, 10) == "test"]
    for speaker in band[:60]:
        dataset.write_wav(tmp_path / "go" / f"{speaker}_nohash_0.wav", np.zeros(16000))
    clips = dataset.index_folder(tmp_path, 10, 20)
    assert {c.split for c in clips} == set(dataset.SPLITS)


def test_official_lists_win_over_the_hash_rule(tiny_folder, tmp_path):
    clips = dataset.index_folder(tiny_folder)
    first = next(c for c in clips if c.word == "on")
    relative = f"on/{Path(first.path).name}"
    copy = tmp_path / "copy"
    for clip in clips:
        target = copy / clip.word / Path(clip.path).name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(Path(clip.path).read_bytes())
    (copy / "validation_list.txt").write_text("")
    (copy / "testing_list.txt").write_text(relative + "\n")
    splits = {f"{c.word}/{Path(c.path).name}": c.split for c in dataset.index_folder(copy)}
    assert splits[relative] == "test"
    assert set(splits.values()) == {"train", "test"}


def test_bad_input_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such folder"):
        dataset.index_folder(tmp_path / "missing")
    (tmp_path / "up").mkdir()
    with pytest.raises(ValueError, match=r"no <word>/<name>\.wav clips"):
        dataset.index_folder(tmp_path)
    (tmp_path / "up" / "abc_nohash_0.wav").write_bytes(b"not a wav")
    with pytest.raises(ValueError, match=r"abc_nohash_0\.wav: not a readable PCM WAV"):
        dataset.index_folder(tmp_path)
    dataset.write_wav(tmp_path / "up" / "abc_nohash_0.wav", np.zeros(800))
    header = bytearray((tmp_path / "up" / "abc_nohash_0.wav").read_bytes())
    header[16:20] = (2**31 - 1).to_bytes(4, "little")  # the format chunk runs past the end
    (tmp_path / "up" / "abc_nohash_0.wav").write_bytes(header)
    with pytest.raises(ValueError, match=r"abc_nohash_0\.wav: not a readable PCM WAV.*re-record"):
        dataset.index_folder(tmp_path)
    dataset.write_wav(tmp_path / "low.wav", np.zeros(8000), sample_rate=8000)
    with pytest.raises(ValueError, match=r"low\.wav: 1 channel\(s\), 16-bit, 8000 Hz.*sox"):
        dataset.read_wav(tmp_path / "low.wav")


def test_clips_in_another_format_are_all_named_before_any_features(tiny_folder, tmp_path, capsys):
    folder = tmp_path / "my_words"
    shutil.copytree(tiny_folder, folder)
    audio = np.zeros(44100, dtype="<i2")
    for name, channels, rate in (("a1_nohash_0", 1, 44100), ("b2_nohash_0", 2, 16000)):
        with wave.open(str(folder / "stop" / f"{name}.wav"), "wb") as handle:
            handle.setnchannels(channels)
            handle.setsampwidth(2)
            handle.setframerate(rate)
            handle.writeframes(audio.tobytes())
    expected = (
        f"error: {folder}: 2 clip(s) are not 16000 Hz 16-bit mono, what the board hears:\n"
        "  stop/a1_nohash_0.wav: 1 channel(s), 16-bit, 44100 Hz\n"
        "  stop/b2_nohash_0.wav: 2 channel(s), 16-bit, 16000 Hz\n"
        "convert each with sox (`sox IN.wav -r 16000 -b 16 -c 1 out.wav`) or remove it\n"
    )
    data = tmp_path / "data"
    features = ["features", "--data-dir", str(data), "--real", str(folder), "--scale", "0.001"]
    for step in (["index", str(folder)], features):
        assert main(step) == 1
        assert capsys.readouterr().err == expected
    assert not data.exists()  # nothing computed before the error


def test_summary_counts(tiny_folder):
    summary = dataset.summary(dataset.index_folder(tiny_folder))
    assert summary["per_word"] == {"_silence_": 1, "_unknown_": 4, "on": 6, "stop": 6}
    assert summary["duration_seconds"]["shorter_than_1s"] == 0


def test_the_downloaded_archive_replaces_the_shared_folders(tmp_path, monkeypatch):
    from model_training.pipeline import REAL_FOLDERS, default_real_folders

    monkeypatch.setenv("KWS_DATA_DIR", str(tmp_path))
    assert default_real_folders() == [p for p in REAL_FOLDERS if p.is_dir()]
    archive = tmp_path / "speech_commands"
    archive.mkdir()
    assert default_real_folders() == [p for p in REAL_FOLDERS if p.is_dir()]  # not complete yet
    (archive / ".complete").touch()
    assert default_real_folders() == [archive]


def test_summary_counts_speakers_without_silence_clips_and_every_label(tiny_folder):
    clips = dataset.index_folder(tiny_folder)
    summary = dataset.summary(clips)
    names = [p.name for p in tiny_folder.glob("*/*_nohash_*.wav")]
    spoken = {name.split("_nohash_")[0].rsplit("_", 1)[-1] for name in names}
    assert dataset.speakers(clips) == spoken  # not the _silence_ clip's "0001.wav"
    assert sum(summary["speakers_per_split"].values()) == len(spoken)
    for split in dataset.SPLITS:  # labels without clips show as 0, not missing
        assert list(summary["per_label_split"][split]) == list(LABELS)
    assert summary["per_label_split"]["train"]["off"] == 0


def test_a_file_name_that_is_not_utf8_is_indexed_by_its_bytes(tmp_path):
    dataset.write_wav(tmp_path / "on" / "0a1b2c3d_nohash_0.wav", np.zeros(16000))
    latin1 = os.fsdecode(b"caf\xe9_nohash_0.wav")  # a name in Latin-1, as a system may hold it
    dataset.write_wav(tmp_path / "on" / latin1, np.zeros(16000))
    clips = dataset.index_folder(tmp_path)
    assert {clip.speaker for clip in clips} == {"0a1b2c3d", os.fsdecode(b"caf\xe9")}
    dataset.save_index(clips, tmp_path / "index.json")
    saved = json.loads((tmp_path / "index.json").read_text())
    assert {Path(clip["path"]).name for clip in saved} == {"0a1b2c3d_nohash_0.wav", latin1}


def test_an_index_output_in_place_of_a_folder_is_named(tiny_folder, tmp_path, capsys):
    (tmp_path / "taken").write_text("a file")
    output = tmp_path / "taken" / "index.json"
    assert main(["index", str(tiny_folder), "--output", str(output)]) == 1
    error = capsys.readouterr().err
    assert error.endswith(f"error: {tmp_path / 'taken'}: cannot use it (File exists)\n")
    assert (tmp_path / "taken").read_text() == "a file"
