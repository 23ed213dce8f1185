"""The MQTT side of each `role:` (single, satellite, hub), for the daemon."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from assistant.config import Config
from assistant.phrase import PhraseListener
from assistant.plugin import CommandEvent


class Role(Protocol):
    """What the daemon uses of a satellite or a hub."""

    def forward(self, event: CommandEvent) -> None:
        """Take a detection of this machine's own board."""

    def reply(self, text: str, site: str | None = None) -> None:
        """Speak a reply in `site`."""

    def status(self) -> list[str]:
        """Its parts of `assistant status`, each `name: value`: the role and site, its peers
        and counters, the broker connection and the messages it ignored."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


def open_room(
    config: Config,
    dispatch: Callable[[CommandEvent], object],
    speak: Callable[[str], None],
    state_dir: Path,
    phrase: PhraseListener | None = None,
    acknowledge: Callable[[], None] | None = None,
) -> Role | None:
    """The satellite or hub `config.role` asks for (not started), or None for `single`, which
    needs no broker and does not even load the MQTT client. `state_dir` keeps what it
    announced to Home Assistant; a satellite listens with `phrase` for the follow-up phrases
    the hub asks for, and plays `acknowledge` for the commands the hub takes (None: no tone)."""
    if config.role == "single":
        return None
    from assistant.rooms.settings import MqttSettings

    settings = MqttSettings.from_section(config.sections["mqtt"])
    commands = config.model_commands or None
    if config.role == "satellite":
        from assistant.rooms.satellite import Satellite

        hear = phrase.hear if phrase else None
        return Satellite(
            settings,
            config.site,
            speak,
            commands,
            state_dir=state_dir,
            hear=hear,
            acknowledge=acknowledge,
        )
    from assistant.rooms.hub import Hub

    return Hub(settings, config.site, dispatch, speak, commands=commands, state_dir=state_dir)
