"""The board's serial link (firmware/kws/src/serial_link.cpp), read with the host's parser."""

from __future__ import annotations

from assistant import protocol

EIGHT_LABELS = "labels silence,unknown,on,off,up,down,go,stop 3 800 1000 1500 3"
TWO_COMMANDS = "labels silence,on,off 1 800 1000 1500 3"


def rx(line: str) -> str:
    return f"rx {line.encode('latin-1').hex()}"


def board_lines(host_tool, *events: str, header: str = EIGHT_LABELS) -> list[str]:
    return host_tool.run("link", "".join(line + "\n" for line in (header, *events)))


def board(host_tool, *events: str, header: str = EIGHT_LABELS) -> list[protocol.Message]:
    """Runs the events through the link and parses every line it sends."""
    return [protocol.parse_line(line) for line in board_lines(host_tool, *events, header=header)]


def test_hello_when_a_host_connects_then_one_reply_per_request(host_tool):
    messages = board(
        host_tool,
        "connect 100",
        "infer 8120",
        "dropped 512",
        rx("PING host-42\n"),
        rx("INFO\r\n"),
        rx("SET threshold up 0.9\n"),
        rx("SET threshold silence 0.9\n"),
        rx("SET threshold up 1.5\n"),
        rx("REBOOT\n"),
    )
    assert messages == [
        protocol.Hello(0, 1, "1.0.0", "3f9a1c2b", ("on", "off", "up", "down", "go", "stop")),
        protocol.Pong(1, "host-42"),
        protocol.Info(
            2,
            "1.0.0",
            "3f9a1c2b",
            {
                "arena": "21344",
                "infer_us": "8120",
                "dropped": "512",
                "thresholds": "on:0.800,off:0.800,up:0.800,down:0.800,go:0.800,stop:0.800",
            },
        ),
        protocol.Ok(3, "set"),
        protocol.Error(4, "unknown_label"),
        protocol.Error(5, "bad_value"),
        protocol.Error(6, "unknown_command"),
    ]


def test_info_lists_the_thresholds_in_force(host_tool):
    messages = board(
        host_tool, "connect 0", rx("SET threshold off 0.85\n"), rx("INFO\n"), header=TWO_COMMANDS
    )
    assert messages[1] == protocol.Ok(1, "set")
    assert messages[2].fields["thresholds"] == "on:0.800,off:0.850"


def test_heartbeats_every_second_and_detections_keep_the_count(host_tool):
    messages = board(
        host_tool,
        "tick 5000",  # no host yet: nothing is sent
        "connect 5000",
        "audio 5990",
        "tick 5999",
        "tick 6000",
        "det 4 912 6100",
        "audio 6990",
        "tick 6999",
        "tick 7000",
        "audio 9400",
        "tick 9500",
    )
    assert [type(m).__name__ for m in messages] == [
        "Hello",
        "Heartbeat",
        "Detection",
        "Heartbeat",
        "Heartbeat",
    ]
    assert messages[2] == protocol.Detection(2, "up", 0.912, 6100)
    assert [m.ms for m in messages if isinstance(m, protocol.Heartbeat)] == [6000, 7000, 9500]
    assert [m.seq for m in messages] == list(range(5))


def test_heartbeats_stop_while_no_audio_arrives(host_tool):
    messages = board(
        host_tool,
        "connect 0",
        "tick 1000",  # no audio since reset: a microphone that never began, no heartbeat
        "audio 1900",
        "tick 2000",  # audio 100 ms ago: listening
        "tick 3000",  # none for 1100 ms: the microphone stopped, no heartbeat
        "audio 3600",
        "tick 4000",
    )
    assert [m.ms for m in messages if isinstance(m, protocol.Heartbeat)] == [2000, 4000]


def test_nothing_is_sent_without_a_host_and_a_new_host_gets_a_new_hello(host_tool):
    messages = board(
        host_tool,
        "connect 0",
        "det 2 900 10",
        "disconnect",
        "det 2 900 20",
        rx("PING 1\n"),
        "tick 5000",
        "connect 6000",
        rx("PING 2\n"),
    )
    assert messages == [
        protocol.Hello(0, 1, "1.0.0", "3f9a1c2b", ("on", "off", "up", "down", "go", "stop")),
        protocol.Detection(1, "on", 0.9, 10),
        protocol.Hello(0, 1, "1.0.0", "3f9a1c2b", ("on", "off", "up", "down", "go", "stop")),
        protocol.Pong(1, "2"),
    ]


def test_a_hello_request_starts_a_new_count_and_drops_what_was_queued(host_tool):
    """A host that closed and reopened the port within one loop pass asks for its HELLO."""
    hello = protocol.Hello(0, 1, "1.0.0", "3f9a1c2b", ("on", "off", "up", "down", "go", "stop"))
    messages = board(
        host_tool,
        "connect 0",
        "stall",  # the old host stopped reading: these lines stay queued
        "det 2 900 10",
        "audio 990",
        "tick 1000",
        rx("PING old\n"),
        rx("HELLO\n"),
        "drain",
        "audio 1990",
        "tick 1999",
        "tick 2000",
        rx("PING new\n"),
    )
    assert messages == [hello, hello, protocol.Heartbeat(1, 2000), protocol.Pong(2, "new")]


def test_a_hello_request_lets_the_line_usb_has_begun_finish_first(host_tool):
    """USB takes one 64-byte packet per loop pass: a HELLO between two packets of the same line
    must not be glued to the line's first part."""
    hello = protocol.Hello(0, 1, "1.0.0", "3f9a1c2b", ("on", "off", "up", "down", "go", "stop"))
    messages = board(
        host_tool,
        "connect 0",
        "stall",
        rx("INFO\n"),  # about 130 bytes: three packets
        rx("PING later\n"),  # not begun: dropped by the HELLO
        "packet",
        rx("HELLO\n"),
        "drain",
        rx("PING 1\n"),
    )
    assert [type(m).__name__ for m in messages] == ["Hello", "Info", "Hello", "Pong"]
    assert messages[1].seq == 1 and messages[2:] == [hello, protocol.Pong(1, "1")]


def test_a_host_that_stops_reading_loses_whole_lines_and_sees_the_gap(host_tool):
    detections = [f"det 4 900 {t}" for t in range(100, 5100, 100)]  # 50 lines, ~2 KB
    lines = board_lines(
        host_tool, "connect 0", "stall", *detections, "drain", "lost", "audio 8990", "tick 9000"
    )
    lost = int(lines.pop(-2).split()[1])
    messages = [protocol.parse_line(line) for line in lines]
    assert 10 < lost < 50  # the 1 KB queue kept the first lines whole, dropped the rest
    assert len(messages) == 1 + 50 - lost + 1
    heartbeat = messages[-1]
    assert protocol.lost_between(messages[-2].seq, heartbeat.seq) == lost


def test_a_too_long_request_is_refused_and_the_next_one_answered(host_tool):
    messages = board(
        host_tool,
        "connect 0",
        rx("PING " + "x" * 300 + "\n"),
        rx("PING ok\n"),
        rx("PING caf\xe9\n"),
        rx("\n"),
    )
    assert messages[1:] == [
        protocol.Error(1, "too_long"),
        protocol.Pong(2, "ok"),
        protocol.Error(3, "not_ascii"),
        protocol.Error(4, "unknown_command"),
    ]


def test_a_request_ends_at_a_carriage_return_or_crlf_even_cut_in_two(host_tool):
    """screen and PuTTY send a bare \r on Enter; "\r\n" is one line end, not two."""
    messages = board(
        host_tool,
        "connect 0",
        rx("PING a\r"),
        rx("PING b\r"),
        rx("\n"),
        rx("PING c\r\n"),
        rx("PING d\n"),
        rx("\r\n"),
    )
    assert messages[1:] == [
        protocol.Pong(1, "a"),
        protocol.Pong(2, "b"),
        protocol.Pong(3, "c"),
        protocol.Pong(4, "d"),
        protocol.Error(5, "unknown_command"),
    ]


def test_a_hello_longer_than_a_line_is_not_sent_cut_short(host_tool):
    labels = ",".join(f"command_{i:02}_long" for i in range(10))  # 10 x 15 characters
    lines = board_lines(
        host_tool, "connect 0", rx("PING 1\n"), "lost", header=f"labels {labels} 0 800 1000 1500 3"
    )
    assert lines == ["PONG seq=1 id=1", "lost 1"]  # the host sees seq 0 missing


def test_a_host_that_never_pauses_gets_one_packet_read_per_pass(host_tool):
    """A host writing without pause (`yes > /dev/ttyACM0`) must not hold the loop in its
    requests: a pass reads one USB packet of them and goes on to the heartbeat (and the audio);
    the rest waits in USB and is answered in the next passes, none lost."""
    flood = ("y\n" * 100).encode().hex()  # 200 bytes: 100 requests
    serve = ["serve"] * 4
    lines = board_lines(
        host_tool, "connect 0", "audio 990", f"host {flood}", "serve", "tick 1000", *serve
    )
    reads = [int(line.split()[1]) for line in lines if line.startswith("read ")]
    assert reads == [64, 64, 64, 8, 0]
    messages = [protocol.parse_line(line) for line in lines if not line.startswith("read ")]
    assert [type(m).__name__ for m in messages[:35]] == [
        "Hello",
        *["Error"] * 32,
        "Heartbeat",
        "Error",
    ]
    answers = [m for m in messages if isinstance(m, protocol.Error)]
    assert {m.msg for m in answers} == {"unknown_command"}
    assert [m.seq for m in messages] == list(range(102))  # every request answered, in order
