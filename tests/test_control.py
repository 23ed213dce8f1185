"""Who may reach the control socket: only the user running the assistant."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from assistant import control


def serve(path: Path) -> control.ControlServer:
    server = control.ControlServer(path, lambda event: "not mapped", "desk")
    server.start()
    return server


def test_the_socket_is_the_users_alone_whatever_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        server = serve(tmp_path / "run" / "assistant.sock")
    finally:
        os.umask(previous)
    try:
        assert stat.S_IMODE((tmp_path / "run").stat().st_mode) == 0o700
        assert stat.S_IMODE((tmp_path / "run" / "assistant.sock").stat().st_mode) == 0o600
    finally:
        server.stop()


def test_a_folder_others_may_write_in_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(control.UnsafeDirectory, match=r"is not yours alone .*drwxrwxrwx"):
        serve(shared / "assistant.sock")
    assert not (shared / "assistant.sock").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
@pytest.mark.parametrize("planted", ["folder", "link"])
def test_a_folder_or_link_another_user_made_first_is_refused(tmp_path: Path, planted: str) -> None:
    """/tmp/assistant-<uid> (no XDG_RUNTIME_DIR) made first by someone else, or a link there
    of theirs to a folder of ours: they could swap the socket for their own."""
    ours = tmp_path / "ours"
    ours.mkdir(mode=0o700)
    where = tmp_path / "assistant-uid"
    if planted == "folder":
        where.mkdir(mode=0o700)
    else:
        where.symlink_to(ours)
    os.chown(where, 65534, 65534, follow_symlinks=False)
    with pytest.raises(control.UnsafeDirectory, match=r"owner uid (0, )?65534,"):
        serve(where / "assistant.sock")
