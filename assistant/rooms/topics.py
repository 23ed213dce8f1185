"""Topic names and payloads of the rooms protocol, version 1 (docs/mqtt.md).

Every topic starts with `<prefix>/v1/`; every JSON payload carries `"v": 1`. A later version
uses new topics, so hubs and satellites of different versions never misread each other.
"""

from __future__ import annotations

import itertools
import json
import math
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from assistant.protocol import LABEL

VERSION = 1
ONLINE = b"online"
OFFLINE = b"offline"
MAX_TEXT = 64
"""Longest `id` and `source` of a detection, in characters."""
REPLY_LIFETIME = 10.0
"""Seconds after the hub made a reply past which it is no longer sent nor spoken: it answers
what was just said or tells what just happened, and later it misleads (docs/mqtt.md)."""
PHRASE_MARGIN = 4.0
"""Seconds a follow-up phrase request's window has beyond its listening window: the cue played
first, and the way there and back through the broker."""
MAX_GRAMMAR = 1000
"""Most words (each 1 to MAX_TEXT characters) in a phrase request's grammar."""
MAX_PROMPT = 1000
"""Longest prompt, and longest text or problem of an answer, in characters."""
SENT_SOURCE_OF_BEFORE = "control socket"
"""The `source` satellites of before a detection's `heard` gave the commands of their
`assistant send`; every other source of theirs (a board, the microphone, the virtual board)
heard its commands. A detection without `heard` is read by it (docs/mqtt.md)."""
TONE_LIFETIME = 2.0
"""Seconds after a command was heard past which a satellite no longer plays its acknowledgement
tone: the beep says "taken" right after the word; later it would answer nothing the user just
did (docs/mqtt.md)."""


def message_ids() -> Iterator[str]:
    """Ids unique to this process and run (a random prefix, then a count): a message sent again
    keeps its id, so its receiver can tell the copy."""
    prefix = secrets.token_hex(4)
    return (f"{prefix}-{n}" for n in itertools.count())


class PayloadError(ValueError):
    """A message that does not follow this protocol version."""


def _level_problem(value: str) -> str:
    """Why `value` cannot be one level of a topic, as "contains '#'" ("": it can)."""
    bad = [c for c in ("/", "+", "#", "\0") if c in value]
    if bad:
        return f"contains {' '.join(map(repr, bad))}"
    if not value:
        return "is empty"
    return "starts or ends with a space" if value != value.strip() else ""


def check_level(value: str, what: str) -> str:
    """`value` if it can be one level of a topic; a ValueError naming `what` otherwise."""
    problem = _level_problem(value)
    if problem:
        raise ValueError(f"{what} {value!r} cannot be used in MQTT topics: it {problem}")
    return value


@dataclass(frozen=True)
class Topics:
    prefix: str

    def __post_init__(self) -> None:
        levels = self.prefix.split("/")
        for number, level in enumerate(levels, 1):
            problem = _level_problem(level)
            if problem:
                which = (
                    f"its level {number} of {len(levels)}, {level!r}," if len(levels) > 1 else "it"
                )
                raise ValueError(
                    f"mqtt.topic_prefix {self.prefix!r} cannot be used in MQTT topics: "
                    f"{which} {problem}"
                )

    @property
    def root(self) -> str:
        return f"{self.prefix}/v{VERSION}"

    def site(self, site: str) -> str:
        return f"{self.root}/site/{check_level(site, 'site')}"

    def detection(self, site: str, command: str) -> str:
        return f"{self.site(site)}/detection/{command}"

    def event(self, site: str, command: str) -> str:
        """Where Home Assistant's event entity for `command` listens (see discovery)."""
        return f"{self.site(site)}/event/{command}"

    def status(self, site: str) -> str:
        return f"{self.site(site)}/status"

    def reply(self, site: str) -> str:
        return f"{self.site(site)}/reply"

    def ack(self, site: str) -> str:
        return f"{self.site(site)}/ack"

    def accepted(self, site: str) -> str:
        return f"{self.site(site)}/accepted"

    def phrase_request(self, site: str) -> str:
        return f"{self.site(site)}/phrase/request"

    def phrase_answer(self, site: str) -> str:
        return f"{self.site(site)}/phrase/answer"

    @property
    def all_accepted(self) -> str:
        return f"{self.root}/site/+/accepted"

    @property
    def all_phrase_requests(self) -> str:
        return f"{self.root}/site/+/phrase/request"

    @property
    def all_phrase_answers(self) -> str:
        return f"{self.root}/site/+/phrase/answer"

    @property
    def hub_status(self) -> str:
        return f"{self.root}/hub/status"

    @property
    def all_detections(self) -> str:
        return f"{self.root}/site/+/detection/+"

    @property
    def all_replies(self) -> str:
        return f"{self.root}/site/+/reply"

    @property
    def all_statuses(self) -> str:
        return f"{self.root}/site/+/status"

    def site_of(self, topic: str) -> str:
        """The site named in a topic under `<root>/site/`; PayloadError unless it is one this
        assistant could answer on (any client may publish on `site//...` or `site/ x/...`)."""
        head = f"{self.root}/site/"
        if not topic.startswith(head):
            raise PayloadError(f"topic {topic!r} is not under {head}")
        try:
            return check_level(topic[len(head) :].split("/", 1)[0], "site")
        except ValueError as error:
            raise PayloadError(str(error)) from None


@dataclass(frozen=True)
class Detection:
    """One command heard by a satellite, as sent to the hub."""

    id: str
    """Unique per detection; a detection sent again keeps its id."""
    command: str
    score: float
    site: str
    source: str
    age: float
    """Seconds between hearing the command and sending this message."""
    seq: int | None = None
    device_ms: int | None = None
    heard: bool = True
    """A board, the microphone or the virtual board heard it (False: `assistant send` there);
    a satellite of before this field sends none (see SENT_SOURCE_OF_BEFORE)."""


@dataclass(frozen=True)
class Reply:
    """Text the hub sends a satellite to speak."""

    text: str
    age: float = 0.0
    """Seconds between the hub making the reply and sending this message (a hub of before this
    field sends none: 0)."""
    id: str | None = None
    """Unique per reply, kept by a copy sent again (a hub of before this field sends none)."""


@dataclass(frozen=True)
class Accepted:
    """The hub telling a satellite that its dispatcher took a command the satellite heard: the
    satellite plays its acknowledgement (`speech.acknowledge: tone`), before the replies."""

    id: str
    """The detection's."""
    command: str
    age: float
    """Seconds between hearing the command and sending this message: the detection's age when
    the hub received it, plus the hub's time until it took it (de-duplication's window)."""


@dataclass(frozen=True)
class PhraseRequest:
    """The hub asking a satellite to play its listening cue and listen for a follow-up phrase,
    for a skill running a command of the satellite's site."""

    id: str
    grammar: list[str]
    """The words the phrase may have (empty: any)."""
    seconds: float
    """The skill's listening window (the satellite's `phrase.seconds` caps it)."""
    prompt: str
    """The skill's short question, said by `phrase.cue: words`."""
    window: float
    """Seconds from the hub making the request within which it takes the answer."""
    age: float = 0.0
    """Seconds between the hub making the request and sending this message."""


@dataclass(frozen=True)
class PhraseAnswer:
    """A satellite's answer to a PhraseRequest: what it heard, or why it heard nothing."""

    id: str
    """The request's."""
    text: str | None = None
    """The phrase; None when nothing was understood (or `problem` says why not)."""
    problem: str | None = None
    """Why the satellite could not listen (no microphone, no Vosk model, ...)."""


def _decode_object(payload: bytes, what: str) -> dict[str, Any]:
    try:
        data = json.loads(payload)
    except (ValueError, RecursionError) as error:  # also too many digits, too deeply nested
        raise PayloadError(f"{what} is not JSON: {error}") from None
    if not isinstance(data, dict):
        raise PayloadError(f"{what} must be a JSON object, not {type(data).__name__}")
    version = data.get("v")
    if version != VERSION:
        newer = isinstance(version, int) and version > VERSION
        fix = "update this assistant" if newer else "update the sender"
        raise PayloadError(
            f"{what} has version {version!r}, this assistant speaks {VERSION}: {fix}"
        )
    return data


def _field(data: dict[str, Any], name: str, kind: type | tuple[type, ...], what: str) -> Any:
    value = data.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        shown = repr(value)[:40]  # a hostile message's value may be megabytes long
        raise PayloadError(f"{what}: field {name!r} is missing or has the wrong type: {shown}")
    return value


def _optional_int(data: dict[str, Any], name: str, what: str) -> int | None:
    value = None if data.get(name) is None else _field(data, name, int, what)
    if value is not None and not 0 <= value < 2**32:
        raise PayloadError(f"{what}: field {name!r} must be from 0 to 2**32 - 1, not {value}")
    return value


def _number(data: dict[str, Any], name: str, what: str, high: float | None = None) -> float:
    """A finite number from 0 to `high` (JSON as Python reads it also has NaN and Infinity)."""
    value = _field(data, name, (int, float), what)
    try:
        number = float(value)
    except OverflowError:  # an integer beyond any float
        number = math.inf
    if not (math.isfinite(number) and 0 <= number <= (math.inf if high is None else high)):
        bounds = "a finite number of 0 or more" if high is None else f"from 0 to {high:g}"
        raise PayloadError(f"{what}: field {name!r} must be {bounds}, not {str(value)[:40]}")
    return number


def _text(data: dict[str, Any], name: str, what: str) -> str:
    value = _field(data, name, str, what)
    if not 0 < len(value) <= MAX_TEXT:
        raise PayloadError(f"{what}: field {name!r} must have 1 to {MAX_TEXT} characters")
    return value


def encode_detection(detection: Detection) -> bytes:
    body = {
        "v": VERSION,
        "id": detection.id,
        "command": detection.command,
        "score": round(detection.score, 4),
        "site": detection.site,
        "source": detection.source,
        "age": round(detection.age, 4),
        "seq": detection.seq,
        "device_ms": detection.device_ms,
        "heard": detection.heard,
    }
    return json.dumps(body, separators=(",", ":")).encode()


def _command(data: dict[str, Any], what: str) -> str:
    command = _field(data, "command", str, what)
    if not LABEL.fullmatch(command):
        raise PayloadError(f"{what}: {command[:40]!r} is not a command name")
    return command


def decode_detection(payload: bytes) -> Detection:
    what = "detection"
    data = _decode_object(payload, what)
    source = _text(data, "source", what)
    heard = data.get("heard")
    if heard is None:  # a satellite of before this field
        heard = source != SENT_SOURCE_OF_BEFORE
    elif not isinstance(heard, bool):
        raise PayloadError(f"{what}: field 'heard' must be true or false, not {repr(heard)[:40]}")
    return Detection(
        id=_text(data, "id", what),
        command=_command(data, what),
        score=_number(data, "score", what, high=1.0),
        site=_field(data, "site", str, what),
        source=source,
        age=_number(data, "age", what),
        seq=_optional_int(data, "seq", what),
        device_ms=_optional_int(data, "device_ms", what),
        heard=heard,
    )


def encode_reply(reply: Reply) -> bytes:
    body = {"v": VERSION, "text": reply.text, "age": round(reply.age, 4), "id": reply.id}
    return json.dumps(body).encode()


def decode_reply(payload: bytes) -> Reply:
    what = "reply"
    data = _decode_object(payload, what)
    age = 0.0 if data.get("age") is None else _number(data, "age", what)
    reply_id = None if data.get("id") is None else _text(data, "id", what)
    return Reply(_field(data, "text", str, what), age, reply_id)


def encode_ack(ids: list[str]) -> bytes:
    return json.dumps({"v": VERSION, "ids": ids}, separators=(",", ":")).encode()


def decode_ack(payload: bytes) -> list[str]:
    ids = _field(_decode_object(payload, "ack"), "ids", list, "ack")
    return [i for i in ids if isinstance(i, str)]


def encode_accepted(accepted: Accepted) -> bytes:
    age = round(accepted.age, 4)
    body = {"v": VERSION, "id": accepted.id, "command": accepted.command, "age": age}
    return json.dumps(body, separators=(",", ":")).encode()


def decode_accepted(payload: bytes) -> Accepted:
    what = "accepted"
    data = _decode_object(payload, what)
    fields = _text(data, "id", what), _command(data, what), _number(data, "age", what)
    return Accepted(*fields)


def _optional_text(data: dict[str, Any], name: str, what: str, longest: int) -> str | None:
    value = None if data.get(name) is None else _field(data, name, str, what)
    if value is not None and len(value) > longest:
        raise PayloadError(f"{what}: field {name!r} must have at most {longest} characters")
    return value


def encode_phrase_request(request: PhraseRequest) -> bytes:
    body = {
        "v": VERSION,
        "id": request.id,
        "grammar": request.grammar,
        "seconds": request.seconds,
        "prompt": request.prompt,
        "window": round(request.window, 4),
        "age": round(request.age, 4),
    }
    return json.dumps(body, ensure_ascii=False).encode()


def decode_phrase_request(payload: bytes) -> PhraseRequest:
    what = "phrase request"
    data = _decode_object(payload, what)
    grammar = _field(data, "grammar", list, what)
    if len(grammar) > MAX_GRAMMAR or not all(
        isinstance(word, str) and 0 < len(word) <= MAX_TEXT for word in grammar
    ):
        raise PayloadError(
            f"{what}: field 'grammar' must be at most {MAX_GRAMMAR} words of 1 to {MAX_TEXT} "
            "characters"
        )
    seconds = _number(data, "seconds", what, high=60.0)
    if seconds == 0:
        raise PayloadError(f"{what}: field 'seconds' must be more than 0")
    return PhraseRequest(
        id=_text(data, "id", what),
        grammar=grammar,
        seconds=seconds,
        prompt=_optional_text(data, "prompt", what, MAX_PROMPT) or "",
        window=_number(data, "window", what, high=60.0 + PHRASE_MARGIN),
        age=_number(data, "age", what),
    )


def encode_phrase_answer(answer: PhraseAnswer) -> bytes:
    body = {"v": VERSION, "id": answer.id, "text": answer.text, "problem": answer.problem}
    return json.dumps(body, ensure_ascii=False).encode()


def decode_phrase_answer(payload: bytes) -> PhraseAnswer:
    what = "phrase answer"
    data = _decode_object(payload, what)
    return PhraseAnswer(
        id=_text(data, "id", what),
        text=_optional_text(data, "text", what, MAX_PROMPT),
        problem=_optional_text(data, "problem", what, MAX_PROMPT),
    )
