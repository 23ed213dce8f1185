"""The C++ protocol encoder and request parser against the shared vectors and the Python side."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import example, given, settings
from hypothesis import strategies as st

from assistant import protocol

VECTORS = json.loads(
    (Path(__file__).resolve().parents[2] / "tests" / "protocol_vectors.json").read_text()
)
CANONICAL = [v for v in VECTORS["device_lines"]["valid"] if v["canonical"]]


def permille(score: float) -> int:
    return round(score * 1000)


def encoder_call(message: dict) -> str:
    """The host_tool input that asks the C++ encoder for this message's line."""
    kind, seq = message["type"], message["seq"]
    if kind == "HELLO":
        return f"HELLO {seq} {message['fw']} {message['model']} {','.join(message['labels'])}"
    if kind == "DET":
        return f"DET {seq} {message['label']} {permille(message['score'])} {message['ms']}"
    if kind == "INFO":
        fields = message["fields"]
        pairs = [pair.split(":") for pair in fields["thresholds"].split(",")]
        thresholds = ",".join(f"{label}:{permille(float(score))}" for label, score in pairs)
        return (
            f"INFO {seq} {message['fw']} {message['model']} {fields['arena']} "
            f"{fields['infer_us']} {fields['dropped']} {thresholds}"
        )
    value = {"HB": "ms", "PONG": "id", "OK": "cmd", "ERR": "msg"}[kind]
    return f"{kind} {seq} {message[value]}"


def request_call(line: bytes) -> str:
    return f"REQ {line.hex()}"


def python_answer(line: bytes) -> str:
    """What assistant.protocol makes of a request, in host_tool's output format."""
    try:
        request = protocol.parse_request(line)
    except protocol.ProtocolError as error:
        return f"error {error.code}"
    if request.cmd == "ping":
        return f"ping {request.id}"
    if request.cmd == "set":
        return f"set {request.label} {permille(request.score)}"
    return request.cmd  # info, hello


def test_encoder_reproduces_every_canonical_line(host_tool):
    lines = host_tool.run("protocol", "".join(encoder_call(v["message"]) + "\n" for v in CANONICAL))
    assert lines == [v["line"] for v in CANONICAL]


def test_edge_values_encode_as_expected_and_parse_back(host_tool):
    expected = {
        "HELLO 0 1.0.0 0badc0de silence,on,off,up,down,go,stop,left,right,yes": (
            "HELLO seq=0 proto=1 fw=1.0.0 model=0badc0de "
            "labels=silence,on,off,up,down,go,stop,left,right,yes"
        ),
        "DET 4294967295 stop 0 4294967295": (
            "DET seq=4294967295 label=stop score=0.000 ms=4294967295"
        ),
        "DET 17 go 5 12": "DET seq=17 label=go score=0.005 ms=12",
        "HB 0 0": "HB seq=0 ms=0",
        "PONG 9 A_b-9": "PONG seq=9 id=A_b-9",
        "INFO 3 1.0.0 0badc0de 0 0 4294967295 on:0,off:1000,up:5": (
            "INFO seq=3 fw=1.0.0 model=0badc0de arena=0 infer_us=0 dropped=4294967295 "
            "thresholds=on:0.000,off:1.000,up:0.005"
        ),
    }
    lines = host_tool.run("protocol", "".join(call + "\n" for call in expected))
    assert lines == list(expected.values())
    for line in lines:
        assert protocol.encode(protocol.parse_line(line)) == line


def test_request_parser_agrees_with_every_request_vector(host_tool):
    requests = VECTORS["host_requests"]
    vectors = requests["valid"] + requests["invalid"]
    answers = host_tool.run(
        "protocol", "".join(request_call(v["line"].encode()) + "\n" for v in vectors)
    )
    expected = []
    for vector in vectors:
        if "error" in vector:
            expected.append(f"error {vector['error']}")
            continue
        request = vector["request"]
        expected.append(
            {
                "ping": lambda r: f"ping {r['id']}",
                "info": lambda r: "info",
                "hello": lambda r: "hello",
                "set": lambda r: f"set {r['label']} {permille(r['score'])}",
            }[request["cmd"]](request)
        )
    assert answers == expected


WORDS = st.sampled_from(
    [
        "PING",
        "INFO",
        "HELLO",
        "SET",
        "threshold",
        "volume",
        "ping",
        "up",
        "stop",
        "Up!",
        "a" * 17,
        "host-42",
        "x_Y-1",
        "0",
        "1",
        "0.5",
        "0.85",
        "0.850",
        "1.000",
        "1.5",
        "0.1234",
        "0.",
        "high",
        "",
        " ",
        "\r",
        "\t",
        "\x7f",
        "\xe9",
        "\x00",
    ]
)
REQUEST_LINES = st.one_of(
    st.lists(WORDS, max_size=6).map(" ".join),
    st.text(
        alphabet=st.characters(min_codepoint=0, max_codepoint=255, exclude_characters="\n"),
        max_size=140,
    ),
    st.integers(min_value=110, max_value=130).map(lambda n: "PING " + "a" * n),
)


@settings(max_examples=15, deadline=None)
@given(st.lists(REQUEST_LINES, min_size=50, max_size=50))
def test_request_parser_agrees_with_python_on_arbitrary_lines(host_tool, lines):
    raw = [line.encode("latin-1") for line in lines]
    answers = host_tool.run("protocol", "".join(request_call(line) + "\n" for line in raw))
    assert answers == [python_answer(line) for line in raw]


def board_answer(line: str) -> str:
    """A reply line of the board's link, in host_tool's request output format."""
    message = protocol.parse_line(line)
    if isinstance(message, protocol.Error):
        return f"error {message.msg}"
    if isinstance(message, protocol.Pong):
        return f"ping {message.id}"
    return type(message).__name__.lower()  # info, ok, hello


LONG_LINES = st.one_of(
    st.integers(min_value=150, max_value=400).map(lambda n: "PING " + "a" * n),
    st.tuples(
        st.integers(min_value=150, max_value=300), st.sampled_from(["\xe9", "\x00", "\t", "\r"])
    ).map(lambda t: "PING " + "a" * t[0] + t[1]),
    st.text(
        alphabet=st.characters(min_codepoint=0, max_codepoint=255, exclude_characters="\n"),
        min_size=150,
        max_size=400,
    ),
)


@settings(max_examples=15, deadline=None)
@given(st.lists(st.one_of(LONG_LINES, REQUEST_LINES), min_size=30, max_size=30))
@example(["PING " + "a" * 150] * 29 + ["\r HELLO"])  # an empty request, then a HELLO at once
def test_the_link_answers_long_lines_as_python_parses_them(host_tool, lines):
    """Through Link::receive, which ends a request at \n, \r or \r\n and keeps only the first
    bytes of a line over 160 bytes; the Python side cuts the same bytes with RequestLines. The
    host tool sends the board's queued lines after each piece it receives, and a HELLO request
    drops those still queued (a new session begins), so the replies of that piece before it go."""
    header = "labels silence,unknown,on,off,up,down,go,stop 3 800 1000 1500 3"
    events = [header, "connect 0"] + [f"rx {line.encode('latin-1').hex()}0a" for line in lines]
    replies = host_tool.run("link", "".join(event + "\n" for event in events))
    requests = protocol.RequestLines()
    expected = []
    for line in lines:
        queued = []
        for request in requests.feed((line + "\n").encode("latin-1")):
            answer = python_answer(request)
            if answer == "hello":
                queued.clear()
            queued.append(
                answer if answer.split()[0] in ("error", "ping", "info", "hello") else "ok"
            )
        expected += queued
    assert [board_answer(reply) for reply in replies[1:]] == expected
