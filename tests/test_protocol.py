"""The Python side of the serial protocol against the shared vectors file."""

import dataclasses
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assistant import protocol

VECTORS = json.loads((Path(__file__).parent / "protocol_vectors.json").read_text())
DEVICE = VECTORS["device_lines"]
REQUESTS = VECTORS["host_requests"]


def as_dict(message: protocol.Message) -> dict:
    fields = dataclasses.asdict(message)
    if "labels" in fields:
        fields["labels"] = list(fields["labels"])
    if not isinstance(message, protocol.Info):
        fields.pop("fields", None)
    return {"type": protocol._TYPE_OF[type(message)], **fields}


def test_vectors_match_the_documented_limits():
    assert VECTORS["protocol"] == protocol.PROTOCOL_VERSION
    assert VECTORS["max_line_bytes"] == protocol.MAX_LINE_BYTES


@pytest.mark.parametrize("vector", DEVICE["valid"], ids=lambda v: v["line"][:40])
def test_valid_device_lines_parse_to_the_expected_message(vector):
    assert as_dict(protocol.parse_line(vector["line"])) == vector["message"]
    assert as_dict(protocol.parse_line(vector["line"].encode() + b"\n")) == vector["message"]


@pytest.mark.parametrize(
    "vector", [v for v in DEVICE["valid"] if v["canonical"]], ids=lambda v: v["line"][:40]
)
def test_encoder_reproduces_canonical_lines(vector):
    assert protocol.encode(protocol.parse_line(vector["line"])) == vector["line"]


@pytest.mark.parametrize("vector", DEVICE["invalid"], ids=lambda v: v["line"][:40])
def test_invalid_device_lines_are_rejected_with_the_expected_code(vector):
    with pytest.raises(protocol.ProtocolError) as caught:
        protocol.parse_line(vector["line"])
    assert caught.value.code == vector["error"]


def test_bytes_outside_ascii_are_rejected():
    with pytest.raises(protocol.ProtocolError) as caught:
        protocol.parse_line(b"DET seq=1 label=up score=0.5 ms=\xff\n")
    assert caught.value.code == "not_ascii"


@pytest.mark.parametrize(("char", "code"), [("~", "bad_value"), ("\x7f", "not_ascii")])
def test_printable_ascii_ends_at_the_tilde(char, code):
    with pytest.raises(protocol.ProtocolError) as caught:
        protocol.parse_line(f"ERR seq=1 msg=x{char}")
    assert caught.value.code == code


@pytest.mark.parametrize("vector", REQUESTS["valid"], ids=lambda v: v["line"])
def test_valid_requests_parse_and_round_trip(vector):
    request = protocol.parse_request(vector["line"])
    assert {k: v for k, v in dataclasses.asdict(request).items() if v is not None} == vector[
        "request"
    ]
    assert protocol.parse_request(protocol.encode_request(request)) == request


@pytest.mark.parametrize("vector", REQUESTS["invalid"], ids=lambda v: v["line"])
def test_invalid_requests_are_rejected_with_the_expected_code(vector):
    with pytest.raises(protocol.ProtocolError) as caught:
        protocol.parse_request(vector["line"])
    assert caught.value.code == vector["error"]


@given(st.binary(max_size=200))
def test_parser_never_fails_other_than_with_protocol_error(raw):
    try:
        protocol.parse_line(raw)
    except protocol.ProtocolError as error:
        assert error.code in {
            "empty",
            "too_long",
            "not_ascii",
            "unknown_type",
            "missing_key",
            "bad_value",
            "bad_field",
        }


labels = st.from_regex(r"[a-z0-9_]{1,16}", fullmatch=True)
uint32 = st.integers(0, protocol.MAX_SEQ)


@given(seq=uint32, label=labels, permille=st.integers(0, 1000), ms=uint32)
def test_any_detection_round_trips(seq, label, permille, ms):
    message = protocol.Detection(seq, label, permille / 1000, ms)
    line = protocol.encode(message)
    assert len(line) <= protocol.MAX_LINE_BYTES
    assert protocol.parse_line(line) == message


@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=140))
def test_printable_garbage_is_either_a_message_or_a_protocol_error(text):
    try:
        message = protocol.parse_line(text)
    except protocol.ProtocolError:
        return
    assert protocol.parse_line(protocol.encode(message)) == message


def test_a_command_as_a_person_writes_it_is_a_label():
    assert protocol.command_name("STOP") == "stop"
    assert protocol.command_name("Stöp") == "Stöp"  # kept, to be refused as no label


def test_requests_end_at_any_line_end_even_one_cut_between_reads():
    lines = protocol.RequestLines()
    assert lines.feed(b"PING a\r") == [b"PING a"]  # screen and PuTTY send a bare CR on Enter
    assert lines.feed(b"\nIN") == []  # the rest of that CRLF: no empty request
    assert lines.feed(b"FO\nHELLO\r\n") == [b"INFO", b"HELLO"]


def test_sequence_arithmetic_wraps():
    assert protocol.next_seq(protocol.MAX_SEQ) == 0
    assert protocol.lost_between(5, 6) == 0
    assert protocol.lost_between(5, 9) == 3
    assert protocol.lost_between(protocol.MAX_SEQ, 1) == 1
    assert protocol.lost_between(9, 9) is None  # a repeated line
    assert protocol.lost_between(9, 5) is None  # a count restarted without a HELLO
    assert protocol.lost_between(1, protocol.MAX_SEQ) is None
    half = protocol.MAX_SEQ // 2  # up to half the counter ahead is lines lost, beyond is a restart
    assert protocol.lost_between(0, half) == half - 1
    assert protocol.lost_between(0, half + 1) is None


def test_a_failed_setup_is_told_by_its_stage():
    """`ERR msg=setup_<stage>` stands for the HELLO of a board that could not start
    (docs/protocol.md, Error tokens); any other message is no failed setup."""
    assert protocol.failed_setup(protocol.parse_line("ERR seq=0 msg=setup_mic")) == "mic"
    assert protocol.failed_setup(protocol.parse_line("ERR seq=4 msg=unknown_command")) is None
    assert protocol.failed_setup(protocol.parse_line("HB seq=3 ms=1000")) is None
