"""Several files written all or none."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from file_size_limit import file_size_limit

from assistant.atomic_files import write_all_or_none


def _state(folder: Path) -> dict[str, tuple[bytes | None, int]]:
    """Every entry of `folder`: a file's bytes (None for a folder) and permission bits."""
    return {
        entry.name: (None if entry.is_dir() else entry.read_bytes(), entry.stat().st_mode & 0o7777)
        for entry in folder.iterdir()
    }


def test_every_file_gets_its_content_and_keeps_its_permissions(tmp_path):
    kept = tmp_path / "card.json"
    kept.write_text("old")
    kept.chmod(0o640)
    umask = os.umask(0o022)
    try:
        write_all_or_none({kept: "new ✓", tmp_path / "model.bin": b"\x00\xff"})
    finally:
        os.umask(umask)
    assert _state(tmp_path) == {
        "card.json": ("new ✓".encode(), 0o640),
        "model.bin": (b"\x00\xff", 0o644),  # a new file's: 0666 less the umask
    }


def test_a_link_is_written_through(tmp_path):
    (tmp_path / "dotfiles").mkdir()
    real = tmp_path / "dotfiles" / "config.yaml"
    real.write_text("old")
    link = tmp_path / "config.yaml"
    link.symlink_to(real)
    write_all_or_none({link: "new"})
    assert link.is_symlink() and real.read_text() == "new"
    assert sorted(p.name for p in real.parent.iterdir()) == ["config.yaml"]


def test_a_folder_in_a_files_place_leaves_every_file_as_it_was(tmp_path):
    (tmp_path / "card.json").write_text("old card")
    (tmp_path / "kws_thresholds.h").mkdir()
    before = _state(tmp_path)
    with pytest.raises(IsADirectoryError) as raised:
        write_all_or_none(
            {tmp_path / "card.json": "new card", tmp_path / "kws_thresholds.h": "new header"}
        )
    assert raised.value.filename == str(tmp_path / "kws_thresholds.h")
    assert _state(tmp_path) == before  # no temporary file left either


def test_a_full_disk_midway_leaves_every_file_as_it_was(tmp_path):
    (tmp_path / "card.json").write_text("old card")
    (tmp_path / "config.yaml").write_text("old config")
    before = _state(tmp_path)
    contents = {
        tmp_path / "card.json": "new card",
        tmp_path / "config.yaml": "x" * 8192,
        tmp_path / "header.h": "new header",
    }
    with file_size_limit(4096), pytest.raises(OSError) as raised:
        write_all_or_none(contents)
    assert (raised.value.errno, raised.value.filename) == (
        errno.EFBIG,
        str(tmp_path / "config.yaml"),
    )
    assert _state(tmp_path) == before
