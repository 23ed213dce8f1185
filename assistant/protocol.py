"""The board's line protocol (docs/protocol.md): parse board lines, encode them for the virtual
board, and parse/encode the host's requests."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

PROTOCOL_VERSION = 1
MAX_LINE_BYTES = 160
MAX_SEQ = 2**32 - 1

LABEL = re.compile(r"[a-z0-9_]{1,16}")


def command_name(word: str) -> str:
    """A command as a person writes it: a model's labels, so its commands, are lower-case, so
    STOP is stop (a word with other than ASCII letters is kept as it is, to be refused)."""
    return word.lower() if word.isascii() else word


_TOKEN = re.compile(r"[0-9A-Za-z._+-]{1,32}")
_PING_ID = re.compile(r"[A-Za-z0-9_-]{1,16}")
_KEY = re.compile(r"[a-z_]+")
_SCORE = re.compile(r"(0(\.\d{1,3})?|1(\.0{1,3})?)")
_UINT = re.compile(r"\d{1,10}")


class ProtocolError(ValueError):
    """A line that does not follow the protocol. `code` is the token used in the vectors file."""

    def __init__(self, code: str, detail: str):
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Hello:
    seq: int
    proto: int
    fw: str
    model: str
    labels: tuple[str, ...]


@dataclass(frozen=True)
class Detection:
    seq: int
    label: str
    score: float
    ms: int


@dataclass(frozen=True)
class Heartbeat:
    seq: int
    ms: int


@dataclass(frozen=True)
class Pong:
    seq: int
    id: str


@dataclass(frozen=True)
class Info:
    seq: int
    fw: str
    model: str
    fields: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Ok:
    seq: int
    cmd: str


@dataclass(frozen=True)
class Error:
    seq: int
    msg: str


Message = Hello | Detection | Heartbeat | Pong | Info | Ok | Error

SETUP_FAILED = "setup_"
"""How a board's ERR says which part of its setup failed (docs/protocol.md)."""


def failed_setup(message: Message) -> str | None:
    """The part whose setup failed (`mic` for `ERR msg=setup_mic`) when `message` says the
    board could not start; None for any other message."""
    if isinstance(message, Error) and message.msg.startswith(SETUP_FAILED):
        return message.msg.removeprefix(SETUP_FAILED)
    return None


@dataclass(frozen=True)
class Request:
    """A host request: `cmd` is ping, info, set or hello."""

    cmd: str
    id: str | None = None
    label: str | None = None
    score: float | None = None


# --- value parsers ---------------------------------------------------------------------------


def _uint32(text: str) -> int:
    if not _UINT.fullmatch(text) or int(text) > MAX_SEQ:
        raise ProtocolError("bad_value", f"{text!r} is not an integer from 0 to {MAX_SEQ}")
    return int(text)


def _score(text: str) -> float:
    if not _SCORE.fullmatch(text):
        raise ProtocolError(
            "bad_value", f"{text!r} is not a score from 0 to 1 with at most 3 decimals"
        )
    return float(text)


def _matching(pattern: re.Pattern[str], what: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if not pattern.fullmatch(text):
            raise ProtocolError("bad_value", f"{text!r} is not a valid {what}")
        return text

    return parse


def _labels(text: str) -> tuple[str, ...]:
    return tuple(_matching(LABEL, "label")(part) for part in text.split(","))


# Each type: its required keys in canonical order, with the parser of each value.
_SCHEMAS: dict[str, tuple[type, dict]] = {
    "HELLO": (
        Hello,
        {
            "seq": _uint32,
            "proto": _uint32,
            "fw": _matching(_TOKEN, "firmware version"),
            "model": _matching(_TOKEN, "model id"),
            "labels": _labels,
        },
    ),
    "DET": (
        Detection,
        {"seq": _uint32, "label": _matching(LABEL, "label"), "score": _score, "ms": _uint32},
    ),
    "HB": (Heartbeat, {"seq": _uint32, "ms": _uint32}),
    "PONG": (Pong, {"seq": _uint32, "id": _matching(_PING_ID, "ping id")}),
    "INFO": (
        Info,
        {
            "seq": _uint32,
            "fw": _matching(_TOKEN, "firmware version"),
            "model": _matching(_TOKEN, "model id"),
        },
    ),
    "OK": (Ok, {"seq": _uint32, "cmd": _matching(LABEL, "command")}),
    "ERR": (Error, {"seq": _uint32, "msg": _matching(LABEL, "error token")}),
}
_TYPE_OF = {cls: name for name, (cls, _) in _SCHEMAS.items()}


def _check_framing(raw: bytes | str) -> str:
    if isinstance(raw, bytes):
        raw = raw.decode("latin-1")  # a character per byte; non-ASCII is refused below
    line = raw.rstrip("\n")
    if line.endswith("\r"):
        line = line[:-1]
    if len(line) > MAX_LINE_BYTES:  # first, as on the board: it keeps only a long line's start
        raise ProtocolError("too_long", f"{len(line)} bytes, the limit is {MAX_LINE_BYTES}")
    if any(not (0x20 <= ord(ch) <= 0x7E) for ch in line):
        raise ProtocolError("not_ascii", "line has characters that are not printable ASCII")
    return line


def parse_line(raw: bytes | str) -> Message:
    """Parse one board line (with or without its line ending); raise ProtocolError if malformed."""
    line = _check_framing(raw)
    if not line.strip():
        raise ProtocolError("empty", "empty line")
    kind, *pairs = line.split(" ")
    if kind not in _SCHEMAS:
        raise ProtocolError("unknown_type", f"unknown line type {kind[:16]!r}")
    cls, schema = _SCHEMAS[kind]
    values: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not _KEY.fullmatch(key) or "=" in value or key in values:
            raise ProtocolError("bad_field", f"field {pair[:24]!r} is not a unique key=value")
        values[key] = value
    missing = [key for key in schema if key not in values]
    if missing:
        raise ProtocolError("missing_key", f"{kind} needs {', '.join(missing)}")
    parsed = {key: parse(values.pop(key)) for key, parse in schema.items()}
    if cls is Info:
        parsed["fields"] = values
    return cls(**parsed)


def _format_value(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, tuple):
        return ",".join(value)
    return str(value)


def encode(message: Message) -> str:
    """The canonical line (without line ending) for a board message."""
    kind = _TYPE_OF[type(message)]
    _, schema = _SCHEMAS[kind]
    parts = [kind] + [f"{key}={_format_value(getattr(message, key))}" for key in schema]
    if isinstance(message, Info):
        parts += [f"{key}={value}" for key, value in message.fields.items()]
    return " ".join(parts)


def parse_request(raw: bytes | str) -> Request:
    """Parse a host request, as the board does."""
    words = _check_framing(raw).split()
    if (
        not words
        or words[0] not in ("PING", "INFO", "SET", "HELLO")
        or (words[0] == "SET" and words[1:2] != ["threshold"])
    ):
        raise ProtocolError("unknown_command", f"unknown request {' '.join(words)[:24]!r}")
    if words[0] == "PING":
        if len(words) != 2:
            raise ProtocolError("bad_value", "PING takes exactly one id")
        return Request("ping", id=_matching(_PING_ID, "ping id")(words[1]))
    if words[0] in ("INFO", "HELLO"):
        if len(words) != 1:
            raise ProtocolError("bad_value", f"{words[0]} takes no words")
        return Request(words[0].lower())
    if len(words) != 4:
        raise ProtocolError("bad_value", "use: SET threshold <label> <score>")
    return Request("set", label=_matching(LABEL, "label")(words[2]), score=_score(words[3]))


_REQUEST_END = re.compile(rb"\r\n|\r|\n")


class RequestLines:
    """Cuts the bytes a host sends into request lines, as the board does: a request ends at
    `\n`, `\r` or `\r\n` (terminals such as screen and PuTTY send a bare `\r` on Enter)."""

    def __init__(self) -> None:
        self._pending = b""
        self._after_cr = False

    def feed(self, data: bytes) -> list[bytes]:
        """The requests that `data` completes, without their line ends."""
        if not data:
            return []
        rest_of_crlf = self._after_cr and data.startswith(b"\n")  # "\r\n" cut between reads
        self._after_cr = data.endswith(b"\r")
        *lines, self._pending = _REQUEST_END.split(self._pending + data[rest_of_crlf:])
        return lines


def encode_request(request: Request) -> str:
    """The line (without line ending) the host sends for a request."""
    if request.cmd == "ping":
        return f"PING {request.id}"
    if request.cmd in ("info", "hello"):
        return request.cmd.upper()
    if request.cmd == "set":
        return f"SET threshold {request.label} {request.score:.3f}"
    raise ValueError(f"unknown request {request.cmd!r}")


def next_seq(seq: int) -> int:
    """The sequence number after `seq` (wraps at 32 bits)."""
    return 0 if seq >= MAX_SEQ else seq + 1


def lost_between(previous: int, current: int) -> int | None:
    """How many lines were lost between two consecutive sequence numbers (with wrap-around);
    None when `current` does not come after `previous` (the same number, or one less than half
    the counter behind: a repeated line, or a count restarted without a HELLO)."""
    gap = (current - previous - 1) % (MAX_SEQ + 1)
    return None if gap >= MAX_SEQ // 2 else gap
