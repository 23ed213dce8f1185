"""Which control socket `assistant send` and `assistant status` ask."""

import os
import socket
import stat

from assistant.instance import InstanceLock, daemon_socket


def test_the_socket_the_running_assistant_recorded_else_the_one_in_the_runtime_directory(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    default = tmp_path / "run" / "assistant.sock"
    data = tmp_path / "data"
    assert daemon_socket(data) == default  # nothing recorded
    recorded = tmp_path / "elsewhere.sock"
    lock = InstanceLock(data, recorded)
    try:
        assert daemon_socket(data) == default  # recorded, but not there (yet, or any more)
        with socket.socket(socket.AF_UNIX) as server:
            server.bind(str(recorded))
            assert daemon_socket(data) == recorded
    finally:
        lock.release()
    assert daemon_socket(data) == default  # the record is forgotten once the lock is released


def test_a_new_data_directory_is_the_users_alone_whatever_the_umask(tmp_path):
    data = tmp_path / "share" / "assistant"
    previous = os.umask(0)
    try:
        lock = InstanceLock(data, tmp_path / "assistant.sock")
    finally:
        os.umask(previous)
    lock.release()
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE((data / "assistant.lock").stat().st_mode) == 0o600


def test_a_data_directory_made_before_is_made_the_users_alone(tmp_path):
    """`assistant models download`, run first, makes the folder with the usual umask (0755):
    the timers' file in it would be readable by every user."""
    data = tmp_path / "share" / "assistant"
    (data / "models").mkdir(parents=True)
    data.chmod(0o755)
    InstanceLock(data, tmp_path / "assistant.sock").release()
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
