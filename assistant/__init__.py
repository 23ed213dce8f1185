"""The desktop side of the voice assistant: daemon, serial link, plugin host, CLI, service.
docs/architecture.md follows a command through the modules and gives each one's job."""

PACKAGE = "desk-kws-assistant"
"""The distribution's name (pyproject.toml)."""
INSTALL_LISTEN = f"pip install '{PACKAGE}[listen]'"
"""What adds the [listen] extra to an installed assistant, from any folder: pip keeps the
installed distribution (a wheel, or a clone's editable install) and adds what the extra needs."""
