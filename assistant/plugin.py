"""The plugin API: everything a skill may use. Skills import this module and nothing else
from the assistant (their tests may also use assistant.plugin_testing).

A skill is a class derived from `Skill`, registered in its package's metadata under the
entry-point group `assistant.skills`::

    [project.entry-points."assistant.skills"]
    greeter = "my_package.greeter:GreeterSkill"

See docs/writing-skills.md for a complete example.
"""

from __future__ import annotations

import builtins
import functools
import logging
import re
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar, overload

# Part of the API: each name imported `as` itself, so a type checker takes it as exported.
from assistant.choices import valid_choices as valid_choices
from assistant.clocks import ClockWatch as ClockWatch
from assistant.clocks import elapsed as elapsed
from assistant.clocks import local_time as local_time
from assistant.file_lookup import missing
from assistant.spoken import AMOUNT_WORDS as AMOUNT_WORDS
from assistant.spoken import Amount as Amount
from assistant.spoken import duration_in_words as duration_in_words
from assistant.spoken import moment_in_words as moment_in_words
from assistant.spoken import parse_amount as parse_amount
from assistant.spoken import time_left_in_words as time_left_in_words
from assistant.spoken import time_of_day_in_words as time_of_day_in_words

ENTRY_POINT_GROUP = "assistant.skills"

API_VERSION = (1, 4)
"""The version of this plugin API, (major, minor). The minor grows when something is added
(a name here, an attribute of Skill or SkillContext, a keyword of Setting or @action); the
major when something a skill may use changes or goes. A skill declares the version it needs in
`Skill.requires_api`. 1.0 is the API that docs/writing-skills.md describes; 1.1 adds
`Setting(..., path=True)`; 1.2 adds `Setting(..., formerly=(...))`; 1.3 adds
`SkillContext.connect_mqtt()` (with `MqttLink` and `MqttError`), `moment_in_words` and
`ClockWatch.look()`; 1.4 adds `ClockWatch.offset`."""


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()
"""Default of a setting that the configuration must give."""


@dataclass(frozen=True)
class Setting:
    """One setting of a skill (under `skills.<name>:` in config.yaml) or parameter of an action
    (under `with:`). `type` is one of str, int, float, bool, list, dict; a number may have
    bounds (`minimum`, `maximum`, both included)."""

    name: str
    type: type
    default: Any = REQUIRED
    help: str = ""
    choices: tuple[Any, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    values: builtins.type | None = None  # not the field `type` above
    """For a dict setting: the type of each value (str keeps numbers as they were written,
    `12:30` as "12:30")."""
    secret: bool = False
    """A password or token: a problem with it never shows its value (`config check`, the log)."""
    path: bool = False
    """For a str setting: a file or folder. The skill gets it as the configuration loads it:
    `~` expanded and a relative path taken from the folder of the configuration file it is
    written in (absolute then); empty text and the default are kept as they are (API 1.1)."""
    formerly: tuple[str, ...] = ()
    """Names the setting had in earlier versions: a file that still uses one is refused with
    the name to write instead, not as an unknown setting (API 1.2)."""

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


class SettingValueError(ValueError):
    """A setting of the right type whose value cannot work. `key` names it, or a value inside
    it as `templates.on`, so the problem is reported at that line."""

    def __init__(self, message: str, key: str | None = None):
        super().__init__(message)
        self.key = key


MQTT_CONNECTION_SETTINGS = (
    Setting("host", str, "localhost", "address of the MQTT broker"),
    Setting(
        "port",
        int,
        1883,
        "port of the MQTT broker (8883 is usual with TLS)",
        minimum=1,
        maximum=65535,
    ),
    Setting("username", str, "", "user name at the broker; empty: anonymous"),
    Setting("password", str, "", "password at the broker", secret=True),
    Setting("tls", bool, False, "connect with TLS"),
    Setting(
        "ca_file",
        str,
        "",
        "CA certificate file to trust with TLS; empty: the system's",
        path=True,
    ),
)
"""How to reach an MQTT broker: the same settings, names and defaults for every skill that
talks MQTT as for the assistant's own `mqtt:` section."""
MQTT_RECONNECT_MIN = 0.5
MQTT_RECONNECT_MAX = 2.0
"""Seconds between attempts to reach a lost MQTT broker again: the first wait, doubled after
each failure up to the longest, so a broker back after a restart is used again within 2 s
however long it was away (longer waits leave commands failing, or waiting, that long after its
return). Those of a skill's connection (`SkillContext.connect_mqtt`), and the defaults of the
`mqtt:` section's reconnect_min and reconnect_max."""


def ca_file_problem(tls: bool, ca_file: str) -> str:
    """Why MQTT_CONNECTION_SETTINGS' CA file cannot be used ("" when it can or is not needed)."""
    if not (tls and ca_file):
        return ""
    if file := missing(ca_file):
        return (
            f"ca_file {ca_file} is not a file{file.aside}: give the CA certificate's path, or empty"
        )
    try:
        ssl.create_default_context(cafile=ca_file)
    except (ssl.SSLError, OSError) as error:
        return f"ca_file {ca_file} cannot be used as a CA certificate (PEM): {error}"
    return ""


class _ClosedWhenRefused(ssl.SSLSocket):
    """A TLS socket that closes itself when its handshake fails. paho's connect does not: it
    drops the socket to the garbage collector, once per attempt at a broker it cannot trust."""

    def do_handshake(self, block: bool = False) -> None:
        try:
            super().do_handshake(block)
        except BaseException:
            self.close()
            raise


def tls_context(ca_file: str) -> ssl.SSLContext:
    """The TLS settings of MQTT_CONNECTION_SETTINGS for paho's `tls_set_context`: the broker's
    certificate and host name are verified against `ca_file`, or the system's CAs if empty."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if ca_file:
        context.load_verify_locations(ca_file)
    else:
        context.load_default_certs()
    context.sslsocket_class = _ClosedWhenRefused
    return context


SITE_DEFAULT = "default"
"""The site (room) of a machine whose configuration names none."""


@dataclass(frozen=True)
class CommandEvent:
    """A command for the skills: heard by a board, the microphone or the virtual board (here or
    in a satellite's room), or sent with `assistant send`; an action gets the one the
    dispatcher ran it for."""

    command: str
    score: float
    source: str = "unknown"
    site: str = SITE_DEFAULT
    received: float = 0.0
    """assistant.clocks.elapsed() when the line reached the host: time slept counts."""
    device_ms: int | None = None
    seq: int | None = None
    heard: bool = False
    """A board, the microphone or the virtual board heard it, here or in a satellite's room
    (False for `assistant send`'s): `speech.acknowledge` answers only such a command."""


class SkillError(Exception):
    """Raise from an action to report a failure the user should hear about, without a
    traceback. The message, with the detail that helps fix it, is logged and answered to
    `assistant send`; `spoken`, when given, is the short sentence said instead (a host name,
    a port or a file path is no help read aloud)."""

    def __init__(self, message: str, spoken: str = ""):
        super().__init__(message)
        self.spoken = spoken or message
        """What is said: `spoken`, else the message."""


class NothingToDo(SkillError):
    """Raise from an action that found nothing to act on ("No timer is running", "No media
    player is running"): said and answered to `assistant send` as a SkillError, and it stops a
    command's list of actions the same way, but it is logged as information and not counted
    among the skill's failures in `assistant status`: the skill works."""


class MqttError(SkillError):
    """Raised by `MqttLink.publish` when the broker did not confirm the message. `kind` says
    why: "unreachable" (no connection: the broker cannot be reached or refused it, or the
    connection was lost before the broker confirmed the message), "unconfirmed" (the broker
    did not confirm it in time) or "cancelled" (the call was cancelled while it waited). The
    message names the broker and the cause, for the log; `spoken` is a short sentence, which a
    skill may replace with one naming what it drives (API 1.3)."""

    SPOKEN: ClassVar[dict[str, str]] = {
        "unreachable": "I cannot reach the MQTT broker",
        "unconfirmed": "The MQTT broker did not answer",
        "cancelled": "Command cancelled",
    }

    def __init__(self, message: str, kind: str):
        super().__init__(message, spoken=self.SPOKEN[kind])
        self.kind = kind


class MqttLink(Protocol):
    """A skill's connection to its MQTT broker, from `SkillContext.connect_mqtt()` (API 1.3)."""

    @property
    def connected(self) -> bool:
        """Whether the broker is connected now."""

    def status(self) -> list[str]:
        """The lines for `status_lines`: `connected to the MQTT broker at host:port`, or why
        not (refused, cannot be reached, not connected yet), then the settings to check."""

    def publish(self, topic: str, payload: str | bytes, qos: int = 1, retain: bool = False) -> None:
        """Send a message and return once the broker confirmed it (QoS 0: once it is written).
        Without a connection, wait a few seconds for one that may come (one being made to a
        broker that answers, or lost moments ago: the broker restarts), not for one that
        cannot. MqttError when the broker did not confirm the message; each wait ends within
        0.1 s once the call is cancelled. A message goes out on the connection it was
        published on or not at all: never late, on a later connection."""

    def stop(self) -> None:
        """Disconnect and close every socket the connection opened; call it in the skill's
        `stop()`."""


class Cancellation(Protocol):
    """Whether the host wants the call in progress to stop: it gave up waiting for it (the
    call ran longer than `skill_timeout`), or the skill is being stopped (reload, shutdown).
    Each call starts with one not set; the same methods as `threading.Event`."""

    def is_set(self) -> bool:
        """True once the call should stop."""

    def wait(self, timeout: float | None = None) -> bool:
        """Sleep up to `timeout` seconds, waking early when the call should stop; returns
        is_set()."""


class SkillContext(Protocol):
    """What the host gives each skill."""

    name: str
    settings: dict[str, Any]
    log: logging.Logger
    data_dir: Path
    """The skill's own directory, for files that survive restarts; created when first read,
    which raises SkillError naming the directory when it cannot be."""

    def say(self, text: str, site: str | None = None) -> None:
        """Speak a short reply (never blocks; also logged). `site` routes it to a room."""

    def hold_focus(self, seconds: float | None = None) -> None:
        """Keep focus on this skill for `seconds` (None: the configured focus time; math.inf:
        until `release_focus`)."""

    def release_focus(self) -> None:
        """Give focus up now (for example when playback stops)."""

    @property
    def cancelled(self) -> Cancellation:
        """The cancellation of the call running on this thread (a call's own: keep it to
        hand to threads the call starts); outside a call it is never set."""

    def listen_for_phrase(
        self, grammar: list[str], seconds: float = 4.0, prompt: str = ""
    ) -> str | None:
        """Transcribe one phrase from the desktop microphone, restricted to `grammar`, after
        the listening cue (`prompt` is the short question `phrase.cue: words` says, such as
        "How long?"); None when nothing was understood, no microphone or model is available,
        or the call is cancelled while listening."""

    def connect_mqtt(self) -> MqttLink:
        """A connection to the broker the skill's MQTT_CONNECTION_SETTINGS name (its `settings`
        must include them), made in the background and kept: it reconnects by itself, and
        logs a problem once, naming the settings to check. Call it in `start()`, and stop it
        in `stop()`; the host stops it too once the skill stopped or its start failed (API
        1.3)."""


@dataclass(frozen=True)
class Action:
    """An action a skill offers, as declared with @action."""

    name: str
    help: str
    params: tuple[Setting, ...]
    method_name: str


def _first_paragraph(docstring: str) -> str:
    """The first paragraph of `docstring` on one line: up to its first blank line, which may
    hold the indentation of the lines around it."""
    return " ".join(re.split(r"\n[ \t]*\n", docstring.strip(), maxsplit=1)[0].split())


_Method = TypeVar("_Method", bound=Callable[..., str | None])
"""An action method: given to @action and returned as it is, so its signature is kept."""


@overload
def action(name: _Method) -> _Method: ...


@overload
def action(
    name: str | None = None, help: str = "", params: tuple[Setting, ...] = ()
) -> Callable[[_Method], _Method]: ...


def action(
    name: str | Callable[..., str | None] | None = None,
    help: str = "",
    params: tuple[Setting, ...] = (),
) -> Callable[..., Any]:
    """Mark a Skill method as an action, as `@action(...)` or bare `@action`. The method is
    called as `method(event, **params)` and may return a short reply to speak (a str, or None
    for no reply). `name` defaults to the method's name without a trailing `_`, `help` to the
    first paragraph of its docstring, on one line."""
    if callable(name):  # used bare: @action
        return action()(name)

    def mark(method: _Method) -> _Method:
        method.__assistant_action__ = Action(  # type: ignore[attr-defined]
            name=name or method.__name__.rstrip("_"),
            help=help or _first_paragraph(method.__doc__ or ""),
            params=params,
            method_name=method.__name__,
        )
        return method

    return mark


class Skill:
    """Base class of every skill. Subclasses set `name`, `description` and `settings`, and mark
    their actions with @action. `start` and `stop` open and close connections, `status_lines`
    tells `assistant status` what the skill is doing; the validated settings are in
    `self.context.settings`. An action method must not reuse the name of
    anything defined here (or `context`): see docs/writing-skills.md."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    settings: ClassVar[tuple[Setting, ...]] = ()
    requires_api: ClassVar[tuple[int, int]] = (1, 0)
    """The plugin API version the skill needs, (major, minor): an assistant whose API_VERSION
    has another major, or a lower minor, does not load it and says which it offers."""

    def __init__(self, context: SkillContext):
        self.context = context

    def start(self) -> None:
        """Called once after construction, before any action."""

    def stop(self) -> None:
        """Called once at shutdown."""

    def status_lines(self) -> list[str]:
        """What the skill is doing now, for `assistant status`: a few short lines, each shown
        as `skill <name>: <line>` (none by default). Called on the skill's thread like an
        action, and given up on after a second or two (see docs/writing-skills.md): read the
        state the skill keeps rather than wait on a device or the network."""
        return []

    @classmethod
    def check_settings(cls, settings: Mapping[str, Any]) -> str | None:
        """What is wrong with settings whose types and bounds are right (None: nothing), for
        `config check` to report on the skill's section before anything runs; raise
        SettingValueError(message, key) instead to report it at the key's line. Override it to
        check what a Setting cannot say (a template, a file that must exist)."""
        return None

    @classmethod
    def check_params(
        cls, action: str, params: Mapping[str, Any], settings: Mapping[str, Any]
    ) -> str | None:
        """What is wrong with the parameters of a call of `action` (checked against its params,
        defaults filled in) given the skill's checked `settings` (None: nothing), for `config
        check` to report at the call; raise SettingValueError(message, key) to report it at
        the parameter's line. Override it for what a Setting cannot say (a name that must be
        among the settings, two parameters that exclude each other)."""
        return None

    @classmethod
    @functools.cache
    def actions(cls) -> dict[str, Action]:
        """The actions the class declares, by name (worked out once per class)."""
        found: dict[str, Action] = {}
        for klass in reversed(cls.__mro__):
            for value in vars(klass).values():
                declared = getattr(value, "__assistant_action__", None)
                if declared is not None:
                    found[declared.name] = declared
        return found
