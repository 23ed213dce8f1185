"""The built-in skills, each a plugin registered under the `assistant.skills` entry point."""
