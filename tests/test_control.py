"""Who may reach the control socket (only the user running the assistant), and how long a
client may hold it."""

from __future__ import annotations

import logging
import os
import re
import select
import socket
import stat
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from manual_clock import Clock
from waiting import wait_until

from assistant import control
from assistant.config_commands import ActionCall
from assistant.dispatcher import ActionOutcome
from assistant.plugin import CommandEvent
from assistant.ratelimit import WarningLimiter

Handle = Callable[[CommandEvent], list[ActionOutcome] | str]


def serve(path: Path, handle: Handle = lambda event: "not mapped") -> control.ControlServer:
    server = control.ControlServer(path, handle, "desk")
    server.start()
    return server


@contextmanager
def serving(folder: Path, handle: Handle = lambda event: "not mapped") -> Iterator[Path]:
    """The socket of a control server in `folder`, for the `with` block."""
    server = serve(folder / "assistant.sock", handle)
    try:
        yield server.path
    finally:
        server.stop()


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


def test_the_socket_is_in_place_only_once_it_listens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client that finds the socket (`assistant send` right after the start, a test that
    waits for the socket) connects: before, the socket was at its name from its bind on, and
    a client in between was refused as if no assistant ran."""
    path = tmp_path / "assistant.sock"
    there_before_listening: list[bool] = []
    listen = control._Server.server_activate

    def noting_activate(server: control._Server) -> None:
        there_before_listening.append(path.exists())
        listen(server)

    monkeypatch.setattr(control._Server, "server_activate", noting_activate)
    with serving(tmp_path) as served:
        assert there_before_listening == [False]
        assert control.send_command("go", served) == "ERR not mapped"
    assert sorted(tmp_path.iterdir()) == []  # no socket left, under either name


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


def connected(path: Path) -> socket.socket:
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.connect(str(path))
    client.settimeout(30)  # a server that never answers fails the test, not hangs it
    return client


def test_a_client_that_sends_nothing_is_answered_and_closed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(control, "REQUEST_SECONDS", 0.5)
    with serving(tmp_path) as path, connected(path) as idle:
        assert idle.makefile().read() == "ERR no request within 0.5 s\n"  # then closed


@pytest.mark.parametrize("line", [b"\n", b"\r\n", b"  \t\n", b"\x1c\n"])
def test_an_empty_request_line_is_answered_with_the_usage(tmp_path: Path, line: bytes) -> None:
    """A line with no words is a request all the same (only a client that closes without a
    byte, as another assistant's probe does, goes unanswered)."""
    with serving(tmp_path) as path, connected(path) as client:
        client.sendall(line)
        assert client.makefile().read() == "ERR use: COMMAND <name>, STATUS or RELOAD\n"


def test_a_command_typed_in_another_encoding_than_utf8_is_refused_by_name(
    tmp_path: Path,
) -> None:
    """`assistant send` given a word in Latin-1 (0xFF), which reaches Python as a surrogate:
    its bytes are sent as typed, and refused as no command name."""
    typed = os.fsdecode(b"up\xff")
    with serving(tmp_path) as path:
        assert control.send_command(typed, path) == (
            "ERR 'up\ufffd' is not a command name: letters a to z, digits and _, at most 16"
        )


def test_a_client_that_closes_without_a_byte_is_not_answered(tmp_path: Path) -> None:
    with serving(tmp_path) as path, connected(path) as prober:
        prober.shutdown(socket.SHUT_WR)
        assert prober.makefile().read() == ""


def test_the_deadline_covers_the_whole_request_not_each_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client trickling a byte at a time, each well within the deadline, is still cut off:
    it is answered while it is still sending."""
    monkeypatch.setattr(control, "REQUEST_SECONDS", 1.0)
    with serving(tmp_path) as path, connected(path) as slow:
        for _ in range(100):  # 20 s of trickle, never a whole line
            try:
                slow.sendall(b"C")
            except BrokenPipeError:  # answered and closed between two bytes
                break
            if select.select([slow], [], [], 0.2)[0]:
                break
        else:
            pytest.fail("no answer while the client was still sending")
        assert slow.makefile().readline() == "ERR no request within 1 s\n"


def test_an_answer_may_take_longer_than_the_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The deadline is for the request: a slow action's answer still arrives after it."""
    monkeypatch.setattr(control, "REQUEST_SECONDS", 0.2)

    def slow_action(event: CommandEvent) -> list[ActionOutcome]:
        done = ActionOutcome(ActionCall("lamp", "on"))
        threading.Timer(1.0, done.set_result, ["took its time"]).start()
        return [done]

    with serving(tmp_path, slow_action) as path:
        assert control.send_command("go", path) == "OK took its time"


@contextmanager
def never_accepting(path: Path, backlog: int) -> Iterator[socket.socket]:
    """A socket at `path` that takes connections into its queue but never accepts one, as that
    of an assistant stopped with Ctrl-Z."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(str(path))
        listener.listen(backlog)
        yield listener


def test_an_assistant_that_does_not_answer_is_said_to_be_stopped_or_stuck(tmp_path: Path) -> None:
    path = tmp_path / "assistant.sock"
    with never_accepting(path, 1), pytest.raises(ConnectionError) as raised:
        control.ask("STATUS", path, timeout=0.2)
    assert str(raised.value) == (
        f"the assistant at {path} did not answer within 0.2 s: it may be stopped (Ctrl-Z in its "
        "terminal: `fg` there resumes it) or stuck (its log says what it is doing)"
    )


def test_an_assistant_whose_queue_of_connections_is_full_is_said_to_be(tmp_path: Path) -> None:
    path = tmp_path / "assistant.sock"
    with never_accepting(path, 0), connected(path):  # the one connection a queue of 0 holds
        with pytest.raises(ConnectionError) as raised:
            control.ask("STATUS", path, timeout=0.2)
    assert str(raised.value) == (
        f"the assistant at {path} takes no more connections for now; try again"
    )


def test_clients_beyond_the_limit_are_told_the_daemon_is_busy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(control, "MAX_CLIENTS", 2)
    busy = "ERR busy: 2 requests are being handled; try again"
    with serving(tmp_path) as path, connected(path):
        with connected(path):
            assert control.send_command("go", path) == busy
        # the handler of the one that left sees it go and frees its place (each handler frees
        # its own just after its answer, so a request right after one may still find it taken)
        assert wait_until(lambda: control.send_command("go", path) == "ERR not mapped")


def test_a_flood_of_refused_clients_is_warned_about_ten_times_a_minute_then_summed_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(control, "MAX_CLIENTS", 1)
    busy = "ERR busy: 1 requests are being handled; try again"
    server = serve(tmp_path / "assistant.sock")
    try:
        with connected(server.path):
            for _ in range(15):
                assert control.send_command("go", server.path) == busy
    finally:
        server.stop()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    refused = "1 control-socket clients already connected; refused one more"
    assert warnings[:10] == [refused] * 10
    assert re.fullmatch(
        r"5 more control-socket warning\(s\) suppressed in the last \d+ s", warnings[10]
    )
    assert len(warnings) == 11


def test_the_sum_of_a_flood_is_told_once_its_minute_ends_without_waiting_for_more(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(control, "MAX_CLIENTS", 1)
    clock = Clock()
    server = control.ControlServer(tmp_path / "assistant.sock", lambda event: "not mapped")
    server.server.warnings = WarningLimiter(clock=clock)
    server.start()
    try:
        with connected(server.path):
            for _ in range(12):
                control.send_command("go", server.path)
        clock.now += 60
        summary = "2 more control-socket warning(s) suppressed in the last minute"
        assert wait_until(lambda: summary in caplog.text)
    finally:
        server.stop()


def serve_as_nobody(path: Path, answer: bytes) -> int:
    """A process of user nobody listening at `path` (bound by root, then listening as nobody,
    as SO_PEERCRED tells the listener's user), answering its one client with `answer`; its pid."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    ready, listening = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child)
        try:
            os.setgid(65534)
            os.setuid(65534)
            listener.listen()
            os.write(listening, b"!")
            client, _ = listener.accept()
            client.settimeout(5)
            client.recv(200)
            client.sendall(answer)
        finally:
            os._exit(0)
    listener.close()
    os.close(listening)
    assert os.read(ready, 1) == b"!"
    os.close(ready)
    return pid


@pytest.mark.skipif(os.geteuid() != 0, reason="serving as another user needs root")
@pytest.mark.parametrize(
    "ask", [control.request_status, lambda path: control.send_command("stop", path)]
)
def test_a_socket_another_user_serves_is_never_asked_nor_believed(
    tmp_path: Path, ask: Callable[[Path], str]
) -> None:
    """/tmp/assistant-<uid> (no XDG_RUNTIME_DIR) made by someone else while no assistant runs:
    their socket there gets neither the user's command nor a chance to fake an answer."""
    path = tmp_path / "assistant.sock"
    pid = serve_as_nobody(path, b"OK pid: 4242; skill timers: \x1b[31mall cancelled\x1b[0m\n")
    try:
        with pytest.raises(ConnectionError, match=r"another user's process \(uid 65534\)"):
            ask(path)
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
