"""`assistant clips sort` (assistant/clips_sort.py): each near miss played on the (stand-in)
sound card and sorted with one key, read from a pipe line by line or from a real terminal key
by key; nothing lost when stopped, nothing replaced, and the running assistant's clips kept
meanwhile sorted in turn."""

from __future__ import annotations

import os
import pty
import select
import signal
import stat
import subprocess
import sys
import termios
from pathlib import Path

import numpy as np
import pytest
from assistant_command import REPO, assistant
from test_clips import _keep_one
from test_clips_move import keep
from waiting import read_for

from assistant.clips import ClipKeeper
from assistant.clips_sort import Sorter
from assistant.wav import wav_bytes

PROMPT_END = b"q] "
"""How the question about each clip ends."""


def audio(n: int) -> bytes:
    """A one-second clip of its own (its samples all `n`), as the assistant writes them."""
    return wav_bytes(np.full(16000, n, dtype=np.int16), 16000)


def clips_folder(tmp_path: Path) -> Path:
    """The clips folder of the `env` fixture's data directory."""
    return tmp_path / "data" / "assistant" / "clips"


def kept(clips: Path, *names: str) -> dict[str, bytes]:
    """Keep a clip of its own under each of `names` (relative to `clips`), numbered by them."""
    files = {name: audio(int(name.rsplit("_", 1)[1].removesuffix(".wav"))) for name in names}
    for name, data in files.items():
        keep(clips, name, data)
    return files


def contents(clips: Path) -> dict[str, bytes]:
    """Every file below `clips`, by its name within it."""
    return {p.relative_to(clips).as_posix(): p.read_bytes() for p in clips.rglob("*.wav")}


def played(audio_output: Path) -> list[bytes]:
    """The WAV files the stand-in sound card played, in order."""
    files = sorted(audio_output.glob("reply-*.wav"), key=lambda p: int(p.stem.split("-")[1]))
    return [path.read_bytes() for path in files]


def start_sort(env: dict[str, str], stdin: int) -> subprocess.Popen:
    """`assistant clips sort` in a child process reading `stdin`, its output to a pipe."""
    return subprocess.Popen(
        [sys.executable, "-m", "assistant", "clips", "sort"],
        env=env,
        cwd=REPO,
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def until_asked(sort: subprocess.Popen) -> bytes:
    """What the sort says up to its next question about a clip (or its end, or 30 s)."""
    return read_for(sort.stdout.fileno(), 30, lambda out: out.endswith(PROMPT_END))


@pytest.fixture
def sound_env(audio_output: Path, env: dict[str, str]) -> dict[str, str]:
    """`env` with the stand-in sound card's player first on PATH."""
    return {**env, "PATH": os.environ["PATH"]}


def test_near_misses_are_played_oldest_first_and_each_sorted_by_its_key(
    tmp_path: Path, sound_env: dict[str, str], audio_output: Path
) -> None:
    clips = clips_folder(tmp_path)
    files = kept(
        clips,
        "_near_misses/go/desk_nohash_4.wav",
        "_near_misses/off/desk_nohash_2.wav",
        "_near_misses/go/desk_nohash_7.wav",
        "_near_misses/up/desk_nohash_9.wav",
        "_near_misses/down/desk_nohash_11.wav",
        "go/desk_nohash_5.wav",  # a command heard: not gone through without --heard
    )
    keys = "y\nr\nx\n3\nu\ns\nd\n"
    result = assistant(sound_env, "clips", "sort", input=keys)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"near miss of off, 5 to sort: {clips}/_near_misses/off/desk_nohash_2.wav" in out
    assert "moved _near_misses/off/desk_nohash_2.wav to off/desk_nohash_12.wav" in out
    assert "'x' is no key here; keys: y = yes" in out
    assert "moved _near_misses/go/desk_nohash_4.wav to up/desk_nohash_13.wav" in out
    assert "moved _near_misses/go/desk_nohash_7.wav to _unknown_/desk_nohash_7.wav" in out
    assert "skipped _near_misses/up/desk_nohash_9.wav" in out
    assert "deleted _near_misses/down/desk_nohash_11.wav" in out
    assert out.splitlines()[-2:] == [
        f"moved 3, deleted 1, skipped 1, kept 0, gone 0; left 1 near miss(es) in "
        f"{clips}/_near_misses",
        "next: `assistant clips move DEST` takes the clips sorted into a training folder "
        "(those in clips/<command>/ count toward keep_clips there until then, numbered as "
        "clips heard now)",
    ]
    assert played(audio_output) == [audio(2), audio(4), audio(4), audio(7), audio(9), audio(11)]
    assert contents(clips) == {
        "off/desk_nohash_12.wav": files["_near_misses/off/desk_nohash_2.wav"],
        "up/desk_nohash_13.wav": files["_near_misses/go/desk_nohash_4.wav"],
        "_unknown_/desk_nohash_7.wav": files["_near_misses/go/desk_nohash_7.wav"],
        "_near_misses/up/desk_nohash_9.wav": files["_near_misses/up/desk_nohash_9.wav"],
        "go/desk_nohash_5.wav": files["go/desk_nohash_5.wav"],
    }
    for folder in ("off", "up", "_unknown_"):
        assert stat.S_IMODE((clips / folder).stat().st_mode) == 0o700


def test_a_clip_moved_takes_a_new_number_in_a_command_else_the_next_free_and_replaces_no_file(
    tmp_path: Path, sound_env: dict[str, str]
) -> None:
    """Into a command's folder a clip is numbered past every clip of its speaker, wherever it
    is; into _unknown_/ it keeps its own number, else takes the next free one."""
    clips = clips_folder(tmp_path)
    files = kept(clips, "_near_misses/go/desk_nohash_3.wav", "_near_misses/on/desk_nohash_6.wav")
    keep(clips, "go/desk_nohash_3.wav", b"the user's own")
    keep(clips, "go/desk_nohash_4.wav", b"the user's own too")
    keep(clips, "_unknown_/desk_nohash_6.wav", b"sorted before")
    result = assistant(sound_env, "clips", "sort", input="go\nu\n")  # a command by its name
    assert result.returncode == 0, result.stderr
    assert "moved _near_misses/go/desk_nohash_3.wav to go/desk_nohash_7.wav" in result.stdout
    assert "moved _near_misses/on/desk_nohash_6.wav to _unknown_/desk_nohash_7.wav" in result.stdout
    assert contents(clips) == {
        "go/desk_nohash_3.wav": b"the user's own",
        "go/desk_nohash_4.wav": b"the user's own too",
        "go/desk_nohash_7.wav": files["_near_misses/go/desk_nohash_3.wav"],
        "_unknown_/desk_nohash_6.wav": b"sorted before",
        "_unknown_/desk_nohash_7.wav": files["_near_misses/on/desk_nohash_6.wav"],
    }


@pytest.mark.parametrize("stop", ["q\n", "", "ctrl-c"])
def test_stopped_midway_it_says_what_it_did_and_loses_nothing(
    tmp_path: Path, sound_env: dict[str, str], stop: str
) -> None:
    """q, the end of the input and Ctrl-C at the second clip's question: the first is sorted,
    every other clip is where it was."""
    clips = clips_folder(tmp_path)
    files = kept(clips, *(f"_near_misses/go/desk_nohash_{n}.wav" for n in range(3)))
    sort = start_sort(sound_env, subprocess.PIPE)
    try:
        assert until_asked(sort)
        sort.stdin.write(b"y\n")
        sort.stdin.flush()
        asked = until_asked(sort)
        assert b"2 to sort" in asked
        if stop == "ctrl-c":
            sort.send_signal(signal.SIGINT)
        else:
            sort.stdin.write(stop.encode())
        sort.stdin.close()
        out = sort.stdout.read().decode()
        assert sort.wait(30) == (130 if stop == "ctrl-c" else 0)
    finally:
        sort.kill()
        sort.wait()
    assert f"moved 1, deleted 0, skipped 0, kept 0, gone 0; left 2 near miss(es) in {clips}/" in out
    assert contents(clips) == {
        "go/desk_nohash_3.wav": files["_near_misses/go/desk_nohash_0.wav"],
        "_near_misses/go/desk_nohash_1.wav": files["_near_misses/go/desk_nohash_1.wav"],
        "_near_misses/go/desk_nohash_2.wav": files["_near_misses/go/desk_nohash_2.wav"],
    }
    assert "Traceback" not in sort.stderr.read().decode()


def test_near_misses_the_assistant_keeps_meanwhile_come_in_turn_and_one_it_removes_is_gone(
    tmp_path: Path, sound_env: dict[str, str]
) -> None:
    """The running assistant keeps a near miss (a real ClipKeeper, bound 2) while the sort
    asks about its oldest: the bound removes that one, the sort says it is gone, and the new
    one, numbered past every clip, comes next."""
    clips = clips_folder(tmp_path)
    kept(clips, "_near_misses/go/desk_nohash_0.wav", "_near_misses/go/desk_nohash_1.wav")
    keeper = ClipKeeper(clips, 2, 1100, ("go", "on"), speaker="desk", near_misses=True)
    sort = start_sort(sound_env, subprocess.PIPE)
    try:
        assert until_asked(sort)
        _keep_one(keeper, "go", near_miss=True)
        sort.stdin.write(b"y\n")
        sort.stdin.flush()
        asked = until_asked(sort)
        assert b"gone: _near_misses/go/desk_nohash_0.wav (the assistant's keep_clips" in asked
        assert b"2 to sort" in asked
        sort.stdin.write(b"y\ny\n")
        sort.stdin.close()
        out = sort.stdout.read().decode()
        assert sort.wait(30) == 0
    finally:
        sort.kill()
        sort.wait()
    assert "moved _near_misses/go/desk_nohash_1.wav to go/desk_nohash_3.wav" in out
    assert "moved _near_misses/go/desk_nohash_2.wav to go/desk_nohash_4.wav" in out
    assert sorted(contents(clips)) == ["go/desk_nohash_3.wav", "go/desk_nohash_4.wav"]
    assert "moved 2, deleted 0, skipped 0, kept 0, gone 1; left 0" in out


def test_a_near_miss_sorted_into_a_command_at_the_bound_outlives_the_clips_heard_before_it(
    tmp_path: Path,
) -> None:
    """A near miss kept long ago, sorted into go/ where the bound (a real ClipKeeper, bound
    3) is reached: numbered as a clip heard now, it stays when the assistant keeps the next
    clip, which removes the oldest clip heard instead (under its old number it would be the
    oldest, and removed)."""
    clips = tmp_path / "clips"
    files = kept(
        clips, "_near_misses/go/desk_nohash_1.wav", "go/desk_nohash_5.wav", "go/desk_nohash_6.wav"
    )
    keys = iter(["y"])
    said: list[str] = []
    Sorter(clips, ["go", "on"], lambda prompt: next(keys, None), said.append, None).sort(False)
    assert "moved _near_misses/go/desk_nohash_1.wav to go/desk_nohash_7.wav" in said
    keeper = ClipKeeper(clips, 3, 1100, ("go", "on"), speaker="desk")
    _keep_one(keeper, "go")
    assert sorted(contents(clips)) == [f"go/desk_nohash_{n}.wav" for n in (6, 7, 8)]
    assert (clips / "go/desk_nohash_7.wav").read_bytes() == files[
        "_near_misses/go/desk_nohash_1.wav"
    ]


def test_heard_goes_through_the_clips_of_commands_heard_too(
    tmp_path: Path, sound_env: dict[str, str], audio_output: Path
) -> None:
    """A false accept goes to _unknown_/, a clip that was its command stays, and a near miss
    sorted into a command's folder is not asked about again."""
    clips = clips_folder(tmp_path)
    files = kept(
        clips,
        "go/desk_nohash_1.wav",
        "_near_misses/off/desk_nohash_2.wav",
        "up/desk_nohash_3.wav",
        "_unknown_/desk_nohash_0.wav",  # sorted before: not asked about
    )
    result = assistant(sound_env, "clips", "sort", "--heard", input="y\ny\nu\n")
    assert result.returncode == 0, result.stderr
    assert "heard as go, 3 to sort" in result.stdout
    assert "kept go/desk_nohash_1.wav" in result.stdout
    assert "moved up/desk_nohash_3.wav to _unknown_/desk_nohash_3.wav" in result.stdout
    assert "moved 2, deleted 0, skipped 0, kept 1, gone 0; left 0" in result.stdout
    assert played(audio_output) == [audio(1), audio(2), audio(3)]
    assert contents(clips) == {
        "go/desk_nohash_1.wav": files["go/desk_nohash_1.wav"],
        "off/desk_nohash_4.wav": files["_near_misses/off/desk_nohash_2.wav"],
        "_unknown_/desk_nohash_3.wav": files["up/desk_nohash_3.wav"],
        "_unknown_/desk_nohash_0.wav": files["_unknown_/desk_nohash_0.wav"],
    }


def test_without_a_sound_card_it_says_so_once_and_sorts_on(
    tmp_path: Path, env: dict[str, str]
) -> None:
    clips = clips_folder(tmp_path)
    kept(clips, "_near_misses/go/desk_nohash_0.wav", "_near_misses/go/desk_nohash_1.wav")
    silent = {**env, "ALSA_CONFIG_PATH": os.devnull}  # the real aplay finds no output at all
    result = assistant(silent, "clips", "sort", input="r\nd\nd\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("cannot play the clips here (no sound card") == 1
    assert result.stdout.count("not played") == 1  # the replay asked for
    assert "moved 0, deleted 2, skipped 0, kept 0, gone 0; left 0" in result.stdout
    assert "ALSA" not in result.stderr
    assert contents(clips) == {}


def test_a_folder_it_cannot_safely_move_to_is_said_and_the_clip_stays(
    tmp_path: Path, sound_env: dict[str, str]
) -> None:
    clips = clips_folder(tmp_path)
    files = kept(clips, "_near_misses/go/desk_nohash_0.wav")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (clips / "_unknown_").symlink_to(elsewhere)
    result = assistant(sound_env, "clips", "sort", input="u\n")
    assert result.returncode == 0, result.stderr
    assert f"not moved: {clips}/_unknown_ is a symbolic link" in result.stdout
    assert "left 1 near miss(es)" in result.stdout
    assert contents(clips) == files
    assert list(elsewhere.iterdir()) == []


def test_nothing_to_sort(tmp_path: Path, env: dict[str, str]) -> None:
    result = assistant(env, "clips", "sort")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("nothing to sort: no clips folder")
    kept(clips_folder(tmp_path), "go/desk_nohash_0.wav")
    result = assistant(env, "clips", "sort")
    assert result.stdout == f"nothing to sort: no near misses in {clips_folder(tmp_path)}\n"


def test_on_a_terminal_each_key_is_read_as_pressed(
    tmp_path: Path, sound_env: dict[str, str]
) -> None:
    """No Enter after the keys: the sort reads a real terminal key by key, and gives it back
    as it was (line by line) once done."""
    clips = clips_folder(tmp_path)
    files = kept(clips, "_near_misses/go/desk_nohash_0.wav", "_near_misses/go/desk_nohash_1.wav")
    keyboard, terminal = pty.openpty()
    sort = start_sort(sound_env, terminal)
    out = b""
    try:
        for key in (b"5", b"q"):
            out += until_asked(sort)
            assert out.endswith(PROMPT_END)
            os.write(keyboard, key)
        out = (out + sort.stdout.read()).decode()
        assert sort.wait(30) == 0
        assert termios.tcgetattr(terminal)[3] & termios.ICANON  # keys are read by lines again
    finally:
        sort.kill()
        sort.wait()
        os.close(keyboard)
        os.close(terminal)
    assert "was it go? [y 123456 u r s d q] 5\n" in out
    assert "moved _near_misses/go/desk_nohash_0.wav to go/desk_nohash_2.wav" in out
    assert contents(clips) == {
        "go/desk_nohash_2.wav": files["_near_misses/go/desk_nohash_0.wav"],
        "_near_misses/go/desk_nohash_1.wav": files["_near_misses/go/desk_nohash_1.wav"],
    }


def test_on_a_terminal_keys_typed_ahead_are_taken_one_at_a_time_and_not_echoed(
    tmp_path: Path, sound_env: dict[str, str]
) -> None:
    """Keys typed at once (a paste, or while a clip plays) answer the next questions in turn,
    each shown after its question, none echoed by the terminal; an arrow key's escape sequence
    is one key, no key here."""
    clips = clips_folder(tmp_path)
    files = kept(clips, *(f"_near_misses/go/desk_nohash_{n}.wav" for n in range(4)))
    keyboard, terminal = pty.openpty()
    sort = start_sort(sound_env, terminal)
    try:
        out = read_for(sort.stdout.fileno(), 30, lambda out: b"4 to sort" in out)
        os.write(keyboard, b"u")  # while the first clip plays, or just after
        out += until_asked(sort)
        os.write(keyboard, "y\x1b[Ad\u00e9q".encode())
        out = (
            out + read_for(sort.stdout.fileno(), 30, lambda out: b"gone 0; left" in out)
        ).decode()
        assert sort.wait(30) == 0
        assert not select.select([keyboard], [], [], 0)[0]  # nothing echoed
    finally:
        sort.kill()
        sort.wait()
        os.close(keyboard)
        os.close(terminal)
    asked = "was it go? [y 123456 u r s d q] "
    assert f"{asked}u\nmoved _near_misses/go/desk_nohash_0.wav to _unknown_/" in out
    assert f"{asked}y\nmoved _near_misses/go/desk_nohash_1.wav to go/desk_nohash_4.wav" in out
    assert f"{asked}\n'\\x1b[A' is no key here; keys:" in out
    assert f"{asked}d\ndeleted _near_misses/go/desk_nohash_2.wav" in out
    assert f"{asked}\u00e9\n'\u00e9' is no key here; keys:" in out
    assert out.count("is no key here") == 2
    assert "moved 2, deleted 1, skipped 0, kept 0, gone 0; left 1" in out
    assert contents(clips) == {
        "_unknown_/desk_nohash_0.wav": files["_near_misses/go/desk_nohash_0.wav"],
        "go/desk_nohash_4.wav": files["_near_misses/go/desk_nohash_1.wav"],
        "_near_misses/go/desk_nohash_3.wav": files["_near_misses/go/desk_nohash_3.wav"],
    }


def test_a_command_named_as_a_key_is_said_and_answered_by_its_own_key(tmp_path: Path) -> None:
    """A name that is a key means the key (d deletes, 1 is go's key); the commands so named
    are said at the start with the key that answers each."""
    clips = tmp_path / "clips"
    files = kept(clips, "_near_misses/go/desk_nohash_0.wav", "_near_misses/go/desk_nohash_1.wav")
    keys = iter(["d", "2"])
    said: list[str] = []
    sorter = Sorter(clips, ["go", "d", "1"], lambda prompt: next(keys, None), said.append, None)
    sorter.sort(heard=False)
    assert said[1:3] == [
        "the command d is answered by its key 2 alone (d = delete)",
        "the command 1 is answered by its key 3 alone (1 = go)",
    ]
    assert "deleted _near_misses/go/desk_nohash_0.wav" in said
    assert "moved _near_misses/go/desk_nohash_1.wav to d/desk_nohash_2.wav" in said
    assert contents(clips) == {"d/desk_nohash_2.wav": files["_near_misses/go/desk_nohash_1.wav"]}


def test_ctrl_c_while_a_clip_moves_is_taken_once_it_is_counted_and_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C (a real SIGINT) just after the link at the clip's new name: the move is
    finished, said and in the summary before KeyboardInterrupt stops the sort."""
    clips = tmp_path / "clips"
    files = kept(clips, "_near_misses/go/desk_nohash_0.wav", "_near_misses/go/desk_nohash_1.wav")
    link = os.link

    def link_then_ctrl_c(*args, **kwargs) -> None:
        link(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(os, "link", link_then_ctrl_c)
    said: list[str] = []
    sorter = Sorter(clips, ["go"], lambda prompt: "y", said.append, None)
    with pytest.raises(KeyboardInterrupt):
        sorter.sort(heard=False)
    assert said[-1] == "moved _near_misses/go/desk_nohash_0.wav to go/desk_nohash_2.wav"
    assert sorter.summary()[0].startswith("moved 1, deleted 0, skipped 0, kept 0, gone 0; left 1")
    assert sorted(contents(clips)) == ["_near_misses/go/desk_nohash_1.wav", "go/desk_nohash_2.wav"]
    assert (clips / "go/desk_nohash_2.wav").read_bytes() == files[
        "_near_misses/go/desk_nohash_0.wav"
    ]


def test_a_clip_it_cannot_move_stops_it_saying_why_and_what_it_did(
    tmp_path: Path, sound_env: dict[str, str]
) -> None:
    clips = clips_folder(tmp_path)
    files = kept(clips, "_near_misses/go/desk_nohash_0.wav", "_near_misses/go/desk_nohash_1.wav")
    (clips / "_unknown_").write_bytes(b"a file of the user's")
    result = assistant(sound_env, "clips", "sort", input="y\nu\ny\n")
    assert result.returncode == 1
    assert result.stderr == (
        f"stopped: [Errno 17] File exists: '{clips}/_unknown_'; the clips not sorted are where "
        "they were\n"
    )
    assert "moved 1, deleted 0, skipped 0, kept 0, gone 0; left 1" in result.stdout
    assert contents(clips) == {
        "go/desk_nohash_2.wav": files["_near_misses/go/desk_nohash_0.wav"],
        "_near_misses/go/desk_nohash_1.wav": files["_near_misses/go/desk_nohash_1.wav"],
    }
    assert (clips / "_unknown_").read_bytes() == b"a file of the user's"
