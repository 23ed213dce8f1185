"""assistant.download against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import zipfile
from pathlib import Path

import pytest
from file_server import FileServer

from assistant.download import DownloadError, UnsafeArchiveError, extract, fetch, text_progress

PAYLOAD = os.urandom(300_000)
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()


def test_fetch_downloads_verifies_and_reports_progress(tmp_path: Path) -> None:
    seen: list[tuple[int, int | None]] = []
    with FileServer({"/model.zip": PAYLOAD}) as server:
        path = fetch(
            f"{server.url}/model.zip",
            tmp_path / "model.zip",
            DIGEST,
            progress=lambda d, t: seen.append((d, t)),
        )
    assert path.read_bytes() == PAYLOAD
    assert seen[0] == (0, len(PAYLOAD))
    assert seen[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert not (tmp_path / "model.zip.part").exists()


def test_fetch_resumes_a_connection_cut_midway_with_a_range_request(tmp_path: Path) -> None:
    with FileServer({"/a.bin": PAYLOAD}, cut_after=100_000) as server:
        path = fetch(f"{server.url}/a.bin", tmp_path / "a.bin", DIGEST)
    assert path.read_bytes() == PAYLOAD
    assert server.ranges == [None, "bytes=100000-"]


def test_fetch_resumes_a_part_file_left_by_an_earlier_run(tmp_path: Path) -> None:
    (tmp_path / "a.bin.part").write_bytes(PAYLOAD[:12_345])
    with FileServer({"/a.bin": PAYLOAD}) as server:
        fetch(f"{server.url}/a.bin", tmp_path / "a.bin", DIGEST)
    assert server.ranges == ["bytes=12345-"]
    assert (tmp_path / "a.bin").read_bytes() == PAYLOAD


def test_fetch_starts_over_when_the_server_ignores_the_range(tmp_path: Path) -> None:
    (tmp_path / "a.bin.part").write_bytes(b"stale bytes")
    with FileServer({"/a.bin": PAYLOAD}, honour_range=False) as server:
        fetch(f"{server.url}/a.bin", tmp_path / "a.bin", DIGEST)
    assert (tmp_path / "a.bin").read_bytes() == PAYLOAD


def test_checksum_mismatch_deletes_the_file_and_names_both_sums(tmp_path: Path) -> None:
    with (
        FileServer({"/a.bin": PAYLOAD}) as server,
        pytest.raises(DownloadError, match=f"expected sha256 {'0' * 64}, got {DIGEST}"),
    ):
        fetch(f"{server.url}/a.bin", tmp_path / "a.bin", "0" * 64)
    assert list(tmp_path.iterdir()) == []


def test_an_md5_from_the_publisher_is_checked_too(tmp_path: Path) -> None:
    md5 = hashlib.md5(PAYLOAD).hexdigest()
    with FileServer({"/a.bin": PAYLOAD}) as server:
        fetch(f"{server.url}/a.bin", tmp_path / "a.bin", md5=md5)
        with pytest.raises(DownloadError, match=f"expected md5 {'f' * 32}, got {md5}"):
            fetch(f"{server.url}/a.bin", tmp_path / "b.bin", md5="f" * 32)
    assert not (tmp_path / "b.bin").exists()


def test_existing_verified_file_is_not_downloaded_again(tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(PAYLOAD)
    with FileServer({"/a.bin": PAYLOAD}) as server:
        fetch(f"{server.url}/a.bin", tmp_path / "a.bin", DIGEST)
    assert server.ranges == []


def test_missing_file_and_unreachable_server_give_clear_errors(tmp_path: Path) -> None:
    with FileServer({}) as server, pytest.raises(DownloadError, match="answered 404"):
        fetch(f"{server.url}/nothing.zip", tmp_path / "x.zip")
    url = server.url  # the server is shut down now: nothing listens on this port
    with pytest.raises(DownloadError, match="failed after 2 attempts"):
        fetch(f"{url}/x.zip", tmp_path / "x.zip", attempts=2, timeout=2)


def test_text_progress_prints_percent_and_size() -> None:
    out = io.StringIO()
    show = text_progress(out, label="model ")
    show(0, 2_000_000)
    show(2_000_000, 2_000_000)
    assert out.getvalue().endswith("model 100.0%  2.0 / 2.0 MB\n")


def _tar(path: Path, members: list[tarfile.TarInfo], data: bytes = b"x") -> Path:
    with tarfile.open(path, "w:gz") as bundle:
        for info in members:
            if info.isfile():
                info.size = len(data)
                bundle.addfile(info, io.BytesIO(data))
            else:
                bundle.addfile(info)
    return path


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def test_extract_tar_gz_and_zip(tmp_path: Path) -> None:
    folder = tarfile.TarInfo("model/conf")
    folder.type = tarfile.DIRTYPE
    archive = _tar(
        tmp_path / "m.tar.gz",
        [folder, tarfile.TarInfo("model/conf/a.conf"), _link("model/b", "conf/a.conf")],
    )
    out = extract(archive, tmp_path / "out")
    assert (out / "model/conf/a.conf").read_bytes() == b"x"
    assert (out / "model/b").read_bytes() == b"x"

    with zipfile.ZipFile(tmp_path / "m.zip", "w") as bundle:
        bundle.writestr("model/am/final.mdl", b"weights")
    out = extract(tmp_path / "m.zip", tmp_path / "zip")
    assert (out / "model/am/final.mdl").read_bytes() == b"weights"


@pytest.mark.parametrize(
    "member",
    [
        tarfile.TarInfo("../evil"),
        tarfile.TarInfo("/etc/evil"),
        tarfile.TarInfo("model/../../evil"),
        _link("model/link", "../../outside"),
        _link("model/abs", "/etc/passwd"),
        _link("model/hard", "../outside", tarfile.LNKTYPE),
    ],
    ids=["dotdot", "absolute", "nested-dotdot", "symlink-out", "symlink-abs", "hardlink-out"],
)
def test_extract_refuses_members_escaping_the_target(tmp_path: Path, member) -> None:
    archive = _tar(tmp_path / "bad.tar.gz", [tarfile.TarInfo("model/ok"), member])
    with pytest.raises(UnsafeArchiveError, match=repr(member.name).replace(".", r"\.")):
        extract(archive, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []  # nothing written, not even the safe member


@pytest.mark.parametrize("name", ["../evil.txt", "/abs/evil.txt"])
def test_extract_refuses_zip_members_escaping_the_target(tmp_path: Path, name: str) -> None:
    with zipfile.ZipFile(tmp_path / "bad.zip", "w") as bundle:
        bundle.writestr("ok.txt", b"fine")
        bundle.writestr(zipfile.ZipInfo(name), b"evil")
    with pytest.raises(UnsafeArchiveError, match="unsafe path"):
        extract(tmp_path / "bad.zip", tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def test_extract_rejects_an_unknown_archive_type(tmp_path: Path) -> None:
    (tmp_path / "a.rar").write_bytes(b"")
    with pytest.raises(ValueError, match="unknown archive type"):
        extract(tmp_path / "a.rar", tmp_path / "out")
