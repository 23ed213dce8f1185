"""A copy of the repository's working tree as a git repository of its own, with no tags and one
commit, as CI's clean (maybe shallow) clone has it: what the version tests build and install."""

import re
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NOT_SOURCES = shutil.ignore_patterns(
    ".git", "data", "runs", "build", "dist", "libraries", "__pycache__", "*.egg-info", ".*_cache"
)
DEVELOPMENT = re.escape(
    re.search(r'^fallback_version = "(.+)\.dev0"$', (REPO / "pyproject.toml").read_text(), re.M)[1]
)
"""What a version without a tag begins with: the next development release's number, as a
pattern (pyproject.toml's fallback_version without its `.dev0`)."""
IDENTITY = ["-c", "user.name=tests", "-c", "user.email=tests@localhost", "-c", "core.hooksPath="]


def git(repo: Path, *args: str) -> str:
    """`git ARGS` in `repo`, with an identity of its own; its output, stripped."""
    done = subprocess.run(
        ["git", *IDENTITY, *args], cwd=repo, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.strip()


def commit_all(repo: Path, message: str) -> str:
    """Commit everything in `repo`; the commit's full hash."""
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "--no-gpg-sign", "--message", message)
    return git(repo, "rev-parse", "HEAD")


def source_copy(destination: Path) -> str:
    """Copy the working tree (not build/ and egg-info, so they never land in it) to
    `destination` and commit it there; the commit's full hash."""
    shutil.copytree(REPO, destination, ignore=NOT_SOURCES)
    git(destination, "init", "--quiet")
    return commit_all(destination, "the working tree")
