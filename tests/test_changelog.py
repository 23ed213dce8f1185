"""CHANGELOG.md keeps up with the release (README, "Versions and releases"): its newest release is
the one pyproject.toml's fallback_version counts on from, and its newest entry names the plugin
API this assistant offers."""

import re
from pathlib import Path

from assistant.plugin import API_VERSION

REPO = Path(__file__).resolve().parent.parent
CHANGELOG = REPO / "CHANGELOG.md"
ENTRY = re.compile(r"^## (.+)$", re.M)
RELEASE = re.compile(r"(\d+)\.(\d+)\.(\d+) - \d{4}-\d{2}-\d{2}")


def test_the_newest_release_is_the_one_fallback_version_counts_from() -> None:
    """`fallback_version` is X.Y.(Z+1).dev0 once X.Y.Z is released: a release without its entry,
    or an entry without the version bump, fails here."""
    fallback = re.search(
        r'^fallback_version = "(\d+)\.(\d+)\.(\d+)\.dev0"$',
        (REPO / "pyproject.toml").read_text(encoding="utf-8"),
        re.M,
    )
    major, minor, patch = map(int, fallback.groups())
    headings = ENTRY.findall(CHANGELOG.read_text(encoding="utf-8"))
    releases = [m for m in map(RELEASE.fullmatch, headings) if m]
    assert releases, f"{CHANGELOG.name} has no `## X.Y.Z - YYYY-MM-DD` entry"
    newest = tuple(map(int, releases[0].groups()))
    assert newest == (major, minor, patch - 1), (
        f"the newest release in {CHANGELOG.name} is {releases[0][0]!r}, but fallback_version "
        f"{major}.{minor}.{patch}.dev0 counts on from {major}.{minor}.{patch - 1}"
    )


def test_the_newest_entry_names_the_plugin_api_offered() -> None:
    """Plugin authors read there which plugin API a release offers (Unreleased included, for a
    version added since the release)."""
    newest = ENTRY.split(CHANGELOG.read_text(encoding="utf-8"))[2]
    offered = f"plugin API {API_VERSION[0]}.{API_VERSION[1]}"
    named = re.search(rf"\b{re.escape(offered)}\b", newest, re.I)
    assert named, f"the newest entry of {CHANGELOG.name} does not name {offered}"
