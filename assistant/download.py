"""Downloading and unpacking large files safely, with only the standard library.

    from assistant.download import fetch, extract, text_progress

    archive = fetch(url, Path("data/speech.tar.gz"), sha256="ab12...", progress=text_progress())
    extract(archive, Path("data/speech"))

`fetch` streams to `<destination>.part`, resumes an interrupted transfer with an HTTP Range
request (also across runs), verifies the SHA-256 and only then renames the file into place.
`extract` unpacks .zip, .tar.gz/.tgz and .tar after checking every member first: nothing is
written if one member would land outside the target directory.
"""

from __future__ import annotations

import hashlib
import shutil
import stat
import sys
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from http.client import HTTPException
from pathlib import Path, PurePosixPath
from typing import TextIO

Progress = Callable[[int, int | None], None]
"""Called as progress(bytes_done, bytes_total); bytes_total is None when the server does not
say. Called at least once at the start and once at the end."""

CHUNK_BYTES = 1 << 16


class DownloadError(RuntimeError):
    """A download failed or its content did not match the expected checksum."""


class UnsafeArchiveError(RuntimeError):
    """An archive member would be written outside the target directory."""


def text_progress(stream: TextIO | None = None, label: str = "") -> Progress:
    """A progress callback that redraws one line: label, percent and megabytes."""
    out = stream or sys.stderr
    last = [0.0]

    def show(done: int, total: int | None) -> None:
        now = time.monotonic()
        finished = total is not None and done >= total
        if not finished and now - last[0] < 0.2:
            return
        last[0] = now
        megabytes = f"{done / 1e6:.1f}"
        if total:
            text = f"{label}{100 * done / total:5.1f}%  {megabytes} / {total / 1e6:.1f} MB"
        else:
            text = f"{label}{megabytes} MB"
        out.write("\r" + text + ("\n" if finished else ""))
        out.flush()

    return show


def digest_of(path: Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file (any hashlib algorithm)."""
    digest = hashlib.new(algorithm)
    with path.open("rb") as source:
        for block in iter(lambda: source.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(
    url: str,
    destination: Path,
    sha256: str | None = None,
    progress: Progress | None = None,
    attempts: int = 5,
    timeout: float = 30.0,
    md5: str | None = None,
) -> Path:
    """Download `url` to `destination` and return it.

    An existing `destination` is reused when it matches the checksums given (or when none is
    given). Data arrives in `<destination>.part`; a broken connection is resumed from where it
    stopped, up to `attempts` tries in all. A checksum mismatch (`sha256`, or `md5` where a
    publisher gives only that) deletes the file and raises DownloadError naming both sums.
    """
    destination = Path(destination)
    expected = {name: value.lower() for name, value in (("sha256", sha256), ("md5", md5)) if value}
    if destination.exists() and _mismatch(destination, expected) is None:
        return destination
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".part")

    failure: Exception | None = None
    for _ in range(attempts):
        try:
            if _transfer(url, partial, progress, timeout):
                break
        except (OSError, HTTPException) as error:
            if isinstance(error, urllib.error.HTTPError) and error.code < 500:
                message = f"{url}: the server answered {error.code} {error.reason}"
                raise DownloadError(message) from None
            failure = error
    else:
        raise DownloadError(
            f"{url}: download failed after {attempts} attempts ({failure}); "
            f"run it again to resume from {partial.stat().st_size if partial.exists() else 0} "
            f"bytes in {partial}"
        )

    mismatch = _mismatch(partial, expected)
    if mismatch is not None:
        partial.unlink()
        raise DownloadError(
            f"{url}: checksum mismatch ({mismatch}); the file was deleted. "
            "Check the URL and the checksum, then try again."
        )
    partial.replace(destination)
    return destination


def _mismatch(path: Path, expected: dict[str, str]) -> str | None:
    """How `path` differs from the expected digests, or None when it matches them all."""
    for algorithm, wanted in expected.items():
        actual = digest_of(path, algorithm)
        if actual != wanted:
            return f"expected {algorithm} {wanted}, got {actual}"
    return None


def _transfer(url: str, partial: Path, progress: Progress | None, timeout: float) -> bool:
    """Continue the download into `partial`; True when the whole body has arrived."""
    have = partial.stat().st_size if partial.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and have:  # the part file is already longer than the resource
            partial.unlink()
            return False
        raise
    with response:
        if have and response.status != 206:  # the server ignored the range: start over
            have = 0
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        done = have
        if progress:
            progress(done, total)
        with partial.open("ab" if have else "wb") as sink:
            while block := response.read(CHUNK_BYTES):
                sink.write(block)
                done += len(block)
                if progress:
                    progress(done, total)
    return total is None or done >= total


def extract(archive: Path, target_dir: Path) -> Path:
    """Unpack a .zip, .tar, .tar.gz or .tgz archive into `target_dir` and return it.

    Every member is checked before anything is written: absolute paths, `..` components and
    links pointing outside the target raise UnsafeArchiveError; so do device files. An archive
    of another type, or one that cannot be read (cut short, not an archive), raises ValueError.
    """
    archive = Path(archive)
    target = Path(target_dir).resolve()
    target.mkdir(parents=True, exist_ok=True)
    name = archive.name.lower()
    try:
        if name.endswith(".zip"):
            _extract_zip(archive, target)
        elif name.endswith((".tar.gz", ".tgz", ".tar")):
            _extract_tar(archive, target)
        else:
            raise ValueError(
                f"{archive}: unknown archive type (expected .zip, .tar.gz, .tgz, .tar)"
            )
    except (tarfile.TarError, zipfile.BadZipFile, EOFError) as error:  # EOFError: cut short
        reason = str(error).splitlines()[0].rstrip(":")  # tarfile lists each method it tried
        raise ValueError(
            f"{archive}: not a readable archive ({reason}); remove it and check the URL "
            "before downloading again"
        ) from None
    return target


def _inside(target: Path, member_path: str, archive: Path, member: str) -> Path:
    """Where `member_path` lands under `target`; raises if that is outside it."""
    pure = PurePosixPath(member_path.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts or (pure.parts and ":" in pure.parts[0]):
        raise UnsafeArchiveError(f"{archive}: member {member!r} has an unsafe path; not extracted")
    where = (target / pure).resolve()
    if where != target and target not in where.parents:
        raise UnsafeArchiveError(f"{archive}: member {member!r} would escape {target}")
    return where


def _extract_zip(archive: Path, target: Path) -> None:
    with zipfile.ZipFile(archive) as bundle:
        members = bundle.infolist()
        for info in members:
            _inside(target, info.filename, archive, info.filename)
            if stat.S_ISLNK(info.external_attr >> 16):
                raise UnsafeArchiveError(
                    f"{archive}: member {info.filename!r} is a symbolic link; not extracted"
                )
        for info in members:
            where = target / info.filename
            if info.is_dir():
                where.mkdir(parents=True, exist_ok=True)
                continue
            where.parent.mkdir(parents=True, exist_ok=True)
            with bundle.open(info) as source, where.open("wb") as sink:
                shutil.copyfileobj(source, sink)


def _extract_tar(archive: Path, target: Path) -> None:
    with tarfile.open(archive) as bundle:
        members = bundle.getmembers()
        for member in members:
            where = _inside(target, member.name, archive, member.name)
            if member.issym():
                link = PurePosixPath(member.linkname)
                if link.is_absolute():
                    raise UnsafeArchiveError(
                        f"{archive}: link {member.name!r} points to the absolute path {link}"
                    )
                _inside(target, str(where.parent.relative_to(target) / link), archive, member.name)
            elif member.islnk():
                _inside(target, member.linkname, archive, member.name)
            elif not (member.isfile() or member.isdir()):
                raise UnsafeArchiveError(
                    f"{archive}: member {member.name!r} is a device or pipe; not extracted"
                )
        if hasattr(tarfile, "data_filter"):
            bundle.extractall(target, members=members, filter="data")
        else:  # Python < 3.11.4: members were checked above
            bundle.extractall(target, members=members)


__all__ = [
    "DownloadError",
    "Progress",
    "UnsafeArchiveError",
    "digest_of",
    "extract",
    "fetch",
    "text_progress",
]
