"""`python -m model_training download` against a small archive served from 127.0.0.1."""

import hashlib
import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
from file_server import FileServer

from model_training import dataset
from model_training.__main__ import main


def _wav_bytes(tmp_path: Path, seed: int) -> bytes:
    path = tmp_path / f"clip{seed}.wav"
    dataset.write_wav(path, 0.1 * np.random.default_rng(seed).normal(size=16000))
    return path.read_bytes()


def _archive(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


@pytest.fixture()
def archive(tmp_path) -> bytes:
    return _archive(
        {
            "up/0a1b2c3d_nohash_0.wav": _wav_bytes(tmp_path, 1),
            "go/0a1b2c3d_nohash_0.wav": _wav_bytes(tmp_path, 2),
            "_background_noise_/white_noise.wav": _wav_bytes(tmp_path, 3),
            "validation_list.txt": b"go/0a1b2c3d_nohash_0.wav\n",
            "testing_list.txt": b"",
        }
    )


def _download(url: str, data_dir: Path, sha256: str) -> int:
    return main(["download", "--url", url, "--data-dir", str(data_dir), "--sha256", sha256])


def test_download_resumes_a_cut_connection_and_unpacks(tmp_path, archive):
    sha256 = hashlib.sha256(archive).hexdigest()
    with FileServer({"/sc.tar.gz": archive}, cut_after=len(archive) // 3) as server:
        assert _download(f"{server.url}/sc.tar.gz", tmp_path, sha256) == 0
        assert server.ranges[0] is None and server.ranges[1] == f"bytes={len(archive) // 3}-"
    clips = dataset.index_folder(tmp_path / "speech_commands")
    assert {(c.word, c.split) for c in clips} == {("up", "train"), ("go", "validation")}


def test_download_rejects_a_bad_checksum(tmp_path, archive, capsys):
    with FileServer({"/sc.tar.gz": archive}) as server:
        assert _download(f"{server.url}/sc.tar.gz", tmp_path, "0" * 64) == 1
    assert "checksum mismatch" in capsys.readouterr().err
    assert not (tmp_path / "speech_commands").exists()
    assert not (tmp_path / "sc.tar.gz").exists()


def test_download_rejects_a_member_escaping_the_folder(tmp_path, capsys):
    evil = _archive({"up/a_nohash_0.wav": b"x", "../escaped.txt": b"gotcha"})
    with FileServer({"/sc.tar.gz": evil}) as server:
        sha256 = hashlib.sha256(evil).hexdigest()
        assert _download(f"{server.url}/sc.tar.gz", tmp_path, sha256) == 1
    assert "unsafe path" in capsys.readouterr().err
    assert not (tmp_path / "escaped.txt").exists()
    assert not (tmp_path / "speech_commands" / "up").exists()


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"<html>not found</html>", "file could not be opened successfully"),
        ("cut", "Compressed file ended before the end-of-stream marker was reached"),
    ],
)
def test_an_archive_that_is_not_one_is_named_with_what_to_do(
    tmp_path, archive, capsys, content, reason
):
    served = archive[: len(archive) // 2] if content == "cut" else content
    with FileServer({"/sc.tar.gz": served}) as server:
        assert _download(f"{server.url}/sc.tar.gz", tmp_path, "none") == 1
    error = capsys.readouterr().err
    expected = f"{tmp_path / 'sc.tar.gz'}: not a readable archive ({reason}); remove it and check"
    assert expected in error
    assert not (tmp_path / "speech_commands" / ".complete").exists()
