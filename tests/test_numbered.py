"""Numbered files (assistant/numbered.py): the first free number from a given one, never
written in place of a file, and no file left of a write that failed."""

from __future__ import annotations

import os
import signal
import stat
import threading
from pathlib import Path

import pytest

from assistant.numbered import move_numbered, move_numbered_unless_gone, write_numbered


def test_the_first_free_number_is_taken_and_no_file_is_replaced(tmp_path: Path) -> None:
    (tmp_path / "me_nohash_0.wav").write_bytes(b"a take of the user's")
    (tmp_path / "me_nohash_2.wav").write_bytes(b"another")
    umask = os.umask(0o022)
    try:
        assert write_numbered(tmp_path, "me_nohash_", b"new") == tmp_path / "me_nohash_1.wav"
        assert write_numbered(tmp_path, "me_nohash_", b"newer", first=1) == (
            tmp_path / "me_nohash_3.wav"
        )
    finally:
        os.umask(umask)
    assert (tmp_path / "me_nohash_0.wav").read_bytes() == b"a take of the user's"
    assert (tmp_path / "me_nohash_2.wav").read_bytes() == b"another"
    assert (tmp_path / "me_nohash_3.wav").read_bytes() == b"newer"
    assert stat.S_IMODE((tmp_path / "me_nohash_1.wav").stat().st_mode) == 0o600
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        f"me_nohash_{n}.wav" for n in range(4)
    ]


def test_a_write_that_fails_leaves_no_file(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        write_numbered(tmp_path, "room_", "not bytes")  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_a_clip_removed_before_it_moves_is_none_and_a_move_that_fails_raises(
    tmp_path: Path,
) -> None:
    clip = tmp_path / "me_nohash_0.wav"
    assert move_numbered_unless_gone(clip, tmp_path / "go", "me_nohash_") is None
    clip.write_bytes(b"a clip")
    with pytest.raises(FileNotFoundError):  # its folder is missing, not the clip
        move_numbered_unless_gone(clip, tmp_path / "missing", "me_nohash_")
    assert clip.read_bytes() == b"a clip"
    (tmp_path / "go").mkdir()
    assert move_numbered_unless_gone(clip, tmp_path / "go", "me_nohash_") == (
        tmp_path / "go" / "me_nohash_0.wav"
    )
    assert not clip.exists()


def test_ctrl_c_while_a_clip_moves_waits_until_it_is_moved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C (a real SIGINT) arriving just after the link at the new name: the old name is
    still removed before KeyboardInterrupt is raised, so the clip is in one place; also when
    another thread (as numpy's are) may be the one that receives the signal."""
    source = tmp_path / "go" / "desk_nohash_4.wav"
    source.parent.mkdir()
    source.write_bytes(b"a clip")
    (tmp_path / "mine").mkdir()
    link = os.link

    def link_then_ctrl_c(*args, **kwargs) -> None:
        link(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(os, "link", link_then_ctrl_c)
    done = threading.Event()
    other = threading.Thread(target=done.wait)
    other.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            move_numbered(source, tmp_path / "mine", "desk_nohash_")
    finally:
        done.set()
        other.join()
    assert not source.exists()
    assert (tmp_path / "mine" / "desk_nohash_0.wav").read_bytes() == b"a clip"
