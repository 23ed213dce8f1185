"""`assistant clips move DEST` (assistant/clips_move.py): the clips kept taken out into a
training folder, each under the next free name there, never over an earlier clip; refused
where it cannot be done safely, and nothing lost when stopped."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from assistant_command import REPO, assistant
from test_skill_timers import unwritable
from waiting import read_for

from assistant.clips_move import move_clips
from assistant.numbered import move_numbered


def keep(clips: Path, name: str, data: bytes) -> Path:
    """A file in the clips folder, as the assistant (or the user sorting) leaves it."""
    path = clips / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(0o600)
    return path


def test_each_round_of_clips_moved_takes_new_names_and_leaves_the_near_misses(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """The clips folder emptied by a move numbers from 0 again: the next move still puts
    nothing in place of the clips moved before, nor of the user's own."""
    clips = tmp_path / "data" / "assistant" / "clips"
    train = tmp_path / "train"
    keep(train, "go/desk_nohash_0.wav", b"an earlier take")
    for n, name in enumerate(["go/desk_nohash_2.wav", "go/desk_nohash_10.wav"]):
        keep(clips, name, f"go {n}".encode())
    keep(clips, "_unknown_/desk_nohash_3.wav", b"a false accept")
    keep(clips, "_near_misses/off/desk_nohash_4.wav", b"not yet heard")
    keep(clips, "go/notes.wav", b"not a clip's name")

    result = assistant(env, "clips", "move", str(train))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"moved _unknown_/desk_nohash_3.wav to {train}/_unknown_/desk_nohash_0.wav",
        f"moved go/desk_nohash_2.wav to {train}/go/desk_nohash_1.wav",
        f"moved go/desk_nohash_10.wav to {train}/go/desk_nohash_2.wav",
        f"moved 3 clip(s) from {clips} into {train}",
        f"left: 1 near miss(es) in {clips}/_near_misses: sort them with `assistant clips "
        "sort`, then run `assistant clips move` again",
        "left: 1 file(s) not a clip <speaker>_nohash_<n>.wav, or a link: go/notes.wav",
    ]
    assert (train / "go/desk_nohash_0.wav").read_bytes() == b"an earlier take"
    assert (train / "go/desk_nohash_1.wav").read_bytes() == b"go 0"
    assert (train / "go/desk_nohash_2.wav").read_bytes() == b"go 1"
    assert (train / "_unknown_/desk_nohash_0.wav").read_bytes() == b"a false accept"
    assert stat.S_IMODE((train / "go/desk_nohash_1.wav").stat().st_mode) == 0o600
    assert sorted(p.relative_to(clips).as_posix() for p in clips.rglob("*.wav")) == [
        "_near_misses/off/desk_nohash_4.wav",
        "go/notes.wav",
    ]

    keep(clips, "go/desk_nohash_0.wav", b"the next round")  # numbered from 0 again
    keep(clips, "off/desk_nohash_4.wav", b"a near miss sorted")
    result = assistant(env, "clips", "move", str(train))
    assert result.returncode == 0, result.stderr
    assert f"moved go/desk_nohash_0.wav to {train}/go/desk_nohash_3.wav" in result.stdout
    assert f"moved off/desk_nohash_4.wav to {train}/off/desk_nohash_0.wav" in result.stdout
    assert [(train / f"go/desk_nohash_{n}.wav").read_bytes() for n in range(4)] == [
        b"an earlier take",
        b"go 0",
        b"go 1",
        b"the next round",
    ]


def test_move_and_sort_count_the_same_near_misses_left(tmp_path: Path, env: dict[str, str]) -> None:
    """Only files named as clips, not links, count as near misses left, in both commands'
    words: a file of another name or a link among them is not one."""
    clips = tmp_path / "data" / "assistant" / "clips"
    keep(clips, "_near_misses/go/desk_nohash_1.wav", b"a near miss")
    keep(clips, "_near_misses/go/notes.wav", b"not a clip's name")
    (clips / "_near_misses/go/desk_nohash_2.wav").symlink_to(clips / "_near_misses/go/notes.wav")
    left = f"1 near miss(es) in {clips}/_near_misses"
    moved = assistant(env, "clips", "move", str(tmp_path / "train"))
    assert moved.returncode == 0, moved.stderr
    assert f"left: {left}: sort them" in moved.stdout
    sorted_ = assistant(env, "clips", "sort", input="s\n")
    assert sorted_.returncode == 0, sorted_.stderr
    assert f"skipped 1, kept 0, gone 0; left {left}\n" in sorted_.stdout


@pytest.mark.parametrize("kind", ["file", "link", "unwritable", "inside", "command file"])
def test_a_destination_it_cannot_move_to_safely_is_refused_and_nothing_moves(
    tmp_path: Path, env: dict[str, str], kind: str
) -> None:
    clips = tmp_path / "data" / "assistant" / "clips"
    clip = keep(clips, "go/desk_nohash_0.wav", b"a clip")
    dest = tmp_path / "train"
    expected = {
        "file": f"{dest} is a file, not a folder: give a folder (a new one is made)",
        "link": f"{dest} is a symbolic link: give a real folder, or remove the link",
        "unwritable": f"cannot write in {dest}: make it writable, or give another folder",
        "inside": f"is inside the clips folder {clips}: give a folder outside it",
        "command file": f"{dest}/go is a file, not a folder: give a folder (a new one is made)",
    }[kind]
    if kind == "file":
        dest.write_bytes(b"a file of the user's")
    elif kind == "link":
        (tmp_path / "real").mkdir()
        dest.symlink_to(tmp_path / "real")
    elif kind == "inside":
        dest = clips / "train"
    elif kind == "command file":
        keep(dest, "go", b"a file of the user's")
    else:
        dest.mkdir()
    if kind == "unwritable":
        with unwritable(dest):
            result = assistant(env, "clips", "move", str(dest))
    else:
        result = assistant(env, "clips", "move", str(dest))
    assert result.returncode == 1
    assert expected in result.stderr
    assert result.stderr.rstrip().endswith("; nothing was moved")
    assert result.stdout == ""
    assert clip.read_bytes() == b"a clip"
    assert not list(dest.rglob("*.wav"))


def test_stopped_midway_every_clip_is_in_one_place_or_the_other(tmp_path: Path) -> None:
    clips, train = tmp_path / "clips", tmp_path / "train"
    for n in range(3):
        keep(clips, f"go/desk_nohash_{n}.wav", f"clip {n}".encode())
    said: list[str] = []

    def say(line: str) -> None:
        said.append(line)
        if len(said) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        move_clips(clips, train, say)
    moved = sorted(path.read_bytes() for path in train.rglob("*.wav"))
    left = sorted(path.read_bytes() for path in clips.rglob("*.wav"))
    assert moved == [b"clip 0", b"clip 1"]
    assert left == [b"clip 2"]


def test_across_filesystems_a_clip_is_copied_whole_then_removed(tmp_path: Path) -> None:
    """/dev/shm (tmpfs) is another filesystem than the tests' temporary folder here."""
    source = keep(tmp_path, "go/desk_nohash_5.wav", b"a clip" * 1000)
    with tempfile.TemporaryDirectory(dir="/dev/shm") as other:
        if os.stat(other).st_dev == tmp_path.stat().st_dev:
            pytest.skip("/dev/shm is on the same filesystem as the temporary folder here")
        folder = Path(other)
        (folder / "desk_nohash_0.wav").write_bytes(b"there already")
        moved = move_numbered(source, folder, "desk_nohash_")
        assert moved == folder / "desk_nohash_1.wav"
        assert moved.read_bytes() == b"a clip" * 1000
        assert stat.S_IMODE(moved.stat().st_mode) == 0o600
        assert (folder / "desk_nohash_0.wav").read_bytes() == b"there already"
        assert sorted(path.name for path in folder.iterdir()) == [
            "desk_nohash_0.wav",
            "desk_nohash_1.wav",
        ]
    assert not source.exists()


def test_ctrl_c_while_a_clip_moves_is_taken_once_it_is_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C (a real SIGINT) just after the second clip's link: that clip is moved and said
    before KeyboardInterrupt, the third is where it was."""
    clips, train = tmp_path / "clips", tmp_path / "train"
    for n in range(3):
        keep(clips, f"go/desk_nohash_{n}.wav", f"clip {n}".encode())
    links = 0
    link = os.link

    def link_then_ctrl_c(*args, **kwargs) -> None:
        nonlocal links
        link(*args, **kwargs)
        links += 1
        if links == 2:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(os, "link", link_then_ctrl_c)
    said: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        move_clips(clips, train, said.append)
    assert said == [
        f"moved go/desk_nohash_{n}.wav to {train}/go/desk_nohash_{n}.wav" for n in range(2)
    ]
    assert sorted(path.read_bytes() for path in train.rglob("*.wav")) == [b"clip 0", b"clip 1"]
    assert [path.read_bytes() for path in clips.rglob("*.wav")] == [b"clip 2"]


def test_ctrl_c_stops_it_saying_how_many_it_moved(tmp_path: Path, env: dict[str, str]) -> None:
    """More clips than a pipe holds the lines of: Ctrl-C comes once the first is said, while
    the rest wait for the output to be read, so it comes before the end."""
    clips, train = tmp_path / "data" / "assistant" / "clips", tmp_path / "train"
    for n in range(1000):
        keep(clips, f"go/desk_nohash_{n}.wav", b"a clip")
    move = subprocess.Popen(
        [sys.executable, "-m", "assistant", "clips", "move", str(train)],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        first = read_for(move.stdout.fileno(), 30, lambda out: b"\n" in out)
        assert first.startswith(b"moved go/desk_nohash_0.wav")
        move.send_signal(signal.SIGINT)
        rest, err = move.communicate(timeout=60)
    finally:
        move.kill()
        move.wait()
    assert move.returncode == 130, err
    assert err == b""
    out = (first + rest).decode()
    moved = len(list(train.rglob("*.wav")))
    assert out.count("moved go/") == moved < 1000
    assert out.splitlines()[-1] == (
        f"stopped after {moved} clip(s) (Ctrl-C); the others are still in {clips}, run it "
        "again to move them"
    )
    assert len(list(clips.rglob("*.wav"))) == 1000 - moved
