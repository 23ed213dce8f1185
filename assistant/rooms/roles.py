"""The MQTT side of each `role:` (single, satellite, hub), for the daemon."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from assistant.config import Config
from assistant.plugin import CommandEvent


class Room(Protocol):
    """What the daemon uses of a satellite or a hub."""

    def forward(self, event: CommandEvent) -> None:
        """Take a detection of this machine's own board."""

    def reply(self, text: str, site: str | None = None) -> None:
        """Speak a reply in `site`."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


def open_room(
    config: Config,
    dispatch: Callable[[CommandEvent], object],
    speak: Callable[[str], None],
) -> Room | None:
    """The satellite or hub `config.role` asks for (not started), or None for `single`, which
    needs no broker and does not even load the MQTT client."""
    if config.role == "single":
        return None
    from assistant.rooms.settings import MqttSettings

    settings = MqttSettings.from_section(config.sections["mqtt"])
    if config.role == "satellite":
        from assistant.rooms.satellite import Satellite

        return Satellite(settings, config.site, speak, config.model_commands or None)
    from assistant.rooms.hub import Hub

    return Hub(settings, config.site, dispatch, speak)
