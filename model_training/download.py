"""`download`: the Speech Commands v0.02 archive, fetched resumably, verified, unpacked safely."""

from __future__ import annotations

from pathlib import Path

from assistant.download import extract, fetch, text_progress

SPEECH_COMMANDS_URL = "http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz"
# As published by TensorFlow Datasets and torchaudio (2,428,923,189 bytes).
SPEECH_COMMANDS_SHA256 = "af14739ee7dc311471de98f5f9d2c9191b18aedfe957f4a6ff791c709868ff58"


def download_speech_commands(
    data_dir: str | Path,
    url: str = SPEECH_COMMANDS_URL,
    sha256: str | None = SPEECH_COMMANDS_SHA256,
) -> Path:
    """Fetch (resuming a cut transfer) and unpack into `<data_dir>/speech_commands/`.

    The folder is only created once the archive's checksum matched and every member was checked
    to stay inside it; an unpacked folder (with its `.complete` marker) is reused as it is.
    """
    data_dir = Path(data_dir)
    target = data_dir / "speech_commands"
    marker = target / ".complete"
    if marker.exists():
        return target
    name = url.rstrip("/").rsplit("/", 1)[-1] or "speech_commands.tar.gz"
    archive = fetch(url, data_dir / name, sha256=sha256, progress=text_progress(label=f"{name} "))
    extract(archive, target)
    marker.write_text(f"{url}\n")
    return target
